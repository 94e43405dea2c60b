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

import inspect
import time
import warnings

import keras

from tensorboard_plugin_trainhealth import array_facts
from tensorboard_plugin_trainhealth import cadence as cadence_lib
from tensorboard_plugin_trainhealth import diagnosis
from tensorboard_plugin_trainhealth import facts as facts_lib
from tensorboard_plugin_trainhealth import fit_state
from tensorboard_plugin_trainhealth import keras_reads
from tensorboard_plugin_trainhealth import probe as probe_lib
from tensorboard_plugin_trainhealth import probe_data as probe_data_lib
from tensorboard_plugin_trainhealth import recorder as recorder_lib
from tensorboard_plugin_trainhealth.integrations import keras_tuner
from tensorboard_plugin_trainhealth.integrations import mlflow_log

# The probe's samples run in chunks small enough that no inspected layer's
# output for a chunk exceeds this.
PROBE_MEMORY_BUDGET_BYTES = 64 * 2**20

class TrainHealthWarning(UserWarning):
    """A signal switched off after an error, or a setup the callback refuses."""


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
            densely at first (up to 30 records at up to 300 per `fit`, for
            at most 0.5% of the fit's time), then as often as about 1.5% of
            the training time allows (0.75% for the norms, 0.75% for the
            activation probe), and never leaves more than a tenth of a fit
            without a record and a probe. A `fit` that continues the
            previous one into the same log_dir (a loop of `fit(epochs=1)`,
            same optimizer and variables) has no dense start, and the tenth
            is of all the fits it continues. A number records every that
            many steps, probe included, whatever it costs.
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

    With `steps_per_execution=N`, Keras calls callbacks once per N steps
    (and the last execution of an epoch may be shorter): the record of a
    due step falls on the last step of the execution that holds it, and
    every part of it (weights, gradient norms, loss, learning rate, probe)
    is of that step; its update ratio is the mean per step over that
    execution. So `every_n_steps=5` with N=3 records steps 2, 5, 11, 15,
    ... (counted within each epoch's executions).
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
        self._exit_hook = recorder_lib.ExitHook(self, "_finish")

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
            self._guard("record", fit.reads.wait_for_device)
            self._guard("record", self._record, fit, completed - 1)
        # Keras runs these steps before it calls back (more than one with
        # steps_per_execution): a due step among them is recorded at the
        # last of them, so the snapshot is taken now and the gradient tap
        # measures that step, and every part of the record is of one step.
        last = fit.execution_end(completed, (self.params or {}).get("steps"))
        due = completed <= cadence.next_record <= last
        if due:
            started = self._clock()
            self._guard("update_ratios", fit.reads.snapshot_weights, completed)
            cadence.snapshot_done(self._clock() - started)
            self._guard("gradient_norms", fit.reads.set_period,
                        cadence.period, last)
        fit.reads.set_host_due(due)

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
        self._guard("diagnosis", self._diagnose, fit.recorded_step)
        if fit.mlflow is not None:
            self._guard("mlflow", fit.mlflow.epoch,
                        fit_state.last_epoch(self.model, epoch),
                        self._recorder.alerts)
        self._recorder.flush()

    def on_train_end(self, logs=None):
        self._guard("setup", self._finish, logs)

    # -- a fit's start and end -----------------------------------------------

    def _start(self):
        started = self._clock()
        model = self.model
        reads = keras_reads.ModelReads(model, self.gradient_norms,
                                       self.update_ratios, self._guard,
                                       self._warn_once, self._disabled)
        fit = fit_state.Fit(model, reads, self.log_dir, _is_chief_process())
        fit.cadence = fit.new_cadence(self.every_n_steps,
                                      fit_state.total_steps(self.params),
                                      self._clock)
        if not fit.chief:
            # Multi-process training: every process must run the same
            # compiled step, so the gradient tap goes in everywhere, but only
            # process 0 computes statistics and writes.
            if self.gradient_norms and model.optimizer is not None:
                reads.tap = self._guard("gradient_norms", reads.install_tap,
                                        fit.cadence.period)
            return fit
        if self._recorder.open():
            # fit() raising (or Ctrl-C) skips on_train_end: finish at exit.
            self._exit_hook.arm()
        probe_data, reading, skipped = self._start_probe(fit)
        self._guard("variables", reads.init_variables, fit.cadence.period)
        self._set_layout(fit)
        self._guard("facts", self._write_facts, fit, probe_data, reading,
                    skipped)
        self._guard("diagnosis", self._diagnose, fit.recorded_step)
        fit.setup_cost = self._clock() - started
        fit.cadence.setup_done(fit.setup_cost)
        return fit

    def _start_probe(self, fit):
        """Builds the fit's activation probe: (probe data, its first
        reading, layers not inspected), Nones where there is no probe."""
        if not self.activation_stats:
            return None, None, []
        probe_data = self._guard("activation_stats", self._probe_data)
        if probe_data is None:
            if "activation_stats" not in self._disabled:
                self._warn_once(
                    "no_probe",
                    "TrainHealthCallback: no probe data could be taken from "
                    "this fit's input (a Python generator?); activation "
                    "statistics are off. Pass probe_data=<a few hundred "
                    "input samples> to turn them on.")
            return None, None, []
        fit.output_names = facts_lib.output_names(self.model)
        built = self._guard("activation_stats", probe_lib.build, self.model,
                            probe_data[0], fit.output_names,
                            PROBE_MEMORY_BUDGET_BYTES)
        if built is None:
            return probe_data, None, []
        fit.probe, reading, skipped = built
        return probe_data, reading, skipped

    def _plan_cadence(self, fit, epoch):
        """With the first epoch known, the steps this fit runs are known."""
        total = fit_state.total_steps(self.params, first_epoch=epoch)
        if total != fit.cadence.total_steps:
            fit.cadence = fit.new_cadence(self.every_n_steps, total,
                                          self._clock)
            fit.cadence.setup_done(fit.setup_cost)
        fit.reads.set_period(fit.cadence.period)

    def _finish(self, logs=None):
        """The fit's last record, a last diagnosis, and the file closed."""
        fit = self._fit
        if fit is None or fit.ended:
            return
        fit.ended = True
        self._exit_hook.cancel()
        final = fit_state.optimizer_step(self.model) - 1
        if fit.chief and fit.cadence is not None and final > fit.last_recorded:
            loss = (logs or {}).get("loss")
            self._guard("record", fit.reads.wait_for_device)
            self._guard("record", self._record, fit, final, loss, True)
            self._guard("diagnosis", self._diagnose, final + fit.offset)
        fit.hand_over(self.model, self.log_dir, final)
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

    def _sync_step(self, fit):
        # One device read per epoch: the optimizer's step counter is the
        # step axis, so a second fit or a restored model continues it.
        fit.epoch_base = fit_state.optimizer_step(self.model)

    def _probe_data(self):
        """(inputs, targets) for the probe, or None."""
        if self.probe_data is not None:
            return probe_data_lib.probe_from_user(self.probe_data,
                                                  self.probe_samples)
        return probe_data_lib.capture_from_fit(self.model, self.probe_samples)

    def _set_layout(self, fit):
        self._recorder.set_layout(recorder_lib.Layout(
            fit.probe.layers if fit.probe is not None else (),
            fit.reads.variable_columns,
            fit.output_names if fit.probe is not None else ()))

    def _write_facts(self, fit, probe_data, reading, skipped):
        model = self.model
        facts = facts_lib.describe_model(model)
        facts["outputs"] = facts_lib.with_measured_outputs(facts["outputs"],
                                                           reading)
        facts.update(facts_lib.data_facts(model, probe_data))
        facts.update(
            every_n_steps=fit.cadence.period,
            probe_samples=fit.probe.samples if fit.probe is not None else 0,
            probe=array_facts.probe_facts(fit.probe, self.probe_samples,
                                          skipped),
            steps_per_epoch=(self.params or {}).get("steps"),
            epochs=(self.params or {}).get("epochs"),
            initial_step=fit.recorded_step,
            gradient_source="optimizer" if fit.reads.tap is not None else "off",
            backend=keras.backend.backend(),
        )
        self._recorder.write_facts(fit.recorded_step, facts)

    # -- per-record work -----------------------------------------------------

    def _record(self, fit, step, loss=None, final=False):
        """Reads every signal for optimizer step `step` (just completed)
        and records it; `loss` replaces the loss tracker's value."""
        started = self._clock()
        reads = fit.reads
        reads.attach_weights()
        if not reads.variables:
            self._guard("variables", reads.init_variables, fit.cadence.period)
            self._set_layout(fit)
            self._recorder.write_facts(step + fit.offset, {})
        parts, update_steps = reads.read(step)
        record = recorder_lib.Record.from_parts(step + fit.offset, parts,
                                                update_steps)
        reads.keep_new_gradients(record, step, fit.cadence.period, fit.offset)
        if loss is not None:
            record.loss = float(loss)
        record.probe, probe_cost = recorder_lib.timed_probe(
            fit.probe, lambda: final or fit.cadence.probe_due(step),
            self._guard, self._disabled, self._clock)
        nonfinite = self._recorder.add(record)
        fit.last_recorded = step
        if fit.cadence.record_done(step, self._clock() - started, probe_cost):
            reads.set_period(fit.cadence.period)
        if nonfinite and not final:
            # Do not wait for the epoch to end to say so.
            self._guard("diagnosis", self._diagnose, step + fit.offset)

    # -- epochs and alerts ---------------------------------------------------

    def _write_epoch(self, fit, epoch, logs):
        self._recorder.add_epoch(fit_state.next_epoch(self.model, epoch),
                                 fit.recorded_step, logs)

    def _diagnose(self, step):
        critical = diagnosis.raised_criticals(self._recorder.diagnose(step))
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


def _is_chief_process():
    """False on the non-zero processes of a multi-process JAX training."""
    if keras.backend.backend() != "jax":
        return True
    import jax

    return jax.process_index() == 0

