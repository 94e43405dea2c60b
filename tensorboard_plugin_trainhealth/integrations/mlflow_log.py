"""Training health on the active MLflow run.

When MLflow is in use, `TrainHealthCallback` logs to the run that is
active during `fit`:

* tags `trainhealth.status` (`ok` / `warning` / `critical`) and
  `trainhealth.alerts` (the kinds of the alerts that count toward the
  status, comma-separated), updated at each epoch end;
* metrics `trainhealth.status` (0 ok, 1 warning, 2 critical),
  `trainhealth.warnings` and `trainhealth.criticals`, one point per epoch;
* at the end of `fit`, the artifact `trainhealth/report.json`: the
  document `trainhealth report --json` prints for the run.

`mlflow=None` (the default) logs only when MLflow is already imported and a
run is active: a process that never imported MLflow pays nothing and
imports nothing. `mlflow=True` imports MLflow and starts a run if none is
active (and ends it after `fit`); `mlflow=False` never logs.

    log = MlflowLog.maybe_start(mode, run_dir)    # None: not logging
    log.epoch(epoch, alerts)
    log.close(alerts, run_dir)
"""

import importlib.util
import io
import os
import sys
import time

from tensorboard_plugin_trainhealth import report as report_lib
from tensorboard_plugin_trainhealth.integrations import hparams as hparams_lib

REPORT_ARTIFACT = "trainhealth/report.json"
_MODES = (None, True, False)


def check_mode(mode):
    """Validates the callback's `mlflow` argument (at construction)."""
    if mode not in _MODES or (mode is not None and not isinstance(mode, bool)):
        raise ValueError("mlflow must be None, True or False, got %r" % (mode,))
    if mode is True and importlib.util.find_spec("mlflow") is None:
        raise ImportError("mlflow=True needs MLflow: pip install mlflow "
                          "(or mlflow-skinny)")


class MlflowLog:
    """Logs one `fit`'s health to one MLflow run (see the module docstring)."""

    def __init__(self, mlflow, run_id, owns_run):
        self._mlflow = mlflow
        self._client = mlflow.tracking.MlflowClient()
        self.run_id = run_id
        self._owns_run = owns_run

    @classmethod
    def maybe_start(cls, mode, run_dir=None):
        """A `MlflowLog` on the run to log to, or None when not logging. A
        run started here is named like the run directory."""
        if mode is False:
            return None
        if mode is None:
            mlflow = sys.modules.get("mlflow")
            run = mlflow.active_run() if mlflow is not None else None
            return cls(mlflow, run.info.run_id, False) if run else None
        import mlflow  # pylint: disable=import-outside-toplevel

        run = mlflow.active_run()
        if run is not None:
            return cls(mlflow, run.info.run_id, False)
        run = mlflow.start_run(
            run_name=run_name(run_dir) if run_dir is not None else None)
        return cls(mlflow, run.info.run_id, True)

    def epoch(self, epoch, alerts):
        """Tags and metrics for the status after `epoch`."""
        entry = report_lib.run_entry(alerts)
        self._log(entry, step=int(epoch))

    def close(self, alerts, run_dir):
        """Final tags and metrics and the report artifact; ends the run if
        this object started it. `alerts` are used only when the run
        directory cannot be read back."""
        name, doc = report_document(run_dir, alerts)
        self._log(doc["runs"][name], step=None)
        self._client.log_dict(self.run_id, doc, REPORT_ARTIFACT)
        active = self._mlflow.active_run()
        if self._owns_run and active and active.info.run_id == self.run_id:
            self._mlflow.end_run()

    def _log(self, entry, step):
        from mlflow.entities import Metric, RunTag  # pylint: disable=import-outside-toplevel

        values = hparams_lib.health_values(entry["status"], entry["alerts"])
        kinds = sorted({a["kind"] for a in report_lib.at_or_above(
            entry["alerts"], "warning")})
        tags = [RunTag("trainhealth.status", entry["status"]),
                RunTag("trainhealth.alerts", ",".join(kinds))]
        metrics = []
        if step is not None:
            now = int(time.time() * 1000)
            metrics = [Metric(tag.replace("/", "."), value, now, step)
                       for tag, value in values.items()]
        self._client.log_batch(self.run_id, metrics=metrics, tags=tags)


def run_name(run_dir):
    """The run's name in the report: its directory's last part."""
    return os.path.basename(os.path.normpath(str(run_dir))) or str(run_dir)


def report_document(run_dir, alerts):
    """(run name, report document) of the run in `run_dir`, read back from
    its event files exactly as `trainhealth report --json` reads it; from
    the in-memory `alerts` if the directory cannot be read."""
    from tensorboard_plugin_trainhealth import cli  # pylint: disable=import-outside-toplevel

    name = run_name(run_dir)
    try:
        doc = cli.build_document(str(run_dir), ["."], err=io.StringIO())
        doc["runs"] = {name: doc["runs"]["."]}
        doc.pop("unreadable", None)
        return name, doc
    except Exception:  # pylint: disable=broad-except
        return name, report_lib.run_document(name, alerts)
