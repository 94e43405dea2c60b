"""Nothing raised silently vanishes: resolved alerts, the recovery rule, and
the alerts the callback raised live that the final rules no longer raise.

The recovery rule (docs/diagnosis.md): an alert whose condition ended at
step N counts as recovered when the run's learning is not impaired
(progress.py), at least `recovery_min_epochs` epochs ended
after N, the loss stayed finite, a cross-entropy ended below chance level,
the loss is not back above its best before the condition began, and the
training demonstrably learned after N: the loss fell by at least
`recovery_min_drop` from the epoch N fell in to the last one, or the
validation accuracy ended above its level at the onset.
"""

import dataclasses

import numpy as np

from tensorboard_plugin_trainhealth.diagnosis.alerts import Alert
from tensorboard_plugin_trainhealth.diagnosis.progress import (
    val_accuracy_key)
from tensorboard_plugin_trainhealth.diagnosis.util import (
    epoch_step, finite_epochs)


def _epoch_ends(series, epochs):
    return np.array([_or_minus(epoch_step(series, int(e))) for e in epochs])


def _or_minus(step):
    return -1 if step is None else step


def recovered(view, alert):
    """The recovery rule (module docstring) for one alert."""
    if alert.resolved_step is None or view.progress.impaired:
        return False
    series, t = view.series, view.t
    e = series.epoch("loss")
    ends_all = _epoch_ends(series, e.steps)
    if (~np.isfinite(e.values[ends_all >= alert.resolved_step])).any():
        return False
    epochs, loss = finite_epochs(series, "loss")
    ends = _epoch_ends(series, epochs)
    after = np.nonzero(ends >= alert.resolved_step)[0]
    if len(after) < t.recovery_min_epochs:
        return False
    latest = float(loss[-1])
    chance = view.chance_loss
    if chance is not None and latest >= chance * (1 - t.stall_chance_margin):
        return False
    onset = alert.first_step if alert.first_step is not None else -1
    before = np.nonzero(ends < onset)[0]
    if len(before) and latest > 1.1 * float(np.min(loss[before])):
        return False
    then = float(loss[after[0]])
    if then and (then - latest) / abs(then) >= t.recovery_min_drop:
        return True
    return _validation_recovered(view, onset)


def _validation_recovered(view, onset):
    """The validation accuracy ended above its level at the onset, or the
    validation metrics are back at (or better than) their best before it."""
    t = view.t
    key = val_accuracy_key(view.series)
    if key is not None:
        epochs, acc = finite_epochs(view.series, key)
        if len(acc) >= 2:
            ends = _epoch_ends(view.series, epochs)
            at_onset = np.nonzero(ends >= onset)[0]
            base = float(acc[at_onset[0]]) if len(at_onset) else float(acc[0])
            before = acc[ends < onset]
            if float(acc[-1]) >= base + t.improving_drop or (
                    len(before) and float(acc[-1]) >= float(np.max(before))):
                return True
    epochs, val = finite_epochs(view.series, "val_loss")
    ends = _epoch_ends(view.series, epochs)
    before = val[ends < onset]
    return bool(len(before) and len(val) and float(val[-1]) <= float(
        np.min(before)) * (1 + t.overfit_margin / 2))


def _all_keys(alerts):
    keys = set()
    for a in alerts:
        keys.add(a.key)
        keys.update(c.key for c in a.consequences)
    return keys


def raised_live(view, alerts):
    """The alerts of the callback's live log (`series.live_alerts`) that
    `alerts` do not hold, as resolved alerts: at the step a later live
    event said it ended or was withdrawn, else at its last step."""
    present = _all_keys(alerts)
    latest = {}
    for step, doc in view.series.live_alerts or []:
        alert = Alert.from_dict(doc)
        if alert is None or alert.key in present:
            continue
        event = doc.get("event", "raised")
        entry = latest.get(alert.key)
        if event in ("resolved", "withdrawn"):
            if entry is not None:
                entry["ended"] = alert.resolved_step or _step(step)
                entry["event"] = event
            continue
        if entry is None or event == "escalated" or entry["ended"]:
            entry = {"alert": alert, "raised": _step(step), "ended": None,
                     "event": event}
            latest[alert.key] = entry
    found = []
    for entry in latest.values():
        alert = entry["alert"]
        ended = entry["ended"]
        if ended is None:
            ended = alert.last_step if alert.last_step is not None \
                else entry["raised"]
        found.append(dataclasses.replace(
            alert, resolved_step=ended, consequences=[],
            evidence=dict(alert.evidence, raised_live_at_step=entry["raised"],
                          live_event=entry["event"]),
            message="%s (raised during training at step %s)"
            % (alert.message, entry["raised"])))
    return found


def _step(value):
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):
        return None
