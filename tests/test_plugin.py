"""The plugin's HTTP routes, served by TensorBoard's own WSGI application.

Logdirs are written with the project's SummaryWriter (tests/logdir_fixtures)
and read by TensorBoard's multiplexer-backed data provider, the same one
`--load_fast=false` uses; requests go through `TensorBoardWSGI` with
werkzeug's test client, so routing, middleware and error handling are
TensorBoard's.
"""

import gzip
import json
import math
import os
import threading
import time
import urllib.parse

import pytest
from tensorboard import context as tb_context
from tensorboard import errors
from tensorboard import program
from tensorboard.backend import application
from tensorboard.backend.event_processing import data_ingester
from tensorboard.backend.event_processing import data_provider as mux_provider
from tensorboard.plugins import base_plugin
from tensorboard.plugins.core import core_plugin
from werkzeug import test as werkzeug_test
from werkzeug import wrappers

from tensorboard_plugin_trainhealth import loader
from tensorboard_plugin_trainhealth import metadata
from tensorboard_plugin_trainhealth import plugin as plugin_lib
from tensorboard_plugin_trainhealth import reader
from tensorboard_plugin_trainhealth.writer import SummaryWriter

from tests import logdir_fixtures as fx
from tests import providers
from tests import wsgi_client

PREFIX = "/data/plugin/trainhealth"


def _strict_json(body):
    """Parses JSON that must not contain bare NaN/Infinity literals."""
    def reject(name):
        raise AssertionError("bare %s in JSON" % name)
    return json.loads(body, parse_constant=reject)


def _make_client(logdir, provider=None):
    return wsgi_client.make_client(logdir, provider)


@pytest.fixture(scope="module")
def logdir(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("logs"))
    written = fx.write_logdir(root)
    fx.write_broken_run(os.path.join(root, "broken"))
    return root, written


@pytest.fixture(scope="module")
def client(logdir):
    return _make_client(logdir[0])[0]


def get_json(client, path):
    response = client.get(PREFIX + path)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.headers["Content-Type"].startswith("application/json")
    return _strict_json(response.get_data(as_text=True))


def run_url(route, run, **params):
    return "%s?%s" % (route, urllib.parse.urlencode(dict(run=run, **params)))


# ---------------------------------------------------------------- loading


def test_fix_flags_raises_the_sample_limit_for_trainhealth(tmp_path):
    tb = program.TensorBoard(plugins=[core_plugin.CorePluginLoader,
                                      loader.TrainHealthLoader])
    tb.configure(("tensorboard", "--logdir", str(tmp_path)))
    assert tb.flags.samples_per_plugin == {
        "trainhealth": metadata.DEFAULT_SAMPLES_PER_TAG}


def test_fix_flags_keeps_the_users_choice(tmp_path):
    tb = program.TensorBoard(plugins=[core_plugin.CorePluginLoader,
                                      loader.TrainHealthLoader])
    tb.configure(("tensorboard", "--logdir", str(tmp_path),
                  "--samples_per_plugin", "trainhealth=50,images=3"))
    assert tb.flags.samples_per_plugin == {"trainhealth": 50, "images": 3}


def test_fix_flags_handles_missing_flag():
    class Flags:
        samples_per_plugin = None
    flags = Flags()
    loader.TrainHealthLoader().fix_flags(flags)
    assert flags.samples_per_plugin == {
        "trainhealth": metadata.DEFAULT_SAMPLES_PER_TAG}


def test_tensorboards_own_ingester_keeps_every_step(logdir):
    # Built exactly as `tensorboard --load_fast=false` builds it, after
    # fix_flags: without our sample limit TensorBoard keeps 10 records of
    # an unknown plugin's tensors; the run has 30.
    root, written = logdir
    tb = program.TensorBoard(plugins=[core_plugin.CorePluginLoader,
                                      loader.TrainHealthLoader])
    tb.configure(("tensorboard", "--logdir", root, "--load_fast", "false"))
    ingester = data_ingester.LocalDataIngester(tb.flags)
    ingester.deprecated_multiplexer.AddRunsFromDirectory(root)
    ingester.deprecated_multiplexer.Reload()
    client, _ = _make_client(root, ingester.data_provider)
    body = get_json(client, run_url("/heatmap", "mlp",
                                    signal="dead_fraction"))
    assert body["steps"] == list(range(written["mlp"]["steps"]))


def test_plugin_metadata():
    context = base_plugin.TBContext(data_provider=None)
    plugin = plugin_lib.TrainHealthPlugin(context)
    assert plugin.plugin_name == "trainhealth"
    assert plugin.frontend_metadata() == base_plugin.FrontendMetadata(
        es_module_path="/index.js", tab_name="Train Health")
    assert plugin.is_active() is False  # TensorBoard's list_plugins decides


def test_plugins_listing_enables_the_tab(logdir):
    client, _ = _make_client(logdir[0])
    listing = json.loads(client.get("/data/plugins_listing").get_data())
    entry = listing["trainhealth"]
    assert entry["enabled"] is True
    assert entry["tab_name"] == "Train Health"
    assert entry["loading_mechanism"] == {
        "type": "IFRAME", "module_path": PREFIX + "/index.js"}


def test_plugins_listing_without_data(tmp_path):
    fx.write_plain_logdir(str(tmp_path))
    client, _ = _make_client(str(tmp_path))
    listing = json.loads(client.get("/data/plugins_listing").get_data())
    assert listing["trainhealth"]["enabled"] is False
    assert get_json(client, "/runs") == {"runs": [], "problems": [],
                                         "total": 0, "offset": 0,
                                         "limit": None, "pending": 0}


# ---------------------------------------------------------------- /runs


def test_runs_lists_trainhealth_runs_with_status(client):
    body = get_json(client, "/runs")
    names = [r["run"] for r in body["runs"]]
    assert names == sorted([fx.HOSTILE_RUN, "broken", "mlp"])
    for entry in body["runs"]:
        assert entry["status"] in ("ok", "warning", "critical", "unknown")
        assert isinstance(entry["alert_count"], int)
        assert isinstance(entry["problems"], list)


def test_runs_reports_unreadable_tags_as_problems(client):
    broken = [r for r in get_json(client, "/runs")["runs"]
              if r["run"] == "broken"][0]
    text = " ".join(broken["problems"])
    assert "layers/dead_fraction" in text and "newer trainhealth" in text
    assert "run/facts" in text


# ---------------------------------------------------------------- many runs

MANY_RUNS = 1500
KNOWN_STATUSES = {"ok", "warning", "critical", "unknown"}


def _write_tiny_run(root, name, loss=1.0, step=0):
    """One record of one tag: the cheapest run the plugin lists."""
    writer = SummaryWriter(os.path.join(root, *name.split("/")))
    try:
        writer.scalar(metadata.STEP_LOSS, step, loss)
    finally:
        writer.close()


@pytest.fixture(scope="module")
def many_runs(tmp_path_factory):
    """1,500 one-record runs in nested folders (sweep/lr/trial); every
    100th has a NaN loss (critical). Returns (root, sorted names, the NaN
    runs, a provider that has loaded them all)."""
    root = str(tmp_path_factory.mktemp("many_runs"))
    names, nan_runs = [], set()
    for i in range(MANY_RUNS):
        name = "sweep_%02d/lr_%d/trial_%04d" % (i // 100, i // 10 % 10, i)
        nan = i % 100 == 7
        _write_tiny_run(root, name, math.nan if nan else 1.0)
        names.append(name)
        if nan:
            nan_runs.add(name)
    return root, sorted(names), nan_runs, reader.open_logdir(root)


def _counting_reads(monkeypatch):
    reads = []
    real = reader.read_run

    def counting(*args, **kwargs):
        reads.append(args[3])
        return real(*args, **kwargs)

    monkeypatch.setattr(reader, "read_run", counting)
    return reads


def test_thousands_of_runs_bounded_work_per_request(many_runs, monkeypatch):
    root, names, _, provider = many_runs
    client, _ = wsgi_client.make_client(root, provider)
    reads = _counting_reads(monkeypatch)
    # No time to spare: each request still lists every run, and diagnoses
    # exactly one (so that requests always make progress), in name order.
    monkeypatch.setattr(plugin_lib, "_RUNS_BUDGET_S", 0.0)
    for known in (1, 2, 3):
        body = get_json(client, "/runs")
        assert [r["run"] for r in body["runs"]] == names
        assert body["total"] == len(names)
        assert body["offset"] == 0 and body["limit"] is None
        statuses = [r["status"] for r in body["runs"]]
        assert set(statuses[:known]) <= KNOWN_STATUSES
        assert set(statuses[known:]) == {"pending"}
        assert body["pending"] == len(names) - known
        assert reads == names[:known]
        for entry in body["runs"][known:]:
            assert entry["alert_count"] == 0 and entry["problems"] == []


def test_thousands_of_runs_repeated_requests_diagnose_all(many_runs):
    root, names, nan_runs, provider = many_runs
    client, _ = wsgi_client.make_client(root, provider)
    known_before, requests = -1, 0
    while True:
        body = get_json(client, "/runs")
        requests += 1
        assert [r["run"] for r in body["runs"]] == names
        statuses = [r["status"] for r in body["runs"]]
        assert set(statuses) <= KNOWN_STATUSES | {"pending"}
        known = len(names) - statuses.count("pending")
        assert body["pending"] == len(names) - known
        assert known > known_before  # every request makes progress
        known_before = known
        if not body["pending"]:
            break
        assert requests < len(names)
    by_run = {r["run"]: r for r in body["runs"]}
    assert {r for r, e in by_run.items() if e["status"] == "critical"} \
        == nan_runs
    assert all(by_run[r]["alert_count"] >= 1 for r in nan_runs)
    assert {e["status"] for r, e in by_run.items()
            if r not in nan_runs} == {"ok"}
    # Known now: the next answer needs no diagnosis at all.
    again = get_json(client, "/runs")
    assert again == body


def test_runs_paging_and_search(many_runs, monkeypatch):
    root, names, _, provider = many_runs
    client, _ = wsgi_client.make_client(root, provider)
    monkeypatch.setattr(plugin_lib, "_RUNS_BUDGET_S", 0.0)

    def page(query):
        body = get_json(client, "/runs?" + query)
        return [r["run"] for r in body["runs"]], body

    runs, body = page("offset=10&limit=5")
    assert runs == names[10:15]
    assert (body["total"], body["offset"], body["limit"]) == (
        len(names), 10, 5)
    assert page("offset=%d&limit=5" % (len(names) - 2))[0] == names[-2:]
    runs, body = page("offset=99999")
    assert runs == [] and body["total"] == len(names)
    # Paging through every run yields each name once, in order.
    paged = []
    for offset in range(0, len(names), 400):
        paged += page("offset=%d&limit=400" % offset)[0]
    assert paged == names
    # search: a case-insensitive substring of the name, then the paging.
    runs, body = page("search=SWEEP_03/")
    assert runs == [n for n in names if n.startswith("sweep_03/")]
    assert body["total"] == 100 and len(runs) == 100
    lr4 = [n for n in names if "/lr_4/" in n]
    runs, body = page("search=%2Flr_4%2F&offset=20&limit=10")
    assert runs == lr4[20:30] and body["total"] == len(lr4) == 150
    runs, body = page("search=no-such-run")
    assert runs == [] and body["total"] == 0 and body["pending"] == 0
    # The time goes to the runs answered: the first of this page.
    runs, body = page("search=trial_1234")
    assert runs == ["sweep_12/lr_3/trial_1234"]
    assert body["runs"][0]["status"] == "ok" and body["pending"] == 0


def test_runs_statuses_follow_changed_data(tmp_path, monkeypatch):
    root = str(tmp_path)
    for name in ("a", "b", "c"):
        _write_tiny_run(root, name)
    client, plugin = wsgi_client.make_client(root)
    monkeypatch.setattr(plugin_lib, "_FINGERPRINT_TTL_S", 0.0)
    assert {r["status"] for r in get_json(client, "/runs")["runs"]} == {"ok"}
    reads = _counting_reads(monkeypatch)
    monkeypatch.setattr(plugin_lib, "_RUNS_BUDGET_S", 0.0)
    # However slow this machine, the one run a request diagnoses is waited
    # for (a slower read is answered stale, see below).
    monkeypatch.setattr(plugin_lib, "_STALE_WAIT_S", 60.0)
    # Run b goes on training and its loss turns NaN.
    _write_tiny_run(root, "b", loss=math.nan, step=1)
    plugin._data_provider._multiplexer.Reload()
    body = get_json(client, "/runs")
    assert {r["run"]: r["status"] for r in body["runs"]} == {
        "a": "ok", "b": "critical", "c": "ok"}
    assert reads == ["b"]  # only the changed run was read again
    assert body["pending"] == 0


def test_runs_impl_pages_without_http(many_runs):
    root, names, _, provider = many_runs
    plugin = plugin_lib.TrainHealthPlugin(
        base_plugin.TBContext(data_provider=provider))
    ctx = tb_context.RequestContext()
    body = plugin.runs_impl(ctx, "", search="trial_000", offset=3, limit=4,
                            budget_s=0.0)
    json.dumps(body, allow_nan=False)
    assert [r["run"] for r in body["runs"]] == [
        "sweep_00/lr_0/trial_%04d" % i for i in range(3, 7)]
    assert body["total"] == 10
    assert [r["status"] for r in body["runs"]] == ["ok"] + ["pending"] * 3
    assert body["pending"] == 3


# ---------------------------------------------------------------- /run


def test_run_returns_step_series_with_nonfinite_markers(client, logdir):
    written = logdir[1]["mlp"]
    body = get_json(client, run_url("/run", "mlp"))
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


def test_run_returns_epochs_gaps_and_epoch_end_steps(client, logdir):
    written = logdir[1]["mlp"]
    body = get_json(client, run_url("/run", "mlp"))
    assert body["epochs"]["loss"] == {"steps": [0, 1, 2],
                                      "values": written["loss"]}
    assert body["epochs"]["val_loss"]["values"] == written["val_loss"]
    assert body["gaps"]["loss"] == {"steps": [0, 1, 2],
                                    "values": [0.0, 0.25, 0.5],
                                    "ratio": [1.0, 1.5, 3.0]}
    assert body["epoch_end_step"] == {"steps": [0, 1, 2],
                                      "values": written["epoch_end_step"]}


def test_run_returns_layers_in_model_order_and_facts(client):
    body = get_json(client, run_url("/run", "mlp"))
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


def test_run_downsamples_step_series(client):
    body = get_json(client, run_url("/run", "mlp", max_steps=3))
    grad = body["step_series"]["grad_norm_global"]
    assert grad["steps"] == [0, 10, 20]
    assert grad["step_ends"] == [9, 19, 29]
    # NaN + Inf in the first bucket make it NaN; the others are exact.
    assert grad["values"] == ["NaN", 5.0, 5.0]
    assert body["downsampled"] is True


def test_broken_run_still_answers_with_problems(client):
    body = get_json(client, run_url("/run", "broken"))
    assert body["step_series"]["loss"]["values"] == [1.0]
    assert any("newer trainhealth" in p for p in body["problems"])
    assert body["signals"]["dead_fraction"]["available"] is False
    heatmap = get_json(client, run_url("/heatmap", "broken",
                                       signal="dead_fraction"))
    assert heatmap["available"] is False and heatmap["rows"] == []


def test_provider_failure_is_reported_not_500(logdir):
    # Fault injection: a provider whose reads fail (a corrupt or vanished
    # file under a remote logdir looks like this).
    class FailingProvider(mux_provider.MultiplexerDataProvider):
        def read_tensors(self, *args, **kwargs):
            raise RuntimeError("disk on fire")

    good = reader.open_logdir(logdir[0])
    failing = FailingProvider(good._multiplexer, logdir[0])
    client, _ = _make_client(logdir[0], failing)
    body = get_json(client, run_url("/run", "mlp"))
    assert body["status"] == "unknown"
    assert any("disk on fire" in p for p in body["problems"])
    runs = get_json(client, "/runs")["runs"]
    assert {r["status"] for r in runs} == {"unknown"}
    heatmap = get_json(client, run_url("/heatmap", "mlp", signal="grad_norm"))
    assert heatmap["rows"] == [] and heatmap["problems"]


# ---------------------------------------------------------------- /heatmap


def test_dead_fraction_heatmap(client, logdir):
    written = logdir[1]["mlp"]
    body = get_json(client, run_url("/heatmap", "mlp",
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


def test_saturation_heatmap(client):
    body = get_json(client, run_url("/heatmap", "mlp", signal="saturation"))
    assert [r["name"] for r in body["rows"]] == ["gate"]
    assert body["rows"][0]["activation"] == "sigmoid"
    assert body["values"] == [[0.5] * 30]


def test_grad_norm_heatmap_aggregates_variables_per_layer(client, logdir):
    nan_step = logdir[1]["mlp"]["nan_step"]
    body = get_json(client, run_url("/heatmap", "mlp", signal="grad_norm"))
    assert [r["name"] for r in body["rows"]] == ["dense", "dense_1", "gate"]
    assert body["rows"][0]["variables"] == ["dense/kernel", "dense/bias"]
    first = [5.0] * 30  # sqrt(3^2 + 4^2)
    first[nan_step] = "NaN"
    assert body["values"] == [first, [0.0] * 30, [0.0] * 30]
    assert body["scale"] == "log"
    assert body["range"] == [5.0, 5.0]  # positive finite values only


def test_update_ratio_heatmap(client):
    body = get_json(client, run_url("/heatmap", "mlp", signal="update_ratio"))
    assert body["values"] == [[0.001] * 30] * 3


def test_heatmap_downsampling(client):
    body = get_json(client, run_url("/heatmap", "mlp", signal="grad_norm",
                                    max_steps=7))
    assert body["steps"] == [0, 4, 8, 12, 17, 21, 25]
    assert body["step_ends"] == [3, 7, 11, 16, 20, 24, 29]
    assert body["values"][0] == [5.0, "NaN", 5.0, 5.0, 5.0, 5.0, 5.0]
    assert body["values"][1] == [0.0] * 7
    assert body["downsampled"] is True and body["total_steps"] == 30


def test_default_downsampling_limit():
    assert plugin_lib.DEFAULT_MAX_STEPS == 2000


def test_run_step_range_restricts_step_series(client, logdir):
    body = get_json(client, run_url("/run", "mlp", start_step=10,
                                    end_step=19))
    grad = body["step_series"]["grad_norm_global"]
    assert grad["steps"] == list(range(10, 20))
    assert grad["values"] == [5.0] * 10
    assert body["step_range"] == [10, 19]
    assert body["extent"] == [0, 29]  # of the whole run
    # Epochs are per epoch, never cut.
    assert body["epochs"]["loss"]["steps"] == [0, 1, 2]
    only_start = get_json(client, run_url("/run", "mlp", start_step=25))
    assert only_start["step_series"]["loss"]["steps"] == list(range(25, 30))
    assert only_start["step_range"] == [25, None]


def test_run_downsampling_keeps_each_buckets_min_and_max(client):
    body = get_json(client, run_url("/run", "mlp", max_steps=3))
    loss = body["step_series"]["loss"]
    # 1 / (1 + step) over steps 0-9, 10-19, 20-29, recorded as float32.
    assert loss["min"] == pytest.approx([1 / 10, 1 / 20, 1 / 30], rel=1e-6)
    assert loss["max"] == pytest.approx([1.0, 1 / 11, 1 / 21], rel=1e-6)
    grad = body["step_series"]["grad_norm_global"]
    # NaN and Inf in the first bucket: its bounds are NaN like its mean.
    assert grad["min"] == ["NaN", 5.0, 5.0]
    assert grad["max"] == ["NaN", 5.0, 5.0]
    whole = get_json(client, run_url("/run", "mlp"))
    assert "min" not in whole["step_series"]["loss"]


def test_heatmap_step_range_at_full_resolution(client):
    body = get_json(client, run_url("/heatmap", "mlp", signal="grad_norm",
                                    start_step=5, end_step=14))
    assert body["steps"] == list(range(5, 15))
    assert body["total_steps"] == 10 and body["downsampled"] is False
    assert body["values"][0][2] == "NaN"  # step 7
    assert body["extent"] == [0, 29] and body["step_range"] == [5, 14]
    bucketed = get_json(client, run_url("/heatmap", "mlp", signal="grad_norm",
                                        start_step=5, end_step=14,
                                        max_steps=5))
    assert bucketed["steps"] == [5, 7, 9, 11, 13]
    assert bucketed["step_ends"] == [6, 8, 10, 12, 14]
    assert bucketed["downsampled"] is True
    empty = get_json(client, run_url("/heatmap", "mlp", signal="grad_norm",
                                     start_step=1000))
    assert empty["steps"] == [] and empty["values"] == [[], [], []]


def test_heatmap_f32_format_matches_json(client):
    import base64

    import numpy as np

    for signal in plugin_lib.SIGNALS:
        as_json = get_json(client, run_url("/heatmap", "mlp", signal=signal,
                                           max_steps=7))
        packed = get_json(client, run_url("/heatmap", "mlp", signal=signal,
                                          max_steps=7, format="f32"))
        assert "values" not in packed and packed["encoding"] == "f32"
        rows, cols = len(packed["rows"]), len(packed["steps"])
        matrix = np.frombuffer(base64.b64decode(packed["values_f32"]),
                               "<f4").reshape(rows, cols)
        expected = np.array([[float(v) for v in row]
                             for row in as_json["values"]], np.float32)
        np.testing.assert_array_equal(matrix, expected)  # NaN == NaN here
        for key in ("rows", "steps", "step_ends", "range", "total_steps"):
            assert packed[key] == as_json[key]


def _counting_plugin(logdir, monkeypatch):
    """A plugin over a fresh provider that counts its reads of the data."""
    provider = reader.open_logdir(logdir)
    plugin = plugin_lib.TrainHealthPlugin(
        base_plugin.TBContext(data_provider=provider))
    reads = _counting_reads(monkeypatch)
    app = application.TensorBoardWSGI([plugin], data_provider=provider)
    return (werkzeug_test.Client(app, wrappers.Response), provider, reads,
            plugin)


def _plugin_on_one_run(tmp_path, monkeypatch):
    """A counting plugin over a logdir holding the fixture's run "run",
    listing the fingerprints afresh for every request."""
    root = str(tmp_path)
    fx.write_run(os.path.join(root, "run"))
    client, provider, reads, plugin = _counting_plugin(root, monkeypatch)
    monkeypatch.setattr(plugin_lib, "_FINGERPRINT_TTL_S", 0.0)
    return root, client, provider, reads, plugin


def test_a_run_is_read_once_until_its_data_changes(tmp_path, monkeypatch):
    root, client, provider, reads, _ = _plugin_on_one_run(tmp_path,
                                                          monkeypatch)
    # However slow this machine, the new read is waited for (see below for
    # the stale answer a slow read gets).
    monkeypatch.setattr(plugin_lib, "_STALE_WAIT_S", 60.0)
    get_json(client, "/runs")
    for _ in range(3):
        get_json(client, run_url("/run", "run"))
        for signal in plugin_lib.SIGNALS:
            get_json(client, run_url("/heatmap", "run", signal=signal,
                                     format="f32"))
    assert reads == ["run"]  # /runs read and diagnosed it; the rest reused

    # The training goes on: the next request sees the new steps.
    fx.write_run(os.path.join(root, "run"), start=30)
    provider._multiplexer.Reload()
    body = get_json(client, run_url("/run", "run"))
    assert body["step_series"]["loss"]["steps"] == list(range(60))
    assert body["extent"] == [0, 59]
    heatmap = get_json(client, run_url("/heatmap", "run",
                                       signal="dead_fraction"))
    assert heatmap["steps"] == list(range(60))
    assert reads == ["run", "run"]


def test_answers_are_gzipped_once_and_revalidated_by_etag(tmp_path,
                                                         monkeypatch):
    root, client, provider, reads, _ = _plugin_on_one_run(tmp_path,
                                                          monkeypatch)
    monkeypatch.setattr(plugin_lib, "_STALE_WAIT_S", 60.0)
    path = PREFIX + run_url("/heatmap", "run", signal="dead_fraction",
                            format="f32")
    plain = client.get(path)
    zipped = client.get(path, headers={"Accept-Encoding": "gzip"})
    assert plain.status_code == zipped.status_code == 200
    assert "Content-Encoding" not in plain.headers
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(zipped.get_data()) == plain.get_data()
    etag = zipped.headers["ETag"]
    assert etag == plain.headers["ETag"] and etag.startswith('"')

    # An unchanged run: the browser's revalidation gets no body.
    again = client.get(path, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.get_data() == b""
    assert again.headers["ETag"] == etag
    # Another answer, or the same one after the data changed, is sent.
    other = client.get(PREFIX + run_url("/run", "run"),
                       headers={"If-None-Match": etag})
    assert other.status_code == 200 and other.headers["ETag"] != etag
    fx.write_run(os.path.join(root, "run"), start=30)
    provider._multiplexer.Reload()
    changed = client.get(path, headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag
    assert json.loads(changed.get_data())["steps"] == list(range(60))
    assert reads == ["run", "run"]


def test_a_slow_new_read_is_answered_from_the_previous_one(tmp_path,
                                                         monkeypatch):
    import threading

    root, client, provider, reads, plugin = _plugin_on_one_run(tmp_path,
                                                               monkeypatch)
    first = get_json(client, run_url("/run", "run"))
    assert first["stale"] is False and first["extent"] == [0, 29]

    # The run grows, and reading it now takes as long as the test says.
    fx.write_run(os.path.join(root, "run"), start=30)
    provider._multiplexer.Reload()
    release = threading.Event()
    counting = reader.read_run

    def slow(*args, **kwargs):
        release.wait(60)
        return counting(*args, **kwargs)

    monkeypatch.setattr(reader, "read_run", slow)
    monkeypatch.setattr(plugin_lib, "_STALE_WAIT_S", 0.05)
    body = get_json(client, run_url("/run", "run"))
    heatmap = get_json(client, run_url("/heatmap", "run",
                                       signal="dead_fraction"))
    # Answered at once, from the previous read, and said so.
    assert body["stale"] is True and body["extent"] == [0, 29]
    assert body["alerts"] == first["alerts"]
    assert heatmap["stale"] is True and heatmap["steps"] == list(range(30))
    assert body["preliminary"] is False  # an older read, not a sample
    # One background read for both requests.
    assert plugin._reading is not None and not plugin._refresh_queue
    done = plugin._reading[1].done

    release.set()
    assert done.wait(60)
    body = get_json(client, run_url("/run", "run"))
    assert body["stale"] is False and body["extent"] == [0, 59]
    heatmap = get_json(client, run_url("/heatmap", "run",
                                       signal="dead_fraction"))
    assert heatmap["stale"] is False and heatmap["steps"] == list(range(60))
    assert reads == ["run", "run"]


def test_a_run_read_slowly_is_not_waited_for_again(tmp_path, monkeypatch):
    root, client, provider, _, _ = _plugin_on_one_run(tmp_path, monkeypatch)
    monkeypatch.setattr(plugin_lib, "_STALE_WAIT_S", 0.5)
    counting = reader.read_run
    release = threading.Event()
    release.set()
    reads_done = []

    def read(*args, **kwargs):
        release.wait(60)
        time.sleep(0.6 if not reads_done else 0.0)
        reads_done.append(kwargs.get("max_records"))
        return counting(*args, **kwargs)

    monkeypatch.setattr(reader, "read_run", read)
    # The first read (the whole run: it is short) takes 0.6 s, more than
    # the plugin would wait for a new one.
    assert get_json(client, run_url("/run", "run"))["stale"] is False

    fx.write_run(os.path.join(root, "run"), start=30)
    provider._multiplexer.Reload()
    # The new read would be done 0.1 s after it is asked for: well within
    # the wait, were it waited for.
    release.clear()
    threading.Timer(0.1, release.set).start()
    body = get_json(client, run_url("/run", "run"))
    assert body["stale"] is True and body["extent"] == [0, 29]
    release.wait(60)
    body = _poll_until_fresh(client)
    assert body["extent"] == [0, 59]


def _poll_until_fresh(client, run="run", timeout=60):
    """The first /run answer for `run` that is not stale."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = get_json(client, run_url("/run", run))
        if not body["stale"]:
            return body
        time.sleep(0.05)
    raise AssertionError("the new read of %s was never served" % run)


@pytest.mark.parametrize("data_path", ["rust", "python"])
def test_a_long_run_is_answered_from_a_sample_first(tmp_path, monkeypatch,
                                                    data_path):
    root = str(tmp_path)
    fx.write_run(os.path.join(root, "run"))  # 30 records per tag
    fx.write_run(os.path.join(root, "short"), steps=8)
    if data_path == "python":
        client, _, reads, plugin = _counting_plugin(root, monkeypatch)
        _answered_from_a_sample_first(client, plugin, reads, monkeypatch)
        return
    with providers.rust_provider(root) as provider:
        client, plugin = wsgi_client.make_client(root, provider)
        reads = _counting_reads(monkeypatch)
        _answered_from_a_sample_first(client, plugin, reads, monkeypatch)


def _answered_from_a_sample_first(client, plugin, reads, monkeypatch):
    monkeypatch.setattr(plugin_lib, "_FINGERPRINT_TTL_S", 0.0)
    monkeypatch.setattr(plugin_lib, "_PRELIMINARY_RECORDS", 10)
    release = threading.Event()
    counting = reader.read_run

    def full_reads_wait(*args, **kwargs):
        if kwargs.get("max_records") is None:
            release.wait(60)
        return counting(*args, **kwargs)

    monkeypatch.setattr(reader, "read_run", full_reads_wait)

    # A run within the bound is read whole by its first read.
    short = get_json(client, run_url("/run", "short"))
    assert short["stale"] is False and short["preliminary"] is False
    assert short["step_series"]["loss"]["steps"] == list(range(8))

    # A longer one: ten records of each tag, the last among them, at once.
    first = get_json(client, run_url("/run", "run"))
    assert first["stale"] is True and first["preliminary"] is True
    loss_steps = first["step_series"]["loss"]["steps"]
    assert len(loss_steps) == 10 and loss_steps[-1] == 29
    assert first["extent"][1] == 29
    heatmap = get_json(client, run_url("/heatmap", "run",
                                       signal="dead_fraction"))
    assert heatmap["preliminary"] is True and len(heatmap["steps"]) == 10
    # The dead layer of the fixture is seen in the sample already.
    assert first["status"] != "ok"
    listing = {r["run"]: r for r in get_json(client, "/runs")["runs"]}
    assert listing["run"]["stale"] is True
    assert listing["run"]["status"] == first["status"]
    assert listing["short"]["stale"] is False

    release.set()
    ctx = tb_context.RequestContext()
    refresh = plugin._refresh_in_background(
        ctx, "", "run", plugin._run_fingerprint(ctx, "", "run"))
    assert refresh.done.wait(60)
    full = get_json(client, run_url("/run", "run"))
    assert full["stale"] is False and full["preliminary"] is False
    assert full["step_series"]["loss"]["steps"] == list(range(30))
    listing = {r["run"]: r for r in get_json(client, "/runs")["runs"]}
    assert listing["run"]["stale"] is False
    # short once, run sampled once and then read whole once.
    assert reads == ["short", "run", "run"]


def test_listing_long_runs_reads_samples_and_keeps_the_open_run(
        tmp_path, monkeypatch):
    root = str(tmp_path)
    names = ["a", "b", "c", "d", "e", "f"]  # more than the run cache holds
    for name in names:
        fx.write_run(os.path.join(root, name))  # 30 records per tag
    client, _, reads, plugin = _counting_plugin(root, monkeypatch)
    monkeypatch.setattr(plugin_lib, "_FINGERPRINT_TTL_S", 0.0)
    monkeypatch.setattr(plugin_lib, "_PRELIMINARY_RECORDS", 10)
    monkeypatch.setattr(plugin_lib, "_RUNS_BUDGET_S", 60.0)
    # Run a is open: sampled, then read whole in the background.
    _poll_until_fresh(client, "a")
    assert reads == ["a", "a"]

    listing = {r["run"]: r for r in get_json(client, "/runs")["runs"]}
    assert listing["a"]["stale"] is False
    for name in names[1:]:
        # Judged from a sample, and said so; the fixture's dead layer shows.
        assert listing[name]["stale"] is True
        assert listing[name]["status"] == listing["a"]["status"] != "ok"
    # Samples only: no whole read of a run that is only listed...
    assert reads == ["a", "a"] + names[1:]
    assert not plugin._refresh_queue and plugin._reading is None
    # ...and the open run is still served from its whole read.
    body = get_json(client, run_url("/run", "a"))
    assert body["stale"] is False and body["preliminary"] is False
    assert reads == ["a", "a"] + names[1:]


def test_concurrent_first_requests_share_one_read(tmp_path, monkeypatch):
    import threading

    root = str(tmp_path)
    fx.write_run(os.path.join(root, "run"))
    client, _, reads, _ = _counting_plugin(root, monkeypatch)
    paths = [run_url("/run", "run")] + [
        run_url("/heatmap", "run", signal=s) for s in plugin_lib.SIGNALS]
    results = []

    def fetch(path):
        response = client.get(PREFIX + path)
        results.append(response.status_code)

    threads = [threading.Thread(target=fetch, args=(p,)) for p in paths * 2]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [200] * len(threads)
    assert reads == ["run"]


def test_caches_stay_within_their_budgets(tmp_path, monkeypatch):
    root = str(tmp_path)
    for name in ("a", "b", "c"):
        fx.write_run(os.path.join(root, name))
    client, _, reads, plugin = _counting_plugin(root, monkeypatch)
    monkeypatch.setattr(plugin_lib, "_RUN_CACHE_BYTES", 1)
    monkeypatch.setattr(plugin_lib, "_RESPONSE_CACHE_BYTES", 20000)
    for name in ("a", "b", "c"):
        get_json(client, run_url("/run", name))
    for max_steps in range(2, 30):
        get_json(client, run_url("/heatmap", "c", signal="grad_norm",
                                 max_steps=max_steps))
    # Only the last run's data is kept when one run exceeds the budget.
    assert [k[1] for k in plugin._run_cache] == ["c"]
    assert plugin._response_bytes <= 20000
    # Each answer counts its text and room for its gzip.
    assert plugin._response_bytes == sum(
        t.cost for t in plugin._response_cache.values())
    for text in plugin._response_cache.values():
        assert text.cost >= len(text.encode()) + len(text.gzipped())
    assert reads == ["a", "b", "c"]


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize("path", [
    "/run",
    "/run?run=",
    "/heatmap?signal=grad_norm",
    "/heatmap?run=mlp",
    "/heatmap?run=mlp&signal=grad_norm&max_steps=abc",
    "/heatmap?run=mlp&signal=grad_norm&max_steps=0",
    "/heatmap?run=mlp&signal=grad_norm&max_steps=-5",
    "/heatmap?run=mlp&signal=grad_norm&max_steps=1000000000",
    "/run?run=mlp&max_steps=1.5",
    "/run?run=mlp&start_step=abc",
    "/run?run=mlp&start_step=20&end_step=10",
    "/heatmap?run=mlp&signal=grad_norm&end_step=1e3",
    "/heatmap?run=mlp&signal=grad_norm&format=xml",
    "/runs?offset=-1",
    "/runs?offset=abc",
    "/runs?offset=1.5",
    "/runs?offset=1e3",
    "/runs?offset=%C2%B2",
    "/runs?offset=99999999999999",
    "/runs?limit=0",
    "/runs?limit=-3",
    "/runs?limit=abc",
    "/runs?limit=%20",
    "/runs?limit=0x10",
    "/runs?limit=10001",
    "/runs?search=" + "x" * 1001,
])
def test_bad_parameters_are_400(client, path):
    response = client.get(PREFIX + path)
    assert response.status_code == 400
    assert response.headers["Content-Type"].startswith("text/plain")
    assert response.get_data(as_text=True)


@pytest.mark.parametrize("path", [
    "/run?run=nope",
    "/heatmap?run=nope&signal=grad_norm",
    "/heatmap?run=mlp&signal=nope",
    "/heatmap?run=mlp&signal=__class__",
])
def test_unknown_run_or_signal_is_404(client, path):
    response = client.get(PREFIX + path)
    assert response.status_code == 404
    assert response.headers["Content-Type"].startswith("text/plain")


# ---------------------------------------------------------------- assets


def test_every_frontend_module_is_servable():
    """A module added to frontend/ but not to the whitelist would 404."""
    frontend = os.path.join(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__))), "frontend")
    modules = {n for n in os.listdir(frontend) if n.endswith((".js", ".css"))}
    assert modules <= set(plugin_lib.ASSETS)


@pytest.mark.parametrize("name,content_type,needle", [
    ("index.js", "text/javascript", "export async function render"),
    ("app.js", "text/javascript", "class App"),
    ("model.js", "text/javascript", "import.meta.url"),
    ("dom.js", "text/javascript", "textContent"),
    ("detail.js", "text/javascript", "class DetailView"),
    ("charts.js", "text/javascript", 'from "./uplot.js"'),
    ("heatmap.js", "text/javascript", "class HeatmapView"),
    ("chartdata.js", "text/javascript", "export function layoutRows"),
    ("colors.js", "text/javascript", "export function viridis"),
    ("urlstate.js", "text/javascript", "p.trainhealth."),
    ("runfilter.js", "text/javascript", "export function filterRuns"),
    ("style.css", "text/css", ".th-dark"),
    # The charting library, built from npm (frontend/dist or static/).
    ("uplot.js", "text/javascript", "export { uPlot as default }"),
    ("uplot.css", "text/css", ".uplot"),
])
def test_assets_are_served(client, name, content_type, needle):
    response = client.get(PREFIX + "/" + name)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith(content_type)
    assert needle in response.get_data(as_text=True)


def test_plugin_entry_imports_index_js(client):
    response = client.get("/data/plugin_entry.html?name=trainhealth")
    assert response.status_code == 200
    assert 'import("./index.js")' in response.get_data(as_text=True)


@pytest.mark.parametrize("path", [
    "/../../setup.py",
    "/%2e%2e/%2e%2e/setup.py",
    "/..%2f..%2fsetup.py",
    "/..%5c..%5csetup.py",
    "/..\\..\\setup.py",
    "/index.js/../../../setup.py",
    "/static/../plugin.py",
    "/plugin.py",
    "/%2e%2e%2fplugin.py",
    "/index.js%00.py",
])
def test_path_traversal_is_blocked(client, path):
    response = client.get(PREFIX + path)
    assert response.status_code == 404
    body = response.get_data(as_text=True)
    assert "setuptools" not in body and "TrainHealthPlugin" not in body


@pytest.mark.parametrize("name", [
    "../setup.py", "..\\setup.py", "/etc/passwd", "", ".", "static",
    "index.js/..", "../tensorboard_plugin_trainhealth/plugin.py",
])
def test_asset_impl_serves_only_whitelisted_names(name):
    plugin = plugin_lib.TrainHealthPlugin(
        base_plugin.TBContext(data_provider=None))
    with pytest.raises(errors.NotFoundError):
        plugin.asset_impl(name)


# ---------------------------------------------------------------- hostile data


def test_hostile_names_are_returned_as_data(client):
    raw = client.get(PREFIX + "/runs").get_data(as_text=True)
    assert fx.HOSTILE_RUN in [r["run"] for r in _strict_json(raw)["runs"]]
    body = get_json(client, run_url("/run", fx.HOSTILE_RUN))
    assert body["run"] == fx.HOSTILE_RUN
    assert body["layers"][0]["name"] == fx.HOSTILE_LAYER
    heatmap = get_json(client, run_url("/heatmap", fx.HOSTILE_RUN,
                                       signal="dead_fraction"))
    assert [r["name"] for r in heatmap["rows"]] == [fx.HOSTILE_LAYER,
                                                    "dense_1"]
    response = client.get(PREFIX + run_url("/run", fx.HOSTILE_RUN))
    assert response.headers["X-Content-Type-Options"] == "nosniff"


# ---------------------------------------------------------------- impl level


def test_impls_are_json_ready_without_http(logdir):
    provider = reader.open_logdir(logdir[0])
    plugin = plugin_lib.TrainHealthPlugin(
        base_plugin.TBContext(data_provider=provider))
    ctx = tb_context.RequestContext()
    body = plugin.run_impl(ctx, "", "mlp")
    json.dumps(body, allow_nan=False)
    with pytest.raises(errors.NotFoundError):
        plugin.run_impl(ctx, "", "missing")
    heatmap = plugin.heatmap_impl(ctx, "", "mlp", "dead_fraction")
    assert heatmap["values"][1] == [1.0] * 30


def test_to_json_encodes_nonfinite_and_numpy():
    import numpy as np
    doc = {"a": float("nan"), "b": np.float32("inf"), "c": -np.inf,
           1: (np.int64(3), np.bool_(True)), "d": np.array([0.5, np.nan])}
    assert plugin_lib.to_json(doc) == {
        "a": "NaN", "b": "Infinity", "c": "-Infinity", "1": [3, True],
        "d": [0.5, "NaN"]}


def test_diagnosis_alerts_for_the_known_run(client):
    # dense_1 is dead for all 30 steps and dense's kernel gradient is NaN at
    # step 7: diagnosis must say so, and /runs must carry the status.
    body = get_json(client, run_url("/run", "mlp"))
    found = {(a["kind"], a["layer"]) for a in body["alerts"]}
    assert ("dead_relu", "dense_1") in found
    assert any(kind == "non_finite" for kind, _ in found)
    assert body["status"] == "critical"
    assert all(isinstance(a["message"], str) and a["message"]
               for a in body["alerts"])
    runs = {r["run"]: r for r in get_json(client, "/runs")["runs"]}
    assert runs["mlp"]["status"] == "critical"
    assert runs["mlp"]["alert_count"] == len(body["alerts"])


def test_catalogue_route_serves_the_signal_catalogue(client):
    from tensorboard_plugin_trainhealth import signals
    body = get_json(client, "/catalogue")
    assert [h["signal"] for h in body["heatmaps"]] == [
        h["signal"] for h in signals.HEATMAPS]
    assert body["evidence"]["dead_relu"]["heatmap"] == "dead_fraction"
