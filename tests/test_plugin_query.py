"""Query parameters (query.py): bad ones are 400, an unknown run or signal
404, answered as plain text by TensorBoard's own error handling."""

import pytest
from tensorboard import errors

from tensorboard_plugin_trainhealth import bodies
from tensorboard_plugin_trainhealth import query

from tests.wsgi_client import PREFIX


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
def test_bad_parameters_are_400(plugin_client, path):
    response = plugin_client.get(PREFIX + path)
    assert response.status_code == 400
    assert response.headers["Content-Type"].startswith("text/plain")
    assert response.get_data(as_text=True)


@pytest.mark.parametrize("path", [
    "/run?run=nope",
    "/heatmap?run=nope&signal=grad_norm",
    "/heatmap?run=mlp&signal=nope",
    "/heatmap?run=mlp&signal=__class__",
])
def test_unknown_run_or_signal_is_404(plugin_client, path):
    response = plugin_client.get(PREFIX + path)
    assert response.status_code == 404
    assert response.headers["Content-Type"].startswith("text/plain")


def test_queries_parse_what_the_routes_take():
    assert query.runs_query({}) == query.RunsQuery(None, 0, None)
    assert query.runs_query({"search": "a", "offset": "3", "limit": "7"}) \
        == query.RunsQuery("a", 3, 7)
    assert query.run_query({"run": "r"}) == query.RunQuery(
        "r", bodies.DEFAULT_MAX_STEPS, None)
    assert query.run_query({"run": "r", "max_steps": "9",
                            "end_step": "12"}) == query.RunQuery(
                                "r", 9, (None, 12))
    assert query.heatmap_query({
        "run": "r", "signal": "grad_norm", "start_step": "-2",
        "end_step": "5", "format": "f32"}) == query.HeatmapQuery(
            "r", "grad_norm", bodies.DEFAULT_MAX_STEPS, (-2, 5), "f32")


def test_bad_queries_raise_tensorboards_errors():
    with pytest.raises(errors.InvalidArgumentError):
        query.run_query({})
    with pytest.raises(errors.InvalidArgumentError):
        query.runs_query({"limit": "0"})
    # A bad parameter is reported before an unknown signal.
    with pytest.raises(errors.InvalidArgumentError):
        query.heatmap_query({"run": "r", "signal": "nope", "format": "xml"})
    with pytest.raises(errors.NotFoundError) as raised:
        query.heatmap_query({"run": "r", "signal": "nope"})
    assert "grad_norm" in str(raised.value)  # the known ones are named
