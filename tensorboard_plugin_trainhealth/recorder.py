"""The host side of recording: records into the run's history, the event
file and the live alerts.

Backend-neutral and framework-neutral: the Keras callback and the plain
PyTorch monitor read their values from the device their own way, hand them
over as a `Record` of numpy values, and this module does the rest the same
way for both: the rows of the per-layer matrices, the step and epoch
scalars, the facts, the live diagnosis (one printed line per alert) and the
health scalars the HParams dashboard reads.
"""

import atexit
import dataclasses
import functools
import math
import os
import weakref
from typing import Optional

import numpy as np

from tensorboard_plugin_trainhealth import metadata as md
from tensorboard_plugin_trainhealth import series as series_lib
from tensorboard_plugin_trainhealth.jsonsafe import to_json

# The parts of a record that are read from the device, by name: the fused
# reader and the separate reads both return {part name: vector}.
DEVICE_PARTS = ("weight_norm", "update_norm", "snapshot_norm", "grad_norm",
                "grad_step", "loss", "learning_rate")
NONFINITE_TAGS = (md.STEP_NONFINITE_LOSS, md.STEP_NONFINITE_WEIGHTS,
                  md.STEP_NONFINITE_GRADIENTS, md.STEP_NONFINITE_ACTIVATIONS)


@dataclasses.dataclass
class Record:
    """One record's values on the host; a part left None was not read.

    `update_norm`/`snapshot_norm` are ||w - w0|| and ||w0|| against a
    snapshot taken `update_steps` steps earlier. `grad_step` is the step
    the gradient norms belong to (the tap keeps the latest due step's).
    `probe` is a `probe_reading.ProbeReading`.
    """

    step: int
    weight_norm: Optional[np.ndarray] = None
    update_norm: Optional[np.ndarray] = None
    snapshot_norm: Optional[np.ndarray] = None
    update_steps: int = 1
    grad_norm: Optional[np.ndarray] = None
    grad_step: Optional[int] = None
    loss: Optional[float] = None
    learning_rate: Optional[float] = None
    probe: object = None

    @classmethod
    def from_parts(cls, step, parts, update_steps=1):
        """A record from {part name: host vector} (see DEVICE_PARTS)."""
        values = {name: np.asarray(parts[name]) for name in DEVICE_PARTS
                  if parts.get(name) is not None}
        for name in ("loss", "learning_rate"):
            if name in values:
                values[name] = float(values[name].reshape(-1)[0])
        if "grad_step" in values:
            values["grad_step"] = int(values["grad_step"].reshape(-1)[0])
        return cls(step=int(step), update_steps=max(1, int(update_steps)),
                   **values)


class Layout:
    """Which columns each per-layer, per-variable and per-output tag has."""

    def __init__(self, probe_layers=(), variable_columns=(), output_names=()):
        """`output_names`: the model's outputs, given when a probe runs
        (the per-output tags are measured on the probe)."""
        self.probe_layers = list(probe_layers)
        self.relu = [i for i, p in enumerate(self.probe_layers)
                     if p.family == "relu"]
        self.bounded = [i for i, p in enumerate(self.probe_layers)
                        if p.family == "bounded"]
        columns = {}
        for tag, indices in ((md.LAYER_DEAD_FRACTION, self.relu),
                             (md.LAYER_SATURATION, self.bounded),
                             (md.LAYER_ACTIVATION_NONFINITE,
                              range(len(self.probe_layers)))):
            if indices:
                columns[tag] = [self.probe_layers[i].column() for i in indices]
        if variable_columns:
            for tag in md.VARIABLE_TAGS:
                columns[tag] = list(variable_columns)
        if output_names:
            for tag in md.OUTPUT_TAGS:
                columns[tag] = [{"name": name} for name in output_names]
        self.columns = columns


class Recorder:
    """Writes one run: its event file, its in-memory history, its alerts.

    Args:
        log_dir: the run directory (validated by `check_log_dir`).
        guard: `guard(signal, fn, *args)` runs fn and, on failure, switches
            that signal off with one warning (the owner's never-break rule).
        thresholds: a `diagnosis.Thresholds`, or None.
        verbose: 1 prints one line per live alert; 0 prints nothing.
        write: False for processes that must not write (multi-process
            training: only the chief writes).
    """

    def __init__(self, log_dir, guard, thresholds=None, verbose=1, write=True):
        self.log_dir = log_dir
        self.guard = guard
        self.thresholds = thresholds
        self.verbose = verbose
        self.series = series_lib.RunSeries()
        self.writer = None
        self.layout = Layout()
        self.alerts = []  # the latest diagnosis, every alert
        self._write = write
        self._tracker = None  # diagnosis.LiveAlerts, made at the first look

    # -- the event file ------------------------------------------------------

    def open(self):
        """Opens the event file (once per fit); False if it cannot be."""
        if not self._write:
            return False
        from tensorboard_plugin_trainhealth import writer as writer_lib

        self.writer = self.guard("writer", writer_lib.SummaryWriter,
                                 self.log_dir)
        return self.writer is not None

    def flush(self):
        if self.writer is not None:
            self.guard("writer", self.writer.flush)

    def close(self):
        if self.writer is not None:
            self.guard("writer", self.writer.close)
            self.writer = None

    # -- what is recorded ----------------------------------------------------

    def set_layout(self, layout):
        """Starts (or keeps) the matrices of `layout`'s columns."""
        self.layout = layout
        for tag, columns in layout.columns.items():
            existing = self.series.matrices.get(tag)
            if existing is None or existing.columns != columns:
                self.series.matrices[tag] = series_lib.Matrix.empty(columns)

    def write_facts(self, step, facts):
        facts = dict(facts, columns=self.layout.columns)
        if self.writer is not None:
            # The same identity as the writer's heartbeats (writer.py).
            facts["writer"] = dict(self.writer.identity)
        self.series.facts.update(facts)
        if self.writer is not None:
            self.guard("writer", self.writer.json, md.RUN_FACTS, step,
                       to_json(facts))

    def add(self, record):
        """Adds one record; returns True if it holds a NaN or infinity."""
        step = record.step
        scalars = {}
        if record.weight_norm is not None:
            self._row(md.VARIABLE_WEIGHT_NORM, step, record.weight_norm)
            scalars[md.STEP_NONFINITE_WEIGHTS] = float(
                not np.all(np.isfinite(record.weight_norm)))
        if record.update_norm is not None and record.snapshot_norm is not None:
            before = record.snapshot_norm
            with np.errstate(divide="ignore", invalid="ignore"):
                # A weight that was exactly zero (a fresh bias) has no
                # relative update: NaN marks the ratio undefined.
                ratio = np.where(before > 0, record.update_norm / before,
                                 np.nan) / record.update_steps
            self._row(md.VARIABLE_UPDATE_RATIO, step, ratio)
        if record.grad_norm is not None and record.grad_step is not None:
            self._gradients(record, scalars)
        if record.probe is not None:
            self._probe(step, record.probe, scalars)
        if record.loss is not None:
            scalars[md.STEP_LOSS] = record.loss
            scalars[md.STEP_NONFINITE_LOSS] = float(not math.isfinite(record.loss))
        if record.learning_rate is not None:
            scalars[md.STEP_LEARNING_RATE] = record.learning_rate
        for tag, value in scalars.items():
            self._scalar(tag, step, value)
        # Each record reaches the file now: a training killed mid-epoch
        # keeps everything recorded before, and a TensorBoard reading the
        # run sees it on its next reload.
        self.flush()
        return any(scalars.get(tag) for tag in NONFINITE_TAGS)

    def _gradients(self, record, scalars):
        norms = record.grad_norm
        self._row(md.VARIABLE_GRAD_NORM, record.grad_step, norms)
        at_grad_step = {
            md.STEP_GRAD_NORM: float(np.sqrt(np.sum(np.square(
                norms.astype(np.float64))))),
            md.STEP_NONFINITE_GRADIENTS: float(not np.all(np.isfinite(norms))),
        }
        if record.grad_step == record.step:
            scalars.update(at_grad_step)
            return
        for tag, value in at_grad_step.items():
            self._scalar(tag, record.grad_step, value)

    def _probe(self, step, reading, scalars):
        layout = self.layout
        if layout.relu:
            self._row(md.LAYER_DEAD_FRACTION, step, reading.signal[layout.relu])
        if layout.bounded:
            self._row(md.LAYER_SATURATION, step, reading.signal[layout.bounded])
        if layout.probe_layers:
            self._row(md.LAYER_ACTIVATION_NONFINITE, step, reading.nonfinite)
            scalars[md.STEP_NONFINITE_ACTIVATIONS] = float(
                np.nansum(reading.nonfinite) > 0)
        self._row(md.OUTPUT_PREDICTION_STD, step, reading.prediction_std)
        self._row(md.OUTPUT_TOP_CLASS_SHARE, step, reading.top_class_share)

    def _row(self, tag, step, values):
        matrix = self.series.matrices.get(tag)
        if matrix is None or len(values) != len(matrix.columns):
            return
        matrix.append(step, values)
        if self.writer is not None:
            self.guard("writer", self.writer.vector, tag, step, values,
                       matrix.columns)

    def _scalar(self, tag, step, value):
        self.series.step_scalars.setdefault(tag, series_lib.Series.empty()) \
            .append(step, value)
        if self.writer is not None:
            self.guard("writer", self.writer.scalar, tag, step, value)

    def add_epoch(self, epoch, end_step, logs):
        """The epoch's metrics (Keras-style logs), their train/val gaps and
        the step it ended at."""
        values = {}
        for key, value in (logs or {}).items():
            try:
                values[str(key)] = float(value)
            except (TypeError, ValueError):
                continue  # non-scalar log entries are not ours to chart
        points = [(md.EPOCH_END_STEP, float(end_step))]
        for key, value in values.items():
            points.append((md.epoch_tag(key), value))
            self.series.epochs.setdefault(key, series_lib.Series.empty()) \
                .append(epoch, value)
            val_key = "val_" + key
            if not key.startswith("val_") and val_key in values:
                points.append((md.gap_tag(key), values[val_key] - value))
                ratio = values[val_key] / value if value != 0 else float("nan")
                points.append((md.gap_ratio_tag(key), ratio))
        self.series.epoch_end_step.append(epoch, end_step)
        if self.writer is not None:
            for tag, value in points:
                self.guard("writer", self.writer.scalar, tag, epoch, value)

    # -- alerts --------------------------------------------------------------

    def diagnose(self, step):
        """Runs the rules on the history so far; prints, writes and returns
        what changed since the last time (`diagnosis.LiveEvent`s: alerts
        raised, escalated, resolved or withdrawn)."""
        if self._tracker is None:
            from tensorboard_plugin_trainhealth import diagnosis

            self._tracker = diagnosis.LiveAlerts(self.thresholds)
        events = self._tracker.update(self.series)
        self.alerts = self._tracker.alerts
        self._health_scalars(step, self.alerts)
        if events:
            documents = [to_json(e.to_dict()) for e in events]
            self.series.live_alerts.extend((step, d) for d in documents)
            if self.writer is not None:
                self.guard("writer", self.writer.json, md.RUN_ALERTS, step,
                           documents)
            if self.verbose:
                for event in events:
                    print(event_line(event))
        return events

    def _health_scalars(self, step, alerts):
        """The run's status so far as plain scalars, which TensorBoard's
        Scalars and HParams dashboards read as metrics."""
        if self.writer is None:
            return
        from tensorboard_plugin_trainhealth import diagnosis
        from tensorboard_plugin_trainhealth.integrations import hparams

        self.guard("writer", hparams.write_health_scalars, self.writer, step,
                   diagnosis.run_status(alerts), alerts)


class ExitHook:
    """Runs `owner.<method>()` at interpreter exit unless cancelled first
    (a fit or loop that raised, or Ctrl-C, never reaches its end): without
    keeping `owner` alive, and one hook per owner, so cancelling one
    leaves the others' in place."""

    def __init__(self, owner, method):
        self._handler = functools.partial(_call_at_exit, weakref.ref(owner),
                                          method)

    def arm(self):
        atexit.register(self._handler)

    def cancel(self):
        atexit.unregister(self._handler)


def _call_at_exit(owner_ref, method):
    owner = owner_ref()
    if owner is None:
        return
    try:
        getattr(owner, method)()
    except Exception:  # at exit there is nobody left to tell
        pass


def timed_probe(probe, due, guard, disabled, clock):
    """Runs the activation probe when it is `due` and on: (its reading or
    None, the seconds it took or None when it did not run)."""
    if probe is None or "activation_stats" in disabled or not due():
        return None, None
    started = clock()
    reading = guard("activation_stats", probe)
    return reading, clock() - started


def event_line(event):
    """One printed line for a live alert's event."""
    alert = event.alert
    if event.event == "raised":
        tag = alert.severity
    elif event.event == "resolved":
        tag = "%s, resolved at step %s" % (alert.severity, alert.resolved_step)
    else:
        tag = "%s, %s" % (alert.severity, event.event)
    return "Train Health [%s] %s" % (tag, alert.message)


def check_log_dir(log_dir):
    """The run directory as a string; ValueError for None or empty."""
    if log_dir is None or (isinstance(log_dir, str) and not log_dir.strip()):
        raise ValueError(
            "log_dir must name a directory for the run's records, e.g. "
            "TrainHealthCallback('logs/run1'); got %r" % (log_dir,))
    return os.fspath(log_dir)
