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
    assert {"kind", "severity", "layer", "first_step", "last_step",
            "evidence", "advice", "message"} <= set(alert)
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


# ------------------------------------------------ formats, end to end


def test_every_format_reports_the_same_runs(logdir):
    from junitparser import JUnitXml

    junit = cli("report", logdir, "--format", "junit", "--fail-on", "warning")
    assert junit.returncode == 1, junit.stderr
    cases = {c.name: c for suite in JUnitXml.fromstring(junit.stdout)
             for c in suite}
    assert sorted(cases) == ["dying", "healthy", "pixels"]
    assert cases["healthy"].is_passed
    [failure] = cases["dying"].result
    assert failure.type == "critical" and "dead_relu" in failure.message
    assert "hidden_relu" in failure.message and "40-190" in failure.text
    assert [r.type for r in cases["pixels"].result] == ["warning"]

    github = cli("report", logdir, "--format", "github")
    assert github.returncode == 0, github.stderr
    lines = github.stdout.splitlines()
    assert [line.split(" ", 1)[0] for line in lines] == [
        "::error", "::warning", "::notice"]
    assert lines[0].startswith("::error title=trainhealth%3A dying%3A "
                               "dead_relu (hidden_relu)::run dying: ")
    assert "unscaled_inputs" in lines[1]
    assert lines[2].endswith("::3 runs: 1 critical, 1 warning, 1 ok")

    markdown = cli("report", logdir, "--format", "markdown")
    assert markdown.returncode == 0, markdown.stderr
    assert "| dying | \u274c critical | 1 | 0 | dead\\_relu |" in markdown.stdout

    assert (cli("report", logdir, "--format", "json").stdout
            == cli("report", logdir, "--json").stdout)


# ------------------------------------------------ start-up without TensorFlow


def test_report_imports_neither_tensorflow_nor_keras(logdir):
    """The real entry point (`python -m ...`, what the `trainhealth` script
    runs): `-X importtime` lists every module the process imported."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m",
         "tensorboard_plugin_trainhealth", "report", logdir, "--json"],
        capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout)["runs"]["dying"]["status"] == "critical"
    imported = {line.rsplit("|", 1)[1].strip()
                for line in result.stderr.splitlines()
                if line.startswith("import time:") and "|" in line}
    assert "tensorboard_plugin_trainhealth.diagnosis" in imported
    heavy = sorted(m for m in imported
                   if m.split(".")[0] in ("tensorflow", "keras", "torch",
                                          "jax"))
    assert heavy == []


# ------------------------------------------------ one bad run costs itself


def write_hostile_runs(root):
    """Two runs that broke the report for every run (issue 14, item 17):
    an epoch-end step that is NaN, and layer names that are not strings."""
    writer = SummaryWriter(str(root / "nan_epoch_step"))
    writer.scalar(metadata.STEP_LOSS, 0, 1.0)
    for epoch in range(3):
        writer.scalar(metadata.epoch_tag("loss"), epoch, 1.0)
        writer.scalar(metadata.EPOCH_END_STEP, epoch, float("nan"))
    writer.close()
    writer = SummaryWriter(str(root / "odd_layer_names"))
    for step in range(0, 50, 5):
        writer.vector(metadata.LAYER_DEAD_FRACTION, step, [1.0, 1.0],
                      [{"name": 5, "activation": "relu", "class": "Dense"},
                       {"name": ["x"], "activation": "relu"}])
    writer.close()


def test_a_bad_run_does_not_take_down_the_report(tmp_path):
    write_run(str(tmp_path / "dying"), dead_from=40)
    write_run(str(tmp_path / "healthy"))
    write_hostile_runs(tmp_path)

    result = cli("report", str(tmp_path), "--json")
    assert "Traceback" not in result.stderr
    assert result.returncode in (0, 4), result.stderr
    doc = json.loads(result.stdout)
    assert doc["runs"]["healthy"] == {"status": "ok", "alerts": []}
    assert doc["runs"]["dying"]["status"] == "critical"
    # Each hostile run is reported, or listed as unreadable with a reason.
    unreadable = {u["run"]: u for u in doc.get("unreadable", [])}
    for run in ("nan_epoch_step", "odd_layer_names"):
        assert (run in doc["runs"]) != (run in unreadable), run
        if run in unreadable:
            assert "cannot be read or diagnosed" in unreadable[run]["reason"]
    assert result.returncode == (4 if unreadable else 0)

    # --run naming a good run never reads the others.
    good = cli("report", str(tmp_path), "--run", "healthy")
    assert good.returncode == 0, good.stderr
    assert good.stdout == "healthy: OK (0 alerts)\n"
    gate = cli("report", str(tmp_path), "--fail-on", "critical",
               "--format", "junit")
    assert gate.returncode == 1  # a verdict outranks an incomplete report


def test_fifo_named_like_an_event_file_is_skipped(tmp_path):
    """Before: the CLI blocked forever opening the FIFO (issue 14, item 18)."""
    write_run(str(tmp_path / "healthy"))
    run = tmp_path / "with_fifo"
    write_run(str(run), dead_from=40)
    fifo = run / "events.out.tfevents.9999999999.host.1.trainhealth.v1"
    os.mkfifo(str(fifo))
    (tmp_path / "only_fifo").mkdir()
    os.mkfifo(str(tmp_path / "only_fifo" / "events.out.tfevents.1.h.2"))

    result = subprocess.run(
        [sys.executable, "-m", "tensorboard_plugin_trainhealth", "report",
         str(tmp_path), "--json"], capture_output=True, text=True,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"), timeout=120)
    assert result.returncode == 4, result.stderr
    doc = json.loads(result.stdout)
    # The run's regular event file is still read in full.
    assert doc["runs"]["with_fifo"]["status"] == "critical"
    assert doc["runs"]["healthy"]["status"] == "ok"
    skipped = sorted((u["run"], u["reason"]) for u in doc["unreadable"])
    assert skipped == [("only_fifo", "not a regular file (a FIFO)"),
                       ("with_fifo", "not a regular file (a FIFO)")]
    assert str(fifo) in result.stderr


def test_broken_link_named_like_an_event_file_is_listed(tmp_path):
    write_run(str(tmp_path / "healthy"))
    os.symlink(str(tmp_path / "nowhere"),
               str(tmp_path / "healthy" / "events.out.tfevents.1.h.3"))
    result = cli("report", str(tmp_path), "--json")
    assert result.returncode == 4, result.stderr
    doc = json.loads(result.stdout)
    assert doc["runs"]["healthy"]["status"] == "ok"
    [skipped] = doc["unreadable"]
    assert skipped["run"] == "healthy"
    assert skipped["reason"].startswith("cannot be read (No such file")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every directory")
def test_unreadable_run_directory_is_listed(tmp_path):
    write_run(str(tmp_path / "healthy"))
    locked = tmp_path / "locked"
    write_run(str(locked), dead_from=40)
    locked.chmod(0)
    try:
        result = cli("report", str(tmp_path), "--json")
    finally:
        locked.chmod(0o755)
    assert result.returncode == 4, result.stderr
    doc = json.loads(result.stdout)
    assert list(doc["runs"]) == ["healthy"]
    assert [u["run"] for u in doc["unreadable"]] == ["locked"]


def test_internal_error_exits_3(logdir, monkeypatch, capsys):
    """A bug (here: a renderer that raises) is told apart from a verdict."""
    from tensorboard_plugin_trainhealth import cli as cli_module
    from tensorboard_plugin_trainhealth import report_formats

    def broken(*args):
        raise RuntimeError("renderer bug")

    monkeypatch.setitem(report_formats.FORMATS, "text", broken)
    assert cli_module.main(["report", logdir]) == cli_module.EXIT_INTERNAL_ERROR
    err = capsys.readouterr().err
    assert "RuntimeError: renderer bug" in err and "internal error" in err


def test_exit_codes_are_documented():
    result = cli("report", "--help")
    assert result.returncode == 0
    for code in ("0 ok", "1 an alert at or above --fail-on",
                 "2 usage error", "3 internal error", "4 some run"):
        assert code in " ".join(result.stdout.split()), code
