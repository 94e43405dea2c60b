"""Labels the loss cannot use, and label histograms that mislead training.

From the targets of the probe batch (per output: range, integer or not,
one-/multi-hot, class histogram) and from the loss itself: a cross-entropy
that runs negative has labels outside its range, whatever the facts say.
"""

import numpy as np

from tensorboard_plugin_trainhealth.diagnosis.alerts import Alert
from tensorboard_plugin_trainhealth.diagnosis.progress import (
    val_accuracy_key)
from tensorboard_plugin_trainhealth.diagnosis.util import (
    epoch_step, finite_epochs, fmt, num, pct)
from tensorboard_plugin_trainhealth.diagnosis.outputs import (
    CROSS_ENTROPY, LOSS_NAMES)
from tensorboard_plugin_trainhealth.metadata import OUTPUT_TOP_CLASS_SHARE


def _classes_fix(o):
    distinct = num(o.target.get("distinct")) if o.target else None
    if distinct and distinct >= 3 and o.target.get("integer_valued"):
        return ("these are %d classes: use Dense(%d, activation='softmax') "
                "with sparse_categorical_crossentropy"
                % (distinct, max(distinct, (o.target_stat("max") or 0) + 1)))
    return "scale the labels into [0, 1] (e.g. y / y.max()) or binarize them"


def _static_label_problem(o):
    """(message, advice) for labels the loss cannot use, or None."""
    t = o.target
    if not t:
        return None
    where = o.layer or o.name
    low, high = o.target_stat("min"), o.target_stat("max")
    distinct = num(t.get("distinct"))
    classes = o.categorical_targets or o.family in CROSS_ENTROPY
    if distinct == 1 and not t.get("multi_hot"):
        return ("every target of %s in the probe batch is %s: %s"
                % (where, fmt(low) if low is not None else "the same",
                   "one class only" if classes else "a constant"),
                "Check the label pipeline: a wrong scaling or cast (e.g. "
                "integer division, astype(int) of values in [0, 1)) or a "
                "filter left one value. Shuffle before splitting.")
    if o.family == "binary" and low is not None and \
            (low < 0 or high > 1):
        return ("binary_crossentropy needs labels in [0, 1], but the labels "
                "of %s run from %s to %s: the loss becomes unbounded below "
                "(it can run negative)" % (where, fmt(low), fmt(high)),
                "Labels outside [0, 1]: %s." % _classes_fix(o))
    if o.family == "sparse" and low is not None and o.units:
        if not t.get("integer_valued") or low < 0 or high >= o.units:
            return ("sparse_categorical_crossentropy needs integer labels "
                    "0..%d for the %d units of %s, but they run from %s to "
                    "%s%s" % (o.units - 1, o.units, where, fmt(low),
                              fmt(high), "" if t.get("integer_valued")
                              else " and are not integers"),
                    "Map the labels to 0..k-1 (e.g. np.unique(y, "
                    "return_inverse=True)) and give %s one unit per class."
                    % where)
    if o.family == "categorical" and t.get("integer_valued") and \
            not (t.get("one_hot") or t.get("multi_hot")) and \
            o.units and o.units > 1:
        return ("categorical_crossentropy needs one-hot labels, but %s gets "
                "integer class ids (%s..%s)" % (where, fmt(low), fmt(high)),
                "Use sparse_categorical_crossentropy with the integer "
                "labels, or one-hot them: keras.utils.to_categorical(y, %d)."
                % o.units)
    return None


def _negative_loss(view, o):
    """(epoch, value) where this output's cross-entropy first went below
    zero, or None."""
    if o.family not in CROSS_ENTROPY:
        return None
    key = "loss" if len(view.outputs) == 1 else "%s_loss" % o.name
    epochs, values = finite_epochs(view.series, key)
    below = np.nonzero(values < view.t.negative_loss)[0]
    if not len(below):
        return None
    return int(epochs[below[0]]), float(values[below[0]]), float(
        values.min())


def rule_labels(view):
    alerts = []
    for o in view.outputs:
        problem = _static_label_problem(o)
        negative = _negative_loss(view, o)
        if problem is None and negative is None:
            continue
        where = o.layer or o.name
        evidence = {"output": o.name, "loss": o.loss_name,
                    "targets": {k: o.target.get(k) for k in (
                        "min", "max", "mean", "distinct", "integer_valued",
                        "one_hot", "multi_hot") if k in o.target}
                    if o.target else None}
        first = None
        if negative is not None:
            epoch, value, lowest = negative
            evidence.update(negative_at_epoch=epoch, negative_loss=value,
                            lowest_loss=lowest)
            first = epoch_step(view.series, epoch)
        if problem is not None:
            message, advice = problem
            if negative is not None:
                message += "; the loss went negative (%s at epoch %d)" % (
                    fmt(negative[1]), negative[0])
        else:
            message = ("%s of %s went negative (%s at epoch %d, lowest %s): "
                       "its labels are outside the range the loss accepts"
                       % (LOSS_NAMES[o.family], where, fmt(negative[1]),
                          negative[0], fmt(negative[2])))
            advice = ("Check the labels' range: binary_crossentropy needs "
                      "[0, 1], sparse_categorical_crossentropy 0..k-1, "
                      "categorical_crossentropy one-hot rows.")
        alerts.append(Alert("label_mismatch", "critical", where, first,
                            first, evidence, advice, message))
    return alerts


def _collapsed_onto_one_class(view, o):
    m = view.series.matrices.get(OUTPUT_TOP_CLASS_SHARE)
    if m is None or not len(m.steps):
        return None
    for i, col in enumerate(m.columns):
        if col.get("name") in (o.name, o.layer):
            share = m.values[-1, i]
            return float(share) if np.isfinite(share) else None
    return None


def rule_class_imbalance(view):
    t = view.t
    alerts = []
    for o in view.outputs:
        found = o.majority
        if found is None:
            continue
        top, share = found
        if share < t.imbalance_share or share >= 1.0:
            continue
        where = o.layer or o.name
        predicted = _collapsed_onto_one_class(view, o)
        key = val_accuracy_key(view.series)
        accuracy = finite_epochs(view.series, key)[1] if key else []
        at_majority = len(accuracy) >= 2 and \
            float(np.max(accuracy[-2:])) <= share + 0.01
        collapsed = predicted is not None and predicted >= max(
            t.collapse_top_share - 0.02, share + (1 - share) / 2)
        severity = "warning" if (collapsed or at_majority) else "info"
        message = ("class %s holds %s of the probe labels of %s" % (
            top, pct(share), where))
        if collapsed:
            message += ("; the model predicts it for %s of the samples"
                        % pct(predicted))
        elif at_majority:
            message += ("; %s (%s) is no better than always predicting it"
                        % (key, fmt(accuracy[-1])))
        alerts.append(Alert(
            "class_imbalance", severity, where, None, None,
            {"output": o.name, "majority_class": top, "share": share,
             "predicted_share": predicted, "classes": o.class_shares},
            "Weight the classes: model.fit(..., class_weight={...}) with "
            "weights inversely proportional to the class counts (or "
            "oversample the rare classes); judge the model by precision/"
            "recall or AUC (keras.metrics.AUC()), not accuracy.",
            message[0].upper() + message[1:]))
    return alerts
