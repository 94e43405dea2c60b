"""Static checks: inputs (any dtype), heads with their own losses and
targets, what the head really outputs."""

import json

import numpy as np
import pytest

from tensorboard_plugin_trainhealth import diagnosis
from tests.diagnosis_runs import FACTS, binary_targets, find, kinds, only


def facts_with_input(**stats):
    facts = json.loads(json.dumps(FACTS))
    facts["inputs"][0].update(stats)
    return facts


# -------------------------------------------------------------- inputs


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
    assert "nan_to_num" in alert.advice


def test_raw_uint8_images_are_unscaled():
    alert = only(diagnosis.static_checks(facts_with_input(
        dtype="uint8", abs_max=255.0, min=0.0, max=255.0, mean=90.0,
        std=60.0, shape=[28, 28, 1])), "unscaled_inputs")
    assert alert.severity == "warning"
    assert "255" in alert.advice and "uint8" in alert.advice


def test_integer_measurements_are_magnitudes():
    alert = only(diagnosis.static_checks(facts_with_input(
        dtype="int64", abs_max=381.0, min=126.0, max=381.0, mean=240.0,
        std=45.0, shape=[1])), "unscaled_inputs")
    assert alert.severity == "warning"


def test_integer_ids_for_an_embedding_are_not_magnitudes():
    ids = facts_with_input(abs_max=19999.0, std=5000.0, dtype="int32",
                           shape=[40])
    ids["model"] = {"layers": ["embedding", "lstm", "dense"]}
    assert diagnosis.static_checks(ids) == []
    ids["inputs"][0]["consumers"] = ["Embedding"]
    ids["model"] = {"layers": ["dense"]}
    assert diagnosis.static_checks(ids) == []


def test_inputs_normalized_inside_the_model():
    raw = facts_with_input(abs_max=381.0, max=381.0, std=45.0)
    raw["inputs"][0]["consumers"] = ["Normalization"]
    assert diagnosis.static_checks(raw) == []
    raw["inputs"][0].pop("consumers")
    raw["model"] = {"layers": ["rescaling", "conv2d", "dense"]}
    alert = only(diagnosis.static_checks(raw), "unscaled_inputs")
    assert alert.severity == "info" and "Rescaling" in alert.message


# --------------------------------------------------------------- heads


def head(activation, units, loss, from_logits, **out):
    facts = json.loads(json.dumps(FACTS))
    facts["outputs"] = [dict({"layer": "out", "activation": activation,
                              "units": units}, **out)]
    facts["loss"] = {"name": loss, "from_logits": from_logits}
    return diagnosis.static_checks(facts)


@pytest.mark.parametrize("activation,units,loss,from_logits,severity,names", [
    ("softmax", 3, "binary_crossentropy", False, "warning",
     "categorical_crossentropy"),
    ("softmax", 3, "BinaryCrossentropy", False, "warning",
     "categorical_crossentropy"),
    ("softmax", 1, "binary_crossentropy", False, "critical", "sigmoid"),
    ("softmax", 1, "mse", None, "critical", "sigmoid"),
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


def measured(low, high, rows_sum_to_one=None):
    return {"min": low, "max": high, "mean": (low + high) / 2,
            "in_unit_interval": 0 <= low and high <= 1,
            "rows_sum_to_one": rows_sum_to_one, "prediction_std": 0.1,
            "top_class_share": 0.6}


def test_sigmoid_inside_a_custom_layer_is_a_sigmoid_head():
    # The wrapper declares nothing ("linear"); its outputs are in [0, 1].
    assert head("linear", None, "binary_crossentropy", False,
                **{"class": "Classifier",
                   "measured": measured(0.2, 0.8)}) == []
    assert head("linear", None, "binary_crossentropy", False,
                **{"class": "Embedding",
                   "measured": measured(0.49, 0.51)}) == []
    # Without a measurement a wrapper's "linear" says nothing.
    assert head("linear", None, "binary_crossentropy", False,
                **{"class": "Classifier"}) == []


def test_no_critical_on_a_declaration_the_outputs_contradict():
    # A Dense declared linear whose model applies sigmoid in call().
    assert head("linear", 1, "binary_crossentropy", False,
                **{"class": "Dense", "measured": measured(0.1, 0.9)}) == []
    # ...and a wrapper whose outputs really are unbounded: critical.
    alert = only(head("linear", None, "binary_crossentropy", False,
                      **{"class": "Classifier",
                         "measured": measured(-3.2, 4.1)}),
                 "loss_activation_mismatch")
    assert alert.severity == "critical"
    assert alert.evidence["head_source"] == "measured"


def test_softmax_applied_outside_the_head_layer():
    assert head("linear", 4, "categorical_crossentropy", False,
                **{"class": "Dense",
                   "measured": measured(0.01, 0.9, True)}) == []


def test_relu_head_within_unit_range_is_only_a_warning():
    alert = only(head("relu", 1, "binary_crossentropy", False,
                      **{"class": "Dense", "measured": measured(0.0, 0.7)}),
                 "loss_activation_mismatch")
    assert alert.severity == "warning"


def _with_targets(activation, units, loss, targets, **out):
    facts = json.loads(json.dumps(FACTS))
    facts["outputs"] = [dict({"layer": "out", "output": "out",
                              "activation": activation, "units": units,
                              "class": "Dense"}, **out)]
    facts["losses"] = [{"output": "out", "name": loss, "from_logits": False,
                        "weight": None}]
    facts["targets"] = [dict({"output": "out"}, **targets)]
    return facts


def multi_hot(units=5):
    return {"integer_valued": True, "one_hot": False, "multi_hot": True,
            "min": 0.0, "max": 1.0, "mean": 0.35, "distinct": 2,
            "shape": [units],
            "classes": {str(c): 80 + c for c in range(units)}}


def test_softmax_on_multi_hot_targets():
    alert = only(diagnosis.static_checks(_with_targets(
        "softmax", 5, "categorical_crossentropy", multi_hot())),
        "loss_activation_mismatch")
    assert alert.severity == "warning"
    assert "multi-label" in alert.message
    assert "sigmoid" in alert.advice and "binary_crossentropy" in \
        alert.advice
    assert diagnosis.static_checks(_with_targets(
        "sigmoid", 5, "binary_crossentropy", multi_hot())) == []


def test_sigmoid_with_categorical_crossentropy_on_multi_hot():
    alert = only(diagnosis.static_checks(_with_targets(
        "sigmoid", 5, "categorical_crossentropy", multi_hot())),
        "loss_activation_mismatch")
    assert "binary_crossentropy" in alert.advice


def regression_targets(low, high):
    return {"integer_valued": False, "one_hot": False, "multi_hot": False,
            "min": low, "max": high, "mean": (low + high) / 2,
            "std": (high - low) / 4, "distinct": 256, "classes": None,
            "shape": [1]}


@pytest.mark.parametrize("activation,low,high,severity", [
    ("sigmoid", 3.0, 103.0, "critical"),
    ("relu", -50.0, -2.0, "critical"),
    ("tanh", -0.5, 1.8, "warning"),
    ("sigmoid", 0.0, 1.6, "warning"),
])
def test_bounded_head_on_targets_outside_its_range(activation, low, high,
                                                   severity):
    alert = only(diagnosis.static_checks(_with_targets(
        activation, 1, "mse", regression_targets(low, high))),
        "loss_activation_mismatch")
    assert alert.severity == severity
    assert "activation=None" in alert.advice


@pytest.mark.parametrize("activation,low,high", [
    ("linear", 3.0, 103.0), ("sigmoid", 0.0, 1.0), ("relu", 0.0, 50.0),
    ("tanh", -0.9, 0.9)])
def test_heads_that_reach_their_targets(activation, low, high):
    assert diagnosis.static_checks(_with_targets(
        activation, 1, "mse", regression_targets(low, high))) == []


def test_each_output_is_judged_with_its_own_loss():
    facts = json.loads(json.dumps(FACTS))
    facts["outputs"] = [
        {"layer": "cls", "output": "cls", "class": "Dense",
         "activation": "sigmoid", "units": 1},
        {"layer": "reg", "output": "reg", "class": "Dense",
         "activation": "linear", "units": 1}]
    facts["losses"] = [
        {"output": "reg", "name": "mse", "from_logits": None, "weight": 0.5},
        {"output": "cls", "name": "binary_crossentropy", "from_logits": False,
         "weight": 1.0}]
    facts["loss"] = {"name": "mse", "from_logits": None}
    assert diagnosis.static_checks(facts) == []
    facts["losses"][0]["name"] = "binary_crossentropy"  # reg really gets BCE
    facts["losses"][0]["from_logits"] = False
    alert = only(diagnosis.static_checks(facts), "loss_activation_mismatch")
    assert alert.layer == "reg"


def test_an_old_run_with_one_loss_and_two_outputs_is_not_cross_paired():
    facts = json.loads(json.dumps(FACTS))
    facts["outputs"] = [
        {"layer": "cls", "activation": "sigmoid", "units": 1},
        {"layer": "reg", "activation": "linear", "units": 1}]
    assert diagnosis.static_checks(facts) == []


def test_mse_on_class_labels_in_a_stalled_run():
    from tests.diagnosis_runs import healthy, stuck

    s = stuck(healthy(), level=0.25)
    s.facts = _with_targets("sigmoid", 1, "mse",
                            binary_targets(0.5, name="out"))
    s.facts["steps_per_epoch"] = 30
    alert = find(diagnosis.diagnose(s), "loss_activation_mismatch")
    assert alert.severity == "warning"
    assert "binary_crossentropy" in alert.advice
    s = healthy()  # the same loss in a run that learns: nothing
    s.facts = _with_targets("sigmoid", 1, "mse",
                            binary_targets(0.5, name="out"))
    s.epochs["loss"].values = np.linspace(0.25, 0.08, 20)
    s.epochs["val_loss"].values = np.linspace(0.25, 0.1, 20)
    s.step_scalars["step/loss"].values = np.linspace(0.25, 0.08, 60)
    assert "loss_activation_mismatch" not in kinds(diagnosis.diagnose(s))


def test_integer_counts_with_mse_are_values_not_classes():
    counts = {"integer_valued": True, "one_hot": False, "multi_hot": False,
              "min": 0.0, "max": 11.0, "mean": 1.8, "std": 1.9,
              "distinct": 10, "classes": {"0": 75, "1": 55, "2": 60},
              "shape": [1]}
    facts = _with_targets("softplus", 1, "mse", counts)
    assert diagnosis.static_checks(facts) == []
    assert np.isclose(diagnosis.view.RunView(
        diagnosis.RunSeries(facts=facts), diagnosis.Thresholds()
    ).chance_loss, 1.9 ** 2)


def test_regression_targets_far_from_unit_scale():
    from tests.diagnosis_runs import healthy, stuck

    prices = dict(regression_targets(50000.0, 450000.0), mean=250000.0,
                  std=60000.0)
    facts = _with_targets("linear", 1, "mse", prices)
    alert = only(diagnosis.static_checks(facts), "unscaled_inputs")
    assert alert.layer == "targets of out" and alert.severity == "info"
    assert "(y - y.mean()) / y.std()" in alert.advice
    s = stuck(healthy(), level=6e10)
    s.facts = facts
    alert = find(diagnosis.diagnose(s), "unscaled_inputs")
    assert alert.severity == "warning"
    assert diagnosis.static_checks(_with_targets(
        "linear", 1, "mse", regression_targets(-3.0, 3.0))) == []
