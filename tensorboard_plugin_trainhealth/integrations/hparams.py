"""Health where TensorBoard's Scalars and HParams dashboards read it.

The HParams dashboard takes its metric columns from scalars-plugin
summaries only (tensorflow/tensorboard#4161), so the run's health is also
written as three plain float32 scalars at each epoch end:

    trainhealth/status     0 ok, 1 warning, 2 critical (the status so far)
    trainhealth/warnings   warning alerts that count toward the status
    trainhealth/criticals  critical alerts that count toward the status

(metadata.HEALTH_TAGS). A run directory that also holds hparams (TensorBoard's `hparams` summaries,
e.g. from `write_hparams` below or `hparams_api.hparams`) then shows its
health as sortable, filterable columns of the HParams table.

    write_health_scalars(summary_writer, epoch, status, alerts)
    write_hparams("logs/trial_1", {"learning_rate": 0.01}, trial_id="1")

Neither needs TensorFlow: both write with TensorBoard's own event writer.
"""

import time

from tensorboard_plugin_trainhealth import metadata
from tensorboard_plugin_trainhealth import report as report_lib

STATUS_CODES = {"ok": 0.0, "warning": 1.0, "critical": 2.0}
# The hparams file's own suffix, beside the callback's event file.
HPARAMS_FILENAME_SUFFIX = ".trainhealth.hparams"


def health_values(status, alerts):
    """{tag: float} of the three health scalars (metadata.HEALTH_TAGS) for
    a status and its alerts (`Alert`s or alert dicts)."""
    n = report_lib.counts([report_lib.alert_dict(a) for a in alerts])
    return {metadata.HEALTH_STATUS: STATUS_CODES.get(status, 0.0),
            metadata.HEALTH_WARNINGS: float(n["warning"]),
            metadata.HEALTH_CRITICALS: float(n["critical"])}


def write_health_scalars(summary_writer, step, status, alerts):
    """Writes the three health scalars at `step` through the callback's
    `writer.SummaryWriter`, as scalars-plugin summaries."""
    for tag, value in health_values(status, alerts).items():
        summary_writer.plain_scalar(
            tag, step, value,
            description="Train Health: the run's health so far (0 ok, "
                        "1 warning, 2 critical; alert counts)")


def write_hparams(log_dir, hparams, trial_id=None, start_time_secs=None):
    """Writes one trial's hyperparameters ({name: bool|int|float|str}) into
    `log_dir` as TensorBoard's HParams session-start summary, in an event
    file of its own; works on every Keras backend."""
    from tensorboard.compat.proto import event_pb2
    from tensorboard.plugins.hparams import summary_v2
    from tensorboard.summary.writer import event_file_writer

    start = time.time() if start_time_secs is None else start_time_secs
    summary = summary_v2.hparams_pb(hparams, trial_id=trial_id,
                                    start_time_secs=start)
    writer = event_file_writer.EventFileWriter(
        log_dir, filename_suffix=HPARAMS_FILENAME_SUFFIX)
    try:
        writer.add_event(event_pb2.Event(wall_time=start, step=0,
                                         summary=summary))
    finally:
        writer.close()
