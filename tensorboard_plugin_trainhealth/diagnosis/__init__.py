"""Diagnosis: rules that turn a run's recorded history into alerts.

Pure numpy + stdlib: the callback runs it live on its in-memory `RunSeries`,
the plugin and the CLI run it on a `RunSeries` read back from a logdir.

    alerts = diagnose(series)            # primary alerts, active first
    run_status(alerts)                   # "ok" | "warning" | "critical"
    static_checks(series.facts)          # the before-the-first-step checks
    LiveAlerts().update(series)          # what changed, while training

One incident gives one primary alert, holding the findings it explains
(`Alert.consequences`); an alert whose condition ended says where
(`resolved_step`) and whether training recovered (`recovered`). Every rule
skips what it cannot judge (a missing tag, a missing fact). The rules, the
impact and recovery tests and the causal table are in docs/diagnosis.md.

Modules, one rule family each: `inputs`, `heads` and `labels` (static
checks of inputs, output heads, losses and targets), `nonfinite`,
`activity` (dead and saturated units), `gradients`, `learning_rate`,
`epochs` (overfitting, stalled loss), `predictions` (collapse); `progress`
(is the run learning), `incidents` (grouping), `history` (resolved and
live alerts), `live` (the live tracker), `view` (the facts per output),
`thresholds`, `alerts`.
"""

import dataclasses

from tensorboard_plugin_trainhealth.diagnosis import (
    activity, epochs, gradients, heads, history, incidents, inputs, labels,
    learning_rate, nonfinite, predictions)
from tensorboard_plugin_trainhealth.diagnosis.alerts import (
    KINDS, SEVERITIES, Alert, run_status, severity_rank, sort_alerts)
from tensorboard_plugin_trainhealth.diagnosis.live import (
    LiveAlerts, LiveEvent, raised_criticals)
from tensorboard_plugin_trainhealth.diagnosis.thresholds import Thresholds
from tensorboard_plugin_trainhealth.diagnosis.view import RunView
from tensorboard_plugin_trainhealth.series import RunSeries

__all__ = ["diagnose", "raised_criticals", "static_checks", "run_status", "sort_alerts",
           "severity_rank", "Alert", "Thresholds", "LiveAlerts", "LiveEvent",
           "KINDS", "SEVERITIES"]

_STATIC_RULES = (
    inputs.check_inputs,
    heads.check_heads,
)
_SERIES_RULES = (
    inputs.check_targets,
    labels.rule_labels,
    labels.rule_class_imbalance,
    heads.rule_regression_loss_on_classes,
    nonfinite.rule_non_finite,
    gradients.rule_gradients,
    activity.rule_dead_relu,
    activity.rule_saturation,
    epochs.rule_overfitting,
    epochs.rule_stalled_loss,
    learning_rate.rule_update_ratio,
    learning_rate.rule_loss_vs_chance,
    predictions.rule_collapsed_predictions,
)


def _findings(view, rules):
    found = []
    for rule in rules:
        found.extend(rule(view))
    return found


def _merge_same(found):
    """One finding per (kind, layer): the most severe, then the earliest."""
    kept = {}
    for alert in found:
        best = kept.get(alert.key)
        if best is None or (severity_rank(alert.severity),
                            -(alert.first_step or -1)) > (
                severity_rank(best.severity), -(best.first_step or -1)):
            kept[alert.key] = alert
    return list(kept.values())


def diagnose(series, thresholds=None):
    """The primary alerts of one `RunSeries`: active ones first, most
    severe first, then by onset; resolved ones after them."""
    if not isinstance(series.facts, dict):
        series = dataclasses.replace(series, facts={})
    view = RunView(series, thresholds or Thresholds())
    found = _merge_same(_findings(view, _STATIC_RULES + _SERIES_RULES))
    found += history.raised_live(view, found)
    for alert in found:
        alert.recovered = history.recovered(view, alert)
    primaries = incidents.group(found)
    for alert in primaries:
        alert.recovered = history.recovered(view, alert)
    return sort_alerts(primaries)


def static_checks(facts, thresholds=None):
    """The checks that need no training step: inputs, heads, losses and
    targets (as primary alerts)."""
    facts = facts if isinstance(facts, dict) else {}
    view = RunView(RunSeries(facts=facts), thresholds or Thresholds())
    found = _merge_same(_findings(view, _STATIC_RULES + (
        inputs.check_targets, labels.rule_labels)))
    return sort_alerts(incidents.group(found))
