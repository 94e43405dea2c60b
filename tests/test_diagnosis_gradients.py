"""Exploding and vanishing gradients."""

import numpy as np

from tensorboard_plugin_trainhealth import diagnosis
from tensorboard_plugin_trainhealth import metadata
from tests.diagnosis_runs import STEPS, find, healthy, kinds, stuck

GRAD = metadata.VARIABLE_GRAD_NORM


def test_exploding_gradients_against_own_history():
    s = stuck(healthy())
    g = s.step_scalars[metadata.STEP_GRAD_NORM]
    g.values = np.where(STEPS >= 250, g.values * 500, g.values)
    alert = find(diagnosis.diagnose(s), "exploding_gradients")
    assert alert.severity == "warning"
    assert (alert.first_step, alert.last_step) == (250, 590)
    assert alert.evidence["history"]["growth"] > 100
    assert "clipnorm" in alert.advice and "lower the learning rate" in \
        alert.advice
    assert "normalize the inputs" not in alert.advice  # inputs are scaled
    g.values = np.where(STEPS >= 250, g.values * 100, g.values)
    assert find(diagnosis.diagnose(s),
                "exploding_gradients").severity == "critical"


def test_gradient_growth_in_a_learning_run_is_information():
    s = healthy()
    g = s.step_scalars[metadata.STEP_GRAD_NORM]
    g.values = np.where(STEPS >= 250, g.values * 500, g.values)
    alerts = diagnosis.diagnose(s)
    assert find(alerts, "exploding_gradients").severity == "info"
    assert diagnosis.run_status(alerts) == "ok"


def test_gradient_spike_is_not_explosion():
    s = stuck(healthy())
    g = s.step_scalars[metadata.STEP_GRAD_NORM]
    g.values = g.values.copy()
    g.values[[20, 40]] *= 1000
    assert "exploding_gradients" not in kinds(diagnosis.diagnose(s))


def test_explosion_that_ended_is_resolved():
    s = stuck(healthy())
    g = s.step_scalars[metadata.STEP_GRAD_NORM]
    g.values = np.where((STEPS >= 100) & (STEPS < 200), g.values * 500,
                        g.values)
    alert = find(diagnosis.diagnose(s), "exploding_gradients")
    assert alert.resolved_step == 200
    assert alert.recovered is False  # the loss is still at chance
    assert diagnosis.run_status(diagnosis.diagnose(s)) == "warning"


def test_large_but_stable_gradients_are_not_explosion():
    s = stuck(healthy())
    s.step_scalars[metadata.STEP_GRAD_NORM].values *= 1e4  # unscaled target
    assert "exploding_gradients" not in kinds(diagnosis.diagnose(s))


def test_vanishing_gradients_across_layers():
    s = stuck(healthy())
    grads = s.matrices[GRAD].values.copy()
    grads[:, 0] = 1e-7  # first kernel: per-element RMS ~3e-9
    s.matrices[GRAD].values = grads
    alert = find(diagnosis.diagnose(s), "vanishing_gradients")
    assert alert.first_step == 0 and alert.layer == "dense"
    assert alert.severity == "warning"
    depth = alert.evidence["depth"]
    assert depth["first_layer"] == "dense" and depth["last_layer"] == "dense_2"
    assert depth["first_to_last_rms_ratio"] < 1e-3
    assert "tanh" in alert.advice and "he_normal" in alert.advice


def test_embedding_tables_are_not_the_first_layer():
    # Only a batch's token rows get a gradient: a tiny per-element RMS.
    s = stuck(healthy())
    m = s.matrices[GRAD]
    m.columns[0] = {"name": "embedding/embeddings", "layer": "embedding",
                    "shape": [20000, 64]}
    m.values = m.values.copy()
    m.values[:, 0] = 1e-4
    assert "vanishing_gradients" not in kinds(diagnosis.diagnose(s))


def test_exploding_gradients_across_layers():
    s = stuck(healthy())
    grads = s.matrices[GRAD].values.copy()
    grads[STEPS >= 200, 0] = 1e4
    s.matrices[GRAD].values = grads
    alert = find(diagnosis.diagnose(s), "exploding_gradients")
    assert alert.first_step == 200
    assert alert.evidence["depth"]["first_to_last_rms_ratio"] > 1e3


def test_vanishing_gradients_against_own_history():
    s = stuck(healthy())
    g = s.step_scalars[metadata.STEP_GRAD_NORM]
    g.values = np.where(STEPS >= 150, g.values * 1e-5, g.values)
    alert = find(diagnosis.diagnose(s), "vanishing_gradients")
    assert alert.first_step == 150
    assert alert.evidence["history"]["collapse"] > 1e3


def test_collapsed_gradients_of_a_converged_model_are_fine():
    s = healthy()
    g = s.step_scalars[metadata.STEP_GRAD_NORM]
    g.values = np.where(STEPS >= 150, g.values * 1e-5, g.values)
    loss = s.step_scalars[metadata.STEP_LOSS]
    loss.values = np.where(STEPS >= 150, 1e-4, loss.values)
    assert "vanishing_gradients" not in kinds(diagnosis.diagnose(s))


def test_variable_layer_falls_back_to_name():
    s = stuck(healthy())
    for col in s.matrices[GRAD].columns:
        col.pop("layer")
        col["name"] = "sequential/" + col["name"]
    grads = s.matrices[GRAD].values.copy()
    grads[:, 0] = 1e-7
    s.matrices[GRAD].values = grads
    alert = find(diagnosis.diagnose(s), "vanishing_gradients")
    assert alert.layer == "sequential/dense"
