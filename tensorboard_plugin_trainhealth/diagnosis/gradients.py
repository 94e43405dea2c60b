"""Exploding and vanishing gradients: the global norm against its own
early history, and the first layer's gradients against the last's."""

import numpy as np

from tensorboard_plugin_trainhealth.diagnosis.activity import hidden_columns
from tensorboard_plugin_trainhealth.diagnosis.alerts import (
    Alert, severity_rank, worst)
from tensorboard_plugin_trainhealth.diagnosis.progress import impact_severity
from tensorboard_plugin_trainhealth.diagnosis.util import (
    carry_into_nonfinite, condition, fmt, kernel_columns, layer_of,
    nanmax, nanmedian)
from tensorboard_plugin_trainhealth.metadata import (
    LAYER_SATURATION, STEP_GRAD_NORM, STEP_LOSS, VARIABLE_GRAD_NORM)

_BOUNDED_ACTIVATIONS = ("sigmoid", "tanh", "hard_sigmoid", "hard_tanh",
                        "softsign", "softmax")


def _part(steps, stretch, severity, evidence, message, source, layer=None):
    return {
        "first": int(steps[stretch.start]),
        "last": int(steps[stretch.last]),
        "resolved": (int(steps[stretch.resolved])
                     if stretch.resolved is not None else None),
        "severity": severity, "evidence": evidence, "message": message,
        "source": source, "layer": layer,
    }


def _history_explode(g, early, growth, t):
    exploded = carry_into_nonfinite(growth > t.explode_factor, g.values)
    stretch = condition(exploded, t)
    if stretch is None:
        return None
    crit = condition(carry_into_nonfinite(
        growth > t.explode_critical_factor, g.values), t)
    start = stretch.start
    since = growth[start:stretch.last + 1]
    peak = float(nanmax(np.where(np.isfinite(since), since, np.nan)))
    return _part(
        g.steps, stretch, "critical" if crit is not None else "warning",
        {"early_median": float(early), "at_onset": float(g.values[start]),
         "growth": float(growth[start]), "peak_growth": peak},
        ("the global gradient norm grew %sx over its early median (%s -> %s) "
         "at step %d" % (fmt(growth[start]), fmt(early),
                         fmt(g.values[start]), g.steps[start])
         if np.isfinite(growth[start]) else
         "the global gradient norm overflowed (%s) at step %d (early median "
         "%s)" % (fmt(g.values[start]), g.steps[start], fmt(early))),
        "history")


def _history_vanish(series, g, early, growth, t):
    loss = series.scalar(STEP_LOSS)
    ok = np.isfinite(loss.values)
    if ok.sum() < t.early_records:
        return None
    early_loss = float(np.median(loss.values[ok][:t.early_records]))
    loss_now = np.interp(g.steps, loss.steps[ok], loss.values[ok])
    with np.errstate(all="ignore"):
        kept = np.abs(loss_now) >= t.vanish_loss_fraction * abs(early_loss)
        collapsed = (np.isfinite(growth) & (growth < 1.0 / t.vanish_factor)
                     & kept)
    stretch = condition(collapsed, t)
    if stretch is None:
        return None
    start = stretch.start
    return _part(
        g.steps, stretch, "warning",
        {"early_median": float(early), "at_onset": float(g.values[start]),
         "collapse": float(1.0 / growth[start]) if growth[start] > 0
         else float("inf"),
         "loss_at_onset": float(loss_now[start]), "early_loss": early_loss},
        "the global gradient norm collapsed to %s of its early median "
        "(%s -> %s) at step %d while the loss stayed at %s"
        % (fmt(growth[start]), fmt(early), fmt(g.values[start]),
           g.steps[start], fmt(loss_now[start])),
        "history")


def _gradient_history(series, t):
    """(explode part, vanish part): global norm vs. its early median."""
    g = series.scalar(STEP_GRAD_NORM)
    if len(g) < t.early_records + t.persistence_records:
        return None, None
    early = nanmedian(np.where(np.isfinite(g.values), g.values, np.nan)
                      [:t.early_records])
    if not np.isfinite(early) or early <= 0:
        return None, None
    with np.errstate(all="ignore"):
        growth = g.values / early
    return (_history_explode(g, early, growth, t),
            _history_vanish(series, g, early, growth, t))


def _gradient_depth(series, t):
    """(explode part, vanish part) from first vs. last kernel gradients."""
    m = series.matrices.get(VARIABLE_GRAD_NORM)
    if m is None or not len(m.steps):
        return None, None
    kernels = kernel_columns(m)
    if len(kernels) < 2:
        return None, None
    (i0, c0, n0), (i1, c1, n1) = kernels[0], kernels[-1]
    first_layer, last_layer = layer_of(c0), layer_of(c1)
    if first_layer == last_layer:
        return None, None
    rms0 = m.values[:, i0] / np.sqrt(n0)
    rms1 = m.values[:, i1] / np.sqrt(n1)
    with np.errstate(all="ignore"):
        ratio = np.where(np.isfinite(rms0) & np.isfinite(rms1) & (rms1 > 0),
                         rms0 / rms1, np.nan)
    parts = []
    for mask, word in ((ratio > t.depth_explode_ratio, "larger"),
                       (ratio < t.depth_vanish_ratio, "smaller")):
        stretch = condition(mask, t)
        if stretch is None:
            parts.append(None)
            continue
        start = stretch.start
        level = float(ratio[start])
        shown = level if word == "larger" else (
            1.0 / level if level > 0 else float("inf"))
        message = (
            "no gradient at all reached the first layer (%s) at step %d, "
            "while the last (%s) still got one"
            % (first_layer, m.steps[start], last_layer)
            if not np.isfinite(shown) else
            "per-weight gradients in the first layer (%s) were %sx %s than "
            "in the last (%s) at step %d (median since: %sx)"
            % (first_layer, fmt(shown), word, last_layer, m.steps[start],
               fmt(_shown_median(ratio[start:stretch.last + 1], word))))
        parts.append(_part(
            m.steps, stretch, "warning",
            {"first_layer": first_layer, "last_layer": last_layer,
             "first_to_last_rms_ratio": level,
             "median_ratio": float(nanmedian(ratio[start:stretch.last + 1])),
             "first_rms": float(rms0[start]), "last_rms": float(rms1[start])},
            message, "depth", first_layer))
    return parts[0], parts[1]


def _shown_median(ratio, word):
    level = float(nanmedian(ratio))
    if word == "larger":
        return level
    return 1.0 / level if level > 0 else float("inf")


def _merge(view, kind, parts, advice):
    parts = [p for p in parts if p is not None]
    if not parts:
        return []
    parts.sort(key=lambda p: p["first"])
    severity = worst(*(p["severity"] for p in parts))
    severity = impact_severity(view, severity)
    evidence = {p["source"]: p["evidence"] for p in parts}
    evidence["learning"] = view.progress.state
    message = "; ".join(p["message"] for p in parts)
    message = message[0].upper() + message[1:]
    resolved = [p["resolved"] for p in parts]
    resolved_step = None if any(r is None for r in resolved) \
        else max(resolved)
    if severity_rank(severity) < severity_rank("warning") \
            and resolved_step is None:
        message += " (%s)" % view.progress.reason
    return [Alert(kind, severity, parts[0].get("layer"), parts[0]["first"],
                  max(p["last"] for p in parts), evidence, advice, message,
                  resolved_step=resolved_step)]


def rule_gradients(view):
    series, t = view.series, view.t
    h_explode, h_vanish = _gradient_history(series, t)
    d_explode, d_vanish = _gradient_depth(series, t)
    explode_advice = (
        "Clip gradients (e.g. keras.optimizers.Adam(clipnorm=1.0)), %s%s "
        "and add BatchNormalization between layers."
        % (view.lower_lr(), ", normalize the inputs"
           if view.inputs_scaled is not True else ","))
    saturating = []
    if LAYER_SATURATION in series.matrices:
        saturating = sorted({
            c.get("activation") for _, c in hidden_columns(
                series.matrices[LAYER_SATURATION], view)
            if c.get("activation") in _BOUNDED_ACTIVATIONS})
    vanish_advice = (
        "Use ReLU-family activations in hidden layers%s with He "
        "initialization (kernel_initializer='he_normal'), add "
        "BatchNormalization or residual connections, or make the network "
        "shallower." % (" instead of %s" % "/".join(saturating)
                        if saturating else ""))
    return (_merge(view, "exploding_gradients", [h_explode, d_explode],
                   explode_advice)
            + _merge(view, "vanishing_gradients", [h_vanish, d_vanish],
                     vanish_advice))
