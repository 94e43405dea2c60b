"""Reading runs back (reader.py, vector_columns.py) where a later fit
into the same run writes other columns: each vector record takes the
columns of its fit's facts (CONTRACTS.md B "columns"), and each matrix is
built over the union of the columns, on both data paths."""

import math
import os

import numpy as np
import pytest
from tensorboard import context

from tensorboard_plugin_trainhealth import metadata as md
from tensorboard_plugin_trainhealth import reader
from tensorboard_plugin_trainhealth.writer import SummaryWriter

from tests import providers
from tests import wsgi_client
from tests.wsgi_client import get_json, run_url

HEAD = [{"name": "head/kernel", "layer": "head"},
        {"name": "head/bias", "layer": "head"}]
BASE = [{"name": "base/kernel", "layer": "base"},
        {"name": "base/bias", "layer": "base"}]
RELU_1 = [{"name": "head", "activation": "relu"}]
RELU_2 = [{"name": "base", "activation": "relu"},
          {"name": "head", "activation": "relu"}]


def _fit(run_dir, first_step, steps, variables, relus, with_columns=True):
    """One fit's records, as the callback writes them: its facts at its
    first step (naming its columns), then a record per step. Gradient norm
    of variable i at step s: 100 * i + s; dead fraction of layer i: i."""
    writer = SummaryWriter(run_dir)
    try:
        facts = {"loss": "mean_squared_error"}
        if with_columns:
            facts["columns"] = {md.VARIABLE_GRAD_NORM: variables,
                                md.LAYER_DEAD_FRACTION: relus}
        writer.json(md.RUN_FACTS, first_step, facts)
        for step in range(first_step, first_step + steps):
            writer.scalar(md.STEP_LOSS, step, 1.0 / (1 + step))
            writer.vector(md.VARIABLE_GRAD_NORM, step,
                          [100 * i + step for i in range(len(variables))],
                          variables)
            writer.vector(md.LAYER_DEAD_FRACTION, step,
                          [float(i) for i in range(len(relus))], relus)
    finally:
        writer.close()


def _two_phases(run_dir, with_columns=True):
    # Fine-tuning: only the head trains first, then the base too (its
    # variables come first in the model).
    _fit(run_dir, 0, 10, HEAD, RELU_1, with_columns)
    _fit(run_dir, 10, 10, BASE + HEAD, RELU_2, with_columns)


@pytest.fixture(scope="module")
def phased_logdir(tmp_path_factory):
    root = tmp_path_factory.mktemp("phases")
    _two_phases(str(root / "finetune"))
    _two_phases(str(root / "old_run"), with_columns=False)
    return str(root)


def test_each_fit_s_records_take_its_columns(phased_logdir):
    ctx = context.RequestContext()
    for provider in providers.both(phased_logdir):
        series = reader.read_run(provider, ctx, "", "finetune")
        assert not series.problems, series.problems
        grads = series.matrices[md.VARIABLE_GRAD_NORM]
        # The union, in the order first seen.
        assert grads.names == ["head/kernel", "head/bias", "base/kernel",
                               "base/bias"]
        assert list(grads.steps) == list(range(20))
        first, second = grads.values[:10], grads.values[10:]
        steps = np.arange(10)
        np.testing.assert_array_equal(first[:, 0], steps)
        np.testing.assert_array_equal(first[:, 1], 100 + steps)
        assert np.isnan(first[:, 2:]).all()  # the base was frozen
        # Second fit: base/kernel, base/bias, head/kernel, head/bias.
        np.testing.assert_array_equal(second[:, 2], 10 + steps)
        np.testing.assert_array_equal(second[:, 3], 110 + steps)
        np.testing.assert_array_equal(second[:, 0], 210 + steps)
        np.testing.assert_array_equal(second[:, 1], 310 + steps)
        dead = series.matrices[md.LAYER_DEAD_FRACTION]
        assert dead.names == ["head", "base"]
        np.testing.assert_array_equal(dead.values[0], [0.0, math.nan])
        np.testing.assert_array_equal(dead.values[15], [1.0, 0.0])


def test_both_phases_are_served(phased_logdir):
    for provider in providers.both(phased_logdir):
        client, _ = wsgi_client.make_client(phased_logdir, provider)
        body = get_json(client, run_url("/run", "finetune"))
        assert not body["problems"]
        assert {layer["name"] for layer in body["layers"]} == {"head",
                                                               "base"}
        heatmap = get_json(client, run_url("/heatmap", "finetune",
                                           signal="grad_norm"))
        assert [r["name"] for r in heatmap["rows"]] == ["head", "base"]
        assert heatmap["steps"] == list(range(20))
        head, base = heatmap["values"]
        assert head[0] == 100.0  # sqrt(0^2 + 100^2)
        assert base[:10] == ["NaN"] * 10
        assert base[10] == pytest.approx(math.hypot(10, 110), rel=1e-6)


def test_a_run_without_columns_in_its_facts_keeps_the_metadata_ones(
        phased_logdir):
    # Written before facts named their columns: the tag's metadata columns
    # (the first fit's) place the records they fit; the others are skipped,
    # and said so.
    ctx = context.RequestContext()
    for provider in providers.both(phased_logdir):
        series = reader.read_run(provider, ctx, "", "old_run")
        grads = series.matrices[md.VARIABLE_GRAD_NORM]
        assert grads.names == ["head/kernel", "head/bias"]
        assert list(grads.steps) == list(range(10))
        assert ("variables/grad_norm: 10 records matched no column list and "
                "were skipped") in series.problems


def test_columns_of_the_same_name_stay_apart(tmp_path):
    # Two variables named alike (sublayers named by their parent only)
    # are two columns, not one.
    run_dir = str(tmp_path / "run")
    twice = [{"name": "block/kernel", "layer": "block"},
             {"name": "block/kernel", "layer": "block"}]
    _fit(run_dir, 0, 3, twice, RELU_1)
    series = reader.read_run(reader.open_logdir(str(tmp_path)),
                             context.RequestContext(), "", "run")
    grads = series.matrices[md.VARIABLE_GRAD_NORM]
    assert grads.names == ["block/kernel", "block/kernel"]
    np.testing.assert_array_equal(grads.values[2], [2.0, 102.0])


def test_fine_tuning_with_two_real_fits(tmp_path):
    """Freeze a base, fit, unfreeze, recompile, fit: both phases' gradient
    records are read (once the callback names its columns in its facts)."""
    keras = pytest.importorskip("keras")
    from tensorboard_plugin_trainhealth import TrainHealthCallback

    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype("float32")
    y = (x.sum(axis=1, keepdims=True) > 0).astype("float32")
    base = keras.layers.Dense(8, activation="relu", name="base")
    model = keras.Sequential([keras.Input((4,)), base,
                              keras.layers.Dense(1, activation="sigmoid",
                                                 name="head")])
    log_dir = str(tmp_path / "run")
    base.trainable = False
    model.compile("adam", "binary_crossentropy")
    model.fit(x, y, epochs=1, batch_size=16, verbose=0, callbacks=[
        TrainHealthCallback(log_dir, every_n_steps=1, verbose=0)])
    base.trainable = True
    model.compile(keras.optimizers.Adam(1e-4), "binary_crossentropy")
    model.fit(x, y, epochs=1, batch_size=16, verbose=0, callbacks=[
        TrainHealthCallback(log_dir, every_n_steps=1, verbose=0)])
    series = reader.read_run(reader.open_logdir(str(tmp_path)),
                             context.RequestContext(), "", "run")
    if "columns" not in series.facts:
        pytest.skip("the callback does not name its columns in its facts "
                    "yet (CONTRACTS.md B)")
    grads = series.matrices[md.VARIABLE_GRAD_NORM]
    assert not [p for p in series.problems if "matched no column" in p]
    base_columns = [i for i, c in enumerate(grads.columns)
                    if c.get("layer") == "base"]
    assert base_columns, grads.names
    trained = np.isfinite(grads.values[:, base_columns]).all(axis=1)
    # The first fit's records hold no base gradient, the second's do.
    assert 0 < trained.sum() < len(trained)
