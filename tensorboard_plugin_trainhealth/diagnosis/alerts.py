"""What a diagnosis is made of: the `Alert`, its kinds and severities, and
the one place that turns a list of alerts into a run's status."""

import dataclasses
from typing import List, Optional

from tensorboard_plugin_trainhealth.jsonsafe import to_json

KINDS = (
    "non_finite",
    "exploding_gradients",
    "vanishing_gradients",
    "dead_relu",
    "saturation",
    "overfitting",
    "stalled_loss",
    "unscaled_inputs",
    "learning_rate",
    "loss_activation_mismatch",
    "label_mismatch",
    "class_imbalance",
    "collapsed_predictions",
)
SEVERITIES = ("info", "warning", "critical")


def severity_rank(severity):
    """0 for info, 1 for warning, 2 for critical; -1 for anything else."""
    try:
        return SEVERITIES.index(severity)
    except ValueError:
        return -1


def worst(*severities):
    """The most severe of `severities` (unknown ones count as info)."""
    return max(severities, key=severity_rank, default="info")


@dataclasses.dataclass
class Alert:
    """One diagnosed problem of a run.

    `first_step`/`last_step` are global optimizer steps (None when the
    problem is not tied to a step, e.g. a static check): the step the
    stated condition began and the last step it was seen. `layer` names the
    layer, input or output (None for run-wide problems). `message` is a
    one-line summary, `advice` the first things to try.

    `consequences` are the alerts this one explains (one incident, one
    primary alert); they are listed inside it, not beside it.
    `resolved_step` is the step at which the condition ended (None while it
    still holds at the run's last record); `recovered` says the training
    demonstrably recovered afterwards, and then the alert does not count
    toward `run_status`.
    """

    kind: str
    severity: str
    layer: Optional[str]
    first_step: Optional[int]
    last_step: Optional[int]
    evidence: dict
    advice: str
    message: str = ""
    consequences: List["Alert"] = dataclasses.field(default_factory=list)
    resolved_step: Optional[int] = None
    recovered: bool = False

    @property
    def key(self):
        """What identifies "the same alert" from one diagnosis to the next."""
        return (self.kind, self.layer)

    def to_dict(self):
        return {
            "kind": self.kind,
            "severity": self.severity,
            "layer": self.layer,
            "first_step": to_json(self.first_step),
            "last_step": to_json(self.last_step),
            "evidence": to_json(self.evidence),
            "advice": self.advice,
            "message": self.message,
            "consequences": [
                {"kind": c.kind, "layer": c.layer,
                 "first_step": to_json(c.first_step), "message": c.message}
                for c in self.consequences],
            "resolved_step": to_json(self.resolved_step),
            "recovered": bool(self.recovered),
        }

    @classmethod
    def from_dict(cls, d):
        """An Alert from a `to_dict()` (or older, shorter) document, or None
        when `d` is not one."""
        if not isinstance(d, dict) or d.get("kind") not in KINDS:
            return None
        severity = d.get("severity")
        layer = d.get("layer")
        evidence = d.get("evidence")
        return cls(
            kind=d["kind"],
            severity=severity if severity in SEVERITIES else "warning",
            layer=layer if isinstance(layer, str) else None,
            first_step=_step(d.get("first_step")),
            last_step=_step(d.get("last_step")),
            evidence=evidence if isinstance(evidence, dict) else {},
            advice=str(d.get("advice") or ""),
            message=str(d.get("message") or d["kind"].replace("_", " ")),
            resolved_step=_step(d.get("resolved_step")),
        )


def _step(value):
    if isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):
        return None


def run_status(alerts):
    """"critical" / "warning" if any alert that counts is that severe, else
    "ok". Alerts whose training recovered (`recovered`) do not count."""
    counted = [a.severity for a in alerts if not a.recovered]
    rank = max((severity_rank(s) for s in counted), default=-1)
    if rank >= severity_rank("critical"):
        return "critical"
    if rank >= severity_rank("warning"):
        return "warning"
    return "ok"


def sort_alerts(alerts):
    """Active alerts first, resolved ones after; within each, most severe
    first, then static checks, then by first step."""
    def key(a):
        return (a.resolved_step is not None,
                -severity_rank(a.severity),
                a.first_step is not None,  # static checks before step 0
                a.first_step if a.first_step is not None else 0,
                KINDS.index(a.kind) if a.kind in KINDS else len(KINDS),
                a.layer or "")
    return sorted(alerts, key=key)
