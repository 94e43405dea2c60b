"""/runs (dashboard.Dashboard.runs): every run listed, each request's
waiting bounded, statuses that follow the data, paging and search."""

import base64
import contextlib
import json
import math
import os
import threading

import numpy as np
import pytest
from tensorboard import context as tb_context

from tensorboard_plugin_trainhealth import dashboard
from tensorboard_plugin_trainhealth import query
from tensorboard_plugin_trainhealth import reader
from tensorboard_plugin_trainhealth import run_listing
from tensorboard_plugin_trainhealth import run_store

from tests import conftest
from tests import logdir_fixtures as fx
from tests import providers
from tests import tb_process
from tests import wsgi_client
from tests.wsgi_client import get_json, run_url

KNOWN_STATUSES = {"ok", "warning", "critical", "unknown"}


def test_runs_lists_trainhealth_runs_with_status(plugin_client):
    body = get_json(plugin_client, "/runs")
    names = [r["run"] for r in body["runs"]]
    assert names == sorted([fx.HOSTILE_RUN, "broken", "mlp"])
    for entry in body["runs"]:
        assert entry["status"] in ("ok", "warning", "critical", "unknown")
        assert isinstance(entry["alert_count"], int)
        assert isinstance(entry["problems"], list)


def test_runs_reports_unreadable_tags_as_problems(plugin_client):
    broken = [r for r in get_json(plugin_client, "/runs")["runs"]
              if r["run"] == "broken"][0]
    text = " ".join(broken["problems"])
    assert "layers/dead_fraction" in text and "newer trainhealth" in text
    assert "run/facts" in text


def test_thousands_of_runs_bounded_work_per_request(many_runs, monkeypatch,
                                                    counted_reads):
    root, names, _, provider = many_runs
    client, _ = wsgi_client.make_client(root, provider)
    # No time to spare: each request still lists every run, and diagnoses
    # exactly one (so that requests always make progress), in name order.
    monkeypatch.setattr(dashboard, "RUNS_BUDGET_S", 0.0)
    monkeypatch.setattr(run_store, "FIRST_READ_WAIT_S", 60.0)
    for known in (1, 2, 3):
        body = get_json(client, "/runs")
        assert [r["run"] for r in body["runs"]] == names
        assert body["total"] == len(names)
        assert body["offset"] == 0 and body["limit"] is None
        statuses = [r["status"] for r in body["runs"]]
        assert set(statuses[:known]) <= KNOWN_STATUSES
        assert set(statuses[known:]) == {"pending"}
        assert body["pending"] == len(names) - known
        assert counted_reads == names[:known]
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
    monkeypatch.setattr(dashboard, "RUNS_BUDGET_S", 0.0)
    monkeypatch.setattr(run_store, "FIRST_READ_WAIT_S", 60.0)

    def page(query_text):
        body = get_json(client, "/runs?" + query_text)
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


def test_runs_statuses_follow_changed_data(tmp_path, monkeypatch,
                                           counted_reads):
    root = str(tmp_path)
    for name in ("a", "b", "c"):
        conftest.write_tiny_run(root, name)
    monkeypatch.setattr(run_listing, "FINGERPRINT_TTL_S", 0.0)
    provider = reader.open_logdir(root)
    client, _ = wsgi_client.make_client(root, provider)
    assert {r["status"] for r in get_json(client, "/runs")["runs"]} == {"ok"}
    del counted_reads[:]
    monkeypatch.setattr(dashboard, "RUNS_BUDGET_S", 0.0)
    # However slow this machine, the one run a request diagnoses is waited
    # for (a slower read is answered stale, see test_plugin_store).
    monkeypatch.setattr(run_store, "STALE_WAIT_S", 60.0)
    # Run b goes on training and its loss turns NaN.
    conftest.write_tiny_run(root, "b", loss=math.nan, step=1)
    provider._multiplexer.Reload()
    body = get_json(client, "/runs")
    assert {r["run"]: r["status"] for r in body["runs"]} == {
        "a": "ok", "b": "critical", "c": "ok"}
    assert counted_reads == ["b"]  # only the changed run was read again
    assert body["pending"] == 0


def test_runs_pages_without_http(many_runs):
    root, names, _, provider = many_runs
    board = dashboard.Dashboard(provider)
    ctx = tb_context.RequestContext()
    answer = board.runs(ctx, "", query.RunsQuery("trial_000", 3, 4),
                        budget_s=0.0)
    body = json.loads(answer.text)
    assert [r["run"] for r in body["runs"]] == [
        "sweep_00/lr_0/trial_%04d" % i for i in range(3, 7)]
    assert body["total"] == 10
    assert [r["status"] for r in body["runs"]] == ["ok"] + ["pending"] * 3
    assert body["pending"] == 3


def test_a_run_whose_read_does_not_finish_never_holds_up_runs(
        tmp_path, monkeypatch):
    """/runs answers within its budget while one run's read is under way
    however long it takes; the others are diagnosed meanwhile, and the
    slow one once its read is done (the time budget bounds each request,
    not only the time between runs)."""
    root = str(tmp_path)
    fx.write_run(os.path.join(root, "a_huge"))
    for name in ("b", "c"):
        conftest.write_tiny_run(root, name)
    release = threading.Event()
    real = reader.read_run

    def read(*args, **kwargs):
        if args[3] == "a_huge":
            release.wait(60)
        return real(*args, **kwargs)

    monkeypatch.setattr(reader, "read_run", read)
    monkeypatch.setattr(run_store, "FIRST_READ_WAIT_S", 0.2)
    monkeypatch.setattr(dashboard, "RUNS_BUDGET_S", 60.0)
    client, plugin = wsgi_client.make_client(root)
    try:
        body = get_json(client, "/runs")
        statuses = {r["run"]: r["status"] for r in body["runs"]}
        assert statuses == {"a_huge": "pending", "b": "ok", "c": "ok"}
        # The open run is not waited for beyond the bound either.
        run = get_json(client, "/run?run=a_huge")
        assert run["status"] == "pending" and run["stale"] is True
        assert run["step_series"] == {} and run["layers"] == []
    finally:
        release.set()
    for task in plugin._dashboard.store.samples.under_way():
        assert task.done.wait(60)
    statuses = {r["run"]: r["status"]
                for r in get_json(client, "/runs")["runs"]}
    assert statuses["a_huge"] == "critical"  # its dead layer, once read


@pytest.fixture(scope="module")
def huge_logdir(tmp_path_factory):
    """A 100,000-variable model (50,000 layers, layer 1234 dead) beside two
    small runs, written with the writer directly."""
    root = str(tmp_path_factory.mktemp("huge"))
    layers = fx.write_huge_run(os.path.join(root, "huge"), records=3)
    for name in ("a_small", "z_small"):
        conftest.write_tiny_run(root, name)
    return root, layers


@pytest.mark.parametrize("data_path", ["load_fast", "multiplexer"])
def test_a_100k_variable_run_is_listed_and_served(huge_logdir, data_path):
    root, layers = huge_logdir
    opener = (providers.rust_provider(root, timeout=300)
              if data_path == "load_fast"
              else contextlib.nullcontext(reader.open_logdir(root)))
    with opener as provider:
        client, plugin = wsgi_client.make_client(root, provider)
        body = get_json(client, "/runs")
        assert [r["run"] for r in body["runs"]] == ["a_small", "huge",
                                                    "z_small"]
        # Every run gets its status, the huge one too, without a request
        # that waits for it: each answers within its budget meanwhile.
        statuses = tb_process.wait_for(
            lambda: _all_known(get_json(client, "/runs")), 300,
            "every run diagnosed", interval=0.5)
        assert statuses == {"a_small": "ok", "huge": "critical",
                            "z_small": "ok"}
        run = get_json(client, run_url("/run", "huge"))
        assert run["stale"] is False and not run["problems"]
        assert [layer["name"] for layer in run["layers"]] == layers
        assert len(run["variables"]) == 100000
        dead = [a for a in run["alerts"] if a["kind"] == "dead_relu"]
        assert [a["layer"] for a in dead] == [layers[1234]]
        heatmap = get_json(client, run_url("/heatmap", "huge",
                                           signal="grad_norm",
                                           format="f32"))
        assert len(heatmap["rows"]) == 50000
        values = np.frombuffer(base64.b64decode(heatmap["values_f32"]),
                               "<f4")
        np.testing.assert_allclose(values, math.hypot(0.5, 0.5), rtol=1e-6)
        assert plugin._dashboard.store.wait_until_idle(300)


def _all_known(body):
    statuses = {r["run"]: r["status"] for r in body["runs"]}
    return None if "pending" in statuses.values() else statuses
