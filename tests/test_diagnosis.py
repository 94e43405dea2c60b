"""Unit tests of the diagnosis rules on synthetic RunSeries."""

import copy
import json
import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from tensorboard_plugin_trainhealth import diagnosis
from tensorboard_plugin_trainhealth import metadata
from tensorboard_plugin_trainhealth.diagnosis import Alert, Thresholds
from tensorboard_plugin_trainhealth.series import Matrix, RunSeries, Series

EVERY = 10
STEPS = np.arange(0, 600, EVERY)  # 60 records; 20 epochs of 30 steps
EPOCHS = 20
STEPS_PER_EPOCH = 30

LAYERS = [
    {"name": "dense", "class": "Dense", "activation": "relu",
     "is_output": False, "units": 64},
    {"name": "dense_1", "class": "Dense", "activation": "tanh",
     "is_output": False, "units": 32},
    {"name": "dense_2", "class": "Dense", "activation": "sigmoid",
     "is_output": True, "units": 1},
]
VARIABLES = [
    {"name": "dense/kernel", "layer": "dense", "shape": [20, 64]},
    {"name": "dense/bias", "layer": "dense", "shape": [64]},
    {"name": "dense_1/kernel", "layer": "dense_1", "shape": [64, 32]},
    {"name": "dense_1/bias", "layer": "dense_1", "shape": [32]},
    {"name": "dense_2/kernel", "layer": "dense_2", "shape": [32, 1]},
    {"name": "dense_2/bias", "layer": "dense_2", "shape": [1]},
]
FACTS = {
    "loss": {"name": "binary_crossentropy", "from_logits": False},
    "outputs": [{"layer": "dense_2", "activation": "sigmoid", "units": 1}],
    "inputs": [{"name": "x", "abs_max": 4.1, "mean": 0.01, "std": 1.0,
                "min": -4.1, "max": 3.9, "nonfinite_fraction": 0.0,
                "max_feature_std": 1.02, "samples": 512}],
    "optimizer": {"class": "Adam", "learning_rate": 0.001},
    "every_n_steps": EVERY,
    "steps_per_epoch": STEPS_PER_EPOCH,
    "epochs": EPOCHS,
}


def healthy(seed=0):
    """A healthy noisy run: a confident classifier on noisy labels.

    The output sigmoid is saturated (confident), the validation loss sits
    above the training loss from epoch 0, the loss is slow for 3 epochs,
    the bias update ratios are huge (zero-initialized biases).
    """
    rng = np.random.default_rng(seed)
    n = len(STEPS)
    s = RunSeries(facts=json.loads(json.dumps(FACTS)))
    progress = np.clip((STEPS - 90) / 510, 0, 1)  # slow start: flat 3 epochs
    loss = 0.69 - 0.2 * progress + rng.normal(0, 0.01, n)
    s.step_scalars[metadata.STEP_LOSS] = Series(STEPS, loss)
    s.step_scalars[metadata.STEP_GRAD_NORM] = Series(
        STEPS, 0.5 * np.exp(rng.normal(0, 0.3, n)) * (1 + progress))
    s.step_scalars[metadata.STEP_LEARNING_RATE] = Series(
        STEPS, np.full(n, 1e-3))
    for tag in (metadata.STEP_NONFINITE_LOSS, metadata.STEP_NONFINITE_WEIGHTS,
                metadata.STEP_NONFINITE_GRADIENTS,
                metadata.STEP_NONFINITE_ACTIVATIONS):
        s.step_scalars[tag] = Series(STEPS, np.zeros(n))
    epochs = np.arange(EPOCHS)
    eprog = np.clip((epochs - 3) / 16, 0, 1)
    train = 0.69 - 0.2 * eprog + rng.normal(0, 0.003, EPOCHS)
    s.epochs["loss"] = Series(epochs, train)
    s.epochs["val_loss"] = Series(
        epochs, train + 0.15 + rng.normal(0, 0.01, EPOCHS))  # gap from 0
    s.epoch_end_step = Series(epochs, (epochs + 1.0) * STEPS_PER_EPOCH)
    dead = np.column_stack([0.1 + rng.uniform(0, 0.1, n), np.zeros(n),
                            np.zeros(n)])
    dead[7, 0] = 0.8  # one-record blip
    sat = np.column_stack([np.zeros(n), 0.05 + rng.uniform(0, 0.1, n),
                           np.full(n, 0.97)])  # confident output sigmoid
    for tag, values in ((metadata.LAYER_DEAD_FRACTION, dead),
                        (metadata.LAYER_SATURATION, sat),
                        (metadata.LAYER_ACTIVATION_NONFINITE,
                         np.zeros((n, 3)))):
        s.matrices[tag] = Matrix(copy.deepcopy(LAYERS), STEPS, values)
    grads = np.tile([0.05, 0.02, 0.1, 0.05, 0.3, 0.2], (n, 1))
    # Zero-initialized biases: infinite or huge update ratios.
    ratio = np.tile([1.5e-3, np.inf, 2e-3, 0.5, 3e-3, 0.9], (n, 1))
    ratio = ratio * np.exp(rng.normal(0, 0.2, (n, 6)))
    norms = np.tile([3.0, 0.0, 2.5, 0.1, 1.0, 0.01], (n, 1))
    for tag, values in ((metadata.VARIABLE_GRAD_NORM, grads),
                        (metadata.VARIABLE_UPDATE_RATIO, ratio),
                        (metadata.VARIABLE_WEIGHT_NORM, norms)):
        s.matrices[tag] = Matrix(copy.deepcopy(VARIABLES), STEPS, values)
    return s


def kinds(alerts, severity="info"):
    floor = diagnosis.severity_rank(severity)
    return [a.kind for a in alerts
            if diagnosis.severity_rank(a.severity) >= floor]


def only(alerts, kind):
    found = [a for a in alerts if a.kind == kind]
    assert len(found) == 1, [a.to_dict() for a in alerts]
    return found[0]


def set_column(s, tag, column, values):
    m = s.matrices[tag]
    m.values = m.values.copy()
    m.values[:, column] = values


# ----------------------------------------------------------- interface


def test_constants():
    assert diagnosis.KINDS == (
        "non_finite", "exploding_gradients", "vanishing_gradients",
        "dead_relu", "saturation", "overfitting", "stalled_loss",
        "unscaled_inputs", "learning_rate", "loss_activation_mismatch")
    assert diagnosis.SEVERITIES == ("info", "warning", "critical")
    assert [diagnosis.severity_rank(s) for s in diagnosis.SEVERITIES] \
        == [0, 1, 2]
    assert diagnosis.severity_rank("bogus") == -1


def test_tags_mirror_metadata():
    for name in ("STEP_LOSS", "STEP_GRAD_NORM", "STEP_LEARNING_RATE",
                 "STEP_NONFINITE_LOSS", "STEP_NONFINITE_WEIGHTS",
                 "STEP_NONFINITE_GRADIENTS", "STEP_NONFINITE_ACTIVATIONS",
                 "LAYER_DEAD_FRACTION", "LAYER_SATURATION",
                 "LAYER_ACTIVATION_NONFINITE", "VARIABLE_GRAD_NORM",
                 "VARIABLE_UPDATE_RATIO", "VARIABLE_WEIGHT_NORM"):
        assert getattr(diagnosis, name) == getattr(metadata, name)


def test_to_dict_shape_and_json_safety():
    alert = Alert("non_finite", "critical", "dense", np.int64(3), 7,
                  {"value": float("nan"), "peak": np.float32(np.inf),
                   "low": -math.inf, "n": np.int64(2), "ok": np.bool_(True),
                   "list": (np.float64(1.5), None), "arr": np.array([1, 2])},
                  "advice text", "message text")
    d = alert.to_dict()
    assert list(d) == ["kind", "severity", "layer", "first_step",
                       "last_step", "evidence", "advice"]
    assert d["first_step"] == 3 and type(d["first_step"]) is int
    assert d["evidence"] == {"value": "NaN", "peak": "Infinity",
                             "low": "-Infinity", "n": 2, "ok": True,
                             "list": [1.5, None], "arr": [1, 2]}
    json.dumps(d, allow_nan=False)


def test_run_status():
    def a(sev):
        return Alert("dead_relu", sev, None, 0, 0, {}, "", "")
    assert diagnosis.run_status([]) == "ok"
    assert diagnosis.run_status([a("info")]) == "ok"
    assert diagnosis.run_status([a("info"), a("warning")]) == "warning"
    assert diagnosis.run_status([a("warning"), a("critical")]) == "critical"


def test_empty_series_and_missing_facts():
    assert diagnosis.diagnose(RunSeries()) == []
    assert diagnosis.static_checks({}) == []
    assert diagnosis.static_checks(None) == []
    weird = RunSeries(facts={"loss": 3, "outputs": "x", "inputs": [None, 1],
                             "optimizer": "adam"})
    assert diagnosis.diagnose(weird) == []


def test_healthy_run_has_no_alerts():
    for seed in range(5):
        alerts = diagnosis.diagnose(healthy(seed))
        assert alerts == [], [a.message for a in alerts]


def test_sorted_by_severity_then_first_step():
    s = healthy()
    set_column(s, metadata.LAYER_DEAD_FRACTION, 0,
               np.where(STEPS >= 300, 0.6, 0.1))
    set_column(s, metadata.LAYER_SATURATION, 1,
               np.where(STEPS >= 100, 0.7, 0.1))
    loss = s.step_scalars[metadata.STEP_LOSS].values.copy()
    loss[-1] = np.nan
    s.step_scalars[metadata.STEP_LOSS].values = loss
    alerts = diagnosis.diagnose(s)
    assert [(a.severity, a.kind, a.first_step) for a in alerts] == [
        ("critical", "non_finite", 590),
        ("warning", "saturation", 100),
        ("warning", "dead_relu", 300),
    ]


# ------------------------------------------------------------ non-finite


def test_non_finite_fires_on_one_record():
    s = healthy()
    loss = s.step_scalars[metadata.STEP_LOSS].values.copy()
    loss[12] = np.inf
    s.step_scalars[metadata.STEP_LOSS].values = loss
    alert = only(diagnosis.diagnose(s), "non_finite")
    assert alert.severity == "critical"
    assert (alert.first_step, alert.last_step) == (120, 120)
    assert alert.evidence["signal"] == "loss"
    assert alert.to_dict()["evidence"]["value"] == "Infinity"
    assert "step 120" in alert.message


def test_non_finite_names_first_signal_and_layer():
    s = healthy()
    act = np.zeros((len(STEPS), 3))
    act[20:, 1] = 0.3  # dense_1 first, at step 200
    act[21:, 2] = 1.0
    s.matrices[metadata.LAYER_ACTIVATION_NONFINITE].values = act
    flags = np.zeros(len(STEPS))
    flags[20:] = 1  # the loss flag goes up at the same step
    s.step_scalars[metadata.STEP_NONFINITE_LOSS].values = flags
    grads = s.matrices[metadata.VARIABLE_GRAD_NORM].values.copy()
    grads[21:, :] = np.nan
    s.matrices[metadata.VARIABLE_GRAD_NORM].values = grads
    alert = only(diagnosis.diagnose(s), "non_finite")
    assert alert.first_step == 200 and alert.last_step == 590
    assert alert.layer == "dense_1"
    assert alert.evidence["signal"] == "activations"
    assert alert.evidence["where"] == "dense_1"
    assert alert.evidence["first_step_by_signal"] == {
        "activations": 200, "loss": 200, "gradients": 210}
    assert "dense_1" in alert.message


def test_non_finite_gradients_point_at_last_variable():
    s = healthy()
    grads = s.matrices[metadata.VARIABLE_GRAD_NORM].values.copy()
    grads[30, :] = np.nan
    s.matrices[metadata.VARIABLE_GRAD_NORM].values = grads
    alert = only(diagnosis.diagnose(s), "non_finite")
    assert alert.first_step == 300
    assert alert.evidence["where"] == "dense_2/bias"
    assert alert.layer == "dense_2"
    assert "clip" in alert.advice


def test_non_finite_val_loss_uses_epoch_end_step():
    s = healthy()
    val = s.epochs["val_loss"].values.copy()
    val[4] = np.nan
    s.epochs["val_loss"].values = val
    alert = only(diagnosis.diagnose(s), "non_finite")
    assert alert.first_step == 150  # end of epoch 4
    assert alert.evidence["where"] == "val_loss"


# ------------------------------------------------- dead units, saturation


def test_dead_relu_onset_and_severity():
    s = healthy()
    set_column(s, metadata.LAYER_DEAD_FRACTION, 0,
               np.where(STEPS >= 340, 0.62, 0.1))
    alert = only(diagnosis.diagnose(s), "dead_relu")
    assert alert.severity == "warning"
    assert alert.layer == "dense"
    assert (alert.first_step, alert.last_step) == (340, 590)
    assert alert.evidence["fraction"] == pytest.approx(0.62)
    assert alert.message.startswith(
        "62% of units in dense have been dead since step 340")
    assert "10x" in alert.advice and "0.0001" in alert.advice
    assert "he_normal" in alert.advice and "LeakyReLU" in alert.advice


def test_dead_relu_critical_when_layer_is_gone():
    s = healthy()
    set_column(s, metadata.LAYER_DEAD_FRACTION, 0,
               np.where(STEPS >= 40, 1.0, 0.1))
    alert = only(diagnosis.diagnose(s), "dead_relu")
    assert alert.severity == "critical"
    assert alert.first_step == 40
    assert alert.evidence["critical_since_step"] == 40


@pytest.mark.parametrize("records", [1, 2])
def test_dead_relu_blip_is_not_reported(records):
    s = healthy()
    dead = np.full(len(STEPS), 0.1)
    dead[30:30 + records] = 1.0
    set_column(s, metadata.LAYER_DEAD_FRACTION, 0, dead)
    assert diagnosis.diagnose(s) == []


def test_dead_relu_that_recovered_is_not_reported():
    s = healthy()
    set_column(s, metadata.LAYER_DEAD_FRACTION, 0,
               np.where((STEPS >= 100) & (STEPS < 200), 0.7, 0.1))
    assert diagnosis.diagnose(s) == []


def test_dead_output_layer_is_not_judged():
    s = healthy()
    set_column(s, metadata.LAYER_DEAD_FRACTION, 2, 1.0)
    # ...also when only the facts say which layer is the output.
    for col in s.matrices[metadata.LAYER_DEAD_FRACTION].columns:
        col.pop("is_output")
    assert diagnosis.diagnose(s) == []


def test_saturation_hidden_layer():
    s = healthy()
    set_column(s, metadata.LAYER_SATURATION, 1,
               np.where(STEPS >= 100, 0.75, 0.1))
    alert = only(diagnosis.diagnose(s), "saturation")
    assert alert.severity == "warning" and alert.layer == "dense_1"
    assert alert.first_step == 100
    assert "tanh" in alert.message and "75%" in alert.message
    assert "BatchNormalization" in alert.advice
    assert "Normalization" in alert.advice
    assert "step 100" in alert.advice  # began mid-run: lower the LR
    set_column(s, metadata.LAYER_SATURATION, 1, 0.95)
    alert = only(diagnosis.diagnose(s), "saturation")
    assert alert.severity == "critical" and alert.first_step == 0


def test_saturated_output_layer_is_not_judged():
    s = healthy()
    set_column(s, metadata.LAYER_SATURATION, 2, 1.0)
    assert diagnosis.diagnose(s) == []


def test_wide_hidden_softmax_is_not_saturation():
    s = healthy()
    s.matrices[metadata.LAYER_SATURATION].columns[1] = {
        "name": "attn", "class": "Dense", "activation": "softmax",
        "is_output": False, "units": 128}
    set_column(s, metadata.LAYER_SATURATION, 1, 0.99)
    assert diagnosis.diagnose(s) == []


# ------------------------------------------------------------- gradients


def test_exploding_gradients_against_own_history():
    s = healthy()
    g = s.step_scalars[metadata.STEP_GRAD_NORM]
    g.values = np.where(STEPS >= 250, g.values * 500, g.values)
    alert = only(diagnosis.diagnose(s), "exploding_gradients")
    assert alert.severity == "warning"
    assert (alert.first_step, alert.last_step) == (250, 590)
    assert alert.evidence["history"]["growth"] > 100
    assert "clipnorm" in alert.advice
    g.values = np.where(STEPS >= 250, g.values * 100, g.values)
    assert only(diagnosis.diagnose(s),
                "exploding_gradients").severity == "critical"


def test_gradient_spike_is_not_explosion():
    s = healthy()
    g = s.step_scalars[metadata.STEP_GRAD_NORM]
    g.values = g.values.copy()
    g.values[[20, 40]] *= 1000
    assert diagnosis.diagnose(s) == []


def test_large_but_stable_gradients_are_not_explosion():
    s = healthy()
    s.step_scalars[metadata.STEP_GRAD_NORM].values *= 1e4  # unscaled target
    assert diagnosis.diagnose(s) == []


def test_vanishing_gradients_across_layers():
    s = healthy()
    grads = s.matrices[metadata.VARIABLE_GRAD_NORM].values.copy()
    grads[:, 0] = 1e-7  # first kernel: per-element RMS ~3e-9
    s.matrices[metadata.VARIABLE_GRAD_NORM].values = grads
    alert = only(diagnosis.diagnose(s), "vanishing_gradients")
    assert alert.first_step == 0 and alert.layer == "dense"
    depth = alert.evidence["depth"]
    assert depth["first_layer"] == "dense" and depth["last_layer"] == "dense_2"
    assert depth["first_to_last_rms_ratio"] < 1e-3
    assert "tanh" in alert.advice and "he_normal" in alert.advice


def test_exploding_gradients_across_layers():
    s = healthy()
    grads = s.matrices[metadata.VARIABLE_GRAD_NORM].values.copy()
    grads[STEPS >= 200, 0] = 1e4
    s.matrices[metadata.VARIABLE_GRAD_NORM].values = grads
    alert = only(diagnosis.diagnose(s), "exploding_gradients")
    assert alert.first_step == 200
    assert alert.evidence["depth"]["first_to_last_rms_ratio"] > 1e3


def test_vanishing_gradients_against_own_history():
    s = healthy()
    g = s.step_scalars[metadata.STEP_GRAD_NORM]
    g.values = np.where(STEPS >= 150, g.values * 1e-5, g.values)
    alert = only(diagnosis.diagnose(s), "vanishing_gradients")
    assert alert.first_step == 150
    assert alert.evidence["history"]["collapse"] > 1e3


def test_collapsed_gradients_of_a_converged_model_are_fine():
    s = healthy()
    g = s.step_scalars[metadata.STEP_GRAD_NORM]
    g.values = np.where(STEPS >= 150, g.values * 1e-5, g.values)
    loss = s.step_scalars[metadata.STEP_LOSS]
    loss.values = np.where(STEPS >= 150, 1e-4, loss.values)
    assert "vanishing_gradients" not in kinds(diagnosis.diagnose(s))


# --------------------------------------------------------- learning rate


def test_learning_rate_too_high():
    s = healthy()
    m = s.matrices[metadata.VARIABLE_UPDATE_RATIO]
    m.values = np.where(STEPS[:, None] >= 50, 0.4, m.values)
    s.step_scalars[metadata.STEP_LEARNING_RATE].values[:] = 0.5
    alert = only(diagnosis.diagnose(s), "learning_rate")
    assert alert.severity == "warning" and alert.first_step == 50
    assert alert.evidence["median_update_ratio"] == pytest.approx(0.4)
    assert "100x" in alert.advice and "0.005" in alert.advice
    assert "too high" in alert.message
    m.values = np.where(STEPS[:, None] >= 50, 3.0, m.values)
    assert only(diagnosis.diagnose(s), "learning_rate").severity \
        == "critical"


def test_learning_rate_too_low():
    s = healthy()
    m = s.matrices[metadata.VARIABLE_UPDATE_RATIO]
    m.values = m.values * 1e-3  # kernels ~2e-6 per step from the start
    s.step_scalars[metadata.STEP_LEARNING_RATE].values[:] = 1e-6
    alert = only(diagnosis.diagnose(s), "learning_rate")
    assert alert.severity == "warning" and alert.first_step == 0
    assert "too low" in alert.message
    assert "raise the learning rate" in alert.advice


def test_small_updates_late_in_training_are_fine():
    s = healthy()
    m = s.matrices[metadata.VARIABLE_UPDATE_RATIO]
    m.values = np.where(STEPS[:, None] >= 300, m.values * 1e-4, m.values)
    assert diagnosis.diagnose(s) == []


# ----------------------------------------------------------- overfitting


def overfit(s, best=8, rise=0.04):
    """val_loss falls to epoch `best`, then rises `rise` per epoch."""
    e = np.arange(EPOCHS)
    train = 0.7 * np.exp(-0.1 * e)
    val = np.where(e <= best, 0.8 - 0.03 * e,
                   0.8 - 0.03 * best + rise * (e - best))
    s.epochs["loss"] = Series(e, train)
    s.epochs["val_loss"] = Series(e, val)
    return s


def test_overfitting_onset_is_best_val_epoch():
    alert = only(diagnosis.diagnose(overfit(healthy())), "overfitting")
    assert alert.severity == "warning"
    assert alert.first_step == 9 * STEPS_PER_EPOCH  # end of epoch 8
    assert alert.last_step == EPOCHS * STEPS_PER_EPOCH
    assert alert.evidence["best_epoch"] == 8
    assert "epoch 8" in alert.message
    assert "restore_best_weights=True" in alert.advice
    assert "Dropout" in alert.advice


def test_overfitting_without_epoch_end_steps_uses_steps_per_epoch():
    s = overfit(healthy())
    s.epoch_end_step = Series.empty()
    assert only(diagnosis.diagnose(s), "overfitting").first_step == 270


def test_noisy_gap_from_start_is_not_overfitting():
    s = healthy()
    e = np.arange(EPOCHS)
    rng = np.random.default_rng(3)
    train = 0.6 * np.exp(-0.05 * e)
    s.epochs["loss"] = Series(e, train)
    s.epochs["val_loss"] = Series(e, train + 0.4 + rng.normal(0, 0.02,
                                                             EPOCHS))
    assert diagnosis.diagnose(s) == []


def test_one_bad_validation_epoch_is_not_overfitting():
    s = healthy()
    val = s.epochs["val_loss"].values.copy()
    val[12] = val.min() * 1.5
    s.epochs["val_loss"].values = val
    assert diagnosis.diagnose(s) == []


def test_rising_val_with_flat_train_is_not_overfitting():
    s = overfit(healthy())
    s.epochs["loss"].values = np.full(EPOCHS, 0.5)
    assert "overfitting" not in kinds(diagnosis.diagnose(s))


# ----------------------------------------------------------- stalled loss


def stalled(s, level=0.6935, epochs=EPOCHS):
    e = np.arange(epochs)
    rng = np.random.default_rng(1)
    loss = level + rng.normal(0, 0.0005, epochs)
    s.epochs["loss"] = Series(e, loss)
    s.epochs["val_loss"] = Series(e, loss + 0.001)
    s.step_scalars[metadata.STEP_LOSS].values = np.full(len(STEPS), level)
    return s


def test_stalled_loss_at_chance():
    alert = only(diagnosis.diagnose(stalled(healthy())), "stalled_loss")
    assert alert.severity == "warning"
    assert alert.first_step == 0
    assert alert.last_step == EPOCHS * STEPS_PER_EPOCH
    assert alert.evidence["chance_loss"] == pytest.approx(math.log(2))
    assert "raise the learning rate 10x" in alert.advice


def test_stalled_loss_needs_enough_epochs():
    s = stalled(healthy(), epochs=5)
    assert "stalled_loss" not in kinds(diagnosis.diagnose(s))


def test_slow_start_is_not_stalled():
    s = healthy()
    e = np.arange(10)
    loss = np.array([0.694, 0.6938, 0.6935, 0.693, 0.69, 0.65, 0.58, 0.53,
                     0.51, 0.50])
    s.epochs = {"loss": Series(e, loss)}
    assert diagnosis.diagnose(s) == []
    # Live, at the end of epoch 6 (slow but moving): still nothing.
    s.epochs = {"loss": Series(e[:6], loss[:6])}
    assert diagnosis.diagnose(s) == []


def test_converged_and_noisy_floor_are_not_stalled():
    s = stalled(healthy(), level=1e-4)
    assert "stalled_loss" not in kinds(diagnosis.diagnose(s))
    # Noisy labels: learned in epoch 0, then flat well under chance.
    s = stalled(healthy(), level=0.55)
    assert "stalled_loss" not in kinds(diagnosis.diagnose(s))


def test_stalled_regression_uses_epoch_zero_drop():
    s = stalled(healthy(), level=25.0)
    s.facts["loss"] = {"name": "mse", "from_logits": None}
    s.facts["outputs"][0]["activation"] = "linear"
    assert only(diagnosis.diagnose(s), "stalled_loss").evidence[
        "chance_loss"] is None
    s.epochs["loss"].values[0] = 60.0  # learned the mean in epoch 0
    assert "stalled_loss" not in kinds(diagnosis.diagnose(s))


# --------------------------------------------------------- static checks


def facts_with_input(**stats):
    facts = json.loads(json.dumps(FACTS))
    facts["inputs"][0].update(stats)
    return facts


def test_unscaled_inputs():
    assert diagnosis.static_checks(FACTS) == []
    pixels = diagnosis.static_checks(facts_with_input(
        abs_max=255.0, min=0.0, max=255.0, mean=110.0, std=70.0,
        max_feature_std=80.0))
    alert = only(pixels, "unscaled_inputs")
    assert alert.severity == "warning" and alert.layer == "x"
    assert alert.first_step is None
    assert "255" in alert.advice and "Rescaling" in alert.advice
    huge = only(diagnosis.static_checks(facts_with_input(
        abs_max=2e5, min=-2e5, max=2e5, mean=3e3, std=5e4,
        max_feature_std=9e4)), "unscaled_inputs")
    assert huge.severity == "critical"
    assert "Normalization" in huge.advice and "StandardScaler" in huge.advice
    wide = only(diagnosis.static_checks(facts_with_input(std=30.0)),
                "unscaled_inputs")
    assert wide.severity == "warning"


def test_nonfinite_inputs_are_critical():
    alert = only(diagnosis.static_checks(facts_with_input(
        nonfinite_fraction=0.01)), "unscaled_inputs")
    assert alert.severity == "critical" and "NaN" in alert.message


def test_integer_inputs_are_indices_not_magnitudes():
    assert diagnosis.static_checks(facts_with_input(
        abs_max=19999.0, std=5000.0, dtype="int32")) == []


def test_static_checks_run_inside_diagnose():
    s = healthy()
    s.facts = facts_with_input(abs_max=500.0, std=100.0)
    assert kinds(diagnosis.diagnose(s)) == ["unscaled_inputs"]


def head(activation, units, loss, from_logits):
    facts = json.loads(json.dumps(FACTS))
    facts["outputs"] = [{"layer": "out", "activation": activation,
                         "units": units}]
    facts["loss"] = {"name": loss, "from_logits": from_logits}
    return diagnosis.static_checks(facts)


@pytest.mark.parametrize("activation,units,loss,from_logits,severity,names", [
    ("softmax", 3, "binary_crossentropy", False, "warning",
     "categorical_crossentropy"),
    ("softmax", 3, "BinaryCrossentropy", False, "warning",
     "categorical_crossentropy"),
    ("softmax", 1, "binary_crossentropy", False, "critical", "sigmoid"),
    ("sigmoid", 1, "binary_crossentropy", True, "warning",
     "from_logits=False"),
    ("softmax", 4, "sparse_categorical_crossentropy", True, "warning",
     "activation=None"),
    ("sigmoid", 5, "categorical_crossentropy", False, "warning", "softmax"),
    ("sigmoid", 5, "sparse_categorical_crossentropy", None, "warning",
     "softmax"),
    ("linear", 1, "binary_crossentropy", False, "critical",
     "BinaryCrossentropy(from_logits=True)"),
    ("linear", 10, "sparse_categorical_crossentropy", False, "critical",
     "SparseCategoricalCrossentropy(from_logits=True)"),
    ("sigmoid", 1, "sparse_categorical_crossentropy", False, "critical",
     "binary_crossentropy"),
])
def test_loss_activation_mismatch(activation, units, loss, from_logits,
                                  severity, names):
    alert = only(head(activation, units, loss, from_logits),
                 "loss_activation_mismatch")
    assert alert.severity == severity
    assert alert.layer == "out"
    assert names in alert.advice
    assert alert.evidence["activation"] == activation


@pytest.mark.parametrize("activation,units,loss,from_logits", [
    ("sigmoid", 1, "binary_crossentropy", False),
    ("sigmoid", 4, "binary_crossentropy", False),  # multi-label
    ("linear", 1, "binary_crossentropy", True),
    ("softmax", 3, "categorical_crossentropy", False),
    ("linear", 3, "sparse_categorical_crossentropy", True),
    ("linear", 1, "mse", None),
    ("sigmoid", 1, "mse", None),
    ("linear", 1, "binary_crossentropy", None),  # unknown: not judged
    ("linear", 1, None, None),
])
def test_matching_heads_are_fine(activation, units, loss, from_logits):
    assert head(activation, units, loss, from_logits) == []


# ------------------------------------------------------------ thresholds


def test_thresholds_override():
    s = healthy()
    set_column(s, metadata.LAYER_DEAD_FRACTION, 0,
               np.where(STEPS >= 200, 0.4, 0.1))
    assert diagnosis.diagnose(s) == []
    alerts = diagnosis.diagnose(s, Thresholds(dead_warning=0.3))
    assert only(alerts, "dead_relu").first_step == 200
    # A one-record blip is reported once persistence is set to one record.
    lenient = Thresholds(persistence_records=1, persistence_fraction=0.0)
    assert "dead_relu" in kinds(diagnosis.diagnose(healthy(), lenient))
    strict = Thresholds(input_abs_max_warning=1.0)
    assert kinds(diagnosis.static_checks(FACTS, strict)) \
        == ["unscaled_inputs"]


def test_every_threshold_is_documented():
    doc = Thresholds.__doc__
    for field in Thresholds.__dataclass_fields__:
        assert field in doc, field


# ------------------------------------------------------------ robustness


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
    s.epochs["loss"] = Series(np.arange(n), np.array(data.draw(column)))
    s.epochs["val_loss"] = Series(np.arange(n), np.array(data.draw(column)))
    alerts = diagnosis.diagnose(s)
    for a in alerts:
        assert a.kind in diagnosis.KINDS
        assert a.severity in diagnosis.SEVERITIES
        assert a.message
        json.dumps(a.to_dict(), allow_nan=False)
    ranks = [-diagnosis.severity_rank(a.severity) for a in alerts]
    assert ranks == sorted(ranks)


def test_stuck_at_chance_after_a_spike_is_stalled():
    # Adam(1.0): the loss spikes in epoch 0, then sits at chance for good.
    s = stalled(healthy(), level=0.703)
    s.epochs["loss"].values[0] = 22.5
    alert = only(diagnosis.diagnose(s), "stalled_loss")
    assert alert.evidence["since_epoch"] == 1
    assert "too high" in alert.advice and "lower the learning rate" \
        in alert.advice


def test_back_at_chance_mid_run_is_stalled_from_there():
    s = healthy()
    e = np.arange(EPOCHS)
    loss = np.where(e < 8, 0.69 - 0.02 * e, 0.75)
    s.epochs = {"loss": Series(e, loss)}
    alert = only(diagnosis.diagnose(s), "stalled_loss")
    assert alert.evidence["since_epoch"] == 8
    assert alert.first_step == 8 * STEPS_PER_EPOCH  # end of epoch 7


def test_variable_layer_falls_back_to_name():
    s = healthy()
    for m in (s.matrices[metadata.VARIABLE_GRAD_NORM],):
        for col in m.columns:
            col.pop("layer")
            col["name"] = "sequential/" + col["name"]
    grads = s.matrices[metadata.VARIABLE_GRAD_NORM].values.copy()
    grads[:, 0] = 1e-7
    s.matrices[metadata.VARIABLE_GRAD_NORM].values = grads
    alert = only(diagnosis.diagnose(s), "vanishing_gradients")
    assert alert.layer == "sequential/dense"


def test_overconfident_but_accurate_is_info():
    s = overfit(healthy())
    e = np.arange(EPOCHS)
    s.epochs["val_accuracy"] = Series(e, np.minimum(0.9, 0.7 + 0.02 * e))
    alert = only(diagnosis.diagnose(s), "overfitting")
    assert alert.severity == "info"
    assert alert.evidence["accuracy_metric"] == "val_accuracy"
    assert "over-confident" in alert.message
    assert diagnosis.run_status(diagnosis.diagnose(s)) == "ok"
    # Accuracy falling with the loss: a real warning.
    s.epochs["val_accuracy"] = Series(e, np.where(e <= 8, 0.9, 0.8))
    assert only(diagnosis.diagnose(s), "overfitting").severity == "warning"


def test_falling_back_to_chance_is_not_overfitting():
    # Adam(3.0): the train loss falls from a spike to chance level while
    # val_loss rises: broken, not overfitting.
    s = healthy()
    e = np.arange(EPOCHS)
    s.epochs["loss"] = Series(e, np.where(e == 0, 458.0, 0.70 - 0.0001 * e))
    s.epochs["val_loss"] = Series(e, np.where(e == 0, 1.24, 3.9))
    assert "overfitting" not in kinds(diagnosis.diagnose(s))


def test_diagnosis_is_pure():
    """The rules import neither Keras nor TensorBoard (nor TensorFlow)."""
    import subprocess
    import sys

    code = ("import sys, tensorboard_plugin_trainhealth.diagnosis; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('keras', 'tensorboard', 'tensorflow', 'jax', 'torch')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True,
                         text=True, check=True).stdout.strip()
    assert out == "[]"
