"""When runs are read and what is served meanwhile (run_store.py,
dashboard.py): one read per change of a run's data, a sample first for a
long run, the previous read (stale) while a new one runs, within memory
budgets, on both data paths."""

import os
import threading
import time

import pytest
from tensorboard.backend.event_processing import data_provider as mux_provider

from tensorboard_plugin_trainhealth import answers
from tensorboard_plugin_trainhealth import reader
from tensorboard_plugin_trainhealth import run_listing
from tensorboard_plugin_trainhealth import run_store
from tensorboard_plugin_trainhealth import signals

from tests import logdir_fixtures as fx
from tests import providers
from tests import wsgi_client
from tests.wsgi_client import PREFIX, get_json, run_url

HEATMAP_SIGNALS = [h["signal"] for h in signals.HEATMAPS]


def _counting_plugin(logdir, counted_reads):
    """(client, provider, reads, plugin) over a fresh Python provider."""
    provider = reader.open_logdir(logdir)
    client, plugin = wsgi_client.make_client(logdir, provider)
    return client, provider, counted_reads, plugin


@pytest.fixture
def one_run(tmp_path, monkeypatch, counted_reads):
    """A counting plugin over a logdir holding the fixture's run "run",
    listing the fingerprints afresh for every request: (root, client,
    provider, reads, plugin)."""
    root = str(tmp_path)
    fx.write_run(os.path.join(root, "run"))
    monkeypatch.setattr(run_listing, "FINGERPRINT_TTL_S", 0.0)
    client, provider, reads, plugin = _counting_plugin(root, counted_reads)
    return root, client, provider, reads, plugin


def _store(plugin):
    return plugin._dashboard.store


def test_a_run_is_read_once_until_its_data_changes(one_run, monkeypatch):
    root, client, provider, reads, _ = one_run
    # However slow this machine, the new read is waited for (see below for
    # the stale answer a slow read gets).
    monkeypatch.setattr(run_store, "STALE_WAIT_S", 60.0)
    get_json(client, "/runs")
    for _ in range(3):
        get_json(client, run_url("/run", "run"))
        for signal in HEATMAP_SIGNALS:
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


def test_a_slow_new_read_is_answered_from_the_previous_one(one_run,
                                                         monkeypatch):
    root, client, provider, reads, plugin = one_run
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
    monkeypatch.setattr(run_store, "STALE_WAIT_S", 0.05)
    body = get_json(client, run_url("/run", "run"))
    heatmap = get_json(client, run_url("/heatmap", "run",
                                       signal="dead_fraction"))
    # Answered at once, from the previous read, and said so.
    assert body["stale"] is True and body["extent"] == [0, 29]
    assert body["alerts"] == first["alerts"]
    assert heatmap["stale"] is True and heatmap["steps"] == list(range(30))
    assert body["preliminary"] is False  # an older read, not a sample
    # One background read for both requests.
    (reading,) = _store(plugin).whole.under_way() + \
        _store(plugin).whole.queued()

    release.set()
    assert reading.done.wait(60)
    body = get_json(client, run_url("/run", "run"))
    assert body["stale"] is False and body["extent"] == [0, 59]
    heatmap = get_json(client, run_url("/heatmap", "run",
                                       signal="dead_fraction"))
    assert heatmap["stale"] is False and heatmap["steps"] == list(range(60))
    assert reads == ["run", "run"]


def test_a_run_read_slowly_is_not_waited_for_again(one_run, monkeypatch):
    root, client, provider, _, _ = one_run
    monkeypatch.setattr(run_store, "STALE_WAIT_S", 0.5)
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
                                                    counted_reads,
                                                    data_path):
    root = str(tmp_path)
    fx.write_run(os.path.join(root, "run"))  # 30 records per tag
    fx.write_run(os.path.join(root, "short"), steps=8)
    if data_path == "python":
        client, _, reads, plugin = _counting_plugin(root, counted_reads)
        _answered_from_a_sample_first(client, plugin, reads, monkeypatch)
        return
    with providers.rust_provider(root) as provider:
        client, plugin = wsgi_client.make_client(root, provider)
        _answered_from_a_sample_first(client, plugin, counted_reads,
                                      monkeypatch)


def _answered_from_a_sample_first(client, plugin, reads, monkeypatch):
    monkeypatch.setattr(run_listing, "FINGERPRINT_TTL_S", 0.0)
    monkeypatch.setattr(run_store, "PRELIMINARY_RECORDS", 10)
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
    (reading,) = _store(plugin).whole.under_way() + \
        _store(plugin).whole.queued()
    assert reading.done.wait(60)
    full = get_json(client, run_url("/run", "run"))
    assert full["stale"] is False and full["preliminary"] is False
    assert full["step_series"]["loss"]["steps"] == list(range(30))
    listing = {r["run"]: r for r in get_json(client, "/runs")["runs"]}
    assert listing["run"]["stale"] is False
    # short once, run sampled once and then read whole once.
    assert reads == ["short", "run", "run"]


def test_a_wide_run_is_sampled_by_values(tmp_path, monkeypatch,
                                         counted_reads):
    # 40 layers, 80 variables, 20 records: a bound of 400 values per tag
    # reads 5 records of each variable tag and 10 of the layer tag.
    root = str(tmp_path)
    fx.write_wide_run(os.path.join(root, "wide"), layers=40, steps=20)
    monkeypatch.setattr(run_store, "PRELIMINARY_VALUES", 400)
    monkeypatch.setattr(run_store, "PRELIMINARY_RECORDS", 15)
    client, _, _, plugin = _counting_plugin(root, counted_reads)
    body = get_json(client, run_url("/run", "wide"))
    assert body["preliminary"] is True
    assert body["signals"]["grad_norm"]["records"] == 5
    assert body["signals"]["dead_fraction"]["records"] == 10
    assert len(body["step_series"]["loss"]["steps"]) == 15
    # Its dead layer is seen in the sample already.
    assert any(a["kind"] == "dead_relu" and a["layer"] == "layer_17"
               for a in body["alerts"])
    assert _store(plugin).wait_until_idle(60)
    whole = get_json(client, run_url("/run", "wide"))
    assert whole["preliminary"] is False and whole["stale"] is False
    assert whole["signals"]["grad_norm"]["records"] == 20


def test_listing_long_runs_reads_samples_and_keeps_the_open_run(
        tmp_path, monkeypatch, counted_reads):
    root = str(tmp_path)
    names = ["a", "b", "c", "d", "e", "f"]  # more than the run cache holds
    for name in names:
        fx.write_run(os.path.join(root, name))  # 30 records per tag
    client, _, reads, plugin = _counting_plugin(root, counted_reads)
    monkeypatch.setattr(run_listing, "FINGERPRINT_TTL_S", 0.0)
    monkeypatch.setattr(run_store, "PRELIMINARY_RECORDS", 10)
    from tensorboard_plugin_trainhealth import dashboard

    monkeypatch.setattr(dashboard, "RUNS_BUDGET_S", 60.0)
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
    store = _store(plugin)
    assert not store.whole.queued() and not store.whole.under_way()
    # ...and the open run is still served from its whole read.
    body = get_json(client, run_url("/run", "a"))
    assert body["stale"] is False and body["preliminary"] is False
    assert reads == ["a", "a"] + names[1:]


def test_concurrent_first_requests_share_one_read(tmp_path, counted_reads):
    root = str(tmp_path)
    fx.write_run(os.path.join(root, "run"))
    client, _, reads, _ = _counting_plugin(root, counted_reads)
    paths = [run_url("/run", "run")] + [
        run_url("/heatmap", "run", signal=s) for s in HEATMAP_SIGNALS]
    results = []

    def fetch(path):
        response = client.get(PREFIX + path)
        results.append((response.status_code,
                        wsgi_client.strict_json(response.get_data())))

    threads = [threading.Thread(target=fetch, args=(p,)) for p in paths * 2]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [code for code, _ in results] == [200] * len(threads)
    assert all(body["stale"] is False for _, body in results)
    assert reads == ["run"]


def test_caches_stay_within_their_budgets(tmp_path, monkeypatch,
                                          counted_reads):
    root = str(tmp_path)
    for name in ("a", "b", "c"):
        fx.write_run(os.path.join(root, name))
    client, _, reads, plugin = _counting_plugin(root, counted_reads)
    monkeypatch.setattr(run_store, "RUN_CACHE_BYTES", 1)
    plugin._dashboard.answers = cache = answers.AnswerCache(48, 20000)
    for name in ("a", "b", "c"):
        get_json(client, run_url("/run", name))
    for max_steps in range(2, 30):
        get_json(client, run_url("/heatmap", "c", signal="grad_norm",
                                 max_steps=max_steps))
    # Only the last run's data is kept when one run exceeds the budget.
    records = _store(plugin).records()
    assert [k[1] for k, r in records.items() if r.data is not None] == ["c"]
    assert set(k[1] for k in records) == {"a", "b", "c"}  # diagnoses kept
    assert cache.nbytes <= 20000
    # Each answer counts its text and room for its gzip.
    kept = cache.values()
    assert kept and cache.nbytes == sum(a.cost for a in kept)
    for answer in kept:
        assert answer.cost >= len(answer.text.encode()) + len(
            answer.gzipped())
    assert reads == ["a", "b", "c"]


def test_provider_failure_is_reported_not_500(plugin_logdir):
    # Fault injection: a provider whose reads fail (a corrupt or vanished
    # file under a remote logdir looks like this).
    class FailingProvider(mux_provider.MultiplexerDataProvider):
        def read_tensors(self, *args, **kwargs):
            raise RuntimeError("disk on fire")

    good = reader.open_logdir(plugin_logdir[0])
    failing = FailingProvider(good._multiplexer, plugin_logdir[0])
    client, _ = wsgi_client.make_client(plugin_logdir[0], failing)
    body = get_json(client, run_url("/run", "mlp"))
    assert body["status"] == "unknown"
    assert any("disk on fire" in p for p in body["problems"])
    runs = get_json(client, "/runs")["runs"]
    assert {r["status"] for r in runs} == {"unknown"}
    heatmap = get_json(client, run_url("/heatmap", "mlp", signal="grad_norm"))
    assert heatmap["rows"] == [] and heatmap["problems"]


def test_a_run_whose_data_was_dropped_is_answered_from_its_answers(
        tmp_path, monkeypatch, counted_reads):
    # More runs on screen than the run cache holds: a poll of an unchanged
    # run whose data was dropped is answered from the answer kept for it,
    # not read again; a new query reads it again (whole: it was whole).
    root = str(tmp_path)
    for name in ("a", "b", "c"):
        fx.write_run(os.path.join(root, name))
    monkeypatch.setattr(run_store, "RUN_CACHE_SIZE", 1)
    client, _, reads, plugin = _counting_plugin(root, counted_reads)
    first = {name: get_json(client, run_url("/run", name))
             for name in ("a", "b", "c")}
    records = _store(plugin).records()
    assert [k[1] for k, r in records.items() if r.data is not None] == ["c"]
    for name in ("a", "b"):
        assert get_json(client, run_url("/run", name)) == first[name]
    assert reads == ["a", "b", "c"]
    zoomed = get_json(client, run_url("/run", "a", start_step=5))
    assert zoomed["stale"] is False and zoomed["preliminary"] is False
    assert zoomed["step_series"]["loss"]["steps"] == list(range(5, 30))
    assert reads == ["a", "b", "c", "a"]
