"""MLflow: the callback logs health to a real tracking store (sqlite).

The store is MLflow's own SQLAlchemy store on a sqlite file and its
artifacts a local directory, both under the test's tmp dir; everything is
read back through `MlflowClient`. Where MLflow is not installed (CI's venv
without TensorFlow), only the last test runs: the callback trains as
before and imports nothing.
"""

import difflib
import importlib.util
import json
import os
import subprocess
import sys
import warnings

import pytest

HAVE_MLFLOW = importlib.util.find_spec("mlflow") is not None
needs_mlflow = pytest.mark.skipif(not HAVE_MLFLOW, reason="mlflow not installed")


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    import mlflow

    root = tmp_path_factory.mktemp("mlflow")
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri("sqlite:///%s" % (root / "mlflow.db"))
    experiment = mlflow.create_experiment(
        "trainhealth-tests", artifact_location=(root / "artifacts").as_uri())
    mlflow.set_experiment(experiment_id=experiment)
    yield mlflow.tracking.MlflowClient()
    while mlflow.active_run():
        mlflow.end_run()
    mlflow.set_tracking_uri(previous)


def cli_json(logdir, run):
    result = subprocess.run(
        [sys.executable, "-m", "tensorboard_plugin_trainhealth", "report",
         logdir, "--run", run, "--json"], capture_output=True, text=True,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"), timeout=300)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def artifact(client, run_id, tmp_path):
    path = client.download_artifacts(run_id, "trainhealth/report.json",
                                     str(tmp_path))
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def metric_history(client, run_id, key):
    return [(m.step, m.value) for m in sorted(
        client.get_metric_history(run_id, key), key=lambda m: m.step)]


@needs_mlflow
def test_mlflow_log_on_an_active_run(store, tmp_path):
    import mlflow
    from tensorboard_plugin_trainhealth.integrations.mlflow_log import MlflowLog
    from tests.test_cli import write_run

    write_run(str(tmp_path / "logs" / "dying"), dead_from=40)
    dead = {"kind": "dead_relu", "severity": "critical", "layer": "h",
            "first_step": 40, "last_step": 40, "evidence": {}, "advice": ""}
    stall = dict(dead, kind="stalled_loss", severity="warning", layer=None)
    with mlflow.start_run() as run:
        log = MlflowLog.maybe_start(None, str(tmp_path / "logs" / "dying"))
        assert log is not None and log.run_id == run.info.run_id
        log.epoch(0, [])
        log.epoch(1, [stall])
        log.epoch(2, [dead, stall])
        log.close([], str(tmp_path / "logs" / "dying"))
        assert mlflow.active_run().info.run_id == run.info.run_id  # not ours
    data = store.get_run(run.info.run_id).data
    assert data.tags["trainhealth.status"] == "critical"
    assert data.tags["trainhealth.alerts"] == "dead_relu"
    assert metric_history(store, run.info.run_id, "trainhealth.status") == [
        (0, 0.0), (1, 1.0), (2, 2.0)]
    assert metric_history(store, run.info.run_id, "trainhealth.warnings") == [
        (0, 0.0), (1, 1.0), (2, 1.0)]
    assert metric_history(store, run.info.run_id, "trainhealth.criticals") == [
        (0, 0.0), (1, 0.0), (2, 1.0)]
    # The artifact is what `trainhealth report --json` prints for the run.
    assert artifact(store, run.info.run_id, tmp_path) == cli_json(
        str(tmp_path / "logs"), "dying")


@needs_mlflow
def test_off_and_no_active_run_log_nothing(store):
    import mlflow
    from tensorboard_plugin_trainhealth.integrations.mlflow_log import MlflowLog

    assert MlflowLog.maybe_start(None) is None  # no active run
    with mlflow.start_run():
        assert MlflowLog.maybe_start(False) is None
    with pytest.raises(ValueError, match="mlflow must be"):
        from tensorboard_plugin_trainhealth import TrainHealthCallback
        TrainHealthCallback("logs", mlflow="yes")


def fit(log_dir, dead, **kwargs):
    from tensorboard_plugin_trainhealth import TrainHealthCallback
    from tests import integration_models

    x, y = integration_models.data()
    model = integration_models.model(dead=dead)
    callback = TrainHealthCallback(str(log_dir), every_n_steps=1, verbose=0,
                                   **kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(x, y, epochs=2, batch_size=64, validation_split=0.25,
                  verbose=0, callbacks=[callback])
    return callback


@needs_mlflow
def test_model_fit_logs_to_the_active_run(store, tmp_path):
    import mlflow

    with mlflow.start_run() as run:
        fit(tmp_path / "logs" / "dead", dead=True)
    run_id = run.info.run_id
    data = store.get_run(run_id).data
    assert data.tags["trainhealth.status"] == "critical"
    assert "dead_relu" in data.tags["trainhealth.alerts"].split(",")
    assert metric_history(store, run_id, "trainhealth.criticals")[-1][1] >= 1
    assert [s for s, _ in metric_history(store, run_id,
                                         "trainhealth.status")] == [0, 1]
    report = artifact(store, run_id, tmp_path)
    printed = cli_json(str(tmp_path / "logs"), "dead")
    assert report == printed, "\n".join(difflib.unified_diff(
        json.dumps(report, indent=1, sort_keys=True).splitlines(),
        json.dumps(printed, indent=1, sort_keys=True).splitlines(),
        "artifact", "trainhealth report --json", lineterm=""))
    [alert] = [a for a in report["runs"]["dead"]["alerts"]
               if a["kind"] == "dead_relu"]
    assert alert["layer"] == "hidden" and alert["evidence"]["fraction"] == 1.0


@needs_mlflow
def test_mlflow_true_starts_and_ends_a_run_and_false_logs_nothing(store,
                                                                 tmp_path):
    import mlflow

    assert mlflow.active_run() is None
    callback = fit(tmp_path / "healthy", dead=False, mlflow=True)
    assert mlflow.active_run() is None  # ended after fit
    assert [a.to_dict() for a in callback._recorder.alerts
            if a.severity != "info"] == []
    [run] = store.search_runs([mlflow.get_experiment_by_name(
        "trainhealth-tests").experiment_id],
        filter_string="attributes.run_name = 'healthy'")
    assert run.info.status == "FINISHED"
    assert run.data.tags["trainhealth.status"] == "ok"
    assert run.data.tags["trainhealth.alerts"] == ""
    assert run.data.metrics["trainhealth.status"] == 0.0

    with mlflow.start_run() as active:
        fit(tmp_path / "off", dead=True, mlflow=False)
    data = store.get_run(active.info.run_id).data
    assert not [k for k in list(data.tags) + list(data.metrics)
                if k.startswith("trainhealth")]
    assert not store.list_artifacts(active.info.run_id)


def test_without_mlflow_in_use_nothing_is_imported(tmp_path):
    """A fit with the default mlflow=None in a process that never imported
    MLflow (installed or not) imports nothing; where MLflow is not
    installed, mlflow=True is a clear error at construction."""
    code = (
        "import sys, warnings; warnings.simplefilter('ignore')\n"
        "from tests.test_mlflow import fit\n"
        "fit(sys.argv[1], dead=True)\n"
        "print('mlflow' in sys.modules)\n")
    result = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "run")],
        capture_output=True, text=True, timeout=300,
        cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == "False"
    if not HAVE_MLFLOW:
        from tensorboard_plugin_trainhealth import TrainHealthCallback
        with pytest.raises(ImportError, match="pip install mlflow"):
            TrainHealthCallback(str(tmp_path), mlflow=True)
