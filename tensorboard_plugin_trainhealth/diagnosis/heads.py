"""Output heads, their losses and their targets, judged together per output.

What a head outputs is taken from the probe's measurement before training
when there is one (a sigmoid inside a custom layer or in `call()` shows as
values within [0, 1]), else from the layer's declared activation when the
layer is one that declares it (Dense, Conv, Activation, ...). A wrapper's
"linear" says nothing, and no critical is raised on a declaration that the
measurement contradicts. Each output is judged with its own loss.
"""

from tensorboard_plugin_trainhealth.diagnosis.alerts import Alert
from tensorboard_plugin_trainhealth.diagnosis.util import fmt
from tensorboard_plugin_trainhealth.diagnosis.outputs import (
    CROSS_ENTROPY, LOSS_NAMES, REGRESSION, class_name)

_TWO_CLASS_FIX = ("For two classes use Dense(1, activation='sigmoid') with "
                  "binary_crossentropy; for k classes Dense(k, "
                  "activation='softmax') with sparse_categorical_crossentropy "
                  "(integer labels) or categorical_crossentropy (one-hot).")


def _single_unit(o, where):
    if o.head[0] == "softmax1":
        return ("critical",
                "%s applies softmax to a single unit, which always outputs "
                "1.0: every prediction is identical and the model cannot "
                "learn" % where, _TWO_CLASS_FIX)
    if o.family in ("categorical", "sparse") and o.units == 1:
        return ("critical",
                "%s over the single output unit of %s cannot learn "
                "(categorical: always 0; sparse: labels out of range)"
                % (LOSS_NAMES[o.family], where),
                "For two classes use Dense(1, activation='sigmoid') with "
                "binary_crossentropy, or Dense(2, activation='softmax') with "
                "sparse_categorical_crossentropy.")
    return None


def _multi_label(o, where):
    multi_hot = bool(o.target and o.target.get("multi_hot"))
    head = o.head[0]
    if multi_hot and head == "softmax" and o.family in ("categorical",
                                                        "binary", None):
        return ("warning",
                "%s applies softmax to multi-label targets (several classes "
                "per sample): softmax makes the %s outputs compete, so at "
                "most one can be high" % (where, o.units or "k"),
                "For independent labels use activation='sigmoid' in %s with "
                "binary_crossentropy (and a per-class threshold)." % where)
    if o.family in ("categorical", "sparse") and head == "sigmoid" \
            and o.units and o.units > 1:
        if multi_hot:
            return ("warning",
                    "categorical_crossentropy on the multi-label targets of "
                    "%s: it scores the labels as one distribution, not each "
                    "on its own" % where,
                    "Keep the sigmoid outputs of %s and use "
                    "binary_crossentropy." % where)
        return ("warning",
                "%s on %d independent sigmoid outputs of %s: the outputs do "
                "not form a distribution over classes"
                % (o.loss_name, o.units, where),
                "Use activation='softmax' in %s with %s for one class per "
                "sample, or keep sigmoid with binary_crossentropy for "
                "multi-label targets." % (where, o.loss_name))
    if o.family == "binary" and head == "softmax" and o.units \
            and o.units > 1 and not multi_hot:
        return ("warning",
                "binary_crossentropy on the softmax of %s: softmax makes the "
                "%d outputs compete, binary cross-entropy scores each alone"
                % (where, o.units),
                "For one class out of %d keep softmax and use "
                "categorical_crossentropy (one-hot labels) or "
                "sparse_categorical_crossentropy (integer labels); for "
                "independent (multi-label) targets use sigmoid with "
                "binary_crossentropy." % o.units)
    return None


def _logits(o, where):
    if o.family not in CROSS_ENTROPY:
        return None
    head, source = o.head
    if o.from_logits is False and o.probabilities is False:
        wanted = "sigmoid" if o.family == "binary" else "softmax"
        bounded_now = source == "measured" and head == "relu"
        return ("warning" if bounded_now else "critical",
                "%s expects probabilities (from_logits=False) but %s outputs "
                "%s values (%s), which get clipped to [1e-7, 1-1e-7]"
                % (LOSS_NAMES[o.family], where,
                   "non-negative unbounded" if head == "relu"
                   else "unbounded %s" % head,
                   "measured" if source == "measured" else "declared"),
                "Use keras.losses.%s(from_logits=True) with a linear output "
                "(numerically stabler), or use activation='%s' in %s."
                % (class_name(LOSS_NAMES[o.family]), wanted, where))
    if o.from_logits is True and o.probabilities:
        act = "softmax" if head == "softmax" else "sigmoid"
        return ("warning",
                "%s with from_logits=True, but %s already outputs %s "
                "probabilities: the loss squashes them a second time"
                % (LOSS_NAMES[o.family], where, act),
                "Remove the %s from %s (activation=None) and keep "
                "keras.losses.%s(from_logits=True), or keep the %s and set "
                "from_logits=False." % (act, where,
                                        class_name(LOSS_NAMES[o.family]),
                                        act))
    return None


def _range(o, where, t):
    """A bounded head asked to fit targets outside its range."""
    if o.family not in REGRESSION + (None,) or o.categorical_targets:
        return None
    head_range = o.head_range
    low, high = o.target_stat("min"), o.target_stat("max")
    if head_range is None or low is None or high is None:
        return None
    lo, hi = head_range
    margin = t.head_range_margin * max(1.0, hi - lo if hi < float("inf")
                                       else 1.0)
    if low >= lo - margin and high <= hi + margin:
        return None
    mean = o.target_stat("mean")
    outside = (low > hi or high < lo
               or (mean is not None and not lo <= mean <= hi))
    head = o.head[0]
    return ("critical" if outside else "warning",
            "%s outputs %s values in [%s, %s], but its targets run from %s "
            "to %s" % (where, head, fmt(lo), fmt(hi), fmt(low), fmt(high)),
            "For regression use a linear output (activation=None) in %s%s, "
            "or scale the targets into [%s, %s] and back after predict()."
            % (where, " (or 'softplus' for positive targets)"
               if low >= 0 and head != "relu" else "", fmt(lo), fmt(hi)))


def _judge(o, t):
    where = o.layer or o.name
    for check in (_single_unit, _multi_label, _logits):
        found = check(o, where)
        if found is not None:
            return found
    return _range(o, where, t)


def _evidence(o):
    head, source = o.head
    evidence = {"output": o.name, "loss": o.loss_name,
                "from_logits": o.from_logits, "activation": o.declared,
                "head": head, "head_source": source, "units": o.units}
    if o.target:
        evidence["targets"] = {k: o.target.get(k) for k in (
            "min", "max", "mean", "distinct", "one_hot", "multi_hot",
            "integer_valued") if k in o.target}
    return evidence


def check_heads(view):
    alerts = []
    for o in view.outputs:
        found = _judge(o, view.t)
        if found is None:
            continue
        severity, message, advice = found
        alerts.append(Alert("loss_activation_mismatch", severity,
                            o.layer or o.name, None, None, _evidence(o),
                            advice, message))
    return alerts


def rule_regression_loss_on_classes(view):
    """MSE/MAE on class labels, in a run whose learning is impaired (and
    not by a learning rate too high: that is the learning-rate alert's)."""
    from tensorboard_plugin_trainhealth.diagnosis.learning_rate import (
        high_lr_evidence)

    if not view.progress.impaired or high_lr_evidence(view):
        return []
    alerts = []
    for o in view.outputs:
        if o.family not in REGRESSION or not o.categorical_targets:
            continue
        where = o.layer or o.name
        loss = o.loss_name
        if o.units and o.units > 1:
            fix = ("Dense(%d, activation='softmax') with %s"
                   % (o.units, "categorical_crossentropy (one-hot labels)"
                      if o.target.get("one_hot") else
                      "binary_crossentropy (multi-label)"
                      if o.target.get("multi_hot") else
                      "sparse_categorical_crossentropy"))
        else:
            fix = "Dense(1, activation='sigmoid') with binary_crossentropy"
        alerts.append(Alert(
            "loss_activation_mismatch", "warning", where, None, None,
            dict(_evidence(o), learning=view.progress.reason,
                 regression_loss_on_classes=True),
            "Train the classifier with cross-entropy: %s." % fix,
            "%s trains %s on class labels, and learning is impaired (%s): "
            "a regression loss gives a classifier weak, vanishing gradients"
            % (loss, where, view.progress.reason)))
    return alerts
