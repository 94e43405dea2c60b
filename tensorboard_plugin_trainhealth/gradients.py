"""Gradient norms of the updates the optimizer actually applies.

Keras 3 shows callbacks no gradients. Every built-in trainer (and most custom
`train_step`s) hands its gradients to `optimizer.apply`, so we wrap that one
method on the optimizer instance. Inside the compiled training step, on
cadence steps only (`iterations % every_n_steps == 0`), the wrapper computes
the L2 norm of each variable's gradient. No extra backward pass:

* TensorFlow and PyTorch run `optimizer.apply` with real state: the norms go
  into a small non-trainable variable that the callback reads at its own
  cadence (TensorFlow: inside the `tf.function`, no host transfer).
* JAX applies gradients statelessly inside `jax.jit`, where an assignment
  would be lost; there the norms leave the compiled step through
  `jax.debug.callback`, called on cadence steps only.

If the wrapper never sees gradients (a custom loop that bypasses the
optimizer), `recorded_step` stays -1 and the callback reports gradient norms
as unavailable rather than showing zeros.
"""

import numpy as np
import keras
from keras import ops

from tensorboard_plugin_trainhealth import stats

_TAP_ATTRIBUTE = "_trainhealth_gradient_tap"


def base_optimizer(optimizer):
    """The optimizer that receives unscaled gradients (unwraps LossScaleOptimizer)."""
    return getattr(optimizer, "inner_optimizer", None) or optimizer


class GradientTap:
    """Per-variable gradient norms captured inside `optimizer.apply`."""

    def __init__(self, optimizer, variables, every_n_steps, replicas=1):
        self.optimizer = optimizer
        self.variables = list(variables)
        self.index = {}
        for i, v in enumerate(self.variables):
            # Keras variables, and on TensorFlow their backing tf.Variable,
            # which is what the distributed update path passes around.
            self.index[id(v)] = i
            self.index.setdefault(id(getattr(v, "value", v)), i)
        n = max(1, len(self.variables))
        # JAX runs without 64-bit integers unless asked (jax_enable_x64).
        step_dtype = "int32" if keras.backend.backend() == "jax" else "int64"
        self._step_dtype = step_dtype
        self.norms = keras.Variable(ops.zeros((n,)), dtype="float32",
                                    trainable=False, name="trainhealth_grad_norms")
        self.recorded_step = keras.Variable(-1, dtype=step_dtype, trainable=False,
                                            name="trainhealth_grad_step")
        self.every_n_steps = keras.Variable(int(every_n_steps), dtype=step_dtype,
                                            trainable=False,
                                            name="trainhealth_grad_every")
        self.hook_name = ("_all_reduce_sum_gradients"
                          if replicas > 1 else "apply")
        self._original = getattr(optimizer, self.hook_name)
        self.error = None  # the first failure inside the step, for the warning
        # JAX: (step, norms) delivered by jax.debug.callback.
        self._host_norms = None
        self._jax = keras.backend.backend() == "jax"
        self._torch = keras.backend.backend() == "torch"
        # torch only: set by the callback before each step (see _record).
        self.host_due = False

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
        tap = cls(optimizer, variables, every_n_steps, _tf_replicas(model))
        # object.__setattr__ keeps Keras's attribute tracking out of it.
        hook = tap._apply if tap.hook_name == "apply" else tap._all_reduce
        object.__setattr__(optimizer, tap.hook_name, hook)
        object.__setattr__(optimizer, _TAP_ATTRIBUTE, tap)
        return tap, True

    def uninstall(self):
        if self.hook_name in self.optimizer.__dict__:
            object.__delattr__(self.optimizer, self.hook_name)
        self.optimizer.__dict__.pop(_TAP_ATTRIBUTE, None)

    def _apply(self, grads, trainable_variables=None):
        try:
            grads = list(grads)
            variables = (list(trainable_variables) if trainable_variables is not None
                         else list(getattr(self.optimizer, "_trainable_variables", [])))
            self._record(grads, variables)
        except Exception as e:  # never let monitoring break the update itself
            if self.error is None:
                self.error = e
        return self._original(grads, trainable_variables)

    def _all_reduce(self, grads_and_vars):
        # Under tf.distribute with several replicas, each replica's `apply`
        # sees only its own gradients; Keras sums them here, so the norms are
        # taken of the reduced gradients (after any clipping the optimizer
        # applies, unlike the single-replica path).
        reduced = self._original(grads_and_vars)
        try:
            pairs = list(reduced)
            self._record([g for g, _ in pairs], [v for _, v in pairs])
        except Exception as e:  # never let monitoring break the update itself
            if self.error is None:
                self.error = e
        return reduced

    def read(self):
        """The latest (step, norms) recorded, as host values; step -1 if none.

        On TensorFlow and torch this reads two small variables (one device
        transfer); the callback folds `device_parts()` into its own record
        transfer instead when it can.
        """
        if self._jax:
            if self._host_norms is None:
                return -1, None
            return self._host_norms
        return (int(stats.to_host(self.recorded_step)),
                stats.to_host(self.norms))

    def device_parts(self):
        """Tensors to read for the latest norms, or None where they live on
        the host already (JAX)."""
        if self._jax:
            return None
        return {"grad_norm": ops.convert_to_tensor(self.norms),
                "grad_step": ops.cast(ops.convert_to_tensor(self.recorded_step),
                                      "float32")}

    def _norms(self, by_index):
        zero = ops.zeros((), "float32")
        norms = [stats.l2_norm(_dense_values(by_index[i])) if i in by_index
                 else zero for i in range(len(self.variables))]
        return ops.stack(norms) if norms else ops.zeros((1,), "float32")

    def _receive(self, step, norms):
        self._host_norms = (int(np.asarray(step)), np.asarray(norms, np.float32))

    def _record(self, grads, variables):
        by_index = {}
        for g, v in zip(grads, variables):
            i = self.index.get(id(v))
            if i is not None and g is not None:
                by_index[i] = g
        if not by_index:
            return
        iterations = ops.cast(self.optimizer.iterations, self._step_dtype)
        if self._torch:
            # Eager: a tensor condition would be read back to the host on
            # every step. The callback, which counts steps on the host,
            # says instead whether this step is due.
            if self.host_due:
                self.norms.assign(self._norms(by_index))
                self.recorded_step.assign(iterations)
            return
        due = ops.equal(ops.mod(iterations, self.every_n_steps), 0)

        def compute():
            return self._norms(by_index)

        if self._jax:
            import jax

            def send():
                jax.debug.callback(self._receive, iterations, compute())

            jax.lax.cond(due, send, lambda: None)
            return

        def keep():
            return ops.convert_to_tensor(self.norms)

        self.norms.assign(ops.cond(due, compute, keep))
        self.recorded_step.assign(ops.where(due, iterations, self.recorded_step))


def _tf_replicas(model):
    """Replicas in sync under the model's tf.distribute strategy (1 if none)."""
    if keras.backend.backend() != "tensorflow":
        return 1
    strategy = getattr(model, "distribute_strategy", None)
    return int(getattr(strategy, "num_replicas_in_sync", 1) or 1)


def _dense_values(gradient):
    # TensorFlow's sparse gradients (embeddings) carry their non-zero rows in
    # `.values`; their norm is the norm of those rows. (torch.Tensor has
    # `values`/`indices` methods too, hence the check on the type's name.)
    if type(gradient).__name__ == "IndexedSlices":
        return gradient.values
    return gradient
