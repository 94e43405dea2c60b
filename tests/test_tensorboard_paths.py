"""The plugin on TensorBoard's other paths: experiment-id routing, many
nested runs, and a logdir that is not a local path.

The logdir in the last test is TensorFlow's in-memory file system
(`ram://`), reached through TensorBoard's own file-system layer: the callback
writes there and the plugin reads from there, which only works if neither
opens files itself. (Remote stores such as gs:// or s3:// go through the same
layer but cannot be reached offline.)
"""

import json
import urllib.parse

import keras
import numpy as np
import pytest

from tensorboard_plugin_trainhealth import TrainHealthCallback
from tensorboard_plugin_trainhealth import metadata as md
from tensorboard_plugin_trainhealth import writer as writer_lib
from tests import wsgi_client

PLUGIN = "/data/plugin/trainhealth"


def _client(logdir):
    return wsgi_client.make_client(logdir)[0]


def _json(client, path):
    response = client.get(path)
    assert response.status_code == 200, response.get_data(as_text=True)
    return json.loads(response.get_data(as_text=True))


def _write_tiny_run(run_dir, dead):
    w = writer_lib.SummaryWriter(run_dir)
    for step in range(4):
        w.vector(md.LAYER_DEAD_FRACTION, step, [dead],
                 [{"name": "dense", "activation": "relu", "is_output": False}])
    w.close()


def test_experiment_id_routing_serves_the_same_data(tmp_path):
    _write_tiny_run(str(tmp_path / "run"), 0.25)
    client = _client(str(tmp_path))
    plain = _json(client, PLUGIN + "/runs")
    routed = _json(client, "/experiment/some-experiment" + PLUGIN + "/runs")
    assert [r["run"] for r in plain["runs"]] == ["run"]
    assert routed["runs"] == plain["runs"]
    heatmap = _json(client, "/experiment/some-experiment" + PLUGIN
                    + "/heatmap?run=run&signal=dead_fraction")
    assert heatmap["values"] == [[0.25, 0.25, 0.25, 0.25]]
    script = client.get("/experiment/some-experiment" + PLUGIN + "/index.js")
    assert script.status_code == 200


def test_hundreds_of_runs_in_nested_folders(tmp_path):
    names = ["team_%d/sweep_%02d/trial_%d" % (t, s, i)
             for t in range(2) for s in range(10) for i in range(10)]
    for i, name in enumerate(names):
        _write_tiny_run(str(tmp_path / name), (i % 5) / 4.0)
    client = _client(str(tmp_path))
    runs = _json(client, PLUGIN + "/runs")["runs"]
    assert sorted(r["run"] for r in runs) == sorted(names)
    # A deep run is addressed by its full name.
    name = names[-1]
    heatmap = _json(client, PLUGIN + "/heatmap?" + urllib.parse.urlencode(
        {"run": name, "signal": "dead_fraction"}))
    assert heatmap["values"] == [[(199 % 5) / 4.0] * 4]
    assert _json(client, PLUGIN + "/run?" + urllib.parse.urlencode(
        {"run": name}))["run"] == name


def test_callback_and_plugin_on_a_non_local_logdir():
    pytest.importorskip("tensorflow")  # the ram:// file system is TF's
    if keras.backend.backend() != "tensorflow":
        pytest.skip("ram:// lives in TensorFlow's process-local file system")
    logdir = "ram://trainhealth-test-logs"
    rng = np.random.default_rng(0)
    x = rng.normal(size=(128, 4)).astype("float32")
    y = (x.sum(axis=1) > 0).astype("float32")
    model = keras.Sequential([keras.Input((4,)),
                              keras.layers.Dense(8, activation="relu",
                                                 name="hidden"),
                              keras.layers.Dense(1, activation="sigmoid",
                                                 name="head")])
    model.compile("adam", "binary_crossentropy")
    cb = TrainHealthCallback(logdir + "/run1", every_n_steps=1, verbose=0)
    model.fit(x, y, epochs=2, batch_size=32, verbose=0, callbacks=[cb])

    client = _client(logdir)
    assert [r["run"] for r in _json(client, PLUGIN + "/runs")["runs"]] == ["run1"]
    heatmap = _json(client, PLUGIN + "/heatmap?run=run1&signal=grad_norm")
    assert [row["name"] for row in heatmap["rows"]] == ["hidden", "head"]
    assert len(heatmap["steps"]) == len(
        cb.series.matrices[md.VARIABLE_GRAD_NORM].steps) == 8
