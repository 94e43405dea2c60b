"""Alerts while training: what changed since the last look.

The callback calls `LiveAlerts.update(series)` at each epoch end (and on a
non-finite record). It diagnoses the series with the same rules, and the
same persistence, as the final report, and says what changed:

    tracker = LiveAlerts()
    for event in tracker.update(series):
        print(event.event, event.alert.message)

"raised": a primary alert now counts (warning or worse, not recovered,
still holding); "escalated": it became more severe; "resolved": its
condition ended; "withdrawn": it no longer counts although its condition
did not end: the later evidence contradicts it (the rules no longer raise
it, or only as information). An alert folded into a newer primary as one
of its consequences is shown there, and gives no event of its own.
"""

import dataclasses

from tensorboard_plugin_trainhealth.diagnosis.alerts import (
    Alert, severity_rank)

EVENTS = ("raised", "escalated", "resolved", "withdrawn")


@dataclasses.dataclass
class LiveEvent:
    event: str  # one of EVENTS
    alert: Alert

    def to_dict(self):
        return dict({"event": self.event}, **self.alert.to_dict())


def raised_criticals(events):
    """The alerts of `events` that became critical just now (raised or
    escalated): what `on_critical="stop"` stops for."""
    return [e.alert for e in events if e.event in ("raised", "escalated")
            and e.alert.severity == "critical"]


def _counts(alert):
    return (severity_rank(alert.severity) >= severity_rank("warning")
            and alert.resolved_step is None and not alert.recovered)


class LiveAlerts:
    """A pure, stateful tracker of the alerts raised during one training."""

    def __init__(self, thresholds=None):
        self.thresholds = thresholds
        self.alerts = []  # the latest diagnosis, every alert
        self._active = {}  # key -> the Alert last reported for it

    @property
    def active(self):
        """The alerts raised (or escalated) and not yet ended."""
        return list(self._active.values())

    def update(self, series):
        from tensorboard_plugin_trainhealth.diagnosis import diagnose

        alerts = self.alerts = diagnose(series, self.thresholds)
        primaries = {a.key: a for a in alerts}
        folded = {c.key: c for a in alerts for c in a.consequences}
        events = []
        for key, before in list(self._active.items()):
            now = primaries.get(key)
            if now is None:
                del self._active[key]
                if key not in folded:
                    events.append(LiveEvent("withdrawn", before))
            elif now.resolved_step is not None:
                del self._active[key]
                events.append(LiveEvent("resolved", now))
            elif not _counts(now):
                del self._active[key]
                events.append(LiveEvent("withdrawn", now))
            elif severity_rank(now.severity) > severity_rank(before.severity):
                self._active[key] = now
                events.append(LiveEvent("escalated", now))
            else:
                self._active[key] = now
        for key, now in primaries.items():
            if key not in self._active and _counts(now) and not any(
                    e.alert.key == key for e in events):
                self._active[key] = now
                events.append(LiveEvent("raised", now))
        return events
