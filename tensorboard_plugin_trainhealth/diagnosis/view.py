"""The run as the rules read it: the series, the thresholds, and the facts
worked out once (each output paired with its own loss and targets, what
its head really outputs, chance levels, the learning rate, input scale).

Facts follow docs/diagnosis.md and the callback's RUN_FACTS: `losses`,
`outputs` (with `measured`) and `targets` per output, matched by output
name; runs written before those existed have a single `loss`, which is
paired with the output only when there is one output.
"""

import functools
import math

import numpy as np

from tensorboard_plugin_trainhealth.diagnosis import progress as progress_lib
from tensorboard_plugin_trainhealth.diagnosis.outputs import Output
from tensorboard_plugin_trainhealth.diagnosis.util import finite, fmt, num
from tensorboard_plugin_trainhealth.metadata import STEP_LEARNING_RATE

_ADAPTIVE = ("adam", "adamw", "adamax", "nadam", "rmsprop", "adagrad",
             "adadelta", "adafactor", "lion", "ftrl", "lamb")


class RunView:
    """A `RunSeries` with its thresholds and its facts worked out."""

    def __init__(self, series, thresholds):
        self.series = series
        self.t = thresholds
        self.facts = series.facts if isinstance(series.facts, dict) else {}

    @functools.cached_property
    def outputs(self):
        outs = self.facts.get("outputs")
        if not isinstance(outs, list):
            return []
        outs = [o for o in outs if isinstance(o, dict)]
        losses = _named(self.facts.get("losses"), outs)
        targets = _named(self.facts.get("targets"), outs)
        if losses is None:
            # Older runs record one loss: it is only known to be this
            # output's loss when there is one output.
            single = self.facts.get("loss") if len(outs) == 1 else None
            losses = [o.get("loss", single) for o in outs]
        probe = self.facts.get("probe")
        samples = num(probe.get("samples")) if isinstance(probe, dict) \
            else num(self.facts.get("probe_samples"))
        return [Output(i, o, losses[i], targets[i] if targets else None,
                       samples)
                for i, o in enumerate(outs)]

    @functools.cached_property
    def output_layers(self):
        return {o.layer for o in self.outputs if o.layer}

    @functools.cached_property
    def chance_loss(self):
        """Chance level of the total training loss, or None."""
        return self._total(lambda o: o.chance)

    @functools.cached_property
    def uniform_loss(self):
        return self._total(lambda o: o.uniform_loss)

    def _total(self, per_output):
        outs = self.outputs
        if not outs:
            return None
        values = [per_output(o) for o in outs]
        if any(v is None for v in values):
            return None
        weights = [o.weight if o.weight is not None else 1.0 for o in outs]
        return float(sum(w * v for w, v in zip(weights, values)))

    @functools.cached_property
    def progress(self):
        return progress_lib.assess(self)

    def output_named(self, name):
        for o in self.outputs:
            if o.name == name or o.layer == name:
                return o
        return None

    # -- learning rate -------------------------------------------------

    def lr(self, step=None):
        """The learning rate at `step` (latest record at or before it),
        else the optimizer's configured one, else None."""
        s = self.series.scalar(STEP_LEARNING_RATE)
        ok = np.isfinite(s.values)
        steps, values = s.steps[ok], s.values[ok]
        if len(steps):
            if step is None:
                return float(values[-1])
            i = np.searchsorted(steps, step, side="right") - 1
            return float(values[max(i, 0)])
        optimizer = self.facts.get("optimizer")
        if isinstance(optimizer, dict):
            return num(optimizer.get("learning_rate"))
        return None

    @property
    def optimizer_class(self):
        optimizer = self.facts.get("optimizer")
        cls = optimizer.get("class") if isinstance(optimizer, dict) else None
        return cls if isinstance(cls, str) else None

    @property
    def adaptive_optimizer(self):
        cls = (self.optimizer_class or "").lower()
        return any(cls.startswith(name) for name in _ADAPTIVE)

    @property
    def lr_suspect(self):
        """The configured learning rate is high for its optimizer."""
        lr = self.lr(0)
        if lr is None:
            return False
        limit = self.t.lr_suspect_adaptive if self.adaptive_optimizer \
            else self.t.lr_suspect_sgd
        return lr >= limit

    def lower_lr(self, step=None, factor=10):
        """Advice text that lowers the learning rate `factor` times."""
        lr = self.lr(step)
        if lr is not None and lr > 0:
            return "lower the learning rate %sx (from %s to %s)" % (
                fmt(factor), fmt(lr), fmt(lr / factor))
        return "lower the learning rate %sx" % fmt(factor)

    def lower_lr_to_default(self, step=None):
        """Lower the learning rate to about its optimizer's default."""
        lr = self.lr(step)
        default = 1e-3 if self.adaptive_optimizer else 1e-2
        if lr is None or lr <= default:
            return self.lower_lr(step)
        factor = 10.0 ** max(1, math.floor(math.log10(lr / default)))
        return self.lower_lr(step, factor)

    # -- inputs --------------------------------------------------------

    @functools.cached_property
    def input_abs_max(self):
        inputs = self.facts.get("inputs")
        if not isinstance(inputs, list):
            return None
        values = [finite(i.get("abs_max")) for i in inputs
                  if isinstance(i, dict)
                  and not is_index_input(i, self.facts)]
        values = [v for v in values if v is not None]
        return max(values) if values else None

    @property
    def inputs_scaled(self):
        """True when the recorded inputs are within a normalized range,
        False when they are not, None when unknown."""
        scale = self.input_abs_max
        if scale is None:
            return None
        return scale <= self.t.input_scaled_abs_max


_INDEX_CONSUMERS = ("embedding", "lookup", "hashing", "categoryencoding",
                    "textvectorization", "discretization")


def is_index_input(inp, facts):
    """True for inputs whose values are ids or categories, not magnitudes:
    strings and booleans; integers that feed an Embedding or a lookup
    (named by the facts' "consumers" of the input when recorded, else
    guessed from the model's layer names). Integer images (uint8 pixels)
    and integer measurements (an int64 cholesterol column) are magnitudes.
    """
    dtype = str(inp.get("dtype") or "").lower()
    if dtype.startswith(("str", "bool", "object")):
        return True
    if not dtype.startswith(("int", "uint")):
        return False
    consumers = inp.get("consumers")
    if isinstance(consumers, list) and consumers:
        return any(_index_consumer(c) for c in consumers)
    shape = inp.get("shape")
    if dtype.startswith("uint8") or (isinstance(shape, list)
                                     and len(shape) >= 2):
        return False  # images, feature maps
    return any(_index_consumer(n) or "emb" in n.lower()
               for n in layer_names(facts))


def layer_names(facts):
    """The model's layer names (last path part) and, when recorded, layer
    classes: what name-based guesses about the model look at."""
    model = facts.get("model")
    if not isinstance(model, dict):
        return []
    layers = model.get("layers")
    classes = model.get("layer_classes")
    names = [str(c) for c in classes] if isinstance(classes, list) else []
    if isinstance(layers, list):
        names += [str(n).rsplit("/", 1)[-1] for n in layers]
    return names


def _index_consumer(name):
    flat = "".join(ch for ch in str(name).lower() if ch.isalpha())
    return any(key in flat for key in _INDEX_CONSUMERS)


def _named(entries, outs):
    """`entries` (dicts with "output") lined up with `outs`, by output name,
    else by position when the lengths agree; None when absent."""
    if not isinstance(entries, list):
        return None
    entries = [e if isinstance(e, dict) else None for e in entries]
    by_name = {e.get("output"): e for e in entries if e is not None
               and isinstance(e.get("output"), str)}
    lined = []
    for i, o in enumerate(outs):
        name = o.get("output")
        if isinstance(name, str) and name in by_name:
            lined.append(by_name[name])
        elif len(entries) == len(outs) and (
                not by_name or not isinstance(name, str)):
            lined.append(entries[i])
        else:
            lined.append(None)
    return lined
