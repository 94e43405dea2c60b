"""The statistics of the probe batch's arrays (RUN_FACTS "inputs" and
"targets"), on arrays whose values are known."""

import numpy as np

from tensorboard_plugin_trainhealth import array_facts


def test_float_inputs_are_described_exactly():
    # Feature 0 spreads 0..3 (std sqrt(1.25)), feature 1 is constant.
    a = np.array([[0.0, 5.0], [1.0, 5.0], [2.0, 5.0], [3.0, 5.0]],
                 dtype="float32")
    facts = array_facts.array_statistics("x", a)
    assert facts["samples"] == 4 and facts["shape"] == [2]
    assert facts["dtype"] == "float32"
    assert facts["nonfinite_fraction"] == 0.0
    assert (facts["min"], facts["max"], facts["abs_max"]) == (0.0, 5.0, 5.0)
    assert facts["mean"] == (0 + 1 + 2 + 3 + 4 * 5) / 8
    assert np.isclose(facts["std"], np.std(a.astype(np.float64)), rtol=1e-12)
    assert np.isclose(facts["max_feature_std"], np.sqrt(1.25), rtol=1e-12)


def test_non_finite_values_are_counted_and_left_out_of_the_rest():
    a = np.array([[np.nan, -4.0], [1.0, np.inf], [3.0, 2.0], [5.0, 2.0]])
    facts = array_facts.array_statistics("x", a)
    assert facts["nonfinite_fraction"] == 2 / 8
    assert (facts["min"], facts["max"], facts["abs_max"]) == (-4.0, 5.0, 5.0)
    finite = np.array([-4.0, 1.0, 3.0, 2.0, 5.0, 2.0])
    assert np.isclose(facts["mean"], finite.mean())
    assert np.isclose(facts["std"], finite.std())
    # Feature 0 over its finite samples 1, 3, 5; feature 1 over -4, 2, 2.
    assert np.isclose(facts["max_feature_std"],
                      max(np.std([1.0, 3.0, 5.0]), np.std([-4.0, 2.0, 2.0])))


def test_an_all_nan_array_says_so_and_nothing_else():
    facts = array_facts.array_statistics("x", np.full((3, 2), np.nan))
    assert facts["nonfinite_fraction"] == 1.0
    assert "mean" not in facts and "max_feature_std" not in facts


def test_integer_and_boolean_arrays():
    tokens = np.array([[1, 20000], [7, 3]], dtype="int32")
    facts = array_facts.array_statistics("tokens", tokens)
    assert (facts["min"], facts["max"], facts["abs_max"]) == (1.0, 20000.0,
                                                              20000.0)
    assert facts["mean"] == (1 + 20000 + 7 + 3) / 4
    assert facts["nonfinite_fraction"] == 0.0
    mask = np.array([[True, False], [True, True]])
    facts = array_facts.array_statistics("mask", mask)
    assert (facts["min"], facts["max"], facts["mean"]) == (0.0, 1.0, 0.75)
    assert facts["max_feature_std"] == 0.5
