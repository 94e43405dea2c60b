"""A real `tensorboard` process serves the tab, on both data paths.

`--load_fast=true` reads through the Rust data server, `--load_fast=false`
through the Python multiplexer. Each must list the plugin, keep all 30
records of the generated run (our loader raises TensorBoard's default
sample limit) and serve the frontend.
"""

import json
import urllib.parse

import pytest

from tests import logdir_fixtures as fx
from tests import tb_process

PREFIX = "/data/plugin/trainhealth"


@pytest.fixture(scope="module")
def logdir(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("smoke_logs"))
    return root, fx.write_logdir(root)


@pytest.mark.parametrize("load_fast", [True, False],
                         ids=["load_fast", "multiplexer"])
def test_tensorboard_serves_trainhealth(logdir, load_fast):
    root, written = logdir
    tb = tb_process.TensorBoardProcess(root, load_fast=load_fast)
    try:
        tb.start()
        tb.wait_for_plugin("trainhealth", timeout=60)
        listing = tb.get_json("/data/plugins_listing")["trainhealth"]
        assert listing["tab_name"] == "Train Health"
        assert listing["loading_mechanism"]["type"] == "IFRAME"

        # The data server may list runs before it has read all records.
        def all_runs_loaded():
            runs = tb.get_json(PREFIX + "/runs")["runs"]
            return runs if len(runs) == len(written) else None
        runs = tb_process.wait_for(all_runs_loaded, 60, "both runs listed")
        assert sorted(r["run"] for r in runs) == sorted(written)

        query = urllib.parse.urlencode({"run": "mlp"})

        def whole_run():
            body = tb.get_json(PREFIX + "/run?" + query)
            grad = body["step_series"].get("grad_norm_global")
            if grad and len(grad["steps"]) == written["mlp"]["steps"]:
                return body
            return None
        body = tb_process.wait_for(whole_run, 60, "all 30 records")
        values = body["step_series"]["grad_norm_global"]["values"]
        assert values[written["mlp"]["nan_step"]] == "NaN"
        assert values[written["mlp"]["inf_step"]] == "Infinity"
        assert values[0] == 5.0
        assert body["epochs"]["val_loss"]["values"] == [1.0, 0.75, 0.75]
        assert [layer["name"] for layer in body["layers"]] == [
            "dense", "dense_1", "gate"]

        heatmap_query = urllib.parse.urlencode(
            {"run": fx.HOSTILE_RUN, "signal": "dead_fraction"})
        heatmap = tb.get_json(PREFIX + "/heatmap?" + heatmap_query)
        assert [r["name"] for r in heatmap["rows"]] == [
            fx.HOSTILE_LAYER, "dense_1"]
        assert heatmap["values"][1] == [1.0] * written["mlp"]["steps"]

        status, script, headers = tb.get(PREFIX + "/index.js")
        assert status == 200
        assert headers["Content-Type"].startswith("text/javascript")
        assert b"export async function render" in script
        status, _, _ = tb.get(PREFIX + "/%2e%2e/%2e%2e/setup.py")
        assert status == 404
        status, _, _ = tb.get(PREFIX + "/heatmap?run=mlp&signal=bogus")
        assert status == 404
    except Exception:
        print(tb.log_text())
        raise
    finally:
        tb.stop()


def test_tab_is_disabled_without_data(tmp_path):
    fx.write_plain_logdir(str(tmp_path))
    with tb_process.TensorBoardProcess(str(tmp_path), load_fast=False) as tb:
        # Wait for the stock scalars to load, then check our tab stays off.
        tb.wait_for_plugin("scalars", timeout=60)
        listing = tb.get_json("/data/plugins_listing")
        assert listing["trainhealth"]["enabled"] is False
        assert json.loads(tb.get(PREFIX + "/runs")[1]) == {
            "runs": [], "problems": [], "total": 0, "offset": 0,
            "limit": None, "pending": 0}
