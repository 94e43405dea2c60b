"""One incident, one primary alert, its consequences inside it."""

import numpy as np

from tensorboard_plugin_trainhealth import diagnosis
from tensorboard_plugin_trainhealth import metadata
from tensorboard_plugin_trainhealth.diagnosis import Alert, incidents
from tests.diagnosis_runs import (
    STEPS, every_kind, healthy, set_column, stuck)


def _nan_from(s, step):
    """NaN loss, gradients and weights from `step` on; every ReLU then
    reads dead and the update ratios explode."""
    late = STEPS >= step
    s.step_scalars[metadata.STEP_LOSS].values = np.where(
        late, np.nan, s.step_scalars[metadata.STEP_LOSS].values)
    for tag in (metadata.VARIABLE_GRAD_NORM, metadata.VARIABLE_WEIGHT_NORM):
        m = s.matrices[tag]
        m.values = np.where(late[:, None], np.nan, m.values)
    set_column(s, metadata.LAYER_DEAD_FRACTION, 0, np.where(late, 1.0, 0.1))
    m = s.matrices[metadata.VARIABLE_UPDATE_RATIO]
    m.values = np.where(late[:, None], 5.0, m.values)
    return s


def test_nan_input_explains_nan_weights_and_dead_relus():
    s = _nan_from(healthy(), 30)
    s.facts["inputs"][0]["nonfinite_fraction"] = 0.02
    alerts = diagnosis.diagnose(s)
    assert len(alerts) == 1, [a.to_dict() for a in alerts]
    primary = alerts[0]
    assert primary.kind == "unscaled_inputs"
    assert primary.severity == "critical"
    consequences = {c.kind for c in primary.consequences}
    assert {"non_finite", "dead_relu"} <= consequences
    d = primary.to_dict()
    assert {c["kind"] for c in d["consequences"]} == consequences
    assert all(set(c) == {"kind", "layer", "first_step", "message"}
               for c in d["consequences"])


def test_nan_in_the_loss_explains_the_dead_relu_critical():
    # A log(0) in a custom loss: the loss goes NaN first, activations do
    # not; the dead-ReLU reading that follows is a consequence.
    s = _nan_from(healthy(), 30)
    alerts = diagnosis.diagnose(s)
    assert alerts[0].kind == "non_finite"
    assert alerts[0].evidence["signal"] == "loss"
    assert "dead_relu" in [c.kind for c in alerts[0].consequences]
    assert "dead_relu" not in [a.kind for a in alerts]
    assert "log(0)" in alerts[0].advice


def test_nan_that_began_in_the_loss_is_not_blamed_on_mildly_large_inputs():
    s = _nan_from(healthy(), 30)
    s.facts["inputs"][0].update(abs_max=300.0, max=300.0, std=20.0)
    alerts = diagnosis.diagnose(s)
    assert alerts[0].kind == "non_finite"
    assert "dead_relu" in [c.kind for c in alerts[0].consequences]
    assert "unscaled_inputs" in [a.kind for a in alerts]


def test_exploding_gradients_explain_the_dead_relus_they_cause():
    s = stuck(healthy())
    g = s.step_scalars[metadata.STEP_GRAD_NORM]
    g.values = np.where(STEPS >= 100, g.values * 500, g.values)
    set_column(s, metadata.LAYER_DEAD_FRACTION, 0,
               np.where(STEPS >= 130, 0.95, 0.1))
    alerts = diagnosis.diagnose(s)
    assert alerts[0].kind == "exploding_gradients"
    assert "dead_relu" in [c.kind for c in alerts[0].consequences]
    assert alerts[0].severity == "critical"  # from the dead layer
    # The loss sat at chance before the explosion: not its consequence.
    assert "stalled_loss" in [a.kind for a in alerts]


def test_a_dead_layer_explains_the_dead_layers_after_it():
    s = stuck(healthy())
    s.matrices[metadata.LAYER_DEAD_FRACTION].columns[1]["activation"] = \
        "relu"
    set_column(s, metadata.LAYER_DEAD_FRACTION, 0, 0.97)
    set_column(s, metadata.LAYER_DEAD_FRACTION, 1, 0.97)
    alerts = diagnosis.diagnose(s)
    primary = alerts[0]
    assert (primary.kind, primary.layer) == ("dead_relu", "dense")
    assert ("dead_relu", "dense_1") in [(c.kind, c.layer)
                                        for c in primary.consequences]


def test_a_cause_that_began_later_explains_nothing_before_it():
    late = Alert("learning_rate", "warning", None, 300, 500, {}, "", "")
    early = Alert("dead_relu", "warning", "dense", 100, 500, {}, "", "")
    assert not incidents.explains(late, early)
    assert incidents.explains(Alert("learning_rate", "warning", None, 50,
                                    500, {}, "", ""), early)


def test_a_recovered_cause_does_not_explain_what_outlasts_it():
    cause = Alert("learning_rate", "warning", None, 0, 90, {}, "", "",
                  resolved_step=100, recovered=True)
    lasting = Alert("stalled_loss", "warning", None, 0, 600, {}, "", "")
    assert not incidents.explains(cause, lasting)
    cause.recovered = False  # ended, but did lasting damage
    assert incidents.explains(cause, lasting)


def test_information_explains_no_warning():
    info = Alert("dead_relu", "info", "dense", 0, 600, {"falling": True},
                 "", "")
    stall = Alert("stalled_loss", "warning", None, 0, 600, {}, "", "")
    assert not incidents.explains(info, stall)


def test_tiny_inputs_explain_nothing():
    tiny = Alert("unscaled_inputs", "info", "x", None, None, {}, "",
                 "Input x is tiny")
    nan = Alert("non_finite", "critical", None, 30, 600,
                {"signal": "gradients"}, "", "")
    assert not incidents.explains(tiny, nan)


def test_the_incident_is_active_while_a_consequence_is():
    primary = Alert("learning_rate", "warning", None, 0, 100, {}, "", "",
                    resolved_step=110)
    stall = Alert("stalled_loss", "warning", None, 0, 600, {}, "", "")
    grouped = incidents.group([primary, stall])
    assert grouped == [primary]
    assert primary.resolved_step is None
    assert every_kind(grouped) == ["learning_rate", "stalled_loss"]
