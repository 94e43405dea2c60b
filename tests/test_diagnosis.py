"""The diagnosis interface: kinds, the alert dict (CONTRACTS A), status,
order, robustness, thresholds, purity. Rule families have their own
test_diagnosis_<family>.py."""

import json
import math
import subprocess
import sys

import numpy as np
from hypothesis import given, settings, strategies as st

from tensorboard_plugin_trainhealth import diagnosis
from tensorboard_plugin_trainhealth import metadata
from tensorboard_plugin_trainhealth.diagnosis import Alert, Thresholds
from tensorboard_plugin_trainhealth.series import Matrix, RunSeries, Series
from tests.diagnosis_runs import (
    FACTS, LAYERS, STEPS, VARIABLES, healthy, kinds, only, set_column)


def test_constants():
    assert diagnosis.KINDS == (
        "non_finite", "exploding_gradients", "vanishing_gradients",
        "dead_relu", "saturation", "overfitting", "stalled_loss",
        "unscaled_inputs", "learning_rate", "loss_activation_mismatch",
        "label_mismatch", "class_imbalance", "collapsed_predictions")
    assert diagnosis.SEVERITIES == ("info", "warning", "critical")
    assert [diagnosis.severity_rank(s) for s in diagnosis.SEVERITIES] \
        == [0, 1, 2]
    assert diagnosis.severity_rank("bogus") == -1


def test_public_names_for_callback_plugin_and_cli():
    for name in ("diagnose", "run_status", "static_checks", "Thresholds",
                 "Alert", "severity_rank", "KINDS", "sort_alerts",
                 "LiveAlerts", "LiveEvent"):
        assert hasattr(diagnosis, name), name


def test_to_dict_shape_and_json_safety():
    consequence = Alert("dead_relu", "critical", "dense", 5, 9, {}, "x",
                        "dead units")
    alert = Alert("non_finite", "critical", "dense", np.int64(3), 7,
                  {"value": float("nan"), "peak": np.float32(np.inf),
                   "low": -math.inf, "n": np.int64(2), "ok": np.bool_(True),
                   "list": (np.float64(1.5), None), "arr": np.array([1, 2])},
                  "advice text", "message text", [consequence],
                  np.int64(40), True)
    d = alert.to_dict()
    assert list(d) == ["kind", "severity", "layer", "first_step",
                       "last_step", "evidence", "advice", "message",
                       "consequences", "resolved_step", "recovered"]
    assert d["first_step"] == 3 and type(d["first_step"]) is int
    assert d["evidence"] == {"value": "NaN", "peak": "Infinity",
                             "low": "-Infinity", "n": 2, "ok": True,
                             "list": [1.5, None], "arr": [1, 2]}
    assert d["message"] == "message text"
    assert d["consequences"] == [{"kind": "dead_relu", "layer": "dense",
                                  "first_step": 5, "message": "dead units"}]
    assert d["resolved_step"] == 40 and type(d["resolved_step"]) is int
    assert d["recovered"] is True
    json.dumps(d, allow_nan=False)
    fresh = Alert("stalled_loss", "warning", None, 0, 9, {}, "a", "m")
    assert fresh.to_dict()["consequences"] == []
    assert fresh.to_dict()["resolved_step"] is None
    assert fresh.to_dict()["recovered"] is False


def test_from_dict_round_trip_and_junk():
    alert = Alert("dead_relu", "warning", "dense", 30, 90, {"at_onset": 0.6},
                  "advice", "message", resolved_step=120)
    back = Alert.from_dict(alert.to_dict())
    assert (back.kind, back.severity, back.layer, back.first_step,
            back.last_step, back.resolved_step, back.message) == (
        "dead_relu", "warning", "dense", 30, 90, 120, "message")
    assert Alert.from_dict({"kind": "bogus"}) is None
    assert Alert.from_dict("text") is None
    old = Alert.from_dict({"kind": "stalled_loss", "severity": "loud",
                           "first_step": "x", "evidence": [1]})
    assert old.severity == "warning" and old.first_step is None
    assert old.evidence == {} and old.message == "stalled loss"


def test_run_status_ignores_recovered_alerts():
    def a(sev, recovered=False):
        return Alert("dead_relu", sev, None, 0, 0, {}, "", "",
                     resolved_step=10 if recovered else None,
                     recovered=recovered)
    assert diagnosis.run_status([]) == "ok"
    assert diagnosis.run_status([a("info")]) == "ok"
    assert diagnosis.run_status([a("info"), a("warning")]) == "warning"
    assert diagnosis.run_status([a("warning"), a("critical")]) == "critical"
    assert diagnosis.run_status([a("critical", recovered=True)]) == "ok"
    resolved = a("warning")
    resolved.resolved_step = 10  # ended, training not recovered: counts
    assert diagnosis.run_status([resolved]) == "warning"


def test_sort_puts_resolved_after_active():
    def a(sev, first, resolved=None):
        return Alert("dead_relu", sev, str(first), first, first, {}, "", "",
                     resolved_step=resolved)
    order = diagnosis.sort_alerts([a("critical", 50, resolved=60),
                                   a("warning", 10), a("critical", 90),
                                   Alert("unscaled_inputs", "warning", "x",
                                         None, None, {}, "", "")])
    assert [(x.severity, x.first_step, x.resolved_step) for x in order] == [
        ("critical", 90, None), ("warning", None, None),
        ("warning", 10, None), ("critical", 50, 60)]


def test_empty_series_and_missing_facts():
    assert diagnosis.diagnose(RunSeries()) == []
    assert diagnosis.static_checks({}) == []
    assert diagnosis.static_checks(None) == []
    weird = RunSeries(facts={"loss": 3, "outputs": "x", "inputs": [None, 1],
                             "optimizer": "adam", "losses": [None, 2],
                             "targets": "y"})
    assert diagnosis.diagnose(weird) == []


def test_healthy_run_has_no_alerts():
    for seed in range(5):
        alerts = diagnosis.diagnose(healthy(seed))
        assert alerts == [], [a.message for a in alerts]


def test_thresholds_override():
    s = healthy()
    set_column(s, metadata.LAYER_DEAD_FRACTION, 0,
               np.where(STEPS >= 200, 0.4, 0.1))
    assert diagnosis.diagnose(s) == []
    alerts = diagnosis.diagnose(s, Thresholds(dead_warning=0.3))
    assert only(alerts, "dead_relu").first_step == 200
    lenient = Thresholds(persistence_records=1, persistence_fraction=0.0)
    assert "dead_relu" in kinds(diagnosis.diagnose(healthy(), lenient))
    strict = Thresholds(input_abs_max_warning=1.0)
    assert kinds(diagnosis.static_checks(FACTS, strict)) \
        == ["unscaled_inputs"]


def test_every_threshold_is_documented():
    doc = Thresholds.__doc__
    for field in Thresholds.__dataclass_fields__:
        assert field in doc, field


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_any_series_gives_json_safe_sorted_alerts(data):
    n = data.draw(st.integers(0, 12))
    floats = st.floats(allow_nan=True, allow_infinity=True, width=32)
    column = st.lists(floats, min_size=n, max_size=n)
    steps = np.arange(n) * 10
    s = RunSeries(facts=json.loads(json.dumps(FACTS)))
    for tag in (metadata.STEP_LOSS, metadata.STEP_GRAD_NORM,
                metadata.STEP_NONFINITE_LOSS):
        s.step_scalars[tag] = Series(steps, np.array(data.draw(column)))
    for tag in (metadata.LAYER_DEAD_FRACTION, metadata.LAYER_SATURATION):
        s.matrices[tag] = Matrix(LAYERS, steps, np.array(
            [data.draw(column) for _ in LAYERS]).reshape(3, n).T)
    for tag in (metadata.VARIABLE_GRAD_NORM, metadata.VARIABLE_UPDATE_RATIO,
                metadata.VARIABLE_WEIGHT_NORM):
        s.matrices[tag] = Matrix(VARIABLES, steps, np.array(
            [data.draw(column) for _ in VARIABLES]).reshape(6, n).T)
    for tag in metadata.OUTPUT_TAGS:
        s.matrices[tag] = Matrix([{"name": "dense_2"}], steps,
                                 np.array(data.draw(column)).reshape(n, 1))
    s.epochs["loss"] = Series(np.arange(n), np.array(data.draw(column)))
    s.epochs["val_loss"] = Series(np.arange(n), np.array(data.draw(column)))
    s.live_alerts = [(3, {"kind": "dead_relu", "layer": "dense",
                          "severity": "warning", "first_step": 0})]
    alerts = diagnosis.diagnose(s)
    for a in alerts:
        assert a.kind in diagnosis.KINDS
        assert a.severity in diagnosis.SEVERITIES
        assert a.message
        json.dumps(a.to_dict(), allow_nan=False)
    active = [a for a in alerts if a.resolved_step is None]
    assert alerts[:len(active)] == active  # resolved ones after
    ranks = [-diagnosis.severity_rank(a.severity) for a in active]
    assert ranks == sorted(ranks)
    events = diagnosis.LiveAlerts().update(s)
    assert all(e.event in ("raised", "escalated", "resolved", "withdrawn")
               for e in events)


def test_diagnosis_is_pure():
    """The rules import neither Keras nor TensorBoard (nor TensorFlow)."""
    code = ("import sys, tensorboard_plugin_trainhealth.diagnosis; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('keras', 'tensorboard', 'tensorflow', 'jax', 'torch')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True,
                         text=True, check=True).stdout.strip()
    assert out == "[]"


def test_every_kind_has_its_evidence_on_the_page_and_a_causal_place():
    from tensorboard_plugin_trainhealth import signals
    from tensorboard_plugin_trainhealth.diagnosis import incidents

    assert set(signals.EVIDENCE) == set(diagnosis.KINDS) - {"non_finite"}
    assert set(incidents.CAUSAL_ORDER) == set(diagnosis.KINDS)
