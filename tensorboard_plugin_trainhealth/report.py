"""The report document: a logdir's (or one training's) verdicts as JSON.

    {"runs": {run: {"status": "ok" | "warning" | "critical",
                    "alerts": [alert dict, ...]}},
     "unreadable": [{"run": run or null, "path": str, "reason": str}, ...]}

`alerts` are `Alert.to_dict()` as diagnosis makes them; `unreadable` is
only there when something could not be read. `trainhealth report --json`
prints this document, the other output formats (`report_formats.py`) are
made from it, and the MLflow integration stores it as the run's
`trainhealth/report.json`. Pure stdlib: importing it imports neither
TensorFlow nor Keras.

Renderers take alert dicts through `alert_view`, which fills the keys a
dict from an older diagnosis may lack (`message`, `consequences`,
`resolved_step`, `recovered`), and `ordered_alerts`, which puts the
active alerts before the resolved ones.
"""

from tensorboard_plugin_trainhealth import diagnosis
from tensorboard_plugin_trainhealth.jsonsafe import to_json

STATUSES = ("ok", "warning", "critical")


def alert_dict(alert):
    """An `Alert` (or an alert dict) as a plain JSON-ready dict."""
    if isinstance(alert, dict):
        return to_json(alert)
    d = alert.to_dict()
    if "message" not in d:
        # Before diagnosis put the summary into to_dict().
        d["message"] = getattr(alert, "message", "") or ""
    return to_json(d)


def run_entry(alerts):
    """{"status", "alerts"} for one run's list of `Alert`s (or dicts)."""
    if all(hasattr(a, "severity") for a in alerts):
        status = diagnosis.run_status(alerts)
    else:
        status = status_of(alerts)
    return {"status": status, "alerts": [alert_dict(a) for a in alerts]}


def status_of(alert_dicts):
    """`diagnosis.run_status` for alert dicts: recovered alerts do not count."""
    worst = max((diagnosis.severity_rank(a.get("severity"))
                 for a in alert_dicts if not a.get("recovered")), default=-1)
    for status, rank in (("critical", 2), ("warning", 1)):
        if worst >= rank:
            return status
    return "ok"


def document(entries, unreadable=()):
    """The report document from {run: run_entry(...)} and the unreadable
    parts (a list of `{"run", "path", "reason"}` dicts)."""
    doc = {"runs": dict(entries)}
    if unreadable:
        doc["unreadable"] = [dict(u) for u in unreadable]
    return doc


def run_document(run, alerts):
    """The document for one training (what the MLflow integration stores)."""
    return document({run: run_entry(alerts)})


def alert_view(a):
    """An alert dict with every key the renderers read, whatever its age."""
    a = a if isinstance(a, dict) else {}
    consequences = a.get("consequences")
    return {
        "kind": str(a.get("kind") or "alert"),
        "severity": str(a.get("severity") or "info"),
        "layer": _text_or_none(a.get("layer")),
        "first_step": a.get("first_step"),
        "last_step": a.get("last_step"),
        "message": str(a.get("message") or a.get("kind") or ""),
        "advice": str(a.get("advice") or ""),
        "consequences": [c for c in consequences if isinstance(c, dict)]
        if isinstance(consequences, list) else [],
        "resolved_step": a.get("resolved_step"),
        "recovered": bool(a.get("recovered")),
    }


def ordered_alerts(alert_dicts):
    """Alert views, the active ones first (in diagnosis's order), then the
    resolved ones."""
    views = [alert_view(a) for a in alert_dicts]
    return ([v for v in views if v["resolved_step"] is None]
            + [v for v in views if v["resolved_step"] is not None])


def counts(alert_dicts):
    """{"warning": n, "critical": n} of the alerts that count toward the
    run's status (recovered ones do not)."""
    result = {"warning": 0, "critical": 0}
    for a in alert_dicts:
        view = alert_view(a)
        if not view["recovered"] and view["severity"] in result:
            result[view["severity"]] += 1
    return result


def at_or_above(alert_dicts, floor):
    """The alerts that count toward the status and are at least `floor`
    ("warning" or "critical") severe."""
    rank = diagnosis.severity_rank(floor)
    return [v for v in map(alert_view, alert_dicts)
            if not v["recovered"]
            and diagnosis.severity_rank(v["severity"]) >= rank]


def steps_text(view):
    """ "40-190", "40", "40-" or "-" for an alert view's steps."""
    first, last = view["first_step"], view["last_step"]
    if first is None:
        return "-"
    if last is None or last == first:
        return str(first)
    return "%s-%s" % (first, last)


def state_text(view):
    """"", or "resolved at step N" / "resolved at step N, recovered"."""
    if view["resolved_step"] is None:
        return ""
    text = "resolved at step %s" % view["resolved_step"]
    return text + ", recovered" if view["recovered"] else text


def consequence_text(c):
    """One line for a consequence dict folded into its primary alert."""
    where = " in %s" % c["layer"] if _text_or_none(c.get("layer")) else ""
    since = (" from step %s" % c["first_step"]
             if c.get("first_step") is not None else "")
    message = str(c.get("message") or "")
    return "%s%s%s%s" % (c.get("kind") or "finding", where, since,
                         ": " + message if message else "")


def _text_or_none(value):
    if value is None or value == "":
        return None
    return value if isinstance(value, str) else str(value)
