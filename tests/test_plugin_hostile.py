"""Hostile parts of a run cost only themselves (reader.py): a facts or
alerts record nested 500 or 1000 deep, metadata nested 1000 deep, a NaN
epoch-end step, layer names that are not text. Each is reported in the
run's problems, and the rest of the run (charts, heatmaps, diagnosis) is
still served, on both of TensorBoard's data paths."""

import os

import pytest

from tests import logdir_fixtures as fx
from tests import providers
from tests import wsgi_client
from tests.wsgi_client import get_json, run_url

# What each case's problems must say.
REPORTED = {
    "deep_facts_500": "run/facts: the record at step 1 is nested deeper",
    "deep_facts_1000": "run/facts: the record at step 1 is unreadable",
    "deep_alerts_500": "run/alerts: the record at step 2 is nested deeper",
    "deep_alerts_1000": "run/alerts: the record at step 2 is unreadable",
    "deep_columns_1000": "layers/activation_nonfinite: nested too deeply",
    "nan_epoch_end": "epoch_end_step: 1 records with a non-finite step",
    "non_string_names": "layers/dead_fraction: 4 column names were not text",
}


@pytest.fixture(scope="module")
def hostile_logdir(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("hostile"))
    for case in fx.HOSTILE_PARTS:
        fx.write_hostile_parts_run(os.path.join(root, case), case)
    return root


@pytest.fixture(scope="module", params=["load_fast", "multiplexer"])
def hostile_client(request, hostile_logdir):
    if request.param == "multiplexer":
        yield wsgi_client.make_client(hostile_logdir)[0]
        return
    with providers.rust_provider(hostile_logdir) as provider:
        yield wsgi_client.make_client(hostile_logdir, provider)[0]


@pytest.mark.parametrize("case", fx.HOSTILE_PARTS)
def test_a_hostile_part_costs_only_itself(hostile_client, case):
    body = get_json(hostile_client, run_url("/run", case))
    assert any(p.startswith(REPORTED[case]) for p in body["problems"]), \
        body["problems"]
    assert not any("diagnosis failed" in p or "cannot" in p
                   for p in body["problems"]), body["problems"]
    # The rest of the run: its charts...
    assert body["step_series"]["loss"]["steps"] == list(range(fx.STEPS))
    assert body["epochs"]["loss"]["values"] == [1.0, 0.5, 0.25]
    # ...its heatmaps...
    heatmap = get_json(hostile_client, run_url("/heatmap", case,
                                               signal="dead_fraction"))
    assert heatmap["available"] and heatmap["steps"] == list(range(fx.STEPS))
    assert [1.0] * fx.STEPS in heatmap["values"]  # the dead layer
    # ...and its diagnosis: the dead layer and the NaN gradient.
    assert body["status"] == "critical"
    kinds = {a["kind"] for a in body["alerts"]}
    assert {"dead_relu", "non_finite"} <= kinds
    listed = {r["run"]: r for r in get_json(hostile_client, "/runs")["runs"]}
    assert listed[case]["status"] == "critical"
    assert any(p.startswith(REPORTED[case])
               for p in listed[case]["problems"])


def test_names_that_are_not_text_are_shown_as_text(hostile_client):
    body = get_json(hostile_client, run_url("/run", "non_string_names"))
    names = ["7", "None", "{'a': 1}", "['b']"]
    assert [layer["name"] for layer in body["layers"]] == names + ["gate"]
    heatmap = get_json(hostile_client, run_url("/heatmap", "non_string_names",
                                               signal="grad_norm"))
    assert [r["name"] for r in heatmap["rows"]] == names + ["gate"]
    # Said once, in the run's problems, not again by each heatmap.
    assert heatmap["problems"] == []
    dead = [a["layer"] for a in body["alerts"] if a["kind"] == "dead_relu"]
    assert dead == ["None"]


def test_a_nan_epoch_end_keeps_the_other_epochs(hostile_client):
    body = get_json(hostile_client, run_url("/run", "nan_epoch_end"))
    assert body["epoch_end_step"] == {"steps": [0, 2], "values": [9, 29]}
