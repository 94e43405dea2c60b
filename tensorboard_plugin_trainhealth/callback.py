"""`TrainHealthCallback`: records training-health signals while Keras trains.

The callback runs almost nothing per step. On the steps its cadence
(`cadence.py`) makes due it reads a few reductions from the device
(gradient norms captured inside the optimizer, weight and update norms, the
activation probe's statistics) and hands them to the recorder
(`recorder.py`), which writes them as trainhealth summaries, keeps the same
history in memory, and runs the diagnosis rules so that alerts (or a stop)
come while training runs. A last record is written when the fit ends, so
the history reaches its final step.

It must never break training: every signal is computed under a guard, and a
failure turns that signal off with one warning.
"""

import atexit
import inspect
import os
import socket
import time
import uuid
import warnings
import weakref

import keras
from keras import ops

from tensorboard_plugin_trainhealth import cadence as cadence_lib
from tensorboard_plugin_trainhealth import facts as facts_lib
from tensorboard_plugin_trainhealth import gradients
from tensorboard_plugin_trainhealth import layer_tree
from tensorboard_plugin_trainhealth import probe as probe_lib
from tensorboard_plugin_trainhealth import readout as readout_lib
from tensorboard_plugin_trainhealth import recorder as recorder_lib
from tensorboard_plugin_trainhealth import stats
from tensorboard_plugin_trainhealth.integrations import keras_tuner
from tensorboard_plugin_trainhealth.integrations import mlflow_log

# The probe's samples run in chunks small enough that no inspected layer's
# output for a chunk exceeds this.
PROBE_MEMORY_BUDGET_BYTES = 64 * 2**20

# Kept on the model, so that later fits (and new callbacks) continue the
# run's axes: a recompiled optimizer counts its steps from 0 again, and a
# second fit() without initial_epoch counts epochs from 0 again.
_LAST_EPOCH_ATTRIBUTE = "_trainhealth_last_epoch"
_LAST_STEP_ATTRIBUTE = "_trainhealth_last_step"


class TrainHealthWarning(UserWarning):
    """A signal switched off after an error, or a setup the callback refuses."""


class _Fit:
    """What recording one `fit` needs; a new one per fit."""

    def __init__(self, chief=True):
        self.chief = chief
        self.ended = False
        self.cadence = None
        self.offset = 0  # recorded step = optimizer step + offset
        self.epoch_base = 0  # optimizer steps done when the epoch began
        self.first_epoch = True
        self.variables = []
        self.variable_columns = []
        self.tap = None
        self.tap_last_step = -1
        self.readout = None
        self.readout_error = None
        self.separate_reads = None  # (weight norms fn, update norms fn)
        self.probe = None
        self.probe_layers = []
        self.output_names = []
        self.snapshot = None  # (optimizer step, weight copies)
        self.last_recorded = -1
        self.device_wait = None
        self.mlflow = None  # an integrations.mlflow_log.MlflowLog


class TrainHealthCallback(keras.callbacks.Callback):
    """Records training-health signals for TensorBoard's "Train Health" tab.

    Per layer, where it applies: the fraction of dead ReLU units, the
    fraction of saturated sigmoid/tanh/softmax outputs, gradient norms (of
    the gradients the optimizer actually applies, per variable and global),
    update-to-weight ratios and weight norms; per output, how much the
    predictions vary across samples; per epoch, every metric against its
    `val_` counterpart; NaN/Inf flags for the loss, weights, gradients and
    activations; and facts about the model, its losses, inputs and targets.
    Alerts from the diagnosis rules are written too, and printed while
    training runs (one line each).

    Example:

    ```python
    import numpy as np
    import keras
    from tensorboard_plugin_trainhealth import TrainHealthCallback

    x = np.random.rand(512, 8).astype("float32")
    y = (x.sum(axis=1) > 4).astype("float32")
    model = keras.Sequential([
        keras.Input((8,)),
        keras.layers.Dense(16, activation="relu"),
        keras.layers.Dense(1, activation="sigmoid"),
    ])
    model.compile("adam", "binary_crossentropy", metrics=["accuracy"])
    model.fit(x, y, validation_split=0.2, epochs=3,
              callbacks=[TrainHealthCallback("logs/run1")])
    # then: tensorboard --logdir logs
    ```

    Args:
        log_dir: directory of the run. Works beside
            `keras.callbacks.TensorBoard(log_dir)`: our event file has its
            own name.
        every_n_steps: record cadence in optimizer steps. `"auto"` records
            densely at first (the first 30 records at up to 300 per `fit`),
            then as often as about 1.5% of the training time allows (0.75%
            for the norms, 0.75% for the activation probe), and never
            leaves more than a tenth of a fit without a record and a probe.
            A number records every that many steps, probe included,
            whatever it costs.
        probe_samples: how many training samples the activation probe uses.
        probe_data: inputs for the probe (arrays, a list or dict of arrays
            for multi-input models, or a batched `tf.data.Dataset`). By
            default the probe is taken from the data given to `fit`; a
            plain Python generator is never read, so pass this for those.
        activation_stats: record dead-ReLU and saturation fractions.
        gradient_norms: record gradient norms (see `gradients.py` for how
            they are obtained on each backend).
        update_ratios: record update-to-weight ratios (costs one copy of
            the weights on cadence steps).
        on_critical: `"warn"` (default) or `"stop"`: stop training, the way
            `TerminateOnNaN` does, when a critical alert is raised, printing
            why.
        thresholds: a `diagnosis.Thresholds` to override the rules' limits.
        verbose: 1 prints alerts as they are raised; 0 prints nothing.
        mlflow: `None` (default) logs the run's health to the active MLflow
            run, if MLflow is imported and a run is active during `fit`;
            `True` also starts (and ends) a run when none is active;
            `False` never logs. See `integrations/mlflow_log.py`.

    Under a KerasTuner search (`tuner.search(..., callbacks=[...])`), each
    trial writes to `log_dir/<trial_id>/execution<N>` with its
    hyperparameters for TensorBoard's HParams dashboard, as KerasTuner does
    for `keras.callbacks.TensorBoard`.

    With `steps_per_execution=N`, Keras calls callbacks once per N steps:
    records fall on the first step boundary at or after each due step, and
    all parts of a record (norms, probe, loss) come from that boundary's
    step, except gradient norms, which are written at the step they were
    measured at.
    """

    def __init__(
        self,
        log_dir="logs/trainhealth",
        every_n_steps="auto",
        probe_samples=256,
        probe_data=None,
        activation_stats=True,
        gradient_norms=True,
        update_ratios=True,
        on_critical="warn",
        thresholds=None,
        verbose=1,
        mlflow=None,
    ):
        super().__init__()
        mlflow_log.check_mode(mlflow)
        if on_critical not in ("warn", "stop"):
            raise ValueError(
                "on_critical must be 'warn' or 'stop', got %r" % (on_critical,))
        cadence_lib.Cadence(every_n_steps)  # raises for a bad value
        if not isinstance(probe_samples, int) or probe_samples < 1:
            raise ValueError("probe_samples must be a positive int")
        self.log_dir = self._base_log_dir = recorder_lib.check_log_dir(log_dir)
        self.mlflow = mlflow
        self.every_n_steps = every_n_steps
        self.probe_samples = probe_samples
        self.probe_data = probe_data
        self.activation_stats = activation_stats
        self.gradient_norms = gradient_norms
        self.update_ratios = update_ratios
        self.on_critical = on_critical
        self.thresholds = thresholds
        self.verbose = verbose
        self._clock = time.perf_counter  # the cadence's clock (tests fake it)
        self._disabled = set()
        self._warned = set()
        self._recorder = recorder_lib.Recorder(
            self.log_dir, self._guard, thresholds, verbose)
        self._fit = None  # the fit being recorded (kept, ended, after it)

    @property
    def series(self):
        """The run's history so far (`series.RunSeries`), as diagnosed."""
        return self._recorder.series

    # -- Keras hooks ---------------------------------------------------------

    def on_train_begin(self, logs=None):
        # An earlier fit of ours that never ended (an exception, Ctrl-C in
        # a notebook) gets its last record now.
        self._guard("setup", self._finish)
        other = _other_trainhealth_callback(self)
        if other is not None:
            self._warn_once(
                "second_callback",
                "TrainHealthCallback: this fit has two TrainHealthCallbacks "
                "(log_dir %r and %r); only the first records. Pass one."
                % (other.log_dir, self.log_dir))
            return
        self._guard("keras_tuner", self._enter_trial)
        self._fit = self._guard("setup", self._start)
        if self._fit is not None and self._fit.chief:
            self._fit.mlflow = self._guard(
                "mlflow", mlflow_log.MlflowLog.maybe_start, self.mlflow,
                self.log_dir)

    def on_epoch_begin(self, epoch, logs=None):
        fit = self._fit
        if fit is None or fit.ended:
            return
        self._guard("setup", self._sync_step, fit)
        if fit.first_epoch:
            fit.first_epoch = False
            self._guard("setup", self._plan_cadence, fit, epoch)
        if fit.cadence is not None:
            fit.cadence.epoch_started()

    def on_train_batch_begin(self, batch, logs=None):
        # The only per-step work: integer arithmetic on the host. Batch
        # hooks at the *begin* of a step do not make Keras convert the
        # previous step's logs, so no device sync happens here off-cadence.
        fit = self._fit
        if fit is None or fit.ended or fit.cadence is None or not fit.chief:
            return
        cadence = fit.cadence
        completed = fit.epoch_base + batch
        cadence.step_started(completed)
        if cadence.is_due(completed - 1) and completed - 1 > fit.last_recorded:
            self._guard("record", self._wait_for_device, fit)
            self._guard("record", self._record, fit, completed - 1)
        if completed == cadence.next_record:
            started = self._clock()
            self._guard("update_ratios", self._snapshot_weights, fit, completed)
            cadence.snapshot_done(self._clock() - started)
        if fit.tap is not None:
            # Read by the eager (torch) tap only: is the coming step due?
            fit.tap.host_due = completed % cadence.period == 0

    def on_epoch_end(self, epoch, logs=None):
        fit = self._fit
        if fit is None or fit.ended or not fit.chief:
            return
        logs = logs or {}
        self._guard("setup", self._sync_step, fit)
        last = fit.epoch_base - 1
        if fit.cadence is not None and fit.cadence.is_due(last) \
                and last > fit.last_recorded:
            # Validation has run: the loss tracker holds the validation
            # loss now, the logs the training loss.
            self._guard("record", self._record, fit, last, logs.get("loss"))
        self._guard("epoch", self._write_epoch, fit, epoch, logs)
        self._guard("diagnosis", self._diagnose, fit.epoch_base + fit.offset)
        if fit.mlflow is not None:
            self._guard("mlflow", fit.mlflow.epoch,
                        getattr(self.model, _LAST_EPOCH_ATTRIBUTE, epoch),
                        self._recorder.alerts)
        self._recorder.flush()

    def on_train_end(self, logs=None):
        self._guard("setup", self._finish, logs)

    # -- a fit's start and end -----------------------------------------------

    def _start(self):
        model = self.model
        fit = _Fit(chief=_is_chief_process())
        iterations = _optimizer_step(model)
        fit.epoch_base = iterations
        fit.offset = max(0, getattr(model, _LAST_STEP_ATTRIBUTE, -1) + 1
                         - iterations)
        fit.cadence = cadence_lib.Cadence(
            self.every_n_steps, self._total_steps(), iterations, self._clock)
        if not fit.chief:
            # Multi-process training: every process must run the same
            # compiled step, so the gradient tap goes in everywhere, but only
            # process 0 computes statistics and writes.
            if self.gradient_norms and model.optimizer is not None:
                fit.tap = self._guard("gradient_norms", self._install_tap, fit)
            return fit
        if self._recorder.open():
            # fit() raising (or Ctrl-C) skips on_train_end: finish at exit.
            atexit.register(_finish_at_exit, weakref.ref(self))
        probe_data = None
        if self.activation_stats:
            probe_data = self._guard("activation_stats", self._probe_data)
            if probe_data is None and "activation_stats" not in self._disabled:
                self._warn_once(
                    "no_probe",
                    "TrainHealthCallback: no probe data could be taken from "
                    "this fit's input (a Python generator?); activation "
                    "statistics are off. Pass probe_data=<a few hundred "
                    "input samples> to turn them on.")
        reading, skipped = None, []
        if probe_data is not None:
            # Runs the model, which also builds a subclassed model that has
            # not seen data yet.
            built = self._guard("activation_stats", self._build_probe, fit,
                                probe_data[0])
            if built is not None:
                reading, skipped = built
        self._guard("variables", self._init_variables, fit)
        self._set_layout(fit)
        self._guard("facts", self._write_facts, fit, probe_data, reading,
                    skipped)
        self._guard("diagnosis", self._diagnose, iterations + fit.offset)
        return fit

    def _plan_cadence(self, fit, epoch):
        """With the first epoch known, the steps this fit runs are known."""
        total = self._total_steps(first_epoch=epoch)
        if total != fit.cadence.total_steps:
            fit.cadence = cadence_lib.Cadence(
                self.every_n_steps, total, fit.epoch_base, self._clock)
        if fit.tap is not None:
            fit.tap.every_n_steps.assign(fit.cadence.period)

    def _finish(self, logs=None):
        """The fit's last record, a last diagnosis, and the file closed."""
        fit = self._fit
        if fit is None or fit.ended:
            return
        fit.ended = True
        atexit.unregister(_finish_at_exit)
        final = _optimizer_step(self.model) - 1
        if fit.chief and fit.cadence is not None and final > fit.last_recorded:
            loss = (logs or {}).get("loss")
            self._guard("record", self._wait_for_device, fit)
            self._guard("record", self._record, fit, final, loss, True)
            self._guard("diagnosis", self._diagnose, final + fit.offset)
        if final + fit.offset >= 0:
            object.__setattr__(self.model, _LAST_STEP_ATTRIBUTE,
                               max(final + fit.offset,
                                   getattr(self.model, _LAST_STEP_ATTRIBUTE, -1)))
        self._recorder.close()
        if fit.mlflow is not None:
            self._guard("mlflow", fit.mlflow.close, self._recorder.alerts,
                        self.log_dir)

    def _enter_trial(self):
        """Under a KerasTuner search: this trial's run dir and hparams."""
        trial = keras_tuner.current_trial()
        if trial is not None:
            self.log_dir = self._recorder.log_dir = trial.log_dir(
                self._base_log_dir)
            trial.write_hparams(self.log_dir)

    def _total_steps(self, first_epoch=0):
        steps = (self.params or {}).get("steps")
        epochs = (self.params or {}).get("epochs")
        if not steps or not epochs:
            return None
        return steps * max(1, epochs - first_epoch)

    def _sync_step(self, fit):
        # One device read per epoch: the optimizer's step counter is the
        # step axis, so a second fit or a restored model continues it.
        fit.epoch_base = _optimizer_step(self.model)

    # -- the probe, the variables, the facts ---------------------------------

    def _probe_data(self):
        """(inputs, targets) for the probe, or None."""
        if self.probe_data is not None:
            return probe_lib.probe_from_user(self.probe_data, self.probe_samples)
        return probe_lib.capture_from_fit(self.model, self.probe_samples)

    def _build_probe(self, fit, inputs):
        """Builds the probe and runs it once; returns (its first reading,
        the layers not inspected)."""
        model = self.model
        layers, skipped = probe_lib.find_probe_layers(model)
        chunks = probe_lib.chunks_for_memory(model, layers, inputs,
                                             PROBE_MEMORY_BUDGET_BYTES)
        fit.output_names = facts_lib.output_names(model)
        probe = probe_lib.ActivationProbe(model, layers, inputs,
                                          fit.output_names, chunks)
        reading = probe()
        if reading.unreached:
            # A layer the forward pass never calls (attention computed by a
            # fused kernel instead of its Softmax layer) has no outputs.
            skipped = skipped + [
                {"layer": layers[i].name,
                 "reason": "not called in the model's forward pass"}
                for i in reading.unreached]
            layers = [p for i, p in enumerate(layers)
                      if i not in reading.unreached]
            probe = probe_lib.ActivationProbe(model, layers, inputs,
                                              fit.output_names, chunks)
            reading = probe()
        fit.probe, fit.probe_layers = probe, layers
        return reading, skipped

    def _init_variables(self, fit):
        """Per-variable bookkeeping, the gradient tap and the fused reader.

        A model that is still unbuilt has no variables yet; this runs again
        at the first record, after the first step has built it.
        """
        model = self.model
        fit.variables = list(model.trainable_variables)
        if not fit.variables:
            return
        variables = fit.variables
        fit.variable_columns = layer_tree.variable_columns(model, variables)
        fit.separate_reads = (
            stats.compile_for_backend(
                lambda: stats.weight_norms(variables), variables),
            stats.compile_for_backend(
                lambda snapshot: stats.update_norms(variables, snapshot),
                variables))
        if self.gradient_norms and model.optimizer is not None:
            fit.tap = self._guard("gradient_norms", self._install_tap, fit)
        try:
            # Built once per model and variable set, and kept on the model,
            # so a second fit (or a new callback) reuses what was compiled.
            loss_metric = readout_lib.loss_metric(model)
            key = ("readout", tuple(id(v) for v in variables), id(fit.tap),
                   id(loss_metric), id(model.optimizer))
            fit.readout = stats.cached_on(
                model, key,
                lambda: readout_lib.record_readout(model, variables, fit.tap))
        except Exception as e:  # the separate, guarded reads still work
            fit.readout, fit.readout_error = None, e

    def _install_tap(self, fit):
        tap, fresh = gradients.GradientTap.install(self.model,
                                                   fit.cadence.period)
        if fresh and getattr(self.model, "train_function", None) is not None:
            # The step was traced before the tap existed; trace it again so
            # it captures the norms (once per model, not per fit).
            self.model.make_train_function(force=True)
        fit.tap_last_step = tap.read()[0]
        return tap

    def _set_layout(self, fit):
        self._recorder.set_layout(recorder_lib.Layout(
            fit.probe_layers, fit.variable_columns,
            fit.output_names if fit.probe is not None else ()))

    def _write_facts(self, fit, probe_data, reading, skipped):
        model = self.model
        facts = facts_lib.describe_model(model)
        facts.update(
            every_n_steps=fit.cadence.period,
            probe_samples=fit.probe.samples if fit.probe is not None else 0,
            steps_per_epoch=(self.params or {}).get("steps"),
            epochs=(self.params or {}).get("epochs"),
            initial_step=fit.epoch_base + fit.offset,
            gradient_source="optimizer" if fit.tap is not None else "off",
            backend=keras.backend.backend(),
            writer={"id": uuid.uuid4().hex[:12], "pid": os.getpid(),
                    "host": socket.gethostname()},
        )
        if probe_data is not None:
            inputs, targets = probe_data
            facts["inputs"] = facts_lib.input_facts(model, inputs)
            facts["targets"] = facts_lib.target_facts(
                facts_lib.output_names(model), targets)
        if reading is not None:
            for j, head in enumerate(facts["outputs"]):
                head["measured"] = reading.measured(j)
        facts["probe"] = {
            "samples": fit.probe.samples if fit.probe is not None else 0,
            "requested": self.probe_samples,
            "chunks": fit.probe.chunks if fit.probe is not None else 0,
            "inspected": [p.name for p in fit.probe_layers],
            "not_inspected": skipped,
        }
        self._recorder.write_facts(fit.epoch_base + fit.offset, facts)

    # -- per-record work -----------------------------------------------------

    def _wait_for_device(self, fit):
        """Waits for the training steps already dispatched to finish.

        JAX, and every backend on a GPU, run steps asynchronously: a record
        that reads the device waits for the queued steps first. That wait is
        training, not monitoring; it happens here, before a record is timed,
        so that the cadence is set by what records really cost. (It adds no
        wait: the record would have waited for those steps anyway.)
        """
        if fit.device_wait is None:
            fit.device_wait = _device_wait_for_backend()
        fit.device_wait(self, fit)

    def _attach_weights(self):
        # JAX's trainer detaches the weights from the variables during an
        # epoch; its documented hook for callbacks re-attaches them.
        sync = getattr(self.model, "jax_state_sync", None)
        if sync is not None:
            sync()

    def _snapshot_weights(self, fit, step):
        if not self.update_ratios or not fit.variables \
                or "update_ratios" in self._disabled:
            return
        self._attach_weights()
        if fit.readout is not None:
            try:
                fit.snapshot = (step, fit.readout.snapshot())
                return
            except Exception as e:  # the plain copy below still works
                fit.readout, fit.readout_error = None, e
        fit.snapshot = (step, [ops.copy(ops.convert_to_tensor(v))
                               for v in fit.variables])

    def _record(self, fit, step, loss=None, final=False):
        """Reads every signal for optimizer step `step` (just completed)
        and records it; `loss` replaces the loss tracker's value."""
        started = self._clock()
        self._attach_weights()
        if not fit.variables:
            self._guard("variables", self._init_variables, fit)
            self._set_layout(fit)
            self._recorder.write_facts(step + fit.offset, {})
        update_steps, snapshot = 1, None
        if fit.snapshot is not None:
            snap_step, snapshot = fit.snapshot
            fit.snapshot = None
            update_steps = step + 1 - snap_step
        parts = None
        if fit.readout is not None:
            parts = self._read_fused(fit, snapshot)
        if parts is None:
            parts = self._read_separately(fit, snapshot)
        record = recorder_lib.Record.from_parts(step + fit.offset, parts,
                                                update_steps)
        self._check_gradients(fit, record, step)
        if loss is not None:
            record.loss = float(loss)
        probe_cost = None
        if fit.probe is not None and "activation_stats" not in self._disabled \
                and (final or fit.cadence.probe_due(step)):
            probe_started = self._clock()
            record.probe = self._guard("activation_stats", fit.probe)
            probe_cost = self._clock() - probe_started
        nonfinite = self._recorder.add(record)
        fit.last_recorded = step
        if fit.cadence.record_done(step, self._clock() - started, probe_cost) \
                and fit.tap is not None:
            fit.tap.every_n_steps.assign(fit.cadence.period)
        if nonfinite and not final:
            # Do not wait for the epoch to end to say so.
            self._guard("diagnosis", self._diagnose, step + fit.offset)

    def _wanted_groups(self, fit, snapshot):
        wanted = []
        if fit.variables and "weights" not in self._disabled:
            wanted.append("weights")
        if snapshot is not None and "update_ratios" not in self._disabled:
            wanted.append("updates")
        if fit.tap is not None and "gradient_norms" not in self._disabled:
            wanted.append("gradients")
        for signal in ("loss", "learning_rate"):
            if signal not in self._disabled:
                wanted.append(signal)
        return wanted

    def _read_fused(self, fit, snapshot):
        """A record's parts in one compiled call; None if that fails.

        On failure the record (and every later one) is read part by part,
        each part under its own guard, so that a broken signal is named and
        switched off alone.
        """
        available = fit.readout.group_names
        groups = [g for g in self._wanted_groups(fit, snapshot)
                  if g in available]
        try:
            return fit.readout.read(groups, snapshot if "updates" in groups
                                    else None)
        except Exception as e:
            fit.readout, fit.readout_error = None, e
            return None

    def _read_separately(self, fit, snapshot):
        """The parts `_wanted_groups` names, each under its own guard."""
        model = self.model
        parts = {}
        for group in self._wanted_groups(fit, snapshot):
            if group == "weights":
                parts["weight_norm"] = self._guard("weights",
                                                   fit.separate_reads[0])
            elif group == "updates":
                norms = self._guard("update_ratios", fit.separate_reads[1],
                                    snapshot)
                if norms is not None:
                    parts["update_norm"], parts["snapshot_norm"] = norms
            elif group == "gradients":
                parts.update(fit.tap.device_parts())
            elif group == "loss":
                parts["loss"] = self._guard("loss", readout_lib.current_loss,
                                            model)
            elif group == "learning_rate":
                parts["learning_rate"] = self._guard(
                    "learning_rate", readout_lib.applied_learning_rate, model)
        return _to_host({k: v for k, v in parts.items() if v is not None})

    def _check_gradients(self, fit, record, step):
        """Keeps the record's gradient norms only when they are new."""
        if record.grad_norm is None:
            return
        grad_step = record.grad_step
        if grad_step < 0 or grad_step == fit.tap_last_step:
            if step >= fit.cadence.period and grad_step < 0:
                self._disabled.add("gradient_norms")
                tap = fit.tap
                reason = ("optimizer.apply failed to measure them: %s: %s"
                          % (type(tap.error).__name__, tap.error)
                          if tap.error is not None else
                          "the training step never called optimizer.apply")
                self._warn_once(
                    "no_gradients",
                    "TrainHealthCallback: gradient norms are not available "
                    "with this training step (%s); they are off for this run."
                    % reason)
            record.grad_norm = record.grad_step = None
            return
        fit.tap_last_step = grad_step
        record.grad_norm = record.grad_norm[:len(fit.variables)]
        record.grad_step = grad_step + fit.offset

    # -- epochs and alerts ---------------------------------------------------

    def _write_epoch(self, fit, epoch, logs):
        # A second fit() on the same model without initial_epoch starts
        # counting at 0 again; continue the run's epoch axis instead of
        # writing over it.
        last = getattr(self.model, _LAST_EPOCH_ATTRIBUTE, -1)
        epoch = max(int(epoch), last + 1)
        object.__setattr__(self.model, _LAST_EPOCH_ATTRIBUTE, epoch)
        self._recorder.add_epoch(epoch, fit.epoch_base + fit.offset, logs)

    def _diagnose(self, step):
        fresh = self._recorder.diagnose(step)
        critical = [a for a in fresh if a.severity == "critical"]
        if critical and self.on_critical == "stop":
            print("Train Health: stopping training (on_critical='stop'): "
                  + critical[0].message)
            self.model.stop_training = True

    # -- failure handling ----------------------------------------------------

    def _guard(self, signal, fn, *args):
        """Runs fn; on failure, switches `signal` off with one warning."""
        if signal in self._disabled:
            return None
        try:
            return fn(*args)
        except Exception as e:  # monitoring must never stop training
            self._disabled.add(signal)
            self._warn_once(
                signal,
                "TrainHealthCallback: %s switched off after an error (%s: %s); "
                "training continues." % (signal, type(e).__name__, e))
            return None

    def _warn_once(self, key, message):
        if key in self._warned:
            return
        self._warned.add(key)
        warnings.warn(message, TrainHealthWarning, stacklevel=3)


def _to_host(parts):
    """One device-to-host transfer for a dict of tensors."""
    if not parts:
        return {}
    names = list(parts)
    flat = [ops.reshape(ops.cast(parts[k], "float32"), (-1,)) for k in names]
    sizes = [int(f.shape[0]) for f in flat]
    joined = stats.to_host(ops.concatenate(flat, axis=0))
    out, start = {}, 0
    for name, size in zip(names, sizes):
        out[name] = joined[start:start + size]
        start += size
    return out


def _optimizer_step(model):
    optimizer = model.optimizer
    return int(stats.to_host(optimizer.iterations)) if optimizer is not None \
        else 0


def _other_trainhealth_callback(callback):
    """The TrainHealthCallback listed before `callback` in the running fit's
    callbacks, if any (two would record every step twice, and share the
    model's gradient tap)."""
    frame = inspect.currentframe()
    try:
        while frame is not None:
            local = frame.f_locals
            listed = local.get("callbacks")
            if local.get("self") is callback.model and listed is not None:
                for other in getattr(listed, "callbacks", []):
                    if other is callback:
                        return None
                    if isinstance(other, TrainHealthCallback):
                        return other
                return None
            frame = frame.f_back
    finally:
        del frame
    return None


def _device_wait_for_backend():
    """fn(callback, fit) that waits for the steps dispatched on this backend."""
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        def wait(callback, fit):
            callback._attach_weights()
            jax.block_until_ready([v.value for v in fit.variables])

        return wait
    if backend == "torch":
        import torch

        if torch.cuda.is_available():
            return lambda callback, fit: torch.cuda.synchronize()
    elif backend == "tensorflow":
        import tensorflow as tf

        if tf.config.list_logical_devices("GPU"):
            return lambda callback, fit: tf.test.experimental.sync_devices()
    # TensorFlow and torch on the CPU finish a step before the next starts.
    return lambda callback, fit: None


def _finish_at_exit(callback_ref):
    callback = callback_ref()
    if callback is None:
        return
    try:
        callback._finish()
    except Exception:  # at exit there is nobody left to tell
        pass


def _is_chief_process():
    """False on the non-zero processes of a multi-process JAX training."""
    if keras.backend.backend() != "jax":
        return True
    import jax

    return jax.process_index() == 0

