"""Labels the loss cannot use; lopsided label histograms; collapsed
predictions and their likely causes."""

import numpy as np

from tensorboard_plugin_trainhealth import diagnosis
from tensorboard_plugin_trainhealth import metadata
from tests.diagnosis_runs import (
    STEPS, binary_targets, every_kind, find, healthy, kinds, only,
    output_matrix, set_column, set_epochs, stuck)


def _facts(s, loss, activation="sigmoid", units=1, targets=None):
    s.facts["outputs"] = [{"layer": "dense_2", "output": "dense_2",
                           "class": "Dense", "activation": activation,
                           "units": units}]
    s.facts["losses"] = [{"output": "dense_2", "name": loss,
                          "from_logits": False, "weight": None}]
    if targets is not None:
        s.facts["targets"] = [dict({"output": "dense_2"}, **targets)]
    return s


def three_grades():
    return {"integer_valued": True, "one_hot": False, "multi_hot": False,
            "min": 0.0, "max": 2.0, "mean": 1.0, "std": 0.8, "distinct": 3,
            "classes": {"0": 85, "1": 86, "2": 85}, "shape": []}


def test_integer_labels_into_binary_crossentropy():
    s = _facts(healthy(), "binary_crossentropy", targets=three_grades())
    alert = diagnosis.diagnose(s)[0]
    assert alert.kind == "label_mismatch" and alert.severity == "critical"
    assert "run from 0 to 2" in alert.message
    assert "Dense(3, activation='softmax')" in alert.advice
    assert "sparse_categorical_crossentropy" in alert.advice


def test_negative_cross_entropy_without_target_facts():
    s = _facts(healthy(), "binary_crossentropy")
    set_epochs(s, "loss", [0.3, -50.0, -900.0, -2e4, -2.1e4])
    alert = find(diagnosis.diagnose(s), "label_mismatch")
    assert alert.severity == "critical"
    assert alert.evidence["negative_at_epoch"] == 1
    assert "went negative" in alert.message and "-21000" in alert.message


def test_negative_loss_of_one_output_of_two():
    s = healthy()
    s.facts["outputs"] = [
        {"layer": "a", "output": "a", "activation": "sigmoid", "units": 1},
        {"layer": "b", "output": "b", "activation": "linear", "units": 1}]
    s.facts["losses"] = [
        {"output": "a", "name": "binary_crossentropy", "from_logits": False},
        {"output": "b", "name": "mse", "from_logits": None}]
    set_epochs(s, "a_loss", [0.5, -3.0, -9.0])
    set_epochs(s, "b_loss", [-0.0, 0.0, 0.0])
    alert = find(diagnosis.diagnose(s), "label_mismatch")
    assert alert.layer == "a"


def test_labels_all_one_class():
    targets = {"integer_valued": True, "one_hot": False, "multi_hot": False,
               "min": 0.0, "max": 0.0, "mean": 0.0, "std": 0.0,
               "distinct": 1, "classes": {"0": 256}, "shape": []}
    s = _facts(healthy(), "sparse_categorical_crossentropy", "softmax", 10,
               targets)
    alert = diagnosis.diagnose(s)[0]
    assert alert.kind == "label_mismatch" and alert.severity == "critical"
    assert "every target" in alert.message and "one class" in alert.message
    assert "scaling" in alert.advice


def test_sparse_labels_beyond_the_units():
    targets = dict(three_grades(), min=1.0, max=10.0, distinct=10)
    s = _facts(healthy(), "sparse_categorical_crossentropy", "softmax", 10,
               targets)
    alert = only(diagnosis.static_checks(s.facts), "label_mismatch")
    assert "0..9" in alert.message


def test_integer_ids_with_categorical_crossentropy():
    s = _facts(healthy(), "categorical_crossentropy", "softmax", 3,
               three_grades())
    alert = only(diagnosis.static_checks(s.facts), "label_mismatch")
    assert "sparse_categorical_crossentropy" in alert.advice
    assert "to_categorical" in alert.advice


def test_valid_labels_raise_nothing():
    s = _facts(healthy(), "binary_crossentropy",
               targets=binary_targets(0.5))
    assert diagnosis.diagnose(s) == []


def _imbalanced(s, rate=0.03):
    return _facts(s, "binary_crossentropy", targets=binary_targets(rate))


def test_imbalance_in_a_model_that_still_separates_the_classes_is_info():
    s = _imbalanced(healthy())
    output_matrix(s, metadata.OUTPUT_TOP_CLASS_SHARE,
                  np.full(len(STEPS), 0.93))
    alert = only(diagnosis.diagnose(s), "class_imbalance")
    assert alert.severity == "info"
    assert "97%" in alert.message
    assert "class_weight" in alert.advice


def test_imbalance_with_predictions_collapsed_onto_the_majority():
    s = _imbalanced(stuck(healthy(), level=0.135))
    output_matrix(s, metadata.OUTPUT_TOP_CLASS_SHARE,
                  np.full(len(STEPS), 1.0))
    output_matrix(s, metadata.OUTPUT_PREDICTION_STD,
                  np.full(len(STEPS), 0.004))
    alerts = diagnosis.diagnose(s)
    alert = alerts[0]
    assert alert.kind == "class_imbalance" and alert.severity == "warning"
    assert "predicts it for 100%" in alert.message
    assert "collapsed_predictions" in every_kind(alerts)


def test_weighted_loss_on_imbalanced_labels_is_not_at_chance():
    # With class_weight the loss sits above the prior's entropy (0.13)
    # while the model learns: that is not "at chance".
    s = _imbalanced(healthy())
    assert "stalled_loss" not in kinds(diagnosis.diagnose(s))


# --------------------------------------------------------- collapse


def test_collapsed_predictions_with_likely_causes_in_order():
    s = _facts(stuck(healthy()), "binary_crossentropy", "softmax", 1,
               binary_targets(0.5))
    output_matrix(s, metadata.OUTPUT_PREDICTION_STD, np.zeros(len(STEPS)))
    output_matrix(s, metadata.OUTPUT_TOP_CLASS_SHARE, np.ones(len(STEPS)))
    set_column(s, metadata.LAYER_DEAD_FRACTION, 0, 0.95)
    alerts = diagnosis.diagnose(s)
    assert alerts[0].kind == "loss_activation_mismatch"  # 1-unit softmax
    collapse = find(alerts, "collapsed_predictions")
    assert collapse.severity == "critical"  # exactly the same output
    causes = collapse.evidence["likely_causes"]
    assert causes[0].startswith("the loss and the output layer")
    assert causes[1].startswith("dead or saturated layers upstream")
    assert "dense 95% dead" in causes[1]


def test_collapse_of_a_regression_onto_the_mean():
    s = _facts(healthy(), "mse", "linear", 1,
               {"integer_valued": False, "one_hot": False,
                "multi_hot": False, "min": -3.0, "max": 3.0, "mean": 0.0,
                "std": 1.0, "distinct": 256, "classes": None})
    set_epochs(s, "loss", [1.02, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0])
    set_epochs(s, "val_loss", [1.05, 1.04, 1.04, 1.04, 1.04, 1.04, 1.04,
                               1.04])
    output_matrix(s, metadata.OUTPUT_PREDICTION_STD,
                  np.full(len(STEPS), 0.005))
    alert = find(diagnosis.diagnose(s), "collapsed_predictions")
    assert alert.severity == "warning"
    assert "shuffled separately" in alert.advice


def test_outputs_alike_at_the_start_of_a_run_that_learns_are_no_collapse():
    s = _facts(healthy(), "binary_crossentropy", targets=binary_targets(0.5))
    std = np.where(STEPS < 150, 0.002, 0.3)
    output_matrix(s, metadata.OUTPUT_PREDICTION_STD, std)
    output_matrix(s, metadata.OUTPUT_TOP_CLASS_SHARE,
                  np.where(STEPS < 150, 1.0, 0.55))
    assert diagnosis.diagnose(s) == []


def test_varied_outputs_on_one_side_of_the_threshold_are_no_collapse():
    # A slow start: every probability above 0.5, but spread (std 0.075).
    s = _facts(stuck(healthy()), "binary_crossentropy",
               targets=binary_targets(0.5))
    output_matrix(s, metadata.OUTPUT_PREDICTION_STD,
                  np.full(len(STEPS), 0.075))
    output_matrix(s, metadata.OUTPUT_TOP_CLASS_SHARE, np.ones(len(STEPS)))
    assert "collapsed_predictions" not in every_kind(diagnosis.diagnose(s))


def _first_records(s, n, every, epochs=2):
    """The run cut to its first `n` records, `every` steps apart, and its
    first epochs."""
    steps = np.arange(n) * every
    for series in s.step_scalars.values():
        series.steps, series.values = steps, series.values[:n]
    for m in s.matrices.values():
        m.steps, m.values = steps, m.values[:n]
    for key, series in list(s.epochs.items()):
        s.epochs[key] = type(series)(series.steps[:epochs],
                                     series.values[:epochs])
    return s


def test_a_fit_of_a_few_steps_is_too_short_to_call_collapsed():
    # Two epochs of three steps (a tiny dataset), every step recorded: the
    # outputs of a model that has barely moved from its init are alike, and
    # the loss is at chance; that is the start of a training, not a
    # collapse. The same records 10 steps apart (two epochs of thirty
    # steps) are one.
    def run(every):
        s = _facts(stuck(healthy()), "binary_crossentropy",
                   targets=binary_targets(0.5))
        output_matrix(s, metadata.OUTPUT_PREDICTION_STD,
                      np.full(len(STEPS), 0.02))
        output_matrix(s, metadata.OUTPUT_TOP_CLASS_SHARE,
                      np.ones(len(STEPS)))
        return diagnosis.diagnose(_first_records(s, 6, every))

    assert kinds(run(every=1), "warning") == []
    assert "collapsed_predictions" in every_kind(run(every=10))


def test_an_observed_linear_head_within_0_and_1_is_still_logits():
    # A PyTorch Linear head seen (by the probe) to output its own values,
    # which happen to lie within [0, 1] before training, under
    # BCEWithLogitsLoss: logits, not probabilities squashed twice. Without
    # the observation (a wrapper class), the same range reads as sigmoid.
    def run(observed):
        s = _facts(healthy(), "binary_crossentropy", activation="linear",
                   targets=binary_targets(0.5))
        s.facts["outputs"][0].update(
            {"class": "Linear", "activation_observed": observed,
             "measured": {"min": 0.2, "max": 0.6, "mean": 0.4,
                          "in_unit_interval": True}})
        s.facts["losses"][0]["from_logits"] = True
        return diagnosis.diagnose(s)

    assert "loss_activation_mismatch" not in every_kind(run(True))
    assert "loss_activation_mismatch" in every_kind(run(False))
