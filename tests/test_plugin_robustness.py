"""The plugin on damaged logdirs and garbage requests: never a 500.

Event files are truncated mid-record, overwritten with garbage in the middle,
or cut off right after a header; every route is fuzzed over its query
parameters with hypothesis. Read through TensorBoard's Python data provider
here, and through a real TensorBoard on both data paths in the smoke part.
"""

import json
import os
import urllib.parse

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tensorboard_plugin_trainhealth import signals

from tests import logdir_fixtures as fx
from tests import tb_process
from tests import wsgi_client

PLUGIN = "/data/plugin/trainhealth"
ROUTES = ("/runs", "/run", "/heatmap", "/catalogue")
SIGNALS = tuple(h["signal"] for h in signals.HEATMAPS)


def _client(logdir):
    return wsgi_client.make_client(logdir)[0]


def _event_file(run_dir):
    (name,) = [f for f in os.listdir(run_dir) if "tfevents" in f]
    return os.path.join(run_dir, name)


def _damage(root):
    """Writes one healthy run and three damaged copies of it."""
    fx.write_run(os.path.join(root, "healthy"))
    for name in ("truncated", "garbled", "header_only"):
        fx.write_run(os.path.join(root, name))
    path = _event_file(os.path.join(root, "truncated"))
    size = os.path.getsize(path)
    with open(path, "r+b") as f:
        f.truncate(size * 2 // 3 + 5)  # the writer died mid-record
    path = _event_file(os.path.join(root, "garbled"))
    with open(path, "r+b") as f:
        f.seek(os.path.getsize(path) // 2)
        f.write(b"\xde\xad\xbe\xef" * 64)  # corruption in the middle
    path = _event_file(os.path.join(root, "header_only"))
    with open(path, "r+b") as f:
        f.truncate(30)


@pytest.fixture(scope="module")
def damaged_logdir(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("damaged"))
    _damage(root)
    return root


@pytest.fixture(scope="module")
def client(damaged_logdir):
    return _client(damaged_logdir)


def _get(client, path):
    response = client.get(PLUGIN + path)
    assert response.status_code != 500, response.get_data(as_text=True)
    return response


def test_damaged_runs_show_what_can_be_read(client):
    runs = json.loads(_get(client, "/runs").get_data(as_text=True))["runs"]
    names = {r["run"] for r in runs}
    assert {"healthy", "truncated", "garbled"} <= names
    healthy = json.loads(_get(client, "/heatmap?run=healthy&signal=dead_fraction")
                         .get_data(as_text=True))
    truncated = json.loads(_get(client, "/heatmap?run=truncated&signal=dead_fraction")
                           .get_data(as_text=True))
    # The cut-off run holds a prefix of the healthy one's records.
    assert 0 < len(truncated["steps"]) <= len(healthy["steps"])
    assert truncated["steps"] == healthy["steps"][:len(truncated["steps"])]
    assert truncated["values"] == [row[:len(truncated["steps"])]
                                   for row in healthy["values"]]
    for run in ("truncated", "garbled", "header_only"):
        for route in ("/run?run=", "/heatmap?signal=grad_norm&run="):
            response = _get(client, route + run)
            assert response.status_code in (200, 404)


@pytest.mark.parametrize("load_fast", [True, False])
def test_a_real_tensorboard_serves_damaged_runs(damaged_logdir, load_fast):
    with tb_process.TensorBoardProcess(damaged_logdir, load_fast=load_fast) as tb:
        tb.wait_for_plugin("trainhealth")
        tb_process.wait_for(
            lambda: "healthy" in {r["run"] for r in
                                  tb.get_json(PLUGIN + "/runs")["runs"]},
            timeout=60, what="runs to load")
        for run in ("healthy", "truncated", "garbled", "header_only"):
            for path in ("/run?run=%s" % run,
                         "/heatmap?run=%s&signal=dead_fraction" % run):
                status, _, _ = tb.get(PLUGIN + path)
                assert status in (200, 404), (path, status)


# Values a user, a stale link or an attacker might send, and valid ones
# (so that the other parameters of a query are reached too).
GARBAGE = st.one_of(
    st.text(max_size=40),
    st.integers(min_value=-2 ** 70, max_value=2 ** 70).map(str),
    st.sampled_from(["", "..", "../../etc/passwd", "%00", "NaN", "-1", "1e400",
                     "99999999999999999999", "-99999999999999999999",
                     "0", "1", "2000", "100000", "100001", "json", "f32",
                     "<img src=x onerror=alert(1)>", "\u202e", "a" * 5000,
                     "9" * 5000]),
)
VALID = {
    "run": st.sampled_from(["healthy", "truncated", "garbled",
                            "header_only", "nope"]),
    "signal": st.sampled_from(SIGNALS + ("nope",)),
    "format": st.sampled_from(["json", "f32"]),
    "max_steps": st.integers(1, 100000).map(str),
    "start_step": st.integers(-5, 40).map(str),
    "end_step": st.integers(-5, 40).map(str),
    "offset": st.integers(0, 10).map(str),
    "limit": st.integers(1, 10000).map(str),
    "search": st.sampled_from(["", "h", "HEALTHY", "ed"]),
}
# The parameters the routes take (query.py), each valid or garbage, and
# one they do not take.
PARAMS = st.dictionaries(
    st.sampled_from(sorted(VALID) + ["x"]),
    st.none(), max_size=6).flatmap(lambda keys: st.fixed_dictionaries({
        key: st.one_of(VALID.get(key, GARBAGE), GARBAGE) for key in keys}))


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(route=st.sampled_from(ROUTES), params=PARAMS)
def test_fuzzed_queries_never_answer_500(client, route, params):
    query = urllib.parse.urlencode(params)
    response = client.get(PLUGIN + route + ("?" + query if query else ""))
    assert response.status_code in (200, 400, 404), (
        route, params, response.status_code)
    body = response.get_data(as_text=True)
    if response.status_code == 200:
        json.loads(body)  # well-formed JSON, never a stack trace
    else:
        assert body and "Traceback" not in body


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.text(min_size=1, max_size=60))
def test_fuzzed_asset_names_are_refused_or_served(client, name):
    response = client.get(PLUGIN + "/" + urllib.parse.quote(name, safe=""))
    assert response.status_code in (200, 400, 404, 405)
    if response.status_code == 200:
        assert name in ("runs", "run", "heatmap", "index.js", "model.js",
                        "views.js", "style.css") or name.endswith(
                            (".js", ".css"))
