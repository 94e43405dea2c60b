"""The learning rate: updates too large or too small for the weights, and a
loss that a too-high learning rate left far above (or spiked and then stuck
at) its chance level.

Advice only ever moves the learning rate the way the evidence points: it
is raised only when the updates are tiny and nothing says it is too high.
"""

import math

import numpy as np

from tensorboard_plugin_trainhealth.diagnosis.alerts import Alert
from tensorboard_plugin_trainhealth.diagnosis.progress import (
    first_loss, impact_severity, loss_curve)
from tensorboard_plugin_trainhealth.diagnosis.util import (
    condition, epoch_start_step, epoch_step, finite_epochs, fmt,
    kernel_columns, nanmax, nanmedian, pct)
from tensorboard_plugin_trainhealth.metadata import (
    STEP_LOSS, VARIABLE_UPDATE_RATIO, VARIABLE_WEIGHT_NORM)


def _power_of_ten(factor):
    """The power of ten at or below `factor`, at least 10: the change of
    learning rate that brings the ratio to (not past) its target."""
    return 10.0 ** max(1, math.floor(math.log10(factor)))


def update_ratios(series):
    """(steps, median kernel ratio, largest kernel ratio) per record, or
    None. Kernels whose norm is ~0 (zero-initialized) are left out."""
    m = series.matrices.get(VARIABLE_UPDATE_RATIO)
    if m is None or not len(m.steps):
        return None
    cols = [i for i, _, _ in kernel_columns(m)]
    if not cols:
        return None
    r = np.where(np.isfinite(m.values[:, cols]), m.values[:, cols], np.nan)
    w = series.matrices.get(VARIABLE_WEIGHT_NORM)
    if (w is not None and w.values.shape == m.values.shape
            and np.array_equal(w.steps, m.steps)):
        with np.errstate(all="ignore"):
            r = np.where(w.values[:, cols] > 1e-12, r, np.nan)
    return m.steps, nanmedian(r, axis=1), nanmax(r, axis=1)


def loss_spike(view):
    """(peak loss, its step) when the loss spiked early (per-step records or
    the first epoch) to lr_spike_factor times its chance level and its own
    later level, else None."""
    t = view.t
    series = view.series
    _, curve = loss_curve(series, t)
    if len(curve) < 2:
        return None
    s = series.scalar(STEP_LOSS)
    ok = np.isfinite(s.values)
    steps, values = s.steps[ok], s.values[ok]
    candidates = []
    if len(values) >= 2:
        i = int(np.argmax(values[:max(1, len(values) // 3)]))
        candidates.append((float(values[i]), int(steps[i])))
    epochs, loss = finite_epochs(series, "loss")
    if len(loss) >= 2:
        candidates.append((float(loss[0]), epoch_start_step(
            series, int(epochs[0]))))
    if not candidates:
        return None
    peak, step = max(candidates)
    late = float(np.median(curve[-2:]))
    reference = view.uniform_loss
    if reference is None:
        reference = abs(late)
    if reference > 0 and peak >= t.lr_spike_factor * reference \
            and peak >= t.lr_spike_factor * abs(late):
        return peak, step
    return None


def high_lr_evidence(view):
    """Why the learning rate looks too high (a list of reasons)."""
    reasons = []
    ratios = update_ratios(view.series)
    if ratios is not None and np.nanmax(
            np.append(ratios[1], -np.inf)) > view.t.lr_ratio_high:
        reasons.append("updates reached %s of the weights' norm per step"
                       % pct(np.nanmax(ratios[1])))
    spike = loss_spike(view)
    if spike is not None:
        reasons.append("the loss spiked to %s at step %d" % (fmt(spike[0]),
                                                             spike[1]))
    if view.lr_suspect:
        reasons.append("%s at learning_rate=%s" % (
            view.optimizer_class or "the optimizer", fmt(view.lr(0))))
    return reasons


def _rule_ratio_high(view, steps, median):
    t = view.t
    stretch = condition(median > t.lr_ratio_high, t)
    if stretch is None:
        return []
    crit = condition(median > t.lr_ratio_critical, t)
    start = stretch.start
    level = float(median[start])
    lr = view.lr(int(steps[start]))
    factor = _power_of_ten(
        float(nanmedian(median[start:stretch.last + 1])) / t.lr_target_ratio)
    severity = "critical" if crit is not None and crit.resolved is None \
        else "warning"
    severity = impact_severity(view, severity)
    first = int(steps[start])
    return [Alert(
        "learning_rate", severity, None, first, int(steps[stretch.last]),
        {"update_ratio_at_onset": level,
         "median_update_ratio": float(
             nanmedian(median[start:stretch.last + 1])),
         "healthy_ratio": t.lr_target_ratio, "threshold": t.lr_ratio_high,
         "learning_rate": lr, "learning": view.progress.state},
        "The weights change by %s of their norm per step at step %d "
        "(healthy ~%s): %s, or clip the updates (clipnorm=1.0)."
        % (pct(level), first, fmt(t.lr_target_ratio),
           view.lower_lr(first, factor)),
        "Weights changed by %s of their norm per step at step %d (median "
        "kernel update/weight ratio; healthy ~%s): the learning rate%s is "
        "too high" % (pct(level), first, fmt(t.lr_target_ratio),
                      " (%s)" % fmt(lr) if lr else ""),
        resolved_step=(int(steps[stretch.resolved])
                       if stretch.resolved is not None else None))]


def low_rate_plausible(view):
    """Whether tiny updates can be the learning rate's fault: not after a
    big step broke the network, and not with an Adam-family optimizer at a
    normal rate (its updates are ~lr per weight whatever the gradient's
    scale: tiny ones there mean no gradient, not a low rate)."""
    if high_lr_evidence(view):
        return False
    lr = view.lr(0)
    return not (view.adaptive_optimizer and lr is not None and lr >= 1e-4)


def _rule_ratio_low(view, steps, largest):
    t = view.t
    stretch = condition(largest < t.lr_ratio_low, t)
    if stretch is None or stretch.start != 0 or stretch.resolved is not None:
        return []
    if not low_rate_plausible(view):
        return []
    lr = view.lr(int(steps[0]))
    level = float(nanmedian(largest))
    factor = _power_of_ten(t.lr_target_ratio / max(level, 1e-30))
    raise_lr = ("raise the learning rate %sx (from %s to %s)"
                % (fmt(factor), fmt(lr), fmt(lr * factor)) if lr
                else "raise the learning rate %sx" % fmt(factor))
    return [Alert(
        "learning_rate", impact_severity(view, "warning"), None,
        int(steps[0]), int(steps[stretch.last]),
        {"largest_update_ratio": level, "healthy_ratio": t.lr_target_ratio,
         "threshold": t.lr_ratio_low, "learning_rate": lr},
        "Even the fastest-moving weights change by only %s of their norm "
        "per step (median; healthy ~%s): %s, or use "
        "keras.optimizers.Adam(learning_rate=1e-3)."
        % (fmt(level), fmt(t.lr_target_ratio), raise_lr),
        "Weights change by at most %s of their norm per step from the "
        "start (median; healthy ~%s): the learning rate%s is too low"
        % (fmt(level), fmt(t.lr_target_ratio),
           " (%s)" % fmt(lr) if lr else ""))]


def rule_update_ratio(view):
    ratios = update_ratios(view.series)
    if ratios is None:
        return []
    steps, median, largest = ratios
    return (_rule_ratio_high(view, steps, median)
            + _rule_ratio_low(view, steps, largest))


def _trailing(mask):
    """Index from which `mask` is true to the end (len(mask) if not)."""
    mask = np.asarray(mask, bool)
    return len(mask) - int(np.argmin(mask[::-1])) if not mask.all() else 0


def _far_above(view, epochs, curve, reasons):
    """The loss stayed far above what a model that learned nothing scores
    (a uniform guess; for MSE, predicting 0), or far above where it
    began: (severity, onset index, message) or None."""
    t = view.t
    reference = view.uniform_loss
    what = ("a uniform guess scores" if view.chance_loss is None or all(
        o.family != "mse" for o in view.outputs) else "predicting 0 scores")
    if reference is None:
        reference = first_loss(view.series, curve)
        what = "it began at"
        factors = (10.0, 10.0 * t.lr_above_chance_critical)
    else:
        factors = (t.lr_above_chance_factor, t.lr_above_chance_critical)
    tail = curve[-max(2, len(curve) // 3):]
    if not reference or reference <= 0:
        return None
    if tail.min() < factors[0] * reference:
        return _far_above_first(view, epochs, curve, reference, factors[0],
                                what)
    critical = tail.min() >= factors[1] * reference
    if not reasons and not critical:
        return None
    onset = _trailing(curve >= factors[0] * reference)
    return ("critical" if critical else "warning", onset,
            "The training loss has stayed far above where a model that "
            "learned nothing would be since epoch %d (%s then, latest %s; %s "
            "%s): %s" % (int(epochs[onset]), fmt(curve[onset]),
                         fmt(curve[-1]), what, fmt(reference),
                         _blame(view, reasons)))


def _far_above_first(view, epochs, curve, reference, factor, what):
    """Far above from the first epoch for most of the training, then back:
    the damage is done (often dead units, a poor final model)."""
    above = curve >= factor * reference
    came_back = int(np.argmin(above))
    if len(curve) < 3 or not above[0] or came_back < len(curve) / 2:
        return None
    return ("warning", 0,
            "The training loss stayed far above where a model that learned "
            "nothing would be for the first %d of %d epochs (%s at epoch "
            "%d; %s %s): %s"
            % (came_back, len(curve), fmt(curve[0]), int(epochs[0]), what,
               fmt(reference), _blame(view, high_lr_evidence(view))))


def _spiked_to_chance(view, curve, tail):
    chance = view.chance_loss
    spike = loss_spike(view)
    if chance is None or spike is None or \
            tail.min() < chance * (1 - view.t.stall_chance_margin):
        return None
    return ("warning", spike[1],
            "The loss spiked to %s at step %d and has sat at chance level "
            "(%s) since (latest %s): the learning rate%s is too high"
            % (fmt(spike[0]), spike[1], fmt(chance), fmt(curve[-1]),
               _lr_text(view)))


def _climbed_back(view, epochs, curve, reasons):
    if len(curve) < 4 or not reasons:
        return None
    best = int(np.argmin(curve[:-1]))
    if curve[best] <= 0 or min(curve[-2:]) < 1.5 * curve[best]:
        return None
    onset = best + 1
    return ("warning", onset,
            "The training loss climbed back from its best (%s at epoch %d) "
            "to %s: training became unstable, the mark of a learning rate%s "
            "too high" % (fmt(curve[best]), int(epochs[best]),
                          fmt(curve[-1]), _lr_text(view)))


def _blame(view, reasons):
    """What a loss far above chance points at, as far as the evidence
    says."""
    if reasons:
        return "a learning rate%s too high (%s)" % (_lr_text(view),
                                                    "; ".join(reasons))
    return ("the model is confidently wrong: a learning rate too high, or "
            "inputs or targets far from unit scale")


def _lr_text(view):
    lr = view.lr(0)
    return " (%s)" % fmt(lr) if lr else ""


def rule_loss_vs_chance(view):
    """A loss far above what learning nothing would give, stuck at chance
    after a spike, or climbing back from its best: the marks of a learning
    rate too high."""
    epochs, curve = loss_curve(view.series, view.t)
    if len(curve) < 2:
        return []
    reasons = high_lr_evidence(view)
    tail = curve[-max(2, len(curve) // 3):]
    found = _far_above(view, epochs, curve, reasons)
    step = None
    if found is None:
        found = _spiked_to_chance(view, curve, tail)
        if found is not None:
            step = found[1]
            found = (found[0], 0, found[2])
    if found is None:
        found = _climbed_back(view, epochs, curve, reasons)
    if found is None:
        return []
    severity, onset, message = found
    if view.progress.state == "unknown" and severity == "warning":
        severity = "info"  # too early to tell: it waits
    first, last = _curve_steps(view, epochs, onset)
    if step is not None:
        first = step
    return [Alert(
        "learning_rate", severity, None, first, last,
        {"loss_at_onset": float(curve[onset]),
         "latest_loss": float(curve[-1]), "uniform_loss": view.uniform_loss,
         "chance_loss": view.chance_loss, "learning_rate": view.lr(0),
         "evidence": reasons},
        "%s, and clip gradients (clipnorm=1.0); larger steps would make "
        "this worse." % _capital(view.lower_lr_to_default(0)),
        message)]


def _curve_steps(view, positions, onset):
    """Global steps of the start of `loss_curve` position `onset`, and of
    the last record."""
    series = view.series
    s = series.scalar(STEP_LOSS)
    last_record = int(s.steps[-1]) if len(s) else None
    if len(series.epoch("loss")) >= 2:
        return (epoch_start_step(series, int(positions[onset])),
                epoch_step(series, int(positions[-1])) or last_record)
    return (int(s.steps[0]) if len(s) else 0), last_record


def _capital(text):
    return text[:1].upper() + text[1:]
