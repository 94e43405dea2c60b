"""The /run and /heatmap answers (bodies.py, shaping.py) for runs whose
values are known (tests/logdir_fixtures.py), through TensorBoard's WSGI
app, and the shaping functions on their own."""

import base64
import json

import numpy as np
import pytest
from tensorboard import context as tb_context
from tensorboard import errors
from tensorboard.plugins import base_plugin

from tensorboard_plugin_trainhealth import bodies
from tensorboard_plugin_trainhealth import dashboard
from tensorboard_plugin_trainhealth import metadata
from tensorboard_plugin_trainhealth import query
from tensorboard_plugin_trainhealth import reader
from tensorboard_plugin_trainhealth import series as series_lib
from tensorboard_plugin_trainhealth import shaping
from tensorboard_plugin_trainhealth import signals
from tensorboard_plugin_trainhealth.jsonsafe import to_json

from tests.wsgi_client import get_json, run_url

HEATMAP_SIGNALS = [h["signal"] for h in signals.HEATMAPS]


# ---------------------------------------------------------------- /run


def test_run_returns_step_series_with_nonfinite_markers(plugin_client,
                                                        plugin_logdir):
    written = plugin_logdir[1]["mlp"]
    body = get_json(plugin_client, run_url("/run", "mlp"))
    grad = body["step_series"]["grad_norm_global"]
    assert grad["steps"] == list(range(written["steps"]))
    expected = [5.0] * written["steps"]
    expected[written["nan_step"]] = "NaN"
    expected[written["inf_step"]] = "Infinity"
    assert grad["values"] == expected
    assert body["step_series"]["loss"]["values"][:4] == [
        1.0, 0.5, 0.3333333, 0.25]
    assert body["step_series"]["learning_rate"]["values"][0] == 0.01
    assert body["downsampled"] is False
    # The writer's heartbeats are not a step series.
    assert not any(key.startswith("run/") for key in body["step_series"])


def test_run_returns_epochs_gaps_and_epoch_end_steps(plugin_client,
                                                     plugin_logdir):
    written = plugin_logdir[1]["mlp"]
    body = get_json(plugin_client, run_url("/run", "mlp"))
    assert body["epochs"]["loss"] == {"steps": [0, 1, 2],
                                      "values": written["loss"]}
    assert body["epochs"]["val_loss"]["values"] == written["val_loss"]
    assert body["gaps"]["loss"] == {"steps": [0, 1, 2],
                                    "values": [0.0, 0.25, 0.5],
                                    "ratio": [1.0, 1.5, 3.0]}
    assert body["epoch_end_step"] == {"steps": [0, 1, 2],
                                      "values": written["epoch_end_step"]}


def test_run_returns_layers_in_model_order_and_facts(plugin_client):
    body = get_json(plugin_client, run_url("/run", "mlp"))
    assert [layer["name"] for layer in body["layers"]] == [
        "dense", "dense_1", "gate"]
    assert body["layers"][0] == {"name": "dense", "class": "Dense",
                                 "activation": "relu", "is_output": False,
                                 "units": 8}
    assert [v["name"] for v in body["variables"]] == [
        "dense/kernel", "dense/bias", "dense_1/kernel", "dense_1/bias",
        "gate/kernel", "gate/bias"]
    assert body["facts"]["loss"] == "mean_squared_error"
    assert body["facts"]["every_n_steps"] == 1
    assert body["signals"]["dead_fraction"] == {
        "available": True, "records": 30, "scale": "linear"}
    assert body["signals"]["grad_norm"]["scale"] == "log"
    assert body["status"] in ("ok", "warning", "critical", "unknown")
    for alert in body["alerts"]:
        assert set(alert) >= {"kind", "severity", "layer", "first_step",
                              "last_step", "evidence", "advice", "message"}


def test_run_downsamples_step_series(plugin_client):
    body = get_json(plugin_client, run_url("/run", "mlp", max_steps=3))
    grad = body["step_series"]["grad_norm_global"]
    assert grad["steps"] == [0, 10, 20]
    assert grad["step_ends"] == [9, 19, 29]
    # NaN + Inf in the first bucket make it NaN; the others are exact.
    assert grad["values"] == ["NaN", 5.0, 5.0]
    assert body["downsampled"] is True


def test_run_step_range_restricts_step_series(plugin_client):
    body = get_json(plugin_client, run_url("/run", "mlp", start_step=10,
                                           end_step=19))
    grad = body["step_series"]["grad_norm_global"]
    assert grad["steps"] == list(range(10, 20))
    assert grad["values"] == [5.0] * 10
    assert body["step_range"] == [10, 19]
    assert body["extent"] == [0, 29]  # of the whole run
    # Epochs are per epoch, never cut.
    assert body["epochs"]["loss"]["steps"] == [0, 1, 2]
    only_start = get_json(plugin_client, run_url("/run", "mlp",
                                                 start_step=25))
    assert only_start["step_series"]["loss"]["steps"] == list(range(25, 30))
    assert only_start["step_range"] == [25, None]


def test_run_downsampling_keeps_each_buckets_min_and_max(plugin_client):
    body = get_json(plugin_client, run_url("/run", "mlp", max_steps=3))
    loss = body["step_series"]["loss"]
    # 1 / (1 + step) over steps 0-9, 10-19, 20-29, recorded as float32.
    assert loss["min"] == pytest.approx([1 / 10, 1 / 20, 1 / 30], rel=1e-6)
    assert loss["max"] == pytest.approx([1.0, 1 / 11, 1 / 21], rel=1e-6)
    grad = body["step_series"]["grad_norm_global"]
    # NaN and Inf in the first bucket: its bounds are NaN like its mean.
    assert grad["min"] == ["NaN", 5.0, 5.0]
    assert grad["max"] == ["NaN", 5.0, 5.0]
    whole = get_json(plugin_client, run_url("/run", "mlp"))
    assert "min" not in whole["step_series"]["loss"]


def test_broken_run_still_answers_with_problems(plugin_client):
    body = get_json(plugin_client, run_url("/run", "broken"))
    assert body["step_series"]["loss"]["values"] == [1.0]
    assert any("newer trainhealth" in p for p in body["problems"])
    assert body["signals"]["dead_fraction"]["available"] is False
    heatmap = get_json(plugin_client, run_url("/heatmap", "broken",
                                              signal="dead_fraction"))
    assert heatmap["available"] is False and heatmap["rows"] == []


def test_diagnosis_alerts_for_the_known_run(plugin_client):
    # dense_1 is dead for all 30 steps and dense's kernel gradient is NaN at
    # step 7: diagnosis must say so, and /runs must carry the status.
    body = get_json(plugin_client, run_url("/run", "mlp"))
    found = {(a["kind"], a["layer"]) for a in body["alerts"]}
    assert ("dead_relu", "dense_1") in found
    assert any(kind == "non_finite" for kind, _ in found)
    assert body["status"] == "critical"
    assert all(isinstance(a["message"], str) and a["message"]
               for a in body["alerts"])
    runs = {r["run"]: r for r in get_json(plugin_client, "/runs")["runs"]}
    assert runs["mlp"]["status"] == "critical"
    assert runs["mlp"]["alert_count"] == len(body["alerts"])


def test_alerts_carry_every_key_diagnosis_gives(plugin_client,
                                                plugin_logdir):
    """Contract A: /run serves Alert.to_dict() as it is (message,
    consequences, resolved_step, recovered included once diagnosis gives
    them), and the status is diagnosis.run_status."""
    from tensorboard_plugin_trainhealth import diagnosis

    series = reader.read_run(reader.open_logdir(plugin_logdir[0]),
                             tb_context.RequestContext(), "", "mlp")
    alerts = diagnosis.diagnose(series)
    expected = []
    for alert in alerts:
        entry = dict(alert.to_dict())
        entry.setdefault("message", alert.message)
        expected.append(json.loads(json.dumps(to_json(entry))))
    body = get_json(plugin_client, run_url("/run", "mlp"))
    assert body["alerts"] == expected and expected
    assert body["status"] == diagnosis.run_status(alerts)


# ---------------------------------------------------------------- /heatmap


def test_dead_fraction_heatmap(plugin_client, plugin_logdir):
    written = plugin_logdir[1]["mlp"]
    body = get_json(plugin_client, run_url("/heatmap", "mlp",
                                           signal="dead_fraction"))
    assert [r["name"] for r in body["rows"]] == ["dense", "dense_1"]
    assert body["steps"] == list(range(30))
    assert body["step_ends"] == body["steps"]
    assert body["values"] == [[0.0] * 30, [1.0] * 30]
    assert written["dead"] == [0.0, 1.0]
    assert body["scale"] == "linear"
    assert body["range"] == [0.0, 1.0]
    assert body["total_steps"] == 30
    assert body["downsampled"] is False


def test_saturation_heatmap(plugin_client):
    body = get_json(plugin_client, run_url("/heatmap", "mlp",
                                           signal="saturation"))
    assert [r["name"] for r in body["rows"]] == ["gate"]
    assert body["rows"][0]["activation"] == "sigmoid"
    assert body["values"] == [[0.5] * 30]


def test_grad_norm_heatmap_aggregates_variables_per_layer(plugin_client,
                                                          plugin_logdir):
    nan_step = plugin_logdir[1]["mlp"]["nan_step"]
    body = get_json(plugin_client, run_url("/heatmap", "mlp",
                                           signal="grad_norm"))
    assert [r["name"] for r in body["rows"]] == ["dense", "dense_1", "gate"]
    assert body["rows"][0]["variables"] == ["dense/kernel", "dense/bias"]
    first = [5.0] * 30  # sqrt(3^2 + 4^2)
    first[nan_step] = "NaN"
    assert body["values"] == [first, [0.0] * 30, [0.0] * 30]
    assert body["scale"] == "log"
    assert body["range"] == [5.0, 5.0]  # positive finite values only


def test_update_ratio_heatmap(plugin_client):
    body = get_json(plugin_client, run_url("/heatmap", "mlp",
                                           signal="update_ratio"))
    assert body["values"] == [[0.001] * 30] * 3


def test_heatmap_downsampling(plugin_client):
    body = get_json(plugin_client, run_url("/heatmap", "mlp",
                                           signal="grad_norm", max_steps=7))
    assert body["steps"] == [0, 4, 8, 12, 17, 21, 25]
    assert body["step_ends"] == [3, 7, 11, 16, 20, 24, 29]
    assert body["values"][0] == [5.0, "NaN", 5.0, 5.0, 5.0, 5.0, 5.0]
    assert body["values"][1] == [0.0] * 7
    assert body["downsampled"] is True and body["total_steps"] == 30


def test_default_downsampling_limit():
    assert bodies.DEFAULT_MAX_STEPS == 2000


def test_heatmap_step_range_at_full_resolution(plugin_client):
    body = get_json(plugin_client, run_url("/heatmap", "mlp",
                                           signal="grad_norm",
                                           start_step=5, end_step=14))
    assert body["steps"] == list(range(5, 15))
    assert body["total_steps"] == 10 and body["downsampled"] is False
    assert body["values"][0][2] == "NaN"  # step 7
    assert body["extent"] == [0, 29] and body["step_range"] == [5, 14]
    bucketed = get_json(plugin_client, run_url(
        "/heatmap", "mlp", signal="grad_norm", start_step=5, end_step=14,
        max_steps=5))
    assert bucketed["steps"] == [5, 7, 9, 11, 13]
    assert bucketed["step_ends"] == [6, 8, 10, 12, 14]
    assert bucketed["downsampled"] is True
    empty = get_json(plugin_client, run_url("/heatmap", "mlp",
                                            signal="grad_norm",
                                            start_step=1000))
    assert empty["steps"] == [] and empty["values"] == [[], [], []]


def test_heatmap_f32_format_matches_json(plugin_client):
    for signal in HEATMAP_SIGNALS:
        as_json = get_json(plugin_client, run_url(
            "/heatmap", "mlp", signal=signal, max_steps=7))
        packed = get_json(plugin_client, run_url(
            "/heatmap", "mlp", signal=signal, max_steps=7, format="f32"))
        assert "values" not in packed and packed["encoding"] == "f32"
        rows, cols = len(packed["rows"]), len(packed["steps"])
        matrix = np.frombuffer(base64.b64decode(packed["values_f32"]),
                               "<f4").reshape(rows, cols)
        expected = np.array([[float(v) for v in row]
                             for row in as_json["values"]], np.float32)
        np.testing.assert_array_equal(matrix, expected)  # NaN == NaN here
        for key in ("rows", "steps", "step_ends", "range", "total_steps"):
            assert packed[key] == as_json[key]


# ---------------------------------------------------------------- no HTTP


def test_answers_are_json_ready_without_http(plugin_logdir):
    board = dashboard.Dashboard(reader.open_logdir(plugin_logdir[0]))
    ctx = tb_context.RequestContext()
    body = json.loads(board.run(ctx, "", query.RunQuery(
        "mlp", bodies.DEFAULT_MAX_STEPS, None)).text)
    assert body["run"] == "mlp" and body["stale"] is False
    with pytest.raises(errors.NotFoundError):
        board.run(ctx, "", query.RunQuery("missing", 10, None))
    heatmap = json.loads(board.heatmap(ctx, "", query.HeatmapQuery(
        "mlp", "dead_fraction", bodies.DEFAULT_MAX_STEPS, None, "json")).text)
    assert heatmap["values"][1] == [1.0] * 30


def test_to_json_encodes_nonfinite_and_numpy():
    doc = {"a": float("nan"), "b": np.float32("inf"), "c": -np.inf,
           1: (np.int64(3), np.bool_(True)), "d": np.array([0.5, np.nan])}
    assert to_json(doc) == {
        "a": "NaN", "b": "Infinity", "c": "-Infinity", "1": [3, True],
        "d": [0.5, "NaN"]}


def _series_with_layers(lists, variables=()):
    """A RunSeries whose layer tags have these column lists (names)."""
    series = series_lib.RunSeries()
    for tag, names in zip(metadata.LAYER_TAGS, lists):
        series.matrices[tag] = series_lib.Matrix.empty(
            [{"name": n} for n in names])
    if variables:
        series.matrices[metadata.VARIABLE_GRAD_NORM] = \
            series_lib.Matrix.empty([{"name": v} for v in variables])
    return series


def _merged_by_insertion(sources):
    """The merge as specified, by list insertion (quadratic): from the
    longest list, each missing layer right after its predecessor in its
    own list (first when it has none)."""
    merged = []
    for columns in sorted(sources, key=len, reverse=True):
        previous = None
        for name in columns:
            if name not in merged:
                merged.insert(0 if previous is None
                              else merged.index(previous) + 1, name)
            previous = name
    return merged


def test_merged_layers_keep_model_order():
    series = _series_with_layers(
        [["conv", "dense", "dense_2"], ["gate", "out"]],
        variables=["conv/kernel", "dense/kernel", "dense_1/kernel",
                   "gate/kernel", "out/kernel"])
    # From the longest list (the variables' layers); dense_2 right after
    # dense, its predecessor in its own list.
    assert [c["name"] for c in shaping.merged_layers(series)] == [
        "conv", "dense", "dense_2", "dense_1", "gate", "out"]
    # A layer missing at the front of a shorter list goes first.
    series = _series_with_layers([["b", "c", "d"], ["a", "b"]])
    assert [c["name"] for c in shaping.merged_layers(series)] == [
        "a", "b", "c", "d"]
    assert shaping.merged_layers(series_lib.RunSeries()) == []


def test_merged_layers_match_the_insertion_merge():
    rng = np.random.default_rng(0)
    names = ["l%d" % i for i in range(30)]
    for _ in range(200):
        lists = []
        for _ in range(rng.integers(1, 4)):
            chosen = sorted(rng.choice(30, size=rng.integers(0, 12),
                                       replace=False))
            lists.append([names[i] for i in chosen])
        series = _series_with_layers(lists)
        merged = [c["name"] for c in shaping.merged_layers(series)]
        assert merged == _merged_by_insertion(lists), lists


def test_merged_layers_of_a_wide_model():
    # 50,000 layers (100,000 variables): the merge follows every list.
    layers = ["block_%05d/dense" % i for i in range(50000)]
    relu = layers[::2]
    variables = [name + part for name in layers
                 for part in ("/kernel", "/bias")]
    series = _series_with_layers([relu], variables=variables)
    merged = shaping.merged_layers(series)
    assert [c["name"] for c in merged] == layers


def test_per_layer_aggregation_matches_the_definition():
    columns = [{"name": "a/kernel", "layer": "a"}, {"name": "b/kernel"},
               {"name": "a/bias", "layer": "a"}, {"name": "b/bias"}]
    grads = np.array([[3.0, 1.0, 4.0, np.nan], [0.0, 2.0, 0.0, 0.0]])
    matrix = series_lib.Matrix(columns, np.array([0, 1]), grads)
    series = series_lib.RunSeries(matrices={
        metadata.VARIABLE_GRAD_NORM: matrix})
    rows, values = shaping.per_layer(series, metadata.VARIABLE_GRAD_NORM, matrix)
    assert [r["name"] for r in rows] == ["a", "b"]
    assert rows[0]["variables"] == ["a/kernel", "a/bias"]
    np.testing.assert_allclose(values[:, 0], [5.0, 0.0])
    assert np.isnan(values[0, 1]) and values[1, 1] == 2.0
    # Update ratios: ||dW|| / ||W|| where the weight norms line up, NaN
    # (undefined) ratios left out; the largest ratio where they do not.
    ratios = np.array([[0.1, np.nan, 0.3, 0.2], [0.0, 0.5, 0.0, 0.25]])
    weights = np.array([[3.0, 1.0, 4.0, 2.0], [1.0, 1.0, 1.0, 1.0]])
    ratio_matrix = series_lib.Matrix(columns, np.array([0, 1]), ratios)
    series.matrices[metadata.VARIABLE_WEIGHT_NORM] = series_lib.Matrix(
        columns, np.array([0, 1]), weights)
    _, values = shaping.per_layer(series, metadata.VARIABLE_UPDATE_RATIO,
                                   ratio_matrix)
    expected_a = np.sqrt((0.1 * 3) ** 2 + (0.3 * 4) ** 2) / 5.0
    np.testing.assert_allclose(values[0], [expected_a, 0.2])
    np.testing.assert_allclose(values[1, 1], np.sqrt(0.5 ** 2 + 0.25 ** 2)
                               / np.sqrt(2.0))
    del series.matrices[metadata.VARIABLE_WEIGHT_NORM]
    _, values = shaping.per_layer(series, metadata.VARIABLE_UPDATE_RATIO,
                                   ratio_matrix)
    np.testing.assert_allclose(values, [[0.3, 0.2], [0.0, 0.5]])
