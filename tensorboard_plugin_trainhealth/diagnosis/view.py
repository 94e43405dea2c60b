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
from tensorboard_plugin_trainhealth.diagnosis.util import finite, fmt, num
from tensorboard_plugin_trainhealth.metadata import STEP_LEARNING_RATE

_LOSS_FAMILIES = {
    "binarycrossentropy": "binary", "binaryfocalcrossentropy": "binary",
    "bce": "binary",
    "categoricalcrossentropy": "categorical",
    "categoricalfocalcrossentropy": "categorical", "cce": "categorical",
    "sparsecategoricalcrossentropy": "sparse", "scce": "sparse",
    "meansquarederror": "mse", "mse": "mse", "huber": "mse",
    "huberloss": "mse", "logcosh": "mse", "meansquaredlogarithmicerror":
    "mse", "msle": "mse",
    "meanabsoluteerror": "mae", "mae": "mae",
    "meanabsolutepercentageerror": "mae", "mape": "mae",
    "hinge": "hinge", "squaredhinge": "hinge", "categoricalhinge": "hinge",
}
CROSS_ENTROPY = ("binary", "categorical", "sparse")
REGRESSION = ("mse", "mae")
LOSS_NAMES = {
    "binary": "binary_crossentropy",
    "categorical": "categorical_crossentropy",
    "sparse": "sparse_categorical_crossentropy",
}
# Layer classes whose `activation` is what the layer outputs. Any other
# class (a custom layer, a wrapper) reports no activation of its own, so
# its "linear" says nothing about what the model outputs.
_DECLARING_CLASSES = {
    "Dense", "EinsumDense", "Conv1D", "Conv2D", "Conv3D",
    "Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose",
    "SeparableConv1D", "SeparableConv2D", "DepthwiseConv1D",
    "DepthwiseConv2D", "Activation", "Softmax", "ReLU", "LeakyReLU", "ELU",
    "PReLU", "SimpleRNN", "LSTM", "GRU",
}
_ADAPTIVE = ("adam", "adamw", "adamax", "nadam", "rmsprop", "adagrad",
             "adadelta", "adafactor", "lion", "ftrl", "lamb")
_RANGES = {"sigmoid": (0.0, 1.0), "softmax": (0.0, 1.0),
           "softmax1": (1.0, 1.0), "tanh": (-1.0, 1.0),
           "relu": (0.0, math.inf), "linear": (-math.inf, math.inf)}
_RELU_LIKE = ("relu", "relu6", "softplus", "elu", "selu", "exponential")
# A label share from which the prior's entropy is no chance level (see
# Output.chance); Thresholds.imbalance_share is the alert's own level.
IMBALANCED = 0.9


def loss_family(loss):
    """'binary' / 'categorical' / 'sparse' / 'mse' / 'mae' / 'hinge' for a
    loss spec (dict with "name", or a name), else None."""
    name = loss.get("name") if isinstance(loss, dict) else loss
    if not isinstance(name, str):
        return None
    return _LOSS_FAMILIES.get("".join(ch for ch in name.lower()
                                      if ch.isalpha()))


def class_name(loss):
    """binary_crossentropy -> BinaryCrossentropy."""
    return "".join(part.capitalize() for part in loss.split("_"))


def _entropy(shares):
    shares = np.asarray([p for p in shares if p > 0], np.float64)
    return float(-(shares * np.log(shares)).sum()) if len(shares) else 0.0


def _binary_entropy(p):
    return _entropy([p, 1.0 - p])


class Output:
    """One model output: its head, its loss and its targets."""

    def __init__(self, index, out, loss, target, probe_samples):
        self.index = index
        self.name = str(out.get("output") or out.get("layer")
                        or "output_%d" % index)
        self.layer = out.get("layer") if isinstance(out.get("layer"), str) \
            else None
        self.cls = out.get("class")
        act = out.get("activation")
        self.declared = act.lower() if isinstance(act, str) else None
        units = num(out.get("units"))
        self.units = int(units) if units and units.is_integer() else None
        self.loss = loss if isinstance(loss, dict) else (
            {"name": loss} if isinstance(loss, str) else None)
        self.family = loss_family(self.loss)
        self.from_logits = self.loss.get("from_logits") \
            if self.loss else None
        self.weight = num(self.loss.get("weight")) if self.loss else None
        self.target = target if isinstance(target, dict) else None
        measured = out.get("measured")
        self.measured = measured if isinstance(measured, dict) else None
        self._probe_samples = probe_samples

    @property
    def loss_name(self):
        return self.loss.get("name") if self.loss else None

    @property
    def declared_reliable(self):
        """The layer class says what it outputs (not a wrapper)."""
        return self.cls is None or self.cls in _DECLARING_CLASSES

    @functools.cached_property
    def head(self):
        """(kind, source): what the head outputs: "sigmoid" (values in
        [0, 1]), "softmax" (rows summing to 1), "softmax1", "tanh",
        "relu" (>= 0), "linear", or None (unknown); source "measured" or
        "declared"."""
        declared = self.declared
        if declared in _RELU_LIKE:
            declared = "relu"
        if declared == "softmax" and self.units == 1:
            declared = "softmax1"
        if declared not in _RANGES or not self.declared_reliable:
            declared = None
        m = self.measured or {}
        low, high = finite(m.get("min")), finite(m.get("max"))
        if low is None or high is None:
            return declared, "declared"
        if declared == "softmax1" or (
                self.units and self.units > 1 and m.get("rows_sum_to_one")):
            return ("softmax1" if declared == "softmax1" else "softmax"), \
                "measured"
        if m.get("in_unit_interval") or (low >= 0 and high <= 1):
            # ReLU outputs may start within [0, 1] without being bounded.
            return ("relu" if declared == "relu" else "sigmoid"), "measured"
        if low >= -1 and high <= 1 and declared == "tanh":
            return "tanh", "measured"
        if low >= 0 and declared == "relu":
            return "relu", "measured"
        return ("linear" if declared in (None, "sigmoid", "softmax", "tanh")
                else declared), "measured"

    @property
    def head_range(self):
        kind, _ = self.head
        return _RANGES.get(kind)

    @property
    def probabilities(self):
        """True/False: the head outputs probabilities; None: unknown."""
        kind, _ = self.head
        if kind is None:
            return None
        return kind in ("sigmoid", "softmax", "softmax1")

    # -- targets -------------------------------------------------------

    def target_stat(self, key):
        return finite(self.target.get(key)) if self.target else None

    @property
    def categorical_targets(self):
        """True when the targets are class labels (one-hot, multi-hot, 0/1,
        or integers fed to a cross-entropy), False for values (integer
        counts or ratings with a regression loss are values), None when
        unknown."""
        t = self.target
        if not t:
            return None
        if t.get("one_hot") or t.get("multi_hot"):
            return True
        if not t.get("integer_valued"):
            return False
        if self.family in CROSS_ENTROPY:
            return True
        low, high = self.target_stat("min"), self.target_stat("max")
        return low is not None and low >= 0 and high <= 1

    @functools.cached_property
    def class_shares(self):
        """{class: share of the probe labels} for class-label targets."""
        t = self.target
        classes = t.get("classes") if t else None
        if not isinstance(classes, dict) or not (
                self.categorical_targets or t.get("integer_valued")):
            return None
        counts = {str(k): num(v) for k, v in classes.items()}
        counts = {k: v for k, v in counts.items() if v and v > 0}
        total = sum(counts.values())
        if not total:
            return None
        if t.get("multi_hot"):
            total = self._probe_samples or total
        return {k: v / total for k, v in counts.items()}

    @property
    def majority(self):
        """(class, share) of the most common label, or None."""
        shares = self.class_shares
        if not shares or self.target.get("multi_hot"):
            return None
        top = max(shares, key=shares.get)
        return top, shares[top]

    @property
    def binary_rate(self):
        """The share of positive labels of a 0/1 target, or None."""
        mean, low, high = (self.target_stat(k) for k in ("mean", "min",
                                                         "max"))
        if mean is None or low is None or low < 0 or high > 1:
            return None
        return mean

    # -- chance levels -------------------------------------------------

    @property
    def chance(self):
        """The loss of a model that learned nothing but the label prior
        (predicting the class shares, or the targets' mean), or None."""
        family = self.family
        shares = self.class_shares
        if shares and max(shares.values()) >= IMBALANCED and not \
                self.target.get("multi_hot"):
            # Lopsided labels are often trained with class weights, which
            # move the loss anywhere above the prior's entropy.
            return None
        if family == "binary":
            if self.target and not self._labels_in_unit_range():
                return None
            if shares and self.target.get("multi_hot") and self.units:
                rates = [shares.get(str(c), 0.0) for c in range(self.units)]
                return float(np.mean([_binary_entropy(p) for p in rates]))
            rate = self.binary_rate
            return _binary_entropy(rate) if rate is not None \
                else math.log(2.0)
        if family in ("categorical", "sparse"):
            if shares and not self.target.get("multi_hot"):
                return _entropy(shares.values())
            return math.log(self.units) if self.units and self.units >= 2 \
                else None
        if family in REGRESSION and self.categorical_targets:
            rates = self._unit_rates()
            if rates is None:
                return None
            if family == "mse":
                return float(np.mean([p * (1 - p) for p in rates]))
            return float(np.mean([min(p, 1 - p) for p in rates]))
        if family == "mse" and self.categorical_targets is False:
            std = self.target_stat("std")
            return std * std if std else None
        return None

    @property
    def uniform_loss(self):
        """The loss of a model that learned nothing at all: a uniform guess
        for cross-entropy (ln 2 per unit for binary, ln k for k classes),
        predicting 0 for MSE on real targets. Far above it, a model is
        confidently wrong."""
        if self.family == "binary":
            return math.log(2.0)
        if self.family in ("categorical", "sparse") and self.units \
                and self.units >= 2:
            return math.log(self.units)
        if self.family == "mse" and self.categorical_targets is False:
            mean, std = self.target_stat("mean"), self.target_stat("std")
            if mean is not None and std is not None:
                return mean * mean + std * std  # predicting 0
        return None

    def _labels_in_unit_range(self):
        low, high = self.target_stat("min"), self.target_stat("max")
        return low is None or (low >= 0 and high <= 1)

    def _unit_rates(self):
        shares = self.class_shares
        if self.target.get("one_hot") or self.target.get("multi_hot"):
            if not shares or not self.units:
                return None
            return [shares.get(str(c), 0.0) for c in range(self.units)]
        rate = self.binary_rate
        return [rate] if rate is not None else None


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
