"""`TrainHealthMonitor`: records training-health signals from a PyTorch loop.

The monitor hangs two hooks on the optimizer (`register_step_pre_hook` and
`register_step_post_hook`) that count steps and, on the steps its cadence
(`cadence.py`) makes due, note the gradient norms, learning rate and weight
changes on the device (`reads.py`). `monitor.step(loss)` keeps the loss
(detached, no sync) and, after a due step, brings the record to the host in
one transfer, runs the activation probe when due (`probe.py`), and hands it
all to the recorder (`recorder.py`), which writes the same schema as the
Keras callback, keeps the history, and runs the diagnosis rules so that
alerts come while training runs. `close()` writes a last record.

It must never break training: every signal is computed under a guard, and a
failure turns that signal off with one warning.
"""

import os
import socket
import time
import uuid

import torch

from tensorboard_plugin_trainhealth import cadence as cadence_lib
from tensorboard_plugin_trainhealth import diagnosis
from tensorboard_plugin_trainhealth import recorder as recorder_lib
from tensorboard_plugin_trainhealth.torch import facts as facts_lib
from tensorboard_plugin_trainhealth.torch import guard as guard_lib
from tensorboard_plugin_trainhealth.torch import modules as modules_lib
from tensorboard_plugin_trainhealth.torch import probe as probe_lib
from tensorboard_plugin_trainhealth.torch import reads as reads_lib

# The probe's samples run in chunks small enough that no activation's
# values for a chunk exceed this.
PROBE_MEMORY_BUDGET_BYTES = 64 * 2**20
# A loop that never calls epoch_end still gets its alerts this often.
DIAGNOSE_EVERY_RECORDS = 25
# Kept on the model, so that a later monitor of the same model continues
# the run's step and epoch axes.
_LAST_STEP_ATTRIBUTE = "_trainhealth_last_step"
_LAST_EPOCH_ATTRIBUTE = "_trainhealth_last_epoch"


class TrainHealthMonitor:
    """Records training-health signals of a plain PyTorch training loop for
    TensorBoard's "Train Health" tab.

    The same signals, schema, facts and diagnosis as the Keras
    `TrainHealthCallback`: per layer, dead ReLU units and saturated
    sigmoid/tanh/softmax outputs (measured on `probe_data`); per parameter,
    gradient norms (of the gradients the optimizer applies), update-to-weight
    ratios and weight norms; the loss (the epoch's running mean, as Keras
    shows it), the learning rate, NaN/Inf flags; per epoch, the metrics you
    pass to `epoch_end` against their `val_` counterparts; and facts about
    the model's heads, losses, inputs and targets. Alerts are printed while
    training runs (one line each).

    Example:

    ```python
    import torch
    from tensorboard_plugin_trainhealth.torch import TrainHealthMonitor

    x = torch.randn(512, 8)
    y = (x[:, :4].sum(1, keepdim=True) > 0).float()
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(),
                                torch.nn.Linear(16, 1))
    loss_fn = torch.nn.BCEWithLogitsLoss()
    optimizer = torch.optim.Adam(model.parameters(), 1e-3)
    with TrainHealthMonitor(model, optimizer, log_dir="logs/run1",
                            probe_data=(x[:256], y[:256]), loss_fn=loss_fn,
                            epochs=3, steps_per_epoch=16) as monitor:
        for epoch in range(3):
            for i in range(0, 512, 32):
                optimizer.zero_grad()
                loss = loss_fn(model(x[i:i + 32]), y[i:i + 32])
                loss.backward()
                optimizer.step()
                monitor.step(loss)  # no host sync unless a record is due
            monitor.epoch_end({"loss": loss.item()})
    # then: tensorboard --logdir logs
    ```

    Args:
        model: the `torch.nn.Module` being trained; a `torch.compile`d,
            DistributedDataParallel or DataParallel one is looked through.
        optimizer: its `torch.optim.Optimizer`. A step is one optimizer
            step (with gradient accumulation, micro-batches are not steps;
            a step GradScaler skips is not one either). Without it, each
            `step()` call is a step, and update ratios are off.
        log_dir: directory of the run (beside `torch.utils.tensorboard`'s
            files if you like: our event file has its own name).
        probe_data: a few hundred training inputs, or `(x, y)`: tensors or
            arrays (a tuple of them for `model(*x)`, a dict for
            `model(**x)`), or a DataLoader to take them from. Needed for
            dead-unit and saturation statistics and for the facts about
            heads, inputs and targets.
        loss_fn: the loss (a module such as `nn.CrossEntropyLoss()`, a
            function of `(outputs, targets)`, or a dict/list per output),
            so the loss/head checks can run; found by what it computes.
        every_n_steps: `"auto"` (dense at first, then ~1.5% of the training
            time, never more than a tenth of the run without a record) or
            a positive int (every that many steps, probe included).
        probe_samples: how many samples of `probe_data` the probe uses.
        total_steps, steps_per_epoch, epochs: the run's length, if known
            (`len(loader)` is `steps_per_epoch`); they let the automatic
            cadence plan the whole run. Without them it plans from what
            it has seen so far.
        activation_stats, gradient_norms, update_ratios: switch signals
            off (update ratios cost a copy of the weights on due steps).
        on_critical: `"warn"` or `"stop"`: set `monitor.should_stop` (and
            say why) when a critical alert is raised; your loop checks it.
        thresholds: a `diagnosis.Thresholds` to override the rules' limits.
        verbose: 1 prints alerts as they are raised; 0 prints nothing.
        rank: the process's rank; by default `torch.distributed`'s. Only
            rank 0 records and writes (DDP gradients are read after their
            all-reduce, so rank 0's are everyone's).
    """

    def __init__(self, model, optimizer=None, log_dir="logs/trainhealth",
                 probe_data=None, loss_fn=None, every_n_steps="auto",
                 probe_samples=256, total_steps=None, steps_per_epoch=None,
                 epochs=None, activation_stats=True, gradient_norms=True,
                 update_ratios=True, on_critical="warn", thresholds=None,
                 verbose=1, rank=None):
        if not isinstance(model, torch.nn.Module):
            raise TypeError("model must be a torch.nn.Module, got %r"
                            % type(model).__name__)
        if on_critical not in ("warn", "stop"):
            raise ValueError(
                "on_critical must be 'warn' or 'stop', got %r" % (on_critical,))
        cadence_lib.Cadence(every_n_steps)  # raises for a bad value
        if not isinstance(probe_samples, int) or probe_samples < 1:
            raise ValueError("probe_samples must be a positive int")
        self.log_dir = recorder_lib.check_log_dir(log_dir)
        self.model, self.optimizer = model, optimizer
        self.probe_data, self.loss_fn = probe_data, loss_fn
        self.every_n_steps, self.probe_samples = every_n_steps, probe_samples
        self.steps_per_epoch, self.epochs = steps_per_epoch, epochs
        self.activation_stats = activation_stats
        self.on_critical, self.verbose = on_critical, verbose
        self.should_stop = False
        self._clock = time.perf_counter  # the cadence's clock (tests fake it)
        self._guard = guard_lib.Guard()
        self._disabled = self._guard.disabled
        self._module = modules_lib.unwrap(model)
        self._chief = (_process_rank() if rank is None else int(rank)) == 0
        self._recorder = recorder_lib.Recorder(
            self.log_dir, self._guard, thresholds, verbose, write=self._chief)
        self._offset = getattr(self._module, _LAST_STEP_ATTRIBUTE, -1) + 1
        self._epoch = getattr(self._module, _LAST_EPOCH_ATTRIBUTE, -1) + 1
        self._steps = 0  # optimizer steps taken while monitored
        self._last_recorded = self._captured = -1
        self._pending = None  # a captured step waiting for its record
        self._records_since_diagnosis = 0
        self._closed = False
        self._handles = []
        self._probe = None
        self._exit_hook = recorder_lib.ExitHook(self, "close")
        # False when a framework hook that runs after backward calls
        # capture_before_step() itself (the Lightning callback does: its
        # closure runs the backward inside optimizer.step, after the hook).
        self.capture_in_step_hook = True
        self._length_known = bool(total_steps or (steps_per_epoch and epochs))
        planned = total_steps or (steps_per_epoch * epochs if
                                  self._length_known else None)
        self._cadence = cadence_lib.Cadence(
            every_n_steps, planned or cadence_lib.RECORDS_PER_FIT, 0,
            lambda: self._clock())
        self._reads = reads_lib.TorchReads(
            self._module, optimizer, gradient_norms,
            update_ratios and optimizer is not None, self._disabled)
        if self._chief:
            # The set-up reads the probe's DataLoader and runs the loss on
            # it: the training's random stream is left as it was.
            with torch.random.fork_rng(devices=[]):
                self._guard("setup", self._start)

    @property
    def series(self):
        """The run's history so far (`series.RunSeries`), as diagnosed."""
        return self._recorder.series

    @property
    def alerts(self):
        """The latest diagnosis: every alert (`diagnosis.Alert`)."""
        return self._recorder.alerts

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()
        return False

    # -- the training loop's calls ---------------------------------------

    def step(self, loss=None):
        """After each optimizer step: keeps `loss` (a tensor: detached, not
        read; it enters the epoch's running mean) and records when due."""
        if self._closed or not self._chief:
            return
        if loss is not None and "loss" not in self._disabled:
            self._guard("loss", self._reads.add_loss, loss)
        if self.optimizer is None:
            self._steps += 1  # no optimizer: a call is a step
            self._guard("record", self._step_without_optimizer,
                        self._steps - 1)
        if self._pending is not None:
            step, self._pending = self._pending, None
            self._guard("record", self._record, step)

    def epoch_end(self, logs=None, epoch=None):
        """At each epoch's end, with its metrics (`{"loss": ...,
        "val_loss": ..., "accuracy": ..., "val_accuracy": ...}`, floats or
        0-d tensors): writes them and their gaps, and runs the rules."""
        if self._closed or not self._chief:
            return
        epoch = self._epoch if epoch is None else max(int(epoch), self._epoch)
        self._epoch = epoch + 1
        end_step = self._steps + self._offset
        self._guard("epoch", self._recorder.add_epoch, epoch, end_step, logs)
        object.__setattr__(self._module, _LAST_EPOCH_ATTRIBUTE, epoch)
        self._reads.reset_loss()
        if not self._length_known:
            self._plan(epoch)
        self._guard("diagnosis", self._diagnose, end_step)
        self._recorder.flush()
        self._cadence.epoch_started()

    def close(self):
        """Writes the last record, runs the rules once more, closes the
        file and takes the hooks off. Also runs at exit if never called."""
        if self._closed:
            return
        self._closed = True
        self._exit_hook.cancel()
        for handle in self._handles:
            handle.remove()
        self._handles = []
        if self._chief:
            if self._pending is not None:
                step, self._pending = self._pending, None
                self._guard("record", self._record, step)
            final = self._steps - 1
            if final > self._last_recorded:
                self._guard("record", self._final_record, final)
            self._guard("diagnosis", self._diagnose, final + self._offset)
            if final >= 0:
                object.__setattr__(self._module, _LAST_STEP_ATTRIBUTE,
                                   final + self._offset)
        self._recorder.close()

    # -- set-up ----------------------------------------------------------

    def _start(self):
        if self.optimizer is not None:
            self._handles = [
                self.optimizer.register_step_pre_hook(self._before_step),
                self.optimizer.register_step_post_hook(self._after_step)]
        if self._recorder.open():
            self._exit_hook.arm()
        batch = reading = None
        if self.activation_stats:
            batch = self._guard("activation_stats", self._probe_batch)
            if batch is None and "activation_stats" not in self._disabled:
                self._guard.warn_once(
                    "no_probe",
                    "TrainHealthMonitor: no probe_data; dead-unit and "
                    "saturation statistics and the facts about the model's "
                    "outputs, inputs and targets are off. Pass probe_data="
                    "(x_train[:256], y_train[:256]) to turn them on.")
        if batch is not None:
            built = self._guard("activation_stats", probe_lib.build,
                                self._module, batch[0],
                                PROBE_MEMORY_BUDGET_BYTES)
            if built is not None:
                self._probe, reading = built
        probe = self._probe
        self._recorder.set_layout(recorder_lib.Layout(
            probe.layers if probe is not None else (), self._reads.columns,
            probe.output_names if probe is not None else ()))
        self._guard("facts", self._write_facts, probe, reading, batch)
        self._guard("diagnosis", self._diagnose, self._offset)

    def _probe_batch(self):
        if self.probe_data is None:
            return None
        device = next((p.device for p in self._module.parameters()), "cpu")
        return probe_lib.probe_batch(self.probe_data, self.probe_samples,
                                     device)

    def _write_facts(self, probe, reading, batch):
        facts = facts_lib.run_facts(self._module, self.optimizer, self.loss_fn,
                                    probe, reading, batch, self.probe_samples)
        facts.update(
            every_n_steps=self._cadence.period,
            steps_per_epoch=self.steps_per_epoch, epochs=self.epochs,
            initial_step=self._offset,
            gradient_source="backward" if self._reads.gradient_norms else "off",
            backend="torch", framework="torch",
            writer=getattr(self._recorder.writer, "identity", None) or {
                "id": uuid.uuid4().hex[:12], "pid": os.getpid(),
                "host": socket.gethostname()})
        self._recorder.write_facts(self._offset, facts)

    def _plan(self, epoch):
        """A run of unknown length: after the first epoch, `epochs` tells
        it; without them, plan for at least twice the steps seen so far."""
        if self.epochs and epoch == 0:
            self._length_known = True
            total = self._steps * int(self.epochs)
        else:
            total = 2 * self._steps
        if total > (self._cadence.total_steps or 0):
            self._cadence.replan(total)

    # -- the optimizer's hooks -------------------------------------------

    def _before_step(self, optimizer, args, kwargs):
        if not self._closed:
            self._guard("record", self._before_step_work, optimizer)

    def _before_step_work(self, optimizer):
        step = self._steps
        self._cadence.step_started(step)
        groups = optimizer.param_groups
        self._reads.learning_rate = groups[0].get("lr") if groups else None
        if self.capture_in_step_hook:
            self._capture()

    def capture_before_step(self):
        """Notes the gradients (and weights) of the coming step if it is
        due; the pre-step hook calls it, or a framework hook that runs after
        the gradients exist (Lightning's `on_before_optimizer_step`). A
        second call for the same step (an attempt GradScaler skipped)
        replaces the first."""
        if not self._closed and self._chief:
            self._guard("record", self._capture)

    def _capture(self):
        step = self._steps
        if not self._due(step):
            return
        started = self._clock()
        self._reads.before_step()
        self._captured = step
        self._cadence.snapshot_done(self._clock() - started)

    def _after_step(self, optimizer, args, kwargs):
        if self._closed:
            return
        if self._captured == self._steps:
            self._guard("record", self._after_step_work)
        self._steps += 1  # counted whatever the signals do

    def _after_step_work(self):
        started = self._clock()
        self._reads.after_step()
        self._pending = self._steps
        self._cadence.snapshot_done(self._clock() - started)

    def _step_without_optimizer(self, step):
        self._cadence.step_started(step)
        if self._due(step):
            self._reads.before_step()
            self._reads.after_step()
            self._pending = step

    def _due(self, step):
        return self._cadence.is_due(step) and step > self._last_recorded

    # -- records and alerts ----------------------------------------------

    def _record(self, step, final=False):
        started = self._clock()
        host = self._reads.read()
        record = recorder_lib.Record(
            step=step + self._offset,
            weight_norm=host.get("weight_norm"),
            update_norm=host.get("update_norm"),
            snapshot_norm=host.get("snapshot_norm"),
            grad_norm=host.get("grad_norm"),
            grad_step=(step + self._offset if "grad_norm" in host else None),
            loss=_first(host.get("loss")),
            learning_rate=_first(host.get("learning_rate")))
        record.probe, probe_cost = recorder_lib.timed_probe(
            self._probe, lambda: final or self._cadence.probe_due(step),
            self._guard, self._disabled, self._clock)
        nonfinite = self._recorder.add(record)
        self._last_recorded = step
        self._cadence.record_done(step, self._clock() - started, probe_cost)
        if not self._length_known and step + 1 >= self._cadence.total_steps:
            self._cadence.replan(2 * (step + 1))
        self._records_since_diagnosis += 1
        if not final and (nonfinite or self._records_since_diagnosis
                          >= DIAGNOSE_EVERY_RECORDS):
            self._guard("diagnosis", self._diagnose, step + self._offset)

    def _final_record(self, step):
        """The last step's record: weights, loss and probe (its gradients
        may be zeroed by now, so they are not read)."""
        self._reads.pending = {}
        self._reads.after_step()
        self._record(step, final=True)

    def _diagnose(self, step):
        self._records_since_diagnosis = 0
        critical = diagnosis.raised_criticals(self._recorder.diagnose(step))
        if critical and self.on_critical == "stop" and not self.should_stop:
            print("Train Health: stop training (on_critical='stop'): "
                  + critical[0].message)
            self.should_stop = True


def _first(values):
    return None if values is None else float(values.reshape(-1)[0])


def _process_rank():
    distributed = torch.distributed
    if distributed.is_available() and distributed.is_initialized():
        return distributed.get_rank()
    return int(os.environ.get("RANK", "0") or 0)
