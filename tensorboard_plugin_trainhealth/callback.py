"""`TrainHealthCallback`: records training-health signals while Keras trains.

The callback runs almost nothing per step. On cadence steps it reads a few
reductions from the device (gradient norms captured inside the optimizer,
weight and update norms, activation statistics of a small probe batch),
writes them as trainhealth summaries, and keeps the same history in memory
so the diagnosis rules can warn (or stop training) while it runs.

It must never break training: every signal is computed under a guard, and a
failure turns that signal off with one warning.
"""

import atexit
import math
import time
import warnings

import numpy as np
import keras
from keras import ops

from tensorboard_plugin_trainhealth import gradients
from tensorboard_plugin_trainhealth import metadata as md
from tensorboard_plugin_trainhealth import probe as probe_lib
from tensorboard_plugin_trainhealth import readout as readout_lib
from tensorboard_plugin_trainhealth import series as series_lib
from tensorboard_plugin_trainhealth import stats
from tensorboard_plugin_trainhealth import writer as writer_lib
# trainhealth-integrations: MLflow, KerasTuner, HParams metrics.
from tensorboard_plugin_trainhealth.integrations import hparams as hparams_glue
from tensorboard_plugin_trainhealth.integrations import keras_tuner as tuner_glue
from tensorboard_plugin_trainhealth.integrations import mlflow_log

# With every_n_steps="auto", record at most about AUTO_RECORDS_PER_FIT times
# per fit (enough for a readable heatmap). The first AUTO_DENSE_RECORDS
# records of a fit come at that densest cadence (the start of training is
# where learning rates kill ReLUs and gradients explode, and a short fit gets
# a usable history), unless they cost more than AUTO_DENSE_SECONDS. After
# that, the cost measured on this run decides: records (norms, loss,
# learning rate) are spread out to cost at most AUTO_OVERHEAD_BUDGET of the
# wall time, and the activation probe, by far the costliest part, runs on a
# record only while it stays within PROBE_OVERHEAD_BUDGET.
AUTO_RECORDS_PER_FIT = 300
AUTO_DENSE_RECORDS = 30
AUTO_DENSE_SECONDS = 1.0
AUTO_OVERHEAD_BUDGET = 0.0075
PROBE_OVERHEAD_BUDGET = 0.0075
AUTO_STEPS_WHEN_UNKNOWN = 50
# The probe holds every inspected layer's output for its samples at once;
# very wide layers get fewer probe samples so that stays under this bound.
PROBE_MEMORY_BUDGET_BYTES = 64 * 2**20


_LAST_EPOCH_ATTRIBUTE = "_trainhealth_last_epoch"


class TrainHealthWarning(UserWarning):
    """A training-health alert, or a signal switched off after an error."""


class TrainHealthCallback(keras.callbacks.Callback):
    """Records training-health signals for TensorBoard's "Train Health" tab.

    Per layer, where it applies: the fraction of dead ReLU units, the
    fraction of saturated sigmoid/tanh/softmax outputs, gradient norms (of
    the gradients the optimizer actually applies, per variable and global),
    update-to-weight ratios and weight norms; per epoch, every metric against
    its `val_` counterpart; and NaN/Inf flags for the loss, weights,
    gradients and activations. Alerts from the diagnosis rules are written
    too, and shown as warnings while training runs.

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
            densely at first (the first 30 records at up to 300 per `fit`,
            every step for short fits), then as often as about 1.5% of the
            training time allows: 0.75% for the norms, 0.75% for the
            activation probe. A number records every that many steps, probe included,
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
        verbose: 1 prints alerts as they are raised; 0 stays silent.
        mlflow: `None` (default) logs health to the active MLflow run, if
            MLflow is imported and a run is active during `fit`; `True`
            also starts (and ends) a run when none is active; `False`
            never logs. See `integrations/mlflow_log.py`.

    Under a KerasTuner search (`tuner.search(..., callbacks=[...])`), each
    trial writes to `log_dir/<trial_id>/execution<N>` with its
    hyperparameters for TensorBoard's HParams dashboard, as KerasTuner does
    for `keras.callbacks.TensorBoard`.
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
        mlflow_log.check_mode(mlflow)  # trainhealth-integrations
        self.mlflow = mlflow
        if on_critical not in ("warn", "stop"):
            raise ValueError(
                "on_critical must be 'warn' or 'stop', got %r" % (on_critical,))
        if every_n_steps != "auto" and (not isinstance(every_n_steps, int)
                                        or every_n_steps < 1):
            raise ValueError(
                "every_n_steps must be 'auto' or a positive int, got %r"
                % (every_n_steps,))
        if not isinstance(probe_samples, int) or probe_samples < 1:
            raise ValueError("probe_samples must be a positive int")
        self.log_dir = str(log_dir)
        self._base_log_dir = self.log_dir  # trainhealth-integrations
        self.every_n_steps = every_n_steps
        self.probe_samples = probe_samples
        self.probe_data = probe_data
        self.activation_stats = activation_stats
        self.gradient_norms = gradient_norms
        self.update_ratios = update_ratios
        self.on_critical = on_critical
        self.thresholds = thresholds
        self.verbose = verbose
        self.series = series_lib.RunSeries()
        self._disabled = set()
        self._writer = None
        self._reported = set()

    # -- Keras hooks ---------------------------------------------------------

    def on_train_begin(self, logs=None):
        self._guard("keras_tuner", self._enter_trial)  # trainhealth-integrations
        self._guard("setup", self._setup)
        self._mlflow = self._guard(  # trainhealth-integrations
            "mlflow", mlflow_log.MlflowLog.maybe_start, self.mlflow,
            self.log_dir)

    def on_epoch_begin(self, epoch, logs=None):
        self._guard("setup", self._sync_step)
        self._clock = None

    def on_train_batch_begin(self, batch, logs=None):
        # The only per-step work: integer arithmetic on the host. Batch
        # hooks at the *begin* of a step do not make Keras convert the
        # previous step's logs, so no device sync happens here off-cadence.
        if not self._ready:
            return
        completed = self._epoch_base + batch
        if self._clock is None:
            # Timing starts after the epoch's first step, which may include
            # tracing the training step.
            self._clock = [time.perf_counter(), completed, 0.0]
        if completed > self._next_record:
            self._guard("record", self._wait_for_device)
            started = time.perf_counter()
            self._guard("record", self._record, completed - 1)
            self._spent(started, completed, record=True)
        if completed == self._next_record:
            started = time.perf_counter()
            self._guard("update_ratios", self._snapshot_weights, completed)
            self._spent(started, completed, record=False)
        if self._tap is not None:
            # Read by the eager (torch) tap only: is the coming step due?
            self._tap.host_due = completed % self._every == 0

    def _wait_for_device(self):
        """Waits for the training steps already dispatched to finish.

        JAX, and every backend on a GPU, run steps asynchronously: a record
        that reads the device waits for the queued steps first. That wait is
        training, not monitoring; it happens here, before a record is timed,
        so that the cadence is set by what records really cost. (It adds no
        wait: the record would have waited for those steps anyway.)
        """
        if self._device_wait is None:
            self._device_wait = _device_wait_for_backend()
        self._device_wait(self)

    def _spent(self, started, completed, record):
        cost = time.perf_counter() - started
        self._clock[2] += cost
        if not record:
            # A snapshot belongs to the record that follows it.
            self._pending_cost += cost
            return
        norms_cost = cost - self._last_probe_cost + self._pending_cost
        self._pending_cost = 0.0
        self._record_costs.append(norms_cost)
        if self.every_n_steps != "auto":
            return
        if self._dense_left > 0:
            self._dense_left -= 1
            if len(self._record_costs) > 1:
                # The first record traces the compiled reads: a one-time cost.
                self._dense_spent += cost
            if self._dense_left > 0 and self._dense_spent <= AUTO_DENSE_SECONDS:
                return
            self._dense_left = 0
            self._budget_start = time.perf_counter()
        self._guard("cadence", self._adapt_cadence, completed)

    def on_epoch_end(self, epoch, logs=None):
        if not self._ready:
            return
        self._guard("setup", self._sync_step)
        if self._epoch_base > self._next_record:
            self._guard("record", self._record, self._epoch_base - 1)
        self._guard("epoch", self._write_epoch, epoch, logs or {})
        self._guard("diagnosis", self._diagnose, self._epoch_base)
        self._guard("integrations", self._report_health)  # trainhealth-integrations
        self._guard("writer", self._flush)

    def on_train_end(self, logs=None):
        if self._writer is not None:
            atexit.unregister(_close_quietly)
            self._guard("writer", self._writer.close)
            self._writer = None
        self._ready = False
        if self._mlflow is not None:  # trainhealth-integrations
            from tensorboard_plugin_trainhealth import diagnosis

            self._guard("mlflow", self._mlflow.close,
                        diagnosis.diagnose(self.series, self.thresholds),
                        self.log_dir)
            self._mlflow = None

    _ready = False
    _mlflow = None
    _alerts = ()

    # -- integrations (trainhealth-integrations) -----------------------------

    def _enter_trial(self):
        """Under a KerasTuner search: this trial's run dir and hparams."""
        trial = tuner_glue.current_trial()
        if trial is not None:
            self.log_dir = trial.log_dir(self._base_log_dir)
            trial.write_hparams(self.log_dir)

    def _report_health(self):
        """The health so far as HParams metrics and on the MLflow run."""
        from tensorboard_plugin_trainhealth import diagnosis

        epoch = getattr(self.model, _LAST_EPOCH_ATTRIBUTE, 0)
        status = diagnosis.run_status(self._alerts)
        if self._writer is not None and "writer" not in self._disabled:
            hparams_glue.write_health_scalars(self._writer, epoch, status,
                                              self._alerts)
        if self._mlflow is not None:
            self._guard("mlflow", self._mlflow.epoch, epoch, self._alerts)

    # -- setup ---------------------------------------------------------------

    def _setup(self):
        model = self.model
        self._ready = False
        self._writer = None
        self._sync_step()
        self._every = self._every_floor = self._resolve_every()
        if not _is_chief_process():
            # Multi-process training: every process must run the same
            # compiled step, so the gradient tap goes in everywhere, but only
            # process 0 computes statistics and writes.
            if self.gradient_norms and model.optimizer is not None:
                self._guard("gradient_norms", self._install_tap)
            return
        if "writer" not in self._disabled:
            self._writer = self._guard(
                "writer", writer_lib.SummaryWriter, self.log_dir)
            if self._writer is not None:
                # fit() raising (or Ctrl-C) skips on_train_end: close at exit.
                atexit.register(_close_quietly, self._writer)
        # The first record falls on a step the cadence makes due, where the
        # gradient tap records too (a second fit may start anywhere).
        self._next_record = -(-self._epoch_base // self._every) * self._every
        self._snapshot = None
        self._clock = None
        self._record_costs = []
        self._pending_cost = 0.0
        self._dense_left = AUTO_DENSE_RECORDS if self.every_n_steps == "auto" else 0
        self._dense_spent = 0.0
        self._budget_start = None
        self._probe_costs = []
        self._probe_spent = 0.0
        self._last_probe_cost = 0.0
        self._readout = None
        self._readout_error = None
        self._device_wait = None  # decided at the first record

        self._variables = []
        self._variable_columns = []
        self._tap = None
        self._probe = None
        self._probe_layers = []
        probe_inputs = None
        if self.activation_stats:
            probe_inputs = self._guard("activation_stats", self._probe_inputs)
            if probe_inputs is None and "activation_stats" not in self._disabled:
                self._warn_once(
                    "no_probe",
                    "TrainHealthCallback: no probe data could be taken from "
                    "this fit's input (a Python generator?); activation "
                    "statistics are off. Pass probe_data=<a few hundred "
                    "input samples> to turn them on.")
            elif probe_inputs is not None:
                # Runs the model once, which also builds a subclassed model
                # that has not seen data yet.
                probe_inputs = self._guard("activation_stats", self._build_probe,
                                           probe_inputs)
        self._guard("variables", self._init_variables)
        self._init_series()
        self._guard("facts", self._write_facts, probe_inputs)
        self._ready = True

    def _init_variables(self):
        """Per-variable bookkeeping and the gradient tap.

        A model that is still unbuilt has no variables yet; this runs again
        at the first record, after the first step has built it.
        """
        model = self.model
        self._variables = list(model.trainable_variables)
        if not self._variables:
            return
        variables = self._variables
        self._weight_norms_fn = stats.compile_for_backend(
            lambda: stats.weight_norms(variables), variables)
        self._update_norms_fn = stats.compile_for_backend(
            lambda snapshot: stats.update_norms(variables, snapshot), variables)
        layer_of = {}
        for name, layer in probe_lib.walk_layers(model):
            for v in layer.trainable_variables:
                layer_of.setdefault(id(v), name)
        self._variable_columns = [
            {"name": "%s/%s" % (layer_of.get(id(v), "model"), v.name),
             "layer": layer_of.get(id(v), "model"),
             "shape": [int(d) for d in v.shape]}
            for v in self._variables
        ]
        if self.gradient_norms and model.optimizer is not None:
            self._tap = self._guard("gradient_norms", self._install_tap)
        try:
            self._readout = self._build_readout()
        except Exception as e:  # the separate, guarded reads still work
            self._readout, self._readout_error = None, e

    def _build_readout(self):
        """The fused reader of a record's norms, loss and learning rate.

        Built once per model and variable set, and kept on the model, so a
        second `fit` (or a new callback) reuses what was compiled.
        """
        model = self.model
        variables = self._variables
        loss_metric = _loss_metric(model)
        key = ("readout", tuple(id(v) for v in variables), id(self._tap),
               id(loss_metric), id(model.optimizer))
        return stats.cached_on(model, key, lambda: _fused_readout(
            model, variables, self._tap, loss_metric is not None))

    def _sync_step(self):
        # One device read per epoch: the optimizer's step counter is the
        # step axis, so a second fit or a restored model continues it.
        optimizer = self.model.optimizer
        self._epoch_base = int(_read(optimizer.iterations)) \
            if optimizer is not None else 0

    def _resolve_every(self):
        if self.every_n_steps != "auto":
            return self.every_n_steps
        total = self._total_steps()
        if not total:
            return AUTO_STEPS_WHEN_UNKNOWN
        return max(1, int(math.ceil(total / AUTO_RECORDS_PER_FIT)))

    def _adapt_cadence(self, completed):
        """Spreads records out until they cost about AUTO_OVERHEAD_BUDGET."""
        # The first records include one-time tracing; judge later ones.
        if len(self._record_costs) < 3:
            return
        start_time, start_step, spent = self._clock
        steps = completed - start_step
        training = time.perf_counter() - start_time - spent
        if steps < 2 or training <= 0:
            return
        cost = float(np.median(self._record_costs[-5:]))
        needed = cost / (AUTO_OVERHEAD_BUDGET * training / steps)
        every = max(self._every_floor, _nice_at_least(needed))
        if every != self._every:
            self._every = every
            self._next_record = ((completed - 1) // every + 1) * every
            if self._tap is not None:
                self._tap.every_n_steps.assign(every)

    def _probe_due(self):
        """Whether this record runs the activation probe: always, except
        after the dense start of "auto", where PROBE_OVERHEAD_BUDGET says."""
        if self._probe is None or "activation_stats" in self._disabled:
            return False
        if self.every_n_steps != "auto" or self._dense_left > 0 \
                or self._budget_start is None:
            return True
        elapsed = time.perf_counter() - self._budget_start
        estimate = float(np.median(self._probe_costs[-5:])) \
            if self._probe_costs else 0.0
        return self._probe_spent + estimate <= PROBE_OVERHEAD_BUDGET * elapsed

    def _total_steps(self):
        steps = (self.params or {}).get("steps")
        epochs = (self.params or {}).get("epochs")
        return steps * epochs if steps and epochs else None

    def _install_tap(self):
        tap, fresh = gradients.GradientTap.install(self.model, self._every)
        if fresh and getattr(self.model, "train_function", None) is not None:
            # The step was traced before the tap existed; trace it again so
            # it captures the norms (once per model, not per fit).
            self.model.make_train_function(force=True)
        self._tap_last_step = tap.read()[0]
        return tap

    def _build_probe(self, probe_inputs):
        """Finds the layers to inspect and builds the probe; returns the
        probe inputs actually used (trimmed to the memory bound)."""
        layers = probe_lib.find_probe_layers(self.model)
        probe_inputs = probe_lib.fit_to_memory(
            self.model, layers, probe_inputs, PROBE_MEMORY_BUDGET_BYTES)
        self._probe_layers = layers
        self._probe = probe_lib.ActivationProbe(self.model, layers, probe_inputs)
        return probe_inputs

    def _probe_inputs(self):
        if self.probe_data is not None:
            return probe_lib.probe_from_user(self.probe_data, self.probe_samples)
        return probe_lib.capture_from_fit(self.model, self.probe_samples)

    def _init_series(self):
        dead = [p.column() for p in self._probe_layers if p.family == "relu"]
        bounded = [p.column() for p in self._probe_layers if p.family == "bounded"]
        every = [p.column() for p in self._probe_layers]
        matrices = {}
        for tag, columns in ((md.LAYER_DEAD_FRACTION, dead),
                             (md.LAYER_SATURATION, bounded),
                             (md.LAYER_ACTIVATION_NONFINITE, every)):
            if columns:
                matrices[tag] = columns
        if self._variables:
            for tag in md.VARIABLE_TAGS:
                matrices[tag] = self._variable_columns
        for tag, columns in matrices.items():
            existing = self.series.matrices.get(tag)
            if existing is None or existing.columns != columns:
                self.series.matrices[tag] = series_lib.Matrix.empty(columns)

    def _write_facts(self, probe_inputs):
        facts = describe_model(self.model)
        facts.update(
            every_n_steps=self._every,
            probe_samples=(len(keras.tree.flatten(probe_inputs)[0])
                           if probe_inputs is not None else 0),
            steps_per_epoch=(self.params or {}).get("steps"),
            epochs=(self.params or {}).get("epochs"),
            initial_step=self._epoch_base,
            gradient_source="optimizer" if self._tap is not None else "off",
            backend=keras.backend.backend(),
        )
        if probe_inputs is not None:
            names = _input_names(self.model, probe_inputs)
            facts["inputs"] = [
                stats.input_statistics(name, array)
                for name, array in zip(names, keras.tree.flatten(probe_inputs))
            ]
        self.series.facts.update(facts)
        if self._writer is not None:
            self._guard("writer", self._writer.json, md.RUN_FACTS,
                        self._epoch_base, facts)
        self._guard("diagnosis", self._diagnose, self._epoch_base)

    # -- per-record work -----------------------------------------------------

    def _attach_weights(self):
        # JAX's trainer detaches the weights from the variables during an
        # epoch; its documented hook for callbacks re-attaches them.
        sync = getattr(self.model, "jax_state_sync", None)
        if sync is not None:
            sync()

    def _snapshot_weights(self, step):
        if not self.update_ratios or not self._variables \
                or "update_ratios" in self._disabled:
            return
        self._attach_weights()
        if self._readout is not None:
            try:
                self._snapshot = (step, self._readout.snapshot())
                return
            except Exception as e:  # the plain copy below still works
                self._readout, self._readout_error = None, e
        self._snapshot = (step, [ops.copy(ops.convert_to_tensor(v))
                                 for v in self._variables])

    def _record(self, step):
        """Reads every signal for `step` (just completed) and writes it."""
        self._next_record = (step // self._every + 1) * self._every
        self._attach_weights()
        if not self._variables:
            self._guard("variables", self._init_variables)
            self._init_series()
        n_vars = len(self._variables)
        snapshot = update_steps = None
        if self._snapshot is not None:
            snap_step, snapshot = self._snapshot
            self._snapshot = None
            update_steps = max(1, step + 1 - snap_step)
        host = None
        if self._readout is not None:
            host = self._read_fused(snapshot)
        if host is None:
            host = self._read_separately(snapshot)
        self._last_probe_cost = 0.0
        if self._probe_due():
            started = time.perf_counter()
            activations = self._guard("activation_stats", self._read_probe)
            if activations is not None:
                host["activations"] = activations
                cost = time.perf_counter() - started
                self._last_probe_cost = cost
                self._probe_costs.append(cost)
                if self._budget_start is not None:
                    self._probe_spent += cost
        w = self._writer if "writer" not in self._disabled else None
        scalars = {}

        if "weight_norm" in host:
            self._add_row(w, md.VARIABLE_WEIGHT_NORM, step, host["weight_norm"])
            scalars[md.STEP_NONFINITE_WEIGHTS] = float(
                not np.all(np.isfinite(host["weight_norm"])))
        if "update_norm" in host and "snapshot_norm" in host:
            before = host["snapshot_norm"]
            with np.errstate(divide="ignore", invalid="ignore"):
                # A weight that was exactly zero (a fresh bias) has no
                # relative update: NaN marks the ratio undefined.
                ratio = np.where(before > 0, host["update_norm"] / before,
                                 np.nan) / update_steps
            self._add_row(w, md.VARIABLE_UPDATE_RATIO, step, ratio)
        if "grad_norm" in host:
            self._handle_gradients(w, host["grad_norm"][:n_vars],
                                   int(host["grad_step"][0]), step, scalars)
        if "activations" in host:
            values = host["activations"]
            count = len(self._probe_layers)
            signal, nonfinite = values[:count], values[count:2 * count]
            relu = [i for i, p in enumerate(self._probe_layers) if p.family == "relu"]
            bounded = [i for i, p in enumerate(self._probe_layers)
                       if p.family == "bounded"]
            if relu:
                self._add_row(w, md.LAYER_DEAD_FRACTION, step, signal[relu])
            if bounded:
                self._add_row(w, md.LAYER_SATURATION, step, signal[bounded])
            if count:
                self._add_row(w, md.LAYER_ACTIVATION_NONFINITE, step, nonfinite)
                scalars[md.STEP_NONFINITE_ACTIVATIONS] = float(
                    np.nansum(nonfinite) > 0)
        if "loss" in host:
            loss = float(host["loss"][0])
            scalars[md.STEP_LOSS] = loss
            scalars[md.STEP_NONFINITE_LOSS] = float(not math.isfinite(loss))
        if "learning_rate" in host:
            scalars[md.STEP_LEARNING_RATE] = float(host["learning_rate"][0])

        for tag, value in scalars.items():
            self.series.step_scalars.setdefault(tag, series_lib.Series.empty()) \
                .append(step, value)
            if w is not None:
                self._guard("writer", w.scalar, tag, step, value)
        if w is not None:
            # Each record reaches the file now: a training killed mid-epoch
            # keeps everything recorded before, and a TensorBoard reading
            # the run sees it on its next reload.
            self._guard("writer", w.flush)
        if any(scalars.get(t) for t in (md.STEP_NONFINITE_LOSS,
                                        md.STEP_NONFINITE_WEIGHTS,
                                        md.STEP_NONFINITE_GRADIENTS,
                                        md.STEP_NONFINITE_ACTIVATIONS)):
            # Do not wait for the epoch to end to say so.
            self._guard("diagnosis", self._diagnose, step)

    def _wanted_groups(self, snapshot):
        wanted = []
        if self._variables and "weights" not in self._disabled:
            wanted.append("weights")
        if snapshot is not None and "update_ratios" not in self._disabled:
            wanted.append("updates")
        if self._tap is not None and "gradient_norms" not in self._disabled:
            wanted.append("gradients")
        for signal in ("loss", "learning_rate"):
            if signal not in self._disabled:
                wanted.append(signal)
        return wanted

    def _read_fused(self, snapshot):
        """A record's parts in one compiled call; None if that fails.

        On failure the record (and every later one) is read part by part,
        each part under its own guard, so that a broken signal is named and
        switched off alone.
        """
        available = self._readout.group_names
        groups = [g for g in self._wanted_groups(snapshot) if g in available]
        try:
            return self._readout.read(groups, snapshot if "updates" in groups
                                      else None)
        except Exception as e:
            self._readout, self._readout_error = None, e
            return None

    def _read_separately(self, snapshot):
        """The parts `_wanted_groups` names, each under its own guard."""
        model = self.model
        parts = {}
        for group in self._wanted_groups(snapshot):
            if group == "weights":
                parts["weight_norm"] = self._guard("weights",
                                                   self._weight_norms_fn)
            elif group == "updates":
                norms = self._guard("update_ratios", self._update_norms_fn,
                                    snapshot)
                if norms is not None:
                    parts["update_norm"], parts["snapshot_norm"] = norms
            elif group == "gradients":
                parts.update(self._tap.device_parts())
            elif group == "loss":
                parts["loss"] = self._guard("loss", _current_loss, model)
            elif group == "learning_rate":
                parts["learning_rate"] = self._guard("learning_rate",
                                                     _learning_rate, model)
        parts = {k: v for k, v in parts.items() if v is not None}
        return self._to_host(parts)

    def _read_probe(self):
        return stats.to_host(self._probe()).astype(np.float32).reshape(-1)

    def _handle_gradients(self, w, norms, grad_step, step, scalars):
        if grad_step < 0 or grad_step == self._tap_last_step:
            if step >= self._every and grad_step < 0:
                self._disabled.add("gradient_norms")
                reason = ("optimizer.apply failed to measure them: %s: %s"
                          % (type(self._tap.error).__name__, self._tap.error)
                          if self._tap.error is not None else
                          "the training step never called optimizer.apply")
                self._warn_once(
                    "no_gradients",
                    "TrainHealthCallback: gradient norms are not available "
                    "with this training step (%s); they are off for this run."
                    % reason)
            return
        self._tap_last_step = grad_step
        self._add_row(w, md.VARIABLE_GRAD_NORM, grad_step, norms)
        total = float(np.sqrt(np.sum(np.square(norms.astype(np.float64)))))
        scalars_at_grad_step = {
            md.STEP_GRAD_NORM: total,
            md.STEP_NONFINITE_GRADIENTS: float(not np.all(np.isfinite(norms))),
        }
        if grad_step == step:
            scalars.update(scalars_at_grad_step)
            return
        for tag, value in scalars_at_grad_step.items():
            self.series.step_scalars.setdefault(tag, series_lib.Series.empty()) \
                .append(grad_step, value)
            if w is not None:
                self._guard("writer", w.scalar, tag, grad_step, value)

    def _add_row(self, w, tag, step, values):
        matrix = self.series.matrices.get(tag)
        if matrix is None or len(values) != len(matrix.columns):
            return
        matrix.append(step, values)
        if w is not None:
            self._guard("writer", w.vector, tag, step, values, matrix.columns)

    def _to_host(self, parts):
        """One device-to-host transfer for the whole record."""
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

    # -- epochs and alerts ---------------------------------------------------

    def _write_epoch(self, epoch, logs):
        w = self._writer if "writer" not in self._disabled else None
        end_step = self._epoch_base
        # A second fit() on the same model without initial_epoch starts
        # counting at 0 again; continue the run's epoch axis instead of
        # writing over it.
        last = getattr(self.model, _LAST_EPOCH_ATTRIBUTE, -1)
        epoch = max(int(epoch), last + 1)
        object.__setattr__(self.model, _LAST_EPOCH_ATTRIBUTE, epoch)
        values = {}
        for key, value in logs.items():
            try:
                values[key] = float(value)
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
        if w is not None:
            for tag, value in points:
                self._guard("writer", w.scalar, tag, epoch, value)

    def _diagnose(self, step):
        from tensorboard_plugin_trainhealth import diagnosis

        alerts = diagnosis.diagnose(self.series, self.thresholds)
        self._alerts = alerts  # trainhealth-integrations
        fresh = []
        for alert in alerts:
            key = (alert.kind, alert.layer)
            if (diagnosis.severity_rank(alert.severity)
                    < diagnosis.severity_rank("warning")
                    or key in self._reported):
                continue
            self._reported.add(key)
            fresh.append(alert)
        if not fresh:
            return
        w = self._writer if "writer" not in self._disabled else None
        if w is not None:
            self._guard("writer", w.json, md.RUN_ALERTS, step,
                        [a.to_dict() for a in fresh])
        for alert in fresh:
            if self.verbose:
                print("Train Health [%s] %s" % (alert.severity, alert.message))
            warnings.warn("Train Health: " + alert.message, TrainHealthWarning,
                          stacklevel=2)
        critical = [a for a in fresh if a.severity == "critical"]
        if critical and self.on_critical == "stop":
            print("Train Health: stopping training (on_critical='stop'): "
                  + critical[0].message)
            self.model.stop_training = True

    def _flush(self):
        if self._writer is not None:
            self._writer.flush()

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
        if ("warned", key) in self._reported:
            return
        self._reported.add(("warned", key))
        warnings.warn(message, TrainHealthWarning, stacklevel=3)


def _fused_readout(model, variables, tap, has_loss):
    """A `FusedReadout` of the record parts (see readout.py).

    Its functions hold the model's objects only, never a callback, so that
    it can be kept on the model.
    """
    groups = {
        "weights": (("weight_norm",),
                    lambda snapshot: stats.weight_norms(variables)),
        "updates": (("update_norm", "snapshot_norm"),
                    lambda snapshot: stats.update_norms(variables, snapshot)),
    }
    state = [model.variables, getattr(model, "metrics_variables", [])]
    if has_loss:
        groups["loss"] = (("loss",), lambda snapshot: _current_loss(model))
    optimizer = model.optimizer
    if optimizer is not None:
        groups["learning_rate"] = (("learning_rate",),
                                   lambda snapshot: _learning_rate(model))
        state += [optimizer.variables,
                  gradients.base_optimizer(optimizer).variables]
    if tap is not None:
        def grad_parts(snapshot):
            parts = tap.device_parts()
            return parts["grad_norm"], parts["grad_step"]

        groups["gradients"] = (("grad_norm", "grad_step"), grad_parts)
        state.append([tap.norms, tap.recorded_step])
    return readout_lib.FusedReadout(groups, stats.unique_variables(*state),
                                    variables)


def _loss_metric(model):
    for metric in model.metrics:
        if metric.name == "loss":
            return metric
    return None


def _current_loss(model):
    """The running training loss (a tensor), or None without a loss metric."""
    metric = _loss_metric(model)
    return metric.result() if metric is not None else None


def _learning_rate(model):
    return gradients.base_optimizer(model.optimizer).learning_rate


def _device_wait_for_backend():
    """fn(callback) that waits for the steps dispatched on this backend."""
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        def wait(callback):
            callback._attach_weights()
            jax.block_until_ready([v.value for v in callback._variables])

        return wait
    if backend == "torch":
        import torch

        if torch.cuda.is_available():
            return lambda callback: torch.cuda.synchronize()
    elif backend == "tensorflow":
        import tensorflow as tf

        if tf.config.list_logical_devices("GPU"):
            return lambda callback: tf.test.experimental.sync_devices()
    # TensorFlow and torch on the CPU finish a step before the next starts.
    return lambda callback: None


def _close_quietly(writer):
    try:
        writer.close()
    except Exception:  # at exit there is nobody left to tell
        pass


def _is_chief_process():
    """False on the non-zero processes of a multi-process JAX training."""
    if keras.backend.backend() != "jax":
        return True
    import jax

    return jax.process_index() == 0


def _nice_at_least(n):
    """The smallest of 1, 2, 5, 10, 20, 50, ... that is >= n."""
    value = 1
    while value < n:
        for factor in (2, 2.5, 2):
            value = int(value * factor)
            if value >= n:
                break
    return value


def _read(value):
    """A variable or tensor as a numpy value (one device read)."""
    return stats.to_host(value)


def describe_model(model):
    """Static facts about a compiled model, for the before-first-step checks."""
    outputs = probe_lib.output_layers(model)
    heads = []
    for name, layer in probe_lib.walk_layers(model):
        if id(layer) in outputs:
            heads.append({
                "layer": name,
                "class": type(layer).__name__,
                "activation": stats.activation_name(layer) or "linear",
                "units": probe_lib._units(layer),
            })
    optimizer = model.optimizer
    facts = {
        "model": {"name": model.name, "class": type(model).__name__,
                  "layers": [name for name, _ in probe_lib.walk_layers(model)]},
        "outputs": heads,
        "loss": describe_loss(getattr(model, "loss", None)),
    }
    if optimizer is not None:
        base = gradients.base_optimizer(optimizer)
        try:
            lr = float(_read(base.learning_rate))
        except Exception:  # a schedule object without a value yet
            lr = None
        facts["optimizer"] = {"class": type(base).__name__, "learning_rate": lr}
    return facts


def describe_loss(loss):
    """{"name", "from_logits"} for the (first) compiled loss."""
    if isinstance(loss, dict):
        loss = next(iter(loss.values()), None)
    elif isinstance(loss, (list, tuple)):
        loss = loss[0] if loss else None
    if loss is None:
        return {"name": None, "from_logits": None}
    if isinstance(loss, str):
        try:
            resolved = keras.losses.get(loss)
        except (ValueError, TypeError):
            return {"name": loss, "from_logits": False}
        loss = resolved
    name = getattr(loss, "name", None) or getattr(loss, "__name__", None) \
        or type(loss).__name__
    from_logits = getattr(loss, "from_logits", None)
    if from_logits is None:
        config = getattr(loss, "get_config", lambda: {})()
        from_logits = config.get("from_logits", False) if isinstance(config, dict) \
            else False
    return {"name": str(name), "from_logits": bool(from_logits)}


def _input_names(model, probe_inputs):
    flat = keras.tree.flatten(probe_inputs)
    names = []
    try:
        names = [t.name for t in keras.tree.flatten(model.inputs)]
    except (AttributeError, TypeError, ValueError):
        pass
    if len(names) != len(flat):
        names = [None] * len(flat)
    # Unnamed keras.Input()s are called keras_tensor_<n>: say "input" instead.
    default = ["input" if len(flat) == 1 else "input_%d" % i
               for i in range(len(flat))]
    return [name if name and not name.startswith("keras_tensor") else d
            for name, d in zip(names, default)]
