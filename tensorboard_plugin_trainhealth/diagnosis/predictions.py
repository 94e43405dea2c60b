"""Collapsed predictions: the model returns (nearly) the same output for
every input, or one class for nearly every input while the labels are not
that lopsided. Measured on the probe samples (metadata.OUTPUT_TAGS)."""

import numpy as np

from tensorboard_plugin_trainhealth.diagnosis.activity import hidden_columns
from tensorboard_plugin_trainhealth.diagnosis.alerts import Alert
from tensorboard_plugin_trainhealth.diagnosis.heads import check_heads
from tensorboard_plugin_trainhealth.diagnosis.learning_rate import (
    high_lr_evidence)
from tensorboard_plugin_trainhealth.diagnosis.progress import IMPAIRED
from tensorboard_plugin_trainhealth.diagnosis.util import (
    condition, finite, fmt, pct, sentence)
from tensorboard_plugin_trainhealth.diagnosis.outputs import CROSS_ENTROPY
from tensorboard_plugin_trainhealth.metadata import (
    LAYER_DEAD_FRACTION, LAYER_SATURATION, OUTPUT_PREDICTION_STD,
    OUTPUT_TOP_CLASS_SHARE)


def _column(series, tag, o):
    """(steps, values) of output `o` in a per-output matrix, or None."""
    m = series.matrices.get(tag)
    if m is None or not len(m.steps):
        return None
    for i, col in enumerate(m.columns):
        if col.get("name") in (o.name, o.layer):
            return m.steps, m.values[:, i]
    return None


def _classifier(o):
    """Outputs whose argmax (or side of 0.5) is a predicted class."""
    return bool(o.family in CROSS_ENTROPY or o.categorical_targets)


def _std_limit(o, t):
    """Prediction std below which the outputs do not vary, or None: for
    values, against the targets' own spread (or the outputs' spread before
    training); for probabilities, an absolute level."""
    target_std = o.target_stat("std")
    if target_std and o.categorical_targets is False:
        return t.collapse_relative_std * target_std
    if o.probabilities:
        return t.collapse_std
    scale = finite((o.measured or {}).get("prediction_std"))
    return t.collapse_relative_std * scale if scale else None


def _share_limit(o, t):
    majority = o.majority
    if majority is None:
        return t.collapse_top_share
    return max(t.collapse_top_share, majority[1] + (1 - majority[1]) / 2)


def _upstream(view):
    """Hidden layers that are mostly dead or saturated at the last record."""
    found = []
    for tag, limit, what in ((LAYER_DEAD_FRACTION, view.t.dead_warning,
                              "dead"),
                             (LAYER_SATURATION, view.t.saturation_warning,
                              "saturated")):
        m = view.series.matrices.get(tag)
        if m is None or not len(m.steps):
            continue
        for i, col in hidden_columns(m, view):
            if np.isfinite(m.values[-1, i]) and m.values[-1, i] >= limit:
                found.append("%s %s %s" % (col.get("name"),
                                           pct(m.values[-1, i]), what))
    return found


def likely_causes(view, o):
    """The likely causes of a collapse, most likely first."""
    causes = []
    if check_heads(view):
        causes.append("the loss and the output layer do not fit the labels "
                      "(see the loss/head alert)")
    majority = o.majority
    if majority is not None and majority[1] >= view.t.imbalance_share:
        causes.append("class imbalance: class %s holds %s of the labels - "
                      "use class_weight" % (majority[0], pct(majority[1])))
    upstream = _upstream(view)
    if upstream:
        causes.append("dead or saturated layers upstream (%s)"
                      % ", ".join(upstream[:3]))
    reasons = high_lr_evidence(view)
    if reasons:
        causes.append("a learning rate too high (%s): %s"
                      % (reasons[0], view.lower_lr_to_default()))
    if view.inputs_scaled is False:
        causes.append("unscaled inputs (up to %s): normalize them"
                      % fmt(view.input_abs_max))
    causes.append("labels that do not depend on the inputs (x and y "
                  "shuffled separately, or misaligned)")
    return causes


def rule_collapsed_predictions(view):
    """Judged only where learning is impaired: outputs that are alike at
    the start of a training that then learns were not collapsed."""
    t = view.t
    if view.progress.state != IMPAIRED or len(view.series.epoch("loss")) < 2:
        return []  # a model gets time to move away from its init
    alerts = []
    for o in view.outputs:
        std = _column(view.series, OUTPUT_PREDICTION_STD, o)
        share = _column(view.series, OUTPUT_TOP_CLASS_SHARE, o) \
            if _classifier(o) else None
        if std is None and share is None:
            continue
        steps = (std or share)[0]
        mask = np.zeros(len(steps), bool)
        std_limit = _std_limit(o, t)
        if std is not None and std_limit is not None:
            mask |= np.isfinite(std[1]) & (std[1] < std_limit)
        share_limit = _share_limit(o, t)
        if share is not None and len(share[1]) == len(mask):
            # One class for every sample, with outputs that barely vary:
            # predictions that vary but sit on one side of the threshold
            # are a bias not learned yet, not a collapse.
            alike = np.ones(len(mask), bool) if std is None or \
                std_limit is None else std[1] < 5 * std_limit
            mask |= np.isfinite(share[1]) & (share[1] >= share_limit) & alike
        stretch = condition(mask, t)
        if stretch is None or stretch.resolved is not None:
            continue  # a collapse is about the model as it is now
        where = o.layer or o.name
        latest_std = float(std[1][-1]) if std is not None else None
        latest_share = float(share[1][-1]) if share is not None else None
        first = int(steps[stretch.start])
        identical = latest_std is not None and latest_std <= 1e-7
        parts = []
        if latest_std is not None:
            parts.append("prediction std across the probe samples %s"
                         % fmt(latest_std))
        if latest_share is not None:
            parts.append("one class for %s of them" % pct(latest_share))
        causes = likely_causes(view, o)
        alerts.append(Alert(
            "collapsed_predictions", "critical" if identical else "warning",
            where, first, int(steps[stretch.last]),
            {"output": o.name, "prediction_std": latest_std,
             "std_limit": std_limit, "top_class_share": latest_share,
             "share_limit": share_limit, "likely_causes": causes},
            "Likely causes, most likely first: %s."
            % sentence(causes, "; "),
            "%s predicts %s for every input since step %d (latest: %s)"
            % (where, "exactly the same" if identical else "nearly the same",
               first, "; ".join(parts))))
    return alerts
