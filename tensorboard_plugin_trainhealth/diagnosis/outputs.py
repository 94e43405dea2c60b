"""One model output as the rules read it: its head (declared, and what it
really outputs on the probe), its own loss, its targets, chance levels."""

import functools
import math

import numpy as np

from tensorboard_plugin_trainhealth.diagnosis.util import finite, num

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
        # The activation was seen applied to the output (the PyTorch
        # probe), not read from a layer's configuration.
        self.observed = out.get("activation_observed") is True
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
        """The layer class says what it outputs (not a wrapper), or the
        activation was seen applied to the output."""
        return self.observed or self.cls is None \
            or self.cls in _DECLARING_CLASSES

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
        if self.observed and declared in _RANGES and \
                _RANGES[declared][0] <= low and high <= _RANGES[declared][1]:
            # What was applied is known and the values agree: a linear
            # output that happens to lie within [0, 1] is still logits.
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
