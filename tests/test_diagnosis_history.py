"""Nothing raised silently vanishes: resolved alerts, the recovery rule,
and the live alerts of RUN_ALERTS in the final report."""

import numpy as np

from tensorboard_plugin_trainhealth import diagnosis
from tensorboard_plugin_trainhealth import metadata
from tensorboard_plugin_trainhealth.diagnosis import Alert, history
from tensorboard_plugin_trainhealth.diagnosis.view import RunView
from tests.diagnosis_runs import (
    STEPS, healthy, only, set_column, set_epochs, stuck)


def _view(s):
    return RunView(s, diagnosis.Thresholds())


def _ended(first, resolved):
    return Alert("dead_relu", "warning", "dense", first, resolved - 10, {},
                 "", "", resolved_step=resolved)


def test_recovered_when_the_loss_kept_falling_after_the_end():
    s = healthy()  # loss falls from epoch 3 to 19
    assert history.recovered(_view(s), _ended(100, 200)) is True


def test_not_recovered_while_the_condition_holds():
    alert = _ended(100, 200)
    alert.resolved_step = None
    assert history.recovered(_view(healthy()), alert) is False


def test_not_recovered_in_a_run_whose_learning_is_impaired():
    assert history.recovered(_view(stuck(healthy())), _ended(100, 200)) \
        is False


def test_not_recovered_without_epochs_after_the_end():
    assert history.recovered(_view(healthy()), _ended(500, 590)) is False


def test_not_recovered_when_the_loss_is_back_above_its_best_before():
    s = healthy()
    loss = s.epochs["loss"].values.copy()
    loss[:5] = 0.3  # was better before the onset (epoch 5 on)
    s.epochs["loss"].values = loss
    assert history.recovered(_view(s), _ended(160, 300)) is False


def test_recovered_when_validation_is_back_at_its_best():
    # A converged run: the training loss no longer falls 5%, but the
    # validation loss is back at its best from before the dip.
    s = healthy()
    set_epochs(s, "loss", np.linspace(0.6, 0.30, 20))
    set_epochs(s, "loss", [0.6, 0.5, 0.4, 0.35, 0.31] + [0.3] * 15)
    set_epochs(s, "val_loss", [0.6, 0.5, 0.42, 0.37, 0.33, 0.6, 0.7, 0.34]
               + [0.33] * 12)
    assert history.recovered(_view(s), _ended(150, 240)) is True


def test_ended_condition_counts_unless_recovered():
    s = stuck(healthy())
    set_column(s, metadata.LAYER_SATURATION, 1,
               np.where((STEPS >= 100) & (STEPS < 200), 0.95, 0.1))
    alerts = diagnosis.diagnose(s)
    saturation = [a for a in alerts if a.kind == "saturation"]
    saturation += [c for a in alerts for c in a.consequences
                   if c.kind == "saturation"]
    assert saturation[0].resolved_step == 200
    assert saturation[0].recovered is False
    assert diagnosis.run_status(alerts) != "ok"


def _live(kind, step, severity="warning", event=None, **extra):
    doc = Alert(kind, severity, extra.pop("layer", None), step,
                extra.pop("last", step), {}, "advice", "%s live" % kind,
                **extra).to_dict()
    if event:
        doc["event"] = event
    return step, doc


def test_a_live_alert_the_final_rules_do_not_raise_is_shown_resolved():
    s = healthy()
    s.live_alerts = [_live("dead_relu", 0, last=40, layer="dense")]
    alert = only(diagnosis.diagnose(s), "dead_relu")
    assert alert.resolved_step == 40
    assert "raised during training at step 0" in alert.message
    assert alert.evidence["raised_live_at_step"] == 0


def test_a_live_alert_whose_damage_lasts_heads_the_incident_and_counts():
    # "Learning rate too high since step 0", raised live, on a run that
    # then settled on a bad plateau: still there, and counted.
    s = stuck(healthy())
    s.live_alerts = [_live("learning_rate", 0, last=40)]
    alerts = diagnosis.diagnose(s)
    alert = alerts[0]
    assert alert.kind == "learning_rate" and not alert.recovered
    assert "stalled_loss" in [c.kind for c in alert.consequences]
    assert alert.resolved_step is None  # the plateau it caused holds
    assert diagnosis.run_status(alerts) == "warning"


def test_a_live_alert_of_a_recovered_run_does_not_count():
    s = healthy()
    s.live_alerts = [_live("stalled_loss", 60, last=90)]
    alerts = diagnosis.diagnose(s)
    alert = only(alerts, "stalled_loss")
    assert alert.resolved_step == 90 and alert.recovered is True
    assert diagnosis.run_status(alerts) == "ok"


def test_live_events_end_where_the_log_says():
    s = healthy()
    s.live_alerts = [_live("overfitting", 60, event="raised"),
                     _live("overfitting", 90, event="escalated",
                           severity="critical"),
                     _live("overfitting", 150, event="withdrawn")]
    alert = only(diagnosis.diagnose(s), "overfitting")
    assert alert.severity == "critical"
    assert alert.resolved_step == 150
    assert alert.evidence["live_event"] == "withdrawn"


def test_a_live_alert_the_report_still_holds_is_not_repeated():
    s = stuck(healthy())
    s.live_alerts = [_live("stalled_loss", 180)]
    assert [a.kind for a in diagnosis.diagnose(s)].count("stalled_loss") == 1


def test_live_alerts_folded_into_an_incident_are_not_repeated():
    s = stuck(healthy())
    set_column(s, metadata.LAYER_DEAD_FRACTION, 0, 0.97)
    s.live_alerts = [_live("stalled_loss", 180)]
    alerts = diagnosis.diagnose(s)
    kinds = [a.kind for a in alerts] + [c.kind for a in alerts
                                        for c in a.consequences]
    assert kinds.count("stalled_loss") == 1


def test_junk_in_the_live_log_is_ignored():
    s = healthy()
    s.live_alerts = [(0, {"kind": "nonsense"}), (1, "text"),
                     ("x", {"kind": "dead_relu", "layer": 3})]
    alerts = diagnosis.diagnose(s)
    assert [a.kind for a in alerts] == ["dead_relu"]
    assert alerts[0].layer is None
