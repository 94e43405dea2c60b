"""Dead ReLU units and saturated bounded units in hidden layers.

Severity follows impact (progress.impact_severity): a layer with many dead
or saturated units in a run that keeps learning is information; a warning
when learning is impaired or the condition spreads. Nearly the whole layer
gone (the critical level, still holding) passes no signal: critical. `fraction` in the evidence is the median since the
onset. A condition that went
away is reported as resolved where it ended, and a fraction that is
falling is not a warning.
"""

import numpy as np

from tensorboard_plugin_trainhealth.diagnosis.alerts import Alert
from tensorboard_plugin_trainhealth.diagnosis.progress import impact_severity
from tensorboard_plugin_trainhealth.diagnosis.util import (
    condition, fmt, num, pct, sentence)
from tensorboard_plugin_trainhealth.metadata import (
    LAYER_DEAD_FRACTION, LAYER_SATURATION, VARIABLE_WEIGHT_NORM)


def hidden_columns(matrix, view):
    """(index, column) of the layers that are not model outputs."""
    for i, col in enumerate(matrix.columns):
        if col.get("is_output") or col.get("name") in view.output_layers:
            continue
        yield i, col


def _fraction_alerts(view, tag, kind, warning, critical, skip, explain):
    m = view.series.matrices.get(tag)
    if m is None or not len(m.steps):
        return []
    t = view.t
    columns = [(i, c) for i, c in hidden_columns(m, view) if not skip(c)]
    if not columns:
        return []
    values = np.nan_to_num(m.values[:, [i for i, _ in columns]], nan=0.0)
    affected = (values >= warning).sum(axis=1)
    alerts = []
    for j, (_, col) in enumerate(columns):
        v = values[:, j]
        stretch = condition(v >= warning, t)
        if stretch is None:
            continue
        start, resolved = stretch.start, stretch.resolved
        crit = condition(v >= critical, t)
        peak = float(np.max(v[start:]))
        falling = resolved is None and peak - float(v[-1]) >= t.recovering_drop
        # Layers that show it within the condition's first records are
        # part of the same onset; more layers later is spreading.
        at_onset = affected[start:start + t.persistence_records].max()
        spreading = resolved is None and not falling and (
            (v[-1] >= critical > v[start]) or affected[-1] > at_onset)
        whole = crit is not None and crit.resolved is None
        # Nearly the whole layer gone passes no signal, whatever the loss
        # does: critical. Below that, impact decides.
        severity = "critical" if whole else impact_severity(
            view, "warning", spreading)
        if falling:
            severity = "info"
        evidence = {
            "fraction": float(np.median(v[start:stretch.last + 1])),
            "at_onset": float(v[start]),
            "latest": float(v[-1]),
            "peak": peak,
            "records": int(stretch.last - start + 1),
            "threshold": warning,
            "falling": bool(falling),
            "spreading": bool(spreading),
            "learning": view.progress.state,
            "layer_index": j,
            "activation": col.get("activation"),
            "class": col.get("class"),
            "units": col.get("units"),
        }
        if crit is not None:
            evidence["critical_since_step"] = int(m.steps[crit.start])
        first = int(m.steps[start])
        resolved_step = int(m.steps[resolved]) if resolved is not None \
            else None
        message, advice = explain(col, evidence, first, resolved_step)
        alerts.append(Alert(kind, severity, col.get("name"), first,
                            int(m.steps[stretch.last]), evidence, advice,
                            message, resolved_step=resolved_step))
    return alerts


def _course(ev, first, resolved_step, what):
    """The figures of a fraction alert, each labelled with when it held."""
    text = "%s %s at step %d" % (pct(ev["at_onset"]), what, first)
    if resolved_step is not None:
        return text + " (peak %s), back under %s from step %d" % (
            pct(ev["peak"]), pct(ev["threshold"]), resolved_step)
    return text + " (latest %s, peak %s)" % (pct(ev["latest"]),
                                              pct(ev["peak"]))


def rule_dead_relu(view):
    def explain(col, ev, first, resolved_step):
        name = col.get("name")
        what = "channels" if "conv" in str(col.get("class", "")).lower() \
            else "units"
        message = "%s: %s" % (name, _course(ev, first, resolved_step,
                                            "of %s dead" % what))
        if ev["falling"]:
            message += "; the layer is recovering"
        elif resolved_step is None:
            message += "; " + view.progress.reason
        activation = col.get("activation") or "ReLU"
        fixes = ["use He initialization (kernel_initializer='he_normal')",
                 "use LeakyReLU(negative_slope=0.1) or ELU instead of %s"
                 % activation]
        if _zero_kernel(view, name):
            fixes.insert(0, "its kernel starts all zeros, so every unit "
                            "computes the same 0: drop "
                            "kernel_initializer='zeros'")
        elif first > _first_record(view, LAYER_DEAD_FRACTION) \
                or view.lr_suspect:
            # Units that die during training were pushed there by large
            # updates.
            fixes.insert(0, view.lower_lr(first))
        else:
            fixes.append("check the inputs and any bias_initializer: the "
                         "units are dead from the first record")
        advice = ("%s of the %s of %s output 0 on every probe sample at "
                  "step %d and get no gradient. %s."
                  % (pct(ev["at_onset"]), what, name, first,
                     sentence(fixes)))
        return message, advice

    return _fraction_alerts(view, LAYER_DEAD_FRACTION, "dead_relu",
                            view.t.dead_warning, view.t.dead_critical,
                            lambda col: False, explain)


def _zero_kernel(view, layer):
    """The layer's kernel had norm ~0 at the first record."""
    m = view.series.matrices.get(VARIABLE_WEIGHT_NORM)
    if m is None or not len(m.steps):
        return False
    for i, col in enumerate(m.columns):
        name = str(col.get("name") or "")
        if name.endswith("kernel") and (col.get("layer") == layer
                                        or name.rsplit("/", 1)[0] == layer):
            return bool(np.isfinite(m.values[0, i])
                        and abs(m.values[0, i]) <= 1e-12)
    return False


def _first_record(view, tag):
    m = view.series.matrices.get(tag)
    return int(m.steps[0]) if m is not None and len(m.steps) else 0


def rule_saturation(view):
    t = view.t

    def skip(col):
        units = num(col.get("units"))
        return (col.get("activation") == "softmax" and units is not None
                and units >= t.saturation_max_softmax_units)

    def explain(col, ev, first, resolved_step):
        name = col.get("name")
        act = col.get("activation") or "bounded"
        message = "%s: %s" % (name, _course(
            ev, first, resolved_step,
            "of the %s outputs saturated (within 1%% of the bounds)" % act))
        if resolved_step is None and not ev["falling"]:
            message += "; " + view.progress.reason
        fixes = []
        if view.inputs_scaled is not True:
            scale = view.input_abs_max
            fixes.append("normalize the inputs (keras.layers.Normalization "
                         "adapted on the training data)%s"
                         % (" - they reach %s in magnitude" % fmt(scale)
                            if scale is not None else ""))
        if first > _first_record(view, LAYER_SATURATION):
            fixes.append("it began mid-training (step %d): %s"
                         % (first, view.lower_lr(first)))
        else:
            fixes.append("keep the weights small at the start (Glorot "
                         "initialization, kernel_initializer="
                         "'glorot_uniform', no scaled-up kernels)")
        fixes.append("add BatchNormalization before the activation, or use "
                     "a ReLU-family activation in hidden layers")
        advice = ("%s of the %s outputs of %s sit where the derivative is "
                  "~0 at step %d, so little gradient passes. %s."
                  % (pct(ev["at_onset"]), act, name, first,
                     sentence(fixes)))
        return message, advice

    return _fraction_alerts(view, LAYER_SATURATION, "saturation",
                            t.saturation_warning, t.saturation_critical,
                            skip, explain)
