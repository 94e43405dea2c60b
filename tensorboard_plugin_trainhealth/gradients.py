"""Gradient norms of the updates the optimizer actually applies.

Keras 3 shows callbacks no gradients. Every built-in trainer (and most custom
`train_step`s) hands its gradients to `optimizer.apply`, so we wrap that one
method on the optimizer instance: inside the compiled training step, on
cadence steps only (`iterations % every_n_steps == 0`), the wrapper stores
the L2 norm of each variable's gradient in a small non-trainable variable.
No extra backward pass, no host transfer: the callback reads the variable at
its own cadence.

This works where `optimizer.apply` runs with real state: the TensorFlow
backend (inside `tf.function`) and PyTorch. JAX's trainer applies gradients
statelessly, so the stored norms never leave the compiled step; the callback
sees that (`recorded_step` stays -1) and reports gradient norms as
unavailable rather than showing zeros.
"""

import keras
from keras import ops

from tensorboard_plugin_trainhealth import stats

_TAP_ATTRIBUTE = "_trainhealth_gradient_tap"


def base_optimizer(optimizer):
    """The optimizer that receives unscaled gradients (unwraps LossScaleOptimizer)."""
    return getattr(optimizer, "inner_optimizer", None) or optimizer


class GradientTap:
    """Per-variable gradient norms captured inside `optimizer.apply`."""

    def __init__(self, optimizer, variables, every_n_steps):
        self.optimizer = optimizer
        self.variables = list(variables)
        self.index = {id(v): i for i, v in enumerate(self.variables)}
        n = max(1, len(self.variables))
        self.norms = keras.Variable(ops.zeros((n,)), dtype="float32",
                                    trainable=False, name="trainhealth_grad_norms")
        self.recorded_step = keras.Variable(-1, dtype="int64", trainable=False,
                                            name="trainhealth_grad_step")
        self.every_n_steps = keras.Variable(int(every_n_steps), dtype="int64",
                                            trainable=False,
                                            name="trainhealth_grad_every")
        self._original_apply = optimizer.apply

    @classmethod
    def install(cls, model, every_n_steps):
        """Wraps the model's optimizer once; returns (tap, newly_installed).

        A tap already installed by an earlier callback on the same optimizer
        is reused, so a second `fit` needs no retrace of the training step.
        """
        optimizer = base_optimizer(model.optimizer)
        tap = optimizer.__dict__.get(_TAP_ATTRIBUTE)
        variables = list(model.trainable_variables)
        if tap is not None and [id(v) for v in tap.variables] == [id(v) for v in variables]:
            tap.every_n_steps.assign(int(every_n_steps))
            return tap, False
        if tap is not None:
            tap.uninstall()
        tap = cls(optimizer, variables, every_n_steps)
        # object.__setattr__ keeps Keras's attribute tracking out of it.
        object.__setattr__(optimizer, "apply", tap._apply)
        object.__setattr__(optimizer, _TAP_ATTRIBUTE, tap)
        return tap, True

    def uninstall(self):
        if self.optimizer.__dict__.get("apply") == self._apply:
            object.__delattr__(self.optimizer, "apply")
        self.optimizer.__dict__.pop(_TAP_ATTRIBUTE, None)

    def _apply(self, grads, trainable_variables=None):
        try:
            grads = list(grads)
            variables = (list(trainable_variables) if trainable_variables is not None
                         else list(getattr(self.optimizer, "_trainable_variables", [])))
            self._record(grads, variables)
        except Exception:  # never let monitoring break the update itself
            pass
        return self._original_apply(grads, trainable_variables)

    def _record(self, grads, variables):
        by_index = {}
        for g, v in zip(grads, variables):
            i = self.index.get(id(v))
            if i is not None and g is not None:
                by_index[i] = g
        if not by_index:
            return
        iterations = ops.cast(self.optimizer.iterations, "int64")
        due = ops.equal(ops.mod(iterations, self.every_n_steps), 0)

        def compute():
            zero = ops.zeros((), "float32")
            norms = [stats.l2_norm(_dense_values(by_index[i])) if i in by_index
                     else zero for i in range(len(self.variables))]
            return ops.stack(norms) if norms else ops.zeros((1,), "float32")

        def keep():
            return ops.convert_to_tensor(self.norms)

        self.norms.assign(ops.cond(due, compute, keep))
        self.recorded_step.assign(ops.where(due, iterations, self.recorded_step))


def _dense_values(gradient):
    # Sparse gradients (embeddings) carry their non-zero rows in `.values`;
    # their norm is the norm of those rows.
    values = getattr(gradient, "values", None)
    if values is not None and hasattr(gradient, "indices"):
        return values
    return gradient
