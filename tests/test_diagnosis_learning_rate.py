"""The learning rate: update ratios, a loss far above chance, a spike and
then chance, a loss that climbs back; advice that moves the rate the way
the evidence points."""

import numpy as np
import pytest

from tensorboard_plugin_trainhealth import diagnosis
from tensorboard_plugin_trainhealth import metadata
from tests.diagnosis_runs import (
    STEPS, binary_targets, find, healthy, kinds, set_epochs, stuck)

RATIO = metadata.VARIABLE_UPDATE_RATIO


def _lr(s, value):
    s.step_scalars[metadata.STEP_LEARNING_RATE].values[:] = value
    s.facts["optimizer"]["learning_rate"] = value


def test_learning_rate_too_high():
    s = stuck(healthy())
    m = s.matrices[RATIO]
    m.values = np.where(STEPS[:, None] >= 50, 0.4, m.values)
    _lr(s, 0.5)
    alert = find(diagnosis.diagnose(s), "learning_rate")
    assert alert.severity == "warning" and alert.first_step == 50
    assert alert.evidence["median_update_ratio"] == pytest.approx(0.4)
    assert "100x" in alert.advice and "0.005" in alert.advice
    assert "lower the learning rate" in alert.advice
    assert "too high" in alert.message
    m.values = np.where(STEPS[:, None] >= 50, 3.0, m.values)
    assert find(diagnosis.diagnose(s), "learning_rate").severity \
        == "critical"


def test_high_update_ratio_in_a_learning_run_is_information():
    s = healthy()
    m = s.matrices[RATIO]
    m.values = np.where(STEPS[:, None] >= 50, 0.4, m.values)
    assert find(diagnosis.diagnose(s), "learning_rate").severity == "info"


def test_learning_rate_too_low_raises_it():
    s = stuck(healthy())
    s.facts["optimizer"]["class"] = "SGD"
    m = s.matrices[RATIO]
    m.values = m.values * 1e-3  # kernels ~2e-6 per step from the start
    _lr(s, 1e-6)
    alert = find(diagnosis.diagnose(s), "learning_rate")
    assert alert.severity == "warning" and alert.first_step == 0
    assert "too low" in alert.message
    assert "raise the learning rate" in alert.advice


def test_tiny_adam_updates_at_a_normal_rate_are_no_low_rate():
    # Adam steps ~lr per weight: tiny updates there mean no gradient.
    s = stuck(healthy())
    s.matrices[RATIO].values = s.matrices[RATIO].values * 1e-3
    alerts = diagnosis.diagnose(s)
    assert "learning_rate" not in kinds(alerts)
    assert all("raise the learning rate" not in a.advice for a in alerts)


def test_tiny_updates_after_a_spike_do_not_raise_the_rate():
    s = stuck(healthy())
    s.facts["optimizer"]["class"] = "SGD"
    s.matrices[RATIO].values = s.matrices[RATIO].values * 1e-3
    _lr(s, 1e-3)
    s.epochs["loss"].values[0] = 40.0  # broke in the first epoch
    for a in diagnosis.diagnose(s):
        assert "raise the learning rate" not in a.advice.lower(), a.kind


def test_small_updates_late_in_training_are_fine():
    s = healthy()
    m = s.matrices[RATIO]
    m.values = np.where(STEPS[:, None] >= 300, m.values * 1e-4, m.values)
    assert diagnosis.diagnose(s) == []


def _digits(s, lr=3.0):
    """Adam at lr 3 on a 10-class classifier: loss 25-60, chance 2.3."""
    s.facts["outputs"] = [{"layer": "dense_2", "class": "Dense",
                           "activation": "softmax", "units": 10,
                           "output": "dense_2"}]
    s.facts["losses"] = [{"output": "dense_2",
                          "name": "sparse_categorical_crossentropy",
                          "from_logits": False, "weight": None}]
    _lr(s, lr)
    set_epochs(s, "loss", [60.0, 41.0, 33.0, 30.0, 28.0, 25.0, 27.0, 26.0])
    set_epochs(s, "val_loss", [45.0, 38.0, 30.0, 31.0, 29.0, 27.0, 28.0,
                               27.0])
    s.step_scalars[metadata.STEP_LOSS].values = np.full(len(STEPS), 30.0)
    return s


def test_loss_far_above_chance_is_a_learning_rate_alert():
    s = _digits(healthy())
    alerts = diagnosis.diagnose(s)
    alert = alerts[0]
    assert alert.kind == "learning_rate"
    assert alert.severity == "critical"  # 25 is over 5x ln(10)
    assert "far above" in alert.message and "(3)" in alert.message
    assert "lower the learning rate 1000x (from 3 to 0.003)" in \
        alert.advice.lower()
    for a in alerts:
        assert "raise the learning rate" not in a.advice.lower()
        assert "normalize the inputs" not in a.advice.lower()


def test_a_mildly_high_loss_needs_high_rate_evidence():
    s = _digits(healthy(), lr=1e-3)
    set_epochs(s, "loss", [5.0] * 8)
    set_epochs(s, "val_loss", [5.1] * 8)
    s.step_scalars[metadata.STEP_LOSS].values = np.full(len(STEPS), 5.0)
    assert "learning_rate" not in kinds(diagnosis.diagnose(s))
    _lr(s, 0.5)  # Adam at 0.5: evidence enough
    assert find(diagnosis.diagnose(s), "learning_rate").severity \
        == "warning"


def test_spike_then_chance_is_a_learning_rate_alert():
    s = stuck(healthy(), level=0.703)
    s.epochs["loss"].values[0] = 22.5
    alert = diagnosis.diagnose(s)[0]
    assert alert.kind == "learning_rate"
    assert "spiked to 22.5" in alert.message
    assert "stalled_loss" in [c.kind for c in alert.consequences]
    assert "lower the learning rate" in alert.advice.lower()


def test_most_of_the_training_far_above_chance():
    s = healthy()
    set_epochs(s, "loss", [2273.0, 165.0, 113.0, 50.0, 23.0, 8.7, 0.77,
                           0.62])
    set_epochs(s, "val_loss", [311.0, 97.0, 237.0, 42.0, 79.0, 40.0, 14.0,
                               6.1])
    alerts = diagnosis.diagnose(s)
    alert = find(alerts, "learning_rate")
    assert alert.severity == "warning"
    assert "first 6 of 8 epochs" in alert.message
    assert diagnosis.run_status(alerts) != "ok"


def test_mse_far_above_predicting_zero():
    s = healthy()
    s.facts["outputs"][0].update(activation="linear", output="dense_2")
    s.facts["losses"] = [{"output": "dense_2", "name": "mean_squared_error",
                          "from_logits": None, "weight": None}]
    s.facts["targets"] = [{"output": "dense_2", "integer_valued": False,
                           "mean": 250000.0, "std": 60000.0,
                           "min": 50000.0, "max": 450000.0,
                           "distinct": 256, "one_hot": False,
                           "multi_hot": False, "classes": None}]
    s.facts["optimizer"] = {"class": "SGD", "learning_rate": 0.01}
    set_epochs(s, "loss", [7e19, 1.5e17, 1e17, 7e16])
    alerts = diagnosis.diagnose(s)
    alert = find(alerts, "learning_rate")
    assert alert.severity == "critical"
    assert "predicting 0 scores" in alert.message
    # Prices in dollars: the unscaled targets are the incident's cause.
    assert alerts[0].kind == "unscaled_inputs"
    assert alerts[0].layer == "targets of dense_2"
    assert alerts[0].severity == "critical"


def test_climbing_back_with_high_rate_evidence():
    s = healthy()
    _lr(s, 0.5)
    set_epochs(s, "loss", [0.6, 0.3, 0.2, 0.12, 0.1, 0.16, 0.19, 0.2])
    set_epochs(s, "val_loss", [0.6, 0.3, 0.25, 0.2, 0.2, 0.3, 0.35, 0.36])
    alert = find(diagnosis.diagnose(s), "learning_rate")
    assert "climbed back" in alert.message


def test_healthy_runs_raise_no_learning_rate_alert_at_chance_levels():
    s = healthy()
    s.facts["targets"] = [binary_targets(0.5)]
    assert diagnosis.diagnose(s) == []
