"""End-to-end tests of `python -m tensorboard_plugin_trainhealth report`."""

import json
import os
import subprocess
import sys

import pytest

from tensorboard_plugin_trainhealth import metadata
from tensorboard_plugin_trainhealth.writer import SummaryWriter

LAYERS = [
    {"name": "hidden_relu", "class": "Dense", "activation": "relu",
     "is_output": False, "units": 16},
    {"name": "head", "class": "Dense", "activation": "sigmoid",
     "is_output": True, "units": 1},
]
FACTS = {
    "loss": {"name": "binary_crossentropy", "from_logits": False},
    "outputs": [{"layer": "head", "activation": "sigmoid", "units": 1}],
    "inputs": [{"name": "x", "abs_max": 3.0, "mean": 0.0, "std": 1.0,
                "min": -3.0, "max": 3.0, "nonfinite_fraction": 0.0,
                "max_feature_std": 1.0, "samples": 256}],
    "optimizer": {"class": "Adam", "learning_rate": 0.01},
    "every_n_steps": 10,
    "steps_per_epoch": 20,
    "epochs": 10,
}


def write_run(log_dir, dead_from=None, unscaled=False):
    """A 200-step run; `hidden_relu` is 100% dead from `dead_from` on."""
    facts = json.loads(json.dumps(FACTS))
    if unscaled:
        facts["inputs"][0].update(abs_max=300.0, std=40.0, min=0.0,
                                  max=300.0, max_feature_std=50.0)
    writer = SummaryWriter(log_dir)
    writer.json(metadata.RUN_FACTS, 0, facts)
    for step in range(0, 200, 10):
        writer.scalar(metadata.STEP_LOSS, step, 0.7 - step / 1000)
        writer.scalar(metadata.STEP_GRAD_NORM, step, 0.5)
        writer.scalar(metadata.STEP_LEARNING_RATE, step, 0.01)
        dead = 1.0 if dead_from is not None and step >= dead_from else 0.05
        writer.vector(metadata.LAYER_DEAD_FRACTION, step, [dead, 1.0],
                      LAYERS)
    for epoch in range(10):
        writer.scalar(metadata.epoch_tag("loss"), epoch, 0.7 - epoch / 50)
        writer.scalar(metadata.EPOCH_END_STEP, epoch, (epoch + 1) * 20)
    writer.close()


@pytest.fixture(scope="module")
def logdir(tmp_path_factory):
    root = tmp_path_factory.mktemp("logs")
    write_run(str(root / "dying"), dead_from=40)
    write_run(str(root / "healthy"))
    write_run(str(root / "pixels"), unscaled=True)
    return str(root)


def cli(*args):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run(
        [sys.executable, "-m", "tensorboard_plugin_trainhealth"] + list(args),
        capture_output=True, text=True, env=env, timeout=300)


def test_json_report(logdir):
    result = cli("report", logdir, "--json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert list(document) == ["runs"]
    runs = document["runs"]
    assert sorted(runs) == ["dying", "healthy", "pixels"]
    for run in runs.values():
        assert sorted(run) == ["alerts", "status"]
    assert runs["healthy"] == {"status": "ok", "alerts": []}
    assert runs["pixels"]["status"] == "warning"
    assert [a["kind"] for a in runs["pixels"]["alerts"]] == [
        "unscaled_inputs"]

    assert runs["dying"]["status"] == "critical"
    [alert] = runs["dying"]["alerts"]
    assert list(alert) == ["kind", "severity", "layer", "first_step",
                           "last_step", "evidence", "advice"]
    assert alert["kind"] == "dead_relu"
    assert alert["severity"] == "critical"
    assert alert["layer"] == "hidden_relu"  # the output layer is not judged
    assert (alert["first_step"], alert["last_step"]) == (40, 190)
    assert alert["evidence"]["fraction"] == 1.0
    assert "0.001" in alert["advice"]  # the recorded LR, lowered 10x


def test_table_report_and_run_filter(logdir):
    result = cli("report", logdir, "--run", "dying")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "dying: CRITICAL" in out
    assert "hidden_relu" in out and "dead_relu" in out
    assert "40-190" in out
    assert "healthy" not in out


@pytest.mark.parametrize("run,fail_on,code", [
    ("dying", "critical", 1),
    ("dying", "warning", 1),
    ("pixels", "critical", 0),
    ("pixels", "warning", 1),
    ("healthy", "warning", 0),
])
def test_fail_on_exit_codes(logdir, run, fail_on, code):
    result = cli("report", logdir, "--run", run, "--json",
                 "--fail-on", fail_on)
    assert result.returncode == code, result.stderr
    assert list(json.loads(result.stdout)["runs"]) == [run]


def test_usage_errors_exit_2(logdir, tmp_path):
    unknown = cli("report", logdir, "--run", "nope")
    assert unknown.returncode == 2
    assert "unknown run 'nope'" in unknown.stderr
    assert "dying" in unknown.stderr  # lists the runs there are

    missing = cli("report", str(tmp_path / "absent"))
    assert missing.returncode == 2
    assert "logdir not found" in missing.stderr

    empty = cli("report", str(tmp_path))
    assert empty.returncode == 2
    assert "no trainhealth data" in empty.stderr

    bad_flag = cli("report", logdir, "--fail-on", "info")
    assert bad_flag.returncode == 2
    assert "--fail-on" in bad_flag.stderr


def test_main_in_process(logdir, capsys):
    from tensorboard_plugin_trainhealth import cli as cli_module

    assert cli_module.main(["report", logdir, "--run", "healthy"]) == 0
    assert "healthy: OK (0 alerts)" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_info:
        cli_module.main([])
    assert exit_info.value.code == 2
