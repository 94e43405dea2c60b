"""Is the training learning? The impact test behind every severity.

A condition in a run that keeps learning is information; the same
condition in a run whose learning is impaired is a warning. "Impaired"
(docs/diagnosis.md): the training loss is non-finite, at or above its
chance level, back above where it started, or (with no chance level to
compare with) has hardly moved; or the validation accuracy is no better
than always predicting the majority class.
"""

import dataclasses
from typing import Optional

import numpy as np

from tensorboard_plugin_trainhealth.diagnosis.util import finite_epochs
from tensorboard_plugin_trainhealth.metadata import STEP_LOSS

LEARNING, IMPAIRED, UNKNOWN = "learning", "impaired", "unknown"


@dataclasses.dataclass
class Progress:
    state: str  # LEARNING, IMPAIRED or UNKNOWN
    reason: str  # why, for messages: "the loss sits at chance level"
    improving: bool  # still getting better over the last third
    first: Optional[float] = None  # the loss at the start
    latest: Optional[float] = None  # ... and at the end

    @property
    def learning(self):
        return self.state == LEARNING

    @property
    def impaired(self):
        return self.state == IMPAIRED


def loss_curve(series, t):
    """(positions, values) of the training loss: the epoch losses, or with
    fewer than two epochs, medians of the per-step loss records."""
    epochs, loss = finite_epochs(series, "loss")
    if len(loss) >= 2:
        return epochs, loss
    s = series.scalar(STEP_LOSS)
    values = s.values[np.isfinite(s.values)]
    size = t.persistence_records
    if len(values) < 2 * size:
        return epochs, loss
    chunks = np.array_split(values, len(values) // size)
    return np.arange(len(chunks)), np.array([np.median(c) for c in chunks])


def _ended_non_finite(series):
    loss = series.epoch("loss")
    steps = series.scalar(STEP_LOSS)
    return bool((len(loss) and not np.isfinite(loss.values[-1]))
                or (len(steps) and not np.isfinite(steps.values[-1])))


def val_accuracy_key(series):
    """The validation accuracy metric of the run, or None."""
    keys = sorted(k for k in series.epochs
                  if k.startswith("val_") and "acc" in k)
    return keys[0] if keys else None


def first_loss(series, curve):
    """The loss before training moved: the first per-step record when
    there is one (the first epoch's mean already includes learning, or a
    blow-up), else the first point of the curve."""
    s = series.scalar(STEP_LOSS)
    ok = np.isfinite(s.values)
    if ok.any():
        return float(s.values[ok][0])
    return float(curve[0])


def assess(view):
    series, t = view.series, view.t
    if _ended_non_finite(series):
        return Progress(IMPAIRED, "the loss is NaN/Inf", False)
    _, loss = loss_curve(series, t)
    if len(loss) < 2 or not _long_enough(series, t):
        return Progress(UNKNOWN, "too early to tell", False)
    first, latest = first_loss(series, loss), float(loss[-1])
    improving = _improving(series, loss, t)
    impaired = _impairment(view, loss, first, latest)
    if impaired is not None:
        return Progress(IMPAIRED, impaired, improving, first, latest)
    return Progress(LEARNING, "the loss keeps falling" if improving
                    else "the loss fell", improving, first, latest)


def _long_enough(series, t):
    """Learning is judged after two epochs of `progress_min_epoch_steps`
    steps in all, or `progress_min_steps` steps (a long single epoch):
    before that a loss near chance is just the start."""
    s = series.scalar(STEP_LOSS)
    steps = float(s.steps[-1] - s.steps[0]) + 1 if len(s) else None
    epochs = finite_epochs(series, "loss")
    if len(epochs[1]) >= 2:  # without step records, the epochs alone
        return steps is None or steps >= t.progress_min_epoch_steps
    return steps is not None and steps - 1 >= t.progress_min_steps


def _impairment(view, loss, first, latest):
    """Why learning is impaired, or None."""
    series, t = view.series, view.t
    chance = view.chance_loss
    if chance is not None and latest >= chance * (1 - t.stall_chance_margin):
        return "the loss sits at or above chance level (%.3g)" % chance
    if latest > 1.1 * abs(first) and latest > first:
        return "the loss has risen above where it began"
    best = float(np.min(loss[:-1]))
    if len(loss) >= 4 and best > 0 and min(loss[-2:]) >= 1.5 * best:
        return "the loss climbed back well above its best (%.3g)" % best
    uniform = view.uniform_loss
    if uniform is not None and len(loss) >= 3 and np.mean(
            loss >= t.lr_above_chance_factor * uniform) >= 0.5:
        return "the loss spent most of the training far above chance level"
    _, val = finite_epochs(series, "val_loss")
    if chance is not None and len(val) >= 3 and \
            float(np.min(val)) >= chance * (1 - t.stall_chance_margin) \
            and not still_falling(val, t) and not generalizes(view):
        return ("the validation loss never got below chance level (%.3g)"
                % chance)
    majority = _majority(view)
    key = val_accuracy_key(series)
    if key and majority is not None and not generalizes(view):
        _, acc = finite_epochs(series, key)
        if len(acc) >= 3 and float(np.max(acc[-2:])) <= majority + 0.01:
            return ("%s is no better than always predicting the majority "
                    "class (%.3g)" % (key, majority))
    if chance is None and len(loss) >= 3 and loss[0] and \
            (loss[0] - latest) / abs(loss[0]) < t.progress_min_drop:
        return "the loss has hardly moved"
    return None


def generalizes(view):
    """The model carries something over to new samples: its validation
    loss got clearly below chance level (whatever an accuracy metric, which
    may not fit the outputs' shape, says), or its validation accuracy
    clearly beat always predicting the majority class (whatever a loss
    that regularization terms lift says)."""
    chance = view.chance_loss
    _, val = finite_epochs(view.series, "val_loss")
    if chance is not None and len(val) and float(np.min(val)) < 0.9 * chance:
        return True
    key, majority = val_accuracy_key(view.series), _majority(view)
    if key is None or majority is None:
        return False
    _, acc = finite_epochs(view.series, key)
    return bool(len(acc) and float(np.max(acc)) > majority + 0.05)


def still_falling(values, t):
    """The curve fell by at least `stall_min_improvement` over its last
    `stall_min_epochs` points (a slow start, not a stall)."""
    start = float(values[-min(len(values), t.stall_min_epochs)])
    return bool(start and (start - values[-1]) / abs(start)
                >= t.stall_min_improvement)


def _improving(series, loss, t):
    third = max(2, len(loss) // 3)
    tail = loss[-third:]
    if tail[0] and (tail[0] - tail[-1]) / abs(tail[0]) >= t.improving_drop:
        return True
    key = val_accuracy_key(series)
    if key:
        _, acc = finite_epochs(series, key)
        if len(acc) >= 3:
            tail = acc[-max(2, len(acc) // 3):]
            return float(tail[-1] - tail[0]) >= t.improving_drop
    return False


def _majority(view):
    for out in view.outputs:
        found = out.majority
        if found is not None:
            return found[1]
    return None


def impact_severity(view, severity, spreading=False):
    """The severity a condition deserves given its impact on learning: in a
    run that is learning, information unless it spreads; where learning is
    impaired, the condition's own `severity`; too early to tell, a warning
    waits (information) and a critical stays critical."""
    state = view.progress.state
    if state == LEARNING:
        return "warning" if spreading else "info"
    if state == UNKNOWN and severity == "warning":
        return "info"
    return severity
