"""LiveAlerts: the tracker the callback calls at each epoch end."""

import numpy as np

from tensorboard_plugin_trainhealth import diagnosis
from tensorboard_plugin_trainhealth import metadata
from tensorboard_plugin_trainhealth.series import Matrix, RunSeries, Series
from tests.diagnosis_runs import (
    EPOCHS, STEPS, STEPS_PER_EPOCH, healthy, set_column, stuck)


def at_epoch(s, epoch):
    """`s` as the callback held it at the end of `epoch`."""
    step = (epoch + 1) * STEPS_PER_EPOCH

    def cut(x, limit):
        keep = x.steps <= limit
        return Series(x.steps[keep], x.values[keep])

    return RunSeries(
        step_scalars={k: cut(v, step) for k, v in s.step_scalars.items()},
        epochs={k: cut(v, epoch) for k, v in s.epochs.items()},
        epoch_end_step=cut(s.epoch_end_step, epoch),
        matrices={k: Matrix(m.columns, m.steps[m.steps <= step],
                            m.values[m.steps <= step])
                  for k, m in s.matrices.items()},
        facts=s.facts)


def replay(s, tracker=None):
    tracker = tracker or diagnosis.LiveAlerts()
    return [(epoch, e.event, e.alert.kind)
            for epoch in range(EPOCHS)
            for e in tracker.update(at_epoch(s, epoch))]


def test_a_persistent_condition_is_raised_once():
    s = stuck(healthy())
    set_column(s, metadata.LAYER_DEAD_FRACTION, 0,
               np.where(STEPS >= 200, 0.97, 0.1))
    events = replay(s)
    raised = [e for e in events if e[1] == "raised"]
    assert ("dead_relu" in [e[2] for e in raised]
            or "stalled_loss" in [e[2] for e in raised])
    assert len({(e[1], e[2]) for e in raised}) == len(raised)


def test_a_blip_is_never_raised():
    s = stuck(healthy())
    dead = np.full(len(STEPS), 0.1)
    dead[30:32] = 1.0  # two records
    set_column(s, metadata.LAYER_DEAD_FRACTION, 0, dead)
    assert "dead_relu" not in [e[2] for e in replay(s)]


def test_a_condition_that_ends_is_resolved_visibly():
    s = stuck(healthy())
    set_column(s, metadata.LAYER_SATURATION, 1,
               np.where((STEPS >= 60) & (STEPS < 240), 0.97, 0.1))
    events = [e for e in replay(s) if e[2] == "saturation"]
    assert events[0][1] == "raised"
    assert ("resolved" in [e[1] for e in events]
            or "withdrawn" in [e[1] for e in events])


def test_a_transient_validation_dip_is_withdrawn():
    # val_accuracy 0.94, 0.69, 0.95 and val_loss with it: live overfitting
    # at the dip must not stand once validation recovers.
    s = healthy()
    e = np.arange(EPOCHS)
    train = 0.7 * np.exp(-0.12 * e)
    val = 0.75 * np.exp(-0.1 * e)
    val[9:12] = val[8] * np.array([1.9, 2.1, 1.8])  # three bad epochs
    s.epochs["loss"] = Series(e, train)
    s.epochs["val_loss"] = Series(e, val)
    tracker = diagnosis.LiveAlerts()
    events = replay(s, tracker)
    overfit = [x for x in events if x[2] == "overfitting"]
    if overfit:  # raised at the dip, then visibly withdrawn
        assert overfit[0][1] == "raised"
        assert overfit[-1][1] in ("withdrawn", "resolved")
    assert not [a for a in tracker.active if a.kind == "overfitting"]


def test_a_live_stall_contradicted_later_is_withdrawn():
    # Flat for 7 epochs (a warm-up), then the loss falls 0.83 -> 0.2.
    s = stuck(healthy(), level=0.83)
    loss = s.epochs["loss"].values.copy()
    loss[7:] = np.linspace(0.7, 0.2, EPOCHS - 7)
    s.epochs["loss"].values = loss
    s.epochs["val_loss"].values = loss + 0.02
    s.step_scalars[metadata.STEP_LOSS].values = np.interp(
        STEPS, (np.arange(EPOCHS) + 1) * STEPS_PER_EPOCH, loss)
    tracker = diagnosis.LiveAlerts()
    events = [x for x in replay(s, tracker) if x[2] == "stalled_loss"]
    assert events and events[0][1] == "raised"
    assert events[-1][1] in ("withdrawn", "resolved")
    assert not tracker.active


def test_escalation():
    s = stuck(healthy())
    dead = np.where(STEPS >= 90, 0.6, 0.1)
    dead[STEPS >= 400] = 0.97
    set_column(s, metadata.LAYER_DEAD_FRACTION, 0, dead)
    tracker = diagnosis.LiveAlerts()
    events = []
    for epoch in range(EPOCHS):
        events += tracker.update(at_epoch(s, epoch))
    severities = [(e.event, e.alert.severity) for e in events
                  if e.alert.layer == "dense" or e.alert.kind == "stalled_loss"]
    assert ("escalated", "critical") in severities


def test_events_serialize_for_run_alerts():
    s = stuck(healthy())
    event = diagnosis.LiveAlerts().update(s)[0]
    doc = event.to_dict()
    assert doc["event"] == "raised"
    assert doc["kind"] == event.alert.kind
    assert "consequences" in doc and "resolved_step" in doc


def test_a_healthy_run_raises_nothing_live():
    assert replay(healthy()) == []
