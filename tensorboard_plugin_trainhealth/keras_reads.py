"""How a record's parts are read from a Keras model during one fit.

The trainable variables and their columns, the gradient tap in the
optimizer, the fused reader of a record's parts (readout.py) with its
part-by-part fallback, and the weight snapshots that update ratios are
measured against. Every read happens under the owner's guard, so that a
broken signal is named, switched off alone, and never stops training.
"""

import keras
from keras import ops

from tensorboard_plugin_trainhealth import gradients
from tensorboard_plugin_trainhealth import layer_tree
from tensorboard_plugin_trainhealth import readout as readout_lib
from tensorboard_plugin_trainhealth import stats


class ModelReads:
    """The device side of one fit's records.

    Args:
        model: the Keras model being trained.
        gradient_norms, update_ratios: whether those signals are wanted.
        guard: `guard(signal, fn, *args)`, the owner's never-break wrapper.
        warn_once: `warn_once(key, message)`.
        disabled: the owner's set of signals switched off (shared).
    """

    def __init__(self, model, gradient_norms, update_ratios, guard, warn_once,
                 disabled):
        self.model = model
        self.gradient_norms = gradient_norms
        self.update_ratios = update_ratios
        self.guard = guard
        self.warn_once = warn_once
        self.disabled = disabled
        self.variables = []
        self.variable_columns = []
        self.tap = None
        self.tap_last_step = -1
        self.readout = None
        self.readout_error = None
        self.separate_reads = None  # (weight norms fn, update norms fn)
        self.snapshot = None  # (optimizer step, weight copies)
        self._device_wait = None

    # -- setup ---------------------------------------------------------------

    def init_variables(self, period):
        """Per-variable bookkeeping, the gradient tap and the fused reader.

        A model that is still unbuilt has no variables yet; the owner calls
        this again at the first record, after the first step has built it.
        """
        model = self.model
        self.variables = list(model.trainable_variables)
        if not self.variables:
            return
        variables = self.variables
        self.variable_columns = layer_tree.variable_columns(model, variables)
        self.separate_reads = (
            stats.compile_for_backend(
                lambda: stats.weight_norms(variables), variables),
            stats.compile_for_backend(
                lambda snapshot: stats.update_norms(variables, snapshot),
                variables))
        if self.gradient_norms and model.optimizer is not None:
            self.tap = self.guard("gradient_norms", self.install_tap, period)
        try:
            # Built once per model and variable set, and kept on the model,
            # so a second fit (or a new callback) reuses what was compiled.
            loss_metric = readout_lib.loss_metric(model)
            key = ("readout", tuple(id(v) for v in variables), id(self.tap),
                   id(loss_metric), id(model.optimizer))
            self.readout = stats.cached_on(
                model, key,
                lambda: readout_lib.record_readout(model, variables, self.tap))
        except Exception as e:  # the separate, guarded reads still work
            self.readout, self.readout_error = None, e

    def install_tap(self, period):
        tap, fresh = gradients.GradientTap.install(self.model, period)
        if fresh and getattr(self.model, "train_function", None) is not None:
            # The step was traced before the tap existed; trace it again so
            # it captures the norms (once per model, not per fit).
            self.model.make_train_function(force=True)
        self.tap_last_step = tap.read()[0]
        return tap

    def set_period(self, period, due_step=None):
        """The gradient tap measures on steps that are multiples of
        `period`, or on `due_step` and every `period` steps from it."""
        if self.tap is not None:
            self.tap.set_due(period, due_step)

    def set_host_due(self, due):
        """For the eager (torch) tap: whether the coming steps are due."""
        if self.tap is not None:
            self.tap.host_due = due

    # -- reading -------------------------------------------------------------

    def wait_for_device(self):
        """Waits for the training steps already dispatched to finish.

        JAX, and every backend on a GPU, run steps asynchronously: a record
        that reads the device waits for the queued steps first. That wait is
        training, not monitoring; it happens before a record is timed, so
        that the cadence is set by what records really cost. (It adds no
        wait: the record would have waited for those steps anyway.)
        """
        if self._device_wait is None:
            self._device_wait = _device_wait_for_backend()
        self._device_wait(self)

    def attach_weights(self):
        # JAX's trainer detaches the weights from the variables during an
        # epoch; its documented hook for callbacks re-attaches them.
        sync = getattr(self.model, "jax_state_sync", None)
        if sync is not None:
            sync()

    def snapshot_weights(self, step):
        """Copies the weights before optimizer step `step` runs."""
        if not self.update_ratios or not self.variables \
                or "update_ratios" in self.disabled:
            return
        self.attach_weights()
        if self.readout is not None:
            try:
                self.snapshot = (step, self.readout.snapshot())
                return
            except Exception as e:  # the plain copy below still works
                self.readout, self.readout_error = None, e
        self.snapshot = (step, [ops.copy(ops.convert_to_tensor(v))
                                for v in self.variables])

    def read(self, step):
        """({part name: host vector}, update steps) for optimizer step
        `step` (just completed), against the pending snapshot if any."""
        update_steps, snapshot = 1, None
        if self.snapshot is not None:
            snap_step, snapshot = self.snapshot
            self.snapshot = None
            update_steps = step + 1 - snap_step
        parts = None
        if self.readout is not None:
            parts = self.read_fused(snapshot)
        if parts is None:
            parts = self.read_separately(snapshot)
        return parts, update_steps

    def wanted_groups(self, snapshot, updates=False):
        """The groups a record reads; `updates` asks for the update norms
        even without a snapshot (see `read_fused`)."""
        wanted = []
        if self.variables and "weights" not in self.disabled:
            wanted.append("weights")
        if (snapshot is not None or updates) \
                and "update_ratios" not in self.disabled:
            wanted.append("updates")
        if self.tap is not None and "gradient_norms" not in self.disabled:
            wanted.append("gradients")
        for signal in ("loss", "learning_rate"):
            if signal not in self.disabled:
                wanted.append(signal)
        return wanted

    def read_fused(self, snapshot):
        """A record's parts in one compiled call; None if that fails.

        A record without a snapshot (an epoch's or a fit's last step) reads
        the update norms against the weights themselves and drops them:
        one compiled program serves every record, where another would be
        traced (compiled, on JAX) for these few.

        On failure the record (and every later one) is read part by part,
        each part under its own guard, so that a broken signal is named and
        switched off alone.
        """
        available = self.readout.group_names
        stand_in = (snapshot is None and self.update_ratios
                    and keras.backend.backend() != "torch")
        groups = [g for g in self.wanted_groups(snapshot, stand_in)
                  if g in available]
        try:
            if "updates" not in groups:
                return self.readout.read(groups)
            if snapshot is None:
                parts = self.readout.read(groups, [
                    ops.convert_to_tensor(v) for v in self.variables])
                parts.pop("update_norm", None)
                parts.pop("snapshot_norm", None)
                return parts
            return self.readout.read(groups, snapshot)
        except Exception as e:
            self.readout, self.readout_error = None, e
            return None

    def read_separately(self, snapshot):
        """The parts `wanted_groups` names, each under its own guard."""
        model = self.model
        guard = self.guard
        parts = {}
        for group in self.wanted_groups(snapshot):
            if group == "weights":
                parts["weight_norm"] = guard("weights", self.separate_reads[0])
            elif group == "updates":
                norms = guard("update_ratios", self.separate_reads[1], snapshot)
                if norms is not None:
                    parts["update_norm"], parts["snapshot_norm"] = norms
            elif group == "gradients":
                parts.update(self.tap.device_parts())
            elif group == "loss":
                parts["loss"] = guard("loss", readout_lib.current_loss, model)
            elif group == "learning_rate":
                parts["learning_rate"] = guard(
                    "learning_rate", readout_lib.applied_learning_rate, model)
        return _to_host({k: v for k, v in parts.items() if v is not None})

    def keep_new_gradients(self, record, step, period, offset):
        """Keeps the record's gradient norms only when they are new (the
        tap holds the latest due step's), at the run's step."""
        if record.grad_norm is None:
            return
        grad_step = record.grad_step
        if grad_step < 0 or grad_step == self.tap_last_step:
            if step >= period and grad_step < 0:
                self._gradients_unavailable()
            record.grad_norm = record.grad_step = None
            return
        self.tap_last_step = grad_step
        record.grad_norm = record.grad_norm[:len(self.variables)]
        record.grad_step = grad_step + offset

    def _gradients_unavailable(self):
        self.disabled.add("gradient_norms")
        tap = self.tap
        reason = ("optimizer.apply failed to measure them: %s: %s"
                  % (type(tap.error).__name__, tap.error)
                  if tap.error is not None else
                  "the training step never called optimizer.apply")
        self.warn_once(
            "no_gradients",
            "TrainHealthCallback: gradient norms are not available with this "
            "training step (%s); they are off for this run." % reason)


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


def _device_wait_for_backend():
    """fn(reads) that waits for the steps dispatched on this backend."""
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        def wait(reads):
            reads.attach_weights()
            jax.block_until_ready([v.value for v in reads.variables])

        return wait
    if backend == "torch":
        import torch

        if torch.cuda.is_available():
            return lambda reads: torch.cuda.synchronize()
    elif backend == "tensorflow":
        import tensorflow as tf

        if tf.config.list_logical_devices("GPU"):
            return lambda reads: tf.test.experimental.sync_devices()
    # TensorFlow and torch on the CPU finish a step before the next starts.
    return lambda reads: None
