"""Overfitting (the seeds' definition, and over-confidence) and a stalled
loss (flat at chance, and learned nothing that generalizes)."""

import math

import numpy as np
import pytest

from tensorboard_plugin_trainhealth import diagnosis
from tensorboard_plugin_trainhealth.series import Series
from tests.diagnosis_runs import (
    EPOCHS, STEPS_PER_EPOCH, binary_targets, find, healthy, kinds, only,
    set_epochs, stuck)


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
    assert alert.evidence["loss"]["best_epoch"] == 8
    assert "epoch 8" in alert.message
    assert "restore_best_weights=True" in alert.advice
    assert "Keep the epoch-8 weights" in alert.advice
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


@pytest.mark.parametrize("bad_epochs", [1, 2])
def test_a_short_validation_dip_is_not_overfitting(bad_epochs):
    s = healthy()
    val = s.epochs["val_loss"].values.copy()
    val[12:12 + bad_epochs] = val.min() * 1.9
    s.epochs["val_loss"].values = val
    assert diagnosis.diagnose(s) == []


def test_rising_val_with_flat_train_is_not_overfitting():
    s = overfit(healthy())
    s.epochs["loss"].values = np.full(EPOCHS, 0.5)
    assert "overfitting" not in kinds(diagnosis.diagnose(s))


def test_validation_better_than_training_is_not_overfitting():
    # Dropout/BatchNorm keep the training loss above the validation loss.
    s = overfit(healthy())
    e = np.arange(EPOCHS)
    s.epochs["val_loss"].values = np.where(e <= 8, 0.3 - 0.03 * e,
                                           0.06 + 0.003 * (e - 8))
    assert "overfitting" not in kinds(diagnosis.diagnose(s))


def test_val_accuracy_flat_is_overfitting_not_over_confidence():
    s = overfit(healthy())
    e = np.arange(EPOCHS)
    s.epochs["val_accuracy"] = Series(e, np.where(e <= 8, 0.7 + 0.02 * e,
                                                  0.86))
    assert only(diagnosis.diagnose(s), "overfitting").severity == "warning"


def test_val_accuracy_still_improving_is_over_confidence_info():
    s = overfit(healthy())
    e = np.arange(EPOCHS)
    s.epochs["val_accuracy"] = Series(e, 0.7 + 0.01 * e)
    alert = only(diagnosis.diagnose(s), "overfitting")
    assert alert.severity == "info"
    assert "over-confident" in alert.message
    assert diagnosis.run_status(diagnosis.diagnose(s)) == "ok"


def test_training_accuracy_climbs_while_validation_plateaus():
    # The seeds: "training accuracy climbs steadily but validation accuracy
    # plateaus or drops, the gap widens with each epoch".
    s = healthy()
    e = np.arange(EPOCHS)
    set_epochs(s, "accuracy", np.minimum(0.6 + 0.025 * e, 1.0))
    set_epochs(s, "val_accuracy", np.minimum(0.6 + 0.025 * e, 0.78))
    set_epochs(s, "val_loss", np.where(e <= 7, 0.7 - 0.03 * e,
                                       0.49 + 0.005 * (e - 7)))
    alert = only(diagnosis.diagnose(s), "overfitting")
    assert alert.severity == "warning"
    assert alert.evidence["accuracy"]["best_epoch"] == 7
    assert "val_accuracy has not improved since epoch 7" in alert.message
    assert "monitor='val_accuracy'" in alert.advice
    assert "restore_best_weights=True" in alert.advice


def test_a_converged_model_whose_training_accuracy_creeps_up_is_fine():
    # Both losses level off; the validation loss ends at its best, the
    # validation accuracy holds at its plateau while the training accuracy
    # creeps 2 points higher: nothing got worse on new samples. With the
    # validation loss rising 1% per epoch instead, it is overfitting.
    def run(val_rise):
        s = healthy()
        e = np.arange(EPOCHS)
        set_epochs(s, "accuracy", np.minimum(0.7 + 0.05 * e, 0.85)
                   + 0.0015 * np.maximum(e - 3, 0))
        set_epochs(s, "val_accuracy", np.minimum(0.7 + 0.05 * e, 0.85))
        val = np.maximum(0.6 - 0.1 * e, 0.3)
        set_epochs(s, "val_loss", val * (1 + val_rise * np.maximum(e - 3, 0)))
        return diagnosis.diagnose(s)

    assert "overfitting" not in kinds(run(val_rise=0.0))
    assert only(run(val_rise=0.01), "overfitting").severity == "warning"


def test_validation_accuracy_flat_while_validation_loss_improves():
    # An accuracy metric that does not fit the outputs reads ~0; the
    # validation loss keeps falling: no overfitting.
    s = healthy()
    e = np.arange(EPOCHS)
    set_epochs(s, "accuracy", np.minimum(0.002 * e, 0.04))
    set_epochs(s, "val_accuracy", np.where(e < 3, 0.14, 0.0))
    s.epochs["val_loss"].values = np.linspace(0.68, 0.15, EPOCHS)
    assert "overfitting" not in kinds(diagnosis.diagnose(s))


def test_falling_back_to_chance_is_not_overfitting():
    s = healthy()
    e = np.arange(EPOCHS)
    s.epochs["loss"] = Series(e, np.where(e == 0, 458.0, 0.70 - 0.0001 * e))
    s.epochs["val_loss"] = Series(e, np.where(e == 0, 1.24, 3.9))
    assert "overfitting" not in kinds(diagnosis.diagnose(s))


# ------------------------------------------------------------ stalled loss


def test_stalled_loss_at_chance():
    alert = find(diagnosis.diagnose(stuck(healthy())), "stalled_loss")
    assert alert.severity == "warning"
    assert alert.first_step == 0
    assert alert.last_step == EPOCHS * STEPS_PER_EPOCH
    assert alert.evidence["chance_loss"] == pytest.approx(math.log(2))


def test_stall_advice_never_raises_the_rate_without_evidence():
    alert = find(diagnosis.diagnose(stuck(healthy())), "stalled_loss")
    assert "raise the learning rate" not in alert.advice.lower()
    assert "lower the learning rate" not in alert.advice.lower()
    assert "normalize the inputs" not in alert.advice.lower()
    assert "labels" in alert.advice


def test_stall_advice_lowers_the_rate_after_a_spike():
    s = stuck(healthy(), level=0.703)
    s.epochs["loss"].values[0] = 22.5
    alert = find(diagnosis.diagnose(s), "stalled_loss")
    assert "too high" in alert.advice
    assert "lower the learning rate" in alert.advice


def test_stalled_loss_needs_enough_epochs():
    s = stuck(healthy(), epochs=5)
    assert "stalled_loss" not in kinds(diagnosis.diagnose(s))


def test_slow_start_is_not_stalled():
    s = healthy()
    e = np.arange(10)
    loss = np.array([0.694, 0.6938, 0.6935, 0.693, 0.69, 0.65, 0.58, 0.53,
                     0.51, 0.50])
    s.epochs = {"loss": Series(e, loss)}
    assert diagnosis.diagnose(s) == []
    s.epochs = {"loss": Series(e[:6], loss[:6])}  # live, epoch 6
    assert diagnosis.diagnose(s) == []


def test_converged_and_noisy_floor_are_not_stalled():
    s = stuck(healthy(), level=1e-4)
    assert "stalled_loss" not in kinds(diagnosis.diagnose(s))
    s = stuck(healthy(), level=0.55)
    assert "stalled_loss" not in kinds(diagnosis.diagnose(s))


def test_stalled_regression_uses_epoch_zero_drop():
    s = stuck(healthy(), level=25.0)
    s.facts["loss"] = {"name": "mse", "from_logits": None}
    s.facts["outputs"][0]["activation"] = "linear"
    assert find(diagnosis.diagnose(s), "stalled_loss").evidence[
        "chance_loss"] is None
    s.epochs["loss"].values[0] = 60.0  # learned the mean in epoch 0
    assert "stalled_loss" not in kinds(diagnosis.diagnose(s))


def test_back_at_chance_mid_run_is_stalled_from_there():
    s = healthy()
    e = np.arange(EPOCHS)
    loss = np.where(e < 8, 0.69 - 0.02 * e, 0.75)
    s.epochs = {"loss": Series(e, loss)}
    alert = find(diagnosis.diagnose(s), "stalled_loss")
    assert alert.evidence["since_epoch"] == 8
    assert alert.first_step == 8 * STEPS_PER_EPOCH  # end of epoch 7


def test_validation_accuracy_never_above_the_majority_class():
    # Labels that do not match the inputs: the training loss creeps under
    # chance (memorizing), validation accuracy stays at coin level.
    s = healthy()
    s.facts["targets"] = [binary_targets(0.5)]
    set_epochs(s, "loss", 0.714 - 0.004 * np.arange(12))
    set_epochs(s, "val_loss", 0.826 - 0.005 * np.arange(12))
    set_epochs(s, "accuracy", 0.55 + 0.002 * np.arange(12))
    set_epochs(s, "val_accuracy", [0.43, 0.43, 0.43, 0.42, 0.43, 0.44, 0.45,
                                   0.45, 0.45, 0.47, 0.44, 0.43])
    alert = find(diagnosis.diagnose(s), "stalled_loss")
    assert "never beaten always predicting the majority class" in \
        alert.message


def test_accuracy_metric_contradicted_by_the_loss_is_not_trusted():
    # An accuracy metric that does not fit the output's shape reads ~0
    # while the validation loss falls far below chance.
    s = healthy()
    s.facts["targets"] = [binary_targets(0.5)]
    set_epochs(s, "val_accuracy", [0.14] * 3 + [0.0] * 17)
    s.epochs["val_loss"].values = np.linspace(0.68, 0.15, EPOCHS)
    assert diagnosis.diagnose(s) == []


def test_validation_loss_still_falling_towards_chance_is_a_slow_start():
    s = healthy()
    set_epochs(s, "loss", 0.726 - 0.009 * np.arange(8))
    set_epochs(s, "val_loss", 0.759 - 0.007 * np.arange(8))
    assert "stalled_loss" not in kinds(diagnosis.diagnose(s))
    set_epochs(s, "val_loss", [0.759, 0.74, 0.73, 0.725, 0.724, 0.724,
                               0.7245, 0.724])
    assert "stalled_loss" in kinds(diagnosis.diagnose(s))


def test_validation_falling_back_from_a_dip_is_not_overfitting():
    # The third bad epoch of a dip is already on its way back.
    s = healthy()
    e = np.arange(8)
    set_epochs(s, "loss", 1.1 * np.exp(-0.25 * e))
    set_epochs(s, "val_loss", [0.55, 0.11, 0.82, 0.37, 0.2, 0.19, 0.16, 0.15])
    assert "overfitting" not in kinds(diagnosis.diagnose(s))


def test_a_model_that_learned_nothing_does_not_overfit():
    s = healthy()
    s.facts["targets"] = [binary_targets(0.5)]
    e = np.arange(EPOCHS)
    set_epochs(s, "accuracy", 0.52 + 0.001 * e)
    set_epochs(s, "val_accuracy", np.full(EPOCHS, 0.5))
    assert "overfitting" not in kinds(diagnosis.diagnose(s))


def test_regularized_loss_above_chance_with_good_accuracy_generalizes():
    # An L2 term lifts train and validation loss above ln 2, while the
    # validation accuracy is far above the majority class.
    s = healthy()
    s.facts["targets"] = [binary_targets(0.5)]
    set_epochs(s, "loss", np.linspace(0.95, 0.74, EPOCHS))
    set_epochs(s, "val_loss", np.full(EPOCHS, 0.75))
    set_epochs(s, "val_accuracy", np.linspace(0.6, 0.8, EPOCHS))
    assert "stalled_loss" not in kinds(diagnosis.diagnose(s))
