"""NaN/Inf: where it appeared first, and what followed."""

import dataclasses
from typing import Optional

import numpy as np

from tensorboard_plugin_trainhealth.diagnosis.alerts import Alert
from tensorboard_plugin_trainhealth.diagnosis.util import epoch_step, layer_of
from tensorboard_plugin_trainhealth.metadata import (
    LAYER_ACTIVATION_NONFINITE,
    STEP_GRAD_NORM,
    STEP_LOSS,
    STEP_NONFINITE_ACTIVATIONS,
    STEP_NONFINITE_GRADIENTS,
    STEP_NONFINITE_LOSS,
    STEP_NONFINITE_WEIGHTS,
    VARIABLE_GRAD_NORM,
    VARIABLE_WEIGHT_NORM,
)

# Where NaN/Inf can show up within one training step, in causal order: at
# the same step, the earliest of these is where it appeared first.
SIGNAL_ORDER = ("activations", "loss", "gradients", "weights")


@dataclasses.dataclass
class Event:
    step: int
    signal: str
    place: Optional[str] = None  # a layer, variable or epoch metric
    layer: Optional[str] = None
    value: Optional[float] = None

    def key(self):
        # Prefer an event that names a place over a bare flag.
        return (self.step, SIGNAL_ORDER.index(self.signal),
                self.place is None)


def _scalar_events(series, tag, signal, flag):
    """Events of a step scalar: non-finite values (or flags > 0.5)."""
    s = series.scalar(tag)
    bad = ~np.isfinite(s.values)
    if flag:
        bad |= s.values > 0.5
    return [Event(int(step), signal,
                  value=None if flag and np.isfinite(v) else float(v))
            for step, v in zip(s.steps[bad], s.values[bad])]


def _matrix_events(series, tag, signal, fraction, last_first):
    """Events of a per-layer/per-variable matrix, one per bad record."""
    m = series.matrices.get(tag)
    if m is None or not len(m.steps):
        return []
    bad = ~np.isfinite(m.values)
    if fraction:
        bad |= m.values > 0
    events = []
    for r in np.nonzero(bad.any(axis=1))[0]:
        cols = np.nonzero(bad[r])[0]
        col = m.columns[cols[-1] if last_first else cols[0]]
        events.append(Event(int(m.steps[r]), signal, col.get("name"),
                            layer_of(col)))
    return events


def _epoch_events(series):
    events = []
    for key in ("loss", "val_loss"):
        e = series.epoch(key)
        for epoch, value in zip(e.steps, e.values):
            step = epoch_step(series, epoch)
            if not np.isfinite(value) and step is not None:
                events.append(Event(step, "loss", key, None, float(value)))
    return events


def events(series):
    """Every NaN/Inf sighting of the run, earliest (in causal order) first."""
    found = (
        _matrix_events(series, LAYER_ACTIVATION_NONFINITE, "activations",
                       True, False)
        + _scalar_events(series, STEP_NONFINITE_ACTIVATIONS, "activations",
                         True)
        + _scalar_events(series, STEP_NONFINITE_LOSS, "loss", True)
        + _scalar_events(series, STEP_LOSS, "loss", False)
        + _epoch_events(series)
        # Backpropagation runs from the output: the last variable is the
        # origin.
        + _matrix_events(series, VARIABLE_GRAD_NORM, "gradients", False,
                         True)
        + _scalar_events(series, STEP_NONFINITE_GRADIENTS, "gradients", True)
        + _scalar_events(series, STEP_GRAD_NORM, "gradients", False)
        + _matrix_events(series, VARIABLE_WEIGHT_NORM, "weights", False,
                         False)
        + _scalar_events(series, STEP_NONFINITE_WEIGHTS, "weights", True))
    return sorted(found, key=Event.key)


def _resolved_step(series, last):
    """The first record after `last` from which the loss stayed finite, or
    None while the run still ends non-finite (or nothing came after)."""
    s = series.scalar(STEP_LOSS)
    later = s.steps > last
    if not later.any() or not np.isfinite(s.values[later]).all():
        return None
    return int(s.steps[later][0])


def _where(first):
    place = first.place
    if first.signal == "loss":
        return "in the %s" % (place if place and place != "loss" else "loss")
    return "in the %s%s" % (first.signal, " of %s" % place if place else "")


def _advice(view, first):
    lower = view.lower_lr(first.step)
    normalize = ("normalize the inputs, " if view.inputs_scaled is not True
                 else "")
    text = {
        "activations": "Activations overflowed in the forward pass: %s%s, "
                       "and clip gradients (e.g. Adam(clipnorm=1.0)); check "
                       "custom layers for log/sqrt/division of values <= 0."
                       % (normalize, lower),
        "loss": "The loss went non-finite first: check the labels for "
                "NaN/Inf and for values outside the loss's range, compute "
                "cross-entropy from logits (linear output, "
                "from_logits=True), check custom losses for log(0) or "
                "division by 0 (clip y_pred), and %s." % lower,
        "gradients": "The gradients went non-finite first: clip gradients "
                     "(e.g. Adam(clipnorm=1.0)), %s, and check custom "
                     "losses/layers for sqrt(0), log(0) or 0/0." % lower,
        "weights": "The weights went non-finite: %s and clip gradients "
                   "(clipnorm=1.0)." % lower,
    }[first.signal]
    return text + (" NaN weights do not recover: restart from the last "
                   "good checkpoint.")


def rule_non_finite(view):
    found = events(view.series)
    if not found:
        return []
    first = found[0]
    value = first.value
    if value is None:  # a value seen for the same signal at that step
        value = next((e.value for e in found if e.step == first.step
                      and e.signal == first.signal
                      and e.value is not None), None)
    first_by_signal = {}
    for e in found:
        first_by_signal.setdefault(e.signal, e.step)
    last = max(e.step for e in found)
    then = [s for s in SIGNAL_ORDER if s in first_by_signal
            and s != first.signal]
    message = "NaN/Inf first appeared at step %d %s" % (first.step,
                                                        _where(first))
    if then:
        message += " (then in: %s)" % ", ".join(then)
    evidence = {
        "signal": first.signal,
        "where": first.place,
        "value": value,
        "first_step_by_signal": first_by_signal,
        "records": len({e.step for e in found}),
    }
    return [Alert("non_finite", "critical", first.layer, first.step, last,
                  evidence, _advice(view, first), message,
                  resolved_step=_resolved_step(view.series, last))]
