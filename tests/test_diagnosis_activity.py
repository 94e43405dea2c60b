"""Dead ReLUs and saturation: onset, severity by impact on learning,
recovery, messages that their evidence does not contradict, advice."""

import numpy as np
import pytest

from tensorboard_plugin_trainhealth import diagnosis
from tensorboard_plugin_trainhealth import metadata
from tests.diagnosis_runs import (
    STEPS, find, healthy, kinds, only, set_column, stuck)

DEAD, SAT = metadata.LAYER_DEAD_FRACTION, metadata.LAYER_SATURATION


def test_dead_relu_in_a_stuck_run_is_a_warning_from_its_onset():
    s = stuck(healthy())
    set_column(s, DEAD, 0, np.where(STEPS >= 340, 0.62, 0.1))
    alert = find(diagnosis.diagnose(s), "dead_relu")
    assert alert.severity == "warning"
    assert alert.layer == "dense"
    assert (alert.first_step, alert.last_step) == (340, 590)
    assert alert.resolved_step is None
    assert alert.evidence["at_onset"] == pytest.approx(0.62)
    assert alert.message.startswith(
        "dense: 62% of units dead at step 340 (latest 62%, peak 62%)")
    # Died mid-training: large updates did it.
    assert "lower the learning rate 10x" in alert.advice.lower()
    assert "0.0001" in alert.advice
    assert "he_normal" in alert.advice and "LeakyReLU" in alert.advice


def test_dead_relu_in_a_learning_run_is_information():
    s = healthy()  # the loss keeps falling
    set_column(s, DEAD, 0, np.where(STEPS >= 340, 0.62, 0.1))
    alert = only(diagnosis.diagnose(s), "dead_relu")
    assert alert.severity == "info"
    assert alert.evidence["learning"] == "learning"
    assert diagnosis.run_status(diagnosis.diagnose(s)) == "ok"


def test_a_whole_dead_layer_is_critical_even_while_the_loss_falls():
    s = healthy()
    set_column(s, DEAD, 0, np.clip((STEPS - 200) / 250, 0.1, 0.97))
    alert = only(diagnosis.diagnose(s), "dead_relu")
    assert alert.evidence["spreading"] is True
    assert alert.severity == "critical"  # the layer passes nothing


def test_dead_units_spreading_to_more_layers_warn_in_a_learning_run():
    s = healthy()
    s.matrices[DEAD].columns[1]["activation"] = "relu"
    set_column(s, DEAD, 0, 0.6)
    set_column(s, DEAD, 1, np.where(STEPS >= 300, 0.6, 0.0))
    alerts = diagnosis.diagnose(s)
    first = [a for a in alerts if a.layer == "dense"][0]
    assert first.evidence["spreading"] is True
    assert first.severity == "warning"


def test_dead_relu_critical_when_the_layer_is_gone_and_learning_stops():
    s = stuck(healthy())
    set_column(s, DEAD, 0, np.where(STEPS >= 40, 1.0, 0.1))
    alert = find(diagnosis.diagnose(s), "dead_relu")
    assert alert.severity == "critical"
    assert alert.first_step == 40
    assert alert.evidence["critical_since_step"] == 40


def test_message_labels_its_figures_and_the_step_the_condition_began():
    s = stuck(healthy())
    dead = np.where(STEPS >= 20, 0.59, 0.1)
    dead[STEPS >= 120] = 0.97
    set_column(s, DEAD, 0, dead)
    alert = find(diagnosis.diagnose(s), "dead_relu")
    assert alert.first_step == 20
    assert alert.evidence["critical_since_step"] == 120
    # The 59% is the figure at step 20; the 97% is labelled.
    assert "59% of units dead at step 20" in alert.message
    assert "latest 97%" in alert.message and "peak 97%" in alert.message


@pytest.mark.parametrize("records", [1, 2])
def test_dead_relu_blip_is_not_reported(records):
    s = stuck(healthy())
    dead = np.full(len(STEPS), 0.1)
    dead[30:30 + records] = 1.0
    set_column(s, DEAD, 0, dead)
    assert "dead_relu" not in kinds(diagnosis.diagnose(s))


def test_dead_relu_that_recovered_is_resolved_and_recovered():
    s = healthy()
    set_column(s, DEAD, 0, np.where((STEPS >= 100) & (STEPS < 200), 0.7,
                                    0.1))
    alert = only(diagnosis.diagnose(s), "dead_relu")
    assert alert.first_step == 100 and alert.resolved_step == 200
    assert alert.recovered is True
    assert "back under 50% from step 200" in alert.message
    assert diagnosis.run_status(diagnosis.diagnose(s)) == "ok"


def test_falling_fraction_is_recovering_not_a_warning():
    # 75% -> 55% while still above the warning level, in a stuck run.
    s = stuck(healthy())
    set_column(s, DEAD, 0, np.linspace(0.75, 0.55, len(STEPS)))
    alert = find(diagnosis.diagnose(s), "dead_relu")
    assert alert.severity == "info"
    assert alert.evidence["falling"] is True
    assert "recovering" in alert.message
    assert "do not recover" not in alert.message + alert.advice


def test_units_dead_from_the_first_record_are_not_blamed_on_the_rate():
    s = stuck(healthy())
    set_column(s, DEAD, 0, 0.95)
    alert = find(diagnosis.diagnose(s), "dead_relu")
    assert "learning rate" not in alert.advice.lower()
    assert "bias_initializer" in alert.advice


def test_dead_output_layer_is_not_judged():
    s = stuck(healthy())
    set_column(s, DEAD, 2, 1.0)
    for col in s.matrices[DEAD].columns:
        col.pop("is_output")  # ...also when only the facts say which
    assert "dead_relu" not in kinds(diagnosis.diagnose(s))


def test_saturation_of_a_hidden_layer():
    s = stuck(healthy())
    set_column(s, SAT, 1, np.where(STEPS >= 100, 0.75, 0.1))
    alert = find(diagnosis.diagnose(s), "saturation")
    assert alert.severity == "warning" and alert.layer == "dense_1"
    assert alert.first_step == 100
    assert "tanh" in alert.message and "75%" in alert.message
    assert "BatchNormalization" in alert.advice
    assert "step 100" in alert.advice and "lower the learning rate" in \
        alert.advice  # began mid-run
    set_column(s, SAT, 1, 0.95)
    alert = find(diagnosis.diagnose(s), "saturation")
    assert alert.severity == "critical" and alert.first_step == 0


def test_saturation_advice_normalizes_only_unscaled_inputs():
    s = stuck(healthy())  # inputs within +-4.1
    set_column(s, SAT, 1, 0.95)
    alert = find(diagnosis.diagnose(s), "saturation")
    assert "normalize the inputs" not in alert.advice.lower()
    assert "initialization" in alert.advice
    s.facts["inputs"][0].update(abs_max=900.0, max=900.0, std=300.0)
    alert = find(diagnosis.diagnose(s), "saturation")
    assert "normalize the inputs" in alert.advice.lower()
    assert "900" in alert.advice


def test_saturated_hidden_sigmoid_in_a_learning_run_is_information():
    s = healthy()
    set_column(s, SAT, 1, 0.57)
    assert only(diagnosis.diagnose(s), "saturation").severity == "info"


def test_saturated_output_layer_is_not_judged():
    s = stuck(healthy())
    set_column(s, SAT, 2, 1.0)
    assert "saturation" not in kinds(diagnosis.diagnose(s))


def test_wide_hidden_softmax_is_not_saturation():
    s = stuck(healthy())
    s.matrices[SAT].columns[1] = {
        "name": "attn", "class": "Dense", "activation": "softmax",
        "is_output": False, "units": 128}
    set_column(s, SAT, 1, 0.99)
    assert "saturation" not in kinds(diagnosis.diagnose(s))


def test_zero_initialized_kernels_are_named_in_the_advice():
    s = stuck(healthy())
    set_column(s, DEAD, 0, 1.0)
    set_column(s, metadata.VARIABLE_WEIGHT_NORM, 0, 0.0)  # dense/kernel
    alert = find(diagnosis.diagnose(s), "dead_relu")
    assert "kernel_initializer='zeros'" in alert.advice
    assert "learning rate" not in alert.advice.lower()


def test_too_early_to_tell_a_warning_waits():
    s = stuck(healthy())
    set_column(s, DEAD, 0, 0.6)
    early = at_first_epoch(s)
    assert find(diagnosis.diagnose(early), "dead_relu").severity == "info"
    set_column(s, DEAD, 0, 0.97)  # a whole dead layer does not wait
    assert find(diagnosis.diagnose(at_first_epoch(s)),
                "dead_relu").severity == "critical"


def at_first_epoch(s):
    from tests.test_diagnosis_live import at_epoch

    return at_epoch(s, 0)
