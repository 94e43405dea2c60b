"""One record's reductions, computed in one compiled call and read in one transfer.

A record needs the weight norms, the update norms against a snapshot taken
one step earlier, the norms the gradient tap keeps, the loss and the
learning rate. Computed op by op, that is a few dozen eager dispatches and a
device-to-host transfer per signal. Here the parts a record asks for run as
one program per combination (`stats.compile_for_backend`: a `tf.function`,
a `jax.jit` of the variables' values, or eager torch without autograd), and
come back as one float32 vector.

The activation probe is not fused in: it costs far more than the norms, so
the callback times it and spends it from its own budget.
"""

import numpy as np
import keras
from keras import ops

from tensorboard_plugin_trainhealth import gradients
from tensorboard_plugin_trainhealth import stats


class FusedReadout:
    """Reads groups of record parts in one call.

    Args:
        groups: {group name: (part names, fn(snapshot) -> tensor or tuple of
            tensors, one per part name)}. Each fn must be traceable: it
            reads variables and returns tensors, nothing else.
        state_variables: every variable the groups read (JAX reads them as
            arguments of the compiled function).
        variables: the variables a snapshot copies.
    """

    def __init__(self, groups, state_variables, variables):
        self._groups = dict(groups)
        self._state_variables = list(state_variables)
        self._compiled = {}
        self._sizes = {}
        self._snapshot_fn = stats.compile_for_backend(
            # A copy, not the value: on JAX the next training step donates
            # (frees) the buffers the variables hold now.
            lambda: [ops.copy(ops.convert_to_tensor(v)) for v in variables],
            variables)

    @property
    def group_names(self):
        return tuple(self._groups)

    def snapshot(self):
        """Copies of the variables' current values, on the device."""
        return self._snapshot_fn()

    def read(self, group_names, snapshot=None):
        """{part name: numpy float32 vector} for the groups asked for."""
        key = tuple(group_names)
        if not key:
            return {}
        fn = self._compiled.get(key)
        if fn is None:
            def compute(snapshot_values, _key=key):
                return self._compute(_key, snapshot_values)

            fn = self._compiled[key] = stats.compile_for_backend(
                compute, self._state_variables)
        joined = stats.to_host(fn(list(snapshot or [])))
        out, start = {}, 0
        for name, size in self._sizes[key]:
            out[name] = np.asarray(joined[start:start + size])
            start += size
        return out

    def _compute(self, key, snapshot):
        flat, sizes = [], []
        for group in key:
            names, fn = self._groups[group]
            values = fn(snapshot)
            if len(names) == 1:
                values = (values,)
            for name, value in zip(names, values):
                value = ops.reshape(ops.cast(value, "float32"), (-1,))
                flat.append(value)
                sizes.append((name, int(value.shape[0])))
        # Runs while tracing: the sizes are static, known once traced.
        self._sizes[key] = sizes
        return ops.concatenate(flat, axis=0)


def record_readout(model, variables, tap):
    """A `FusedReadout` of a Keras model's record parts (recorder.DEVICE_PARTS).

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
    if loss_metric(model) is not None:
        groups["loss"] = (("loss",), lambda snapshot: current_loss(model))
    optimizer = model.optimizer
    if optimizer is not None:
        groups["learning_rate"] = (("learning_rate",),
                                   lambda snapshot: applied_learning_rate(model))
        state += [optimizer.variables,
                  gradients.base_optimizer(optimizer).variables]
    if tap is not None:
        def grad_parts(snapshot):
            parts = tap.device_parts()
            return parts["grad_norm"], parts["grad_step"]

        groups["gradients"] = (("grad_norm", "grad_step"), grad_parts)
        state.append([tap.norms, tap.recorded_step])
    return FusedReadout(groups, stats.unique_variables(*state), variables)


def loss_metric(model):
    for metric in model.metrics:
        if metric.name == "loss":
            return metric
    return None


def current_loss(model):
    """The running training loss (a tensor), or None without a loss metric.

    Keras's loss tracker averages the epoch's steps so far; after an
    epoch's validation it holds the validation loss instead, so an epoch's
    last step takes its loss from the epoch's logs.
    """
    metric = loss_metric(model)
    return metric.result() if metric is not None else None


def applied_learning_rate(model):
    """The learning rate the latest step applied.

    Read after a step, the optimizer's `learning_rate` is the schedule at
    the *next* step; a schedule is evaluated at the step just taken.
    """
    optimizer = gradients.base_optimizer(model.optimizer)
    schedule = getattr(optimizer, "_learning_rate", None)
    if isinstance(schedule, keras.optimizers.schedules.LearningRateSchedule):
        step = ops.maximum(ops.convert_to_tensor(optimizer.iterations) - 1, 0)
        return schedule(step)
    return optimizer.learning_rate
