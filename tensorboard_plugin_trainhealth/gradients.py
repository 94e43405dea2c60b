"""Gradient norms of the updates the optimizer actually applies.

Keras 3 shows callbacks no gradients. Every built-in trainer (and most custom
`train_step`s) hands its gradients to `optimizer.apply`, so we wrap that one
method on the optimizer instance. Inside the compiled training step, on
due steps only (`iterations % every_n_steps == phase`; the phase is 0 but
with `steps_per_execution`, see `set_due`), the wrapper computes the L2 norm
of each variable's gradient. No extra backward pass:

* The norms go into a small non-trainable variable that the callback reads
  at its own cadence; no host transfer inside the step (TensorFlow: inside
  the `tf.function`; torch: eagerly, on steps the host says are due).
* JAX applies gradients statelessly inside `jax.jit`
  (`optimizer.stateless_apply`), which carries exactly `optimizer.variables`
  through the step and writes them back on `model.jax_state_sync()`. So on
  JAX the tap's variables join the optimizer's variable list, and the
  optimizer's `save_own_variables`/`load_own_variables` are wrapped to leave
  them out: a checkpoint never contains them or expects them. (An earlier
  design sent the norms out through `jax.debug.callback` inside a
  `lax.cond`; a host callback in the step, even one never called, made
  every step of a small model ~1.4x slower on CPU.)

If the wrapper never sees gradients (a custom loop that bypasses the
optimizer), `recorded_step` stays -1 and the callback reports gradient norms
as unavailable rather than showing zeros.
"""

import contextlib

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
        self.phase = keras.Variable(0, dtype=step_dtype, trainable=False,
                                    name="trainhealth_grad_phase")
        self.hook_name = ("_all_reduce_sum_gradients"
                          if replicas > 1 else "apply")
        self._original = getattr(optimizer, self.hook_name)
        self.error = None  # the first failure inside the step, for the warning
        self._jax = keras.backend.backend() == "jax"
        self._torch = keras.backend.backend() == "torch"
        # torch only: set by the callback before each step (see _record).
        self.host_due = False
        # JAX: the model's jax_state_sync (set by install), and the
        # optimizers whose save/load methods we wrapped.
        self._sync = None
        self._wrapped = []
        self._cadence = self.every_n_steps
        self._phase = self.phase
        self._due = (int(every_n_steps), 0)
        if self._jax:
            # Assigned from the host between steps: the new value must reach
            # the trainer's state (see _SyncedVariable).
            self.every_n_steps = _SyncedVariable(self._cadence, self._sync_state)
            self.phase = _SyncedVariable(self._phase, self._sync_state)

    @property
    def _own(self):
        return (self.norms, self.recorded_step, self._cadence, self._phase)

    def set_due(self, period, step=None):
        """Measures on the steps `step + k * period` (on multiples of
        `period` when `step` is None). With `steps_per_execution`, the
        callback points the tap at the last step of the execution that
        holds a due step: the record is read there, and its parts must all
        come from that step. Assigns only what changed (an assignment syncs
        the JAX trainer's state)."""
        period = int(period)
        phase = int(step) % period if step is not None else 0
        if self._due == (period, phase):
            return
        if self._due[0] != period:
            self.every_n_steps.assign(period)
        if self._due[1] != phase:
            self.phase.assign(phase)
        self._due = (period, phase)

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
            tap.set_due(every_n_steps)
            return tap, False
        if tap is not None:
            tap.uninstall()
        tap = cls(optimizer, variables, every_n_steps, _tf_replicas(model))
        # object.__setattr__ keeps Keras's attribute tracking out of it.
        hook = tap._apply if tap.hook_name == "apply" else tap._all_reduce
        object.__setattr__(optimizer, tap.hook_name, hook)
        object.__setattr__(optimizer, _TAP_ATTRIBUTE, tap)
        if tap._jax:
            tap._attach_to_state(model)
        return tap, True

    def uninstall(self):
        if self.hook_name in self.optimizer.__dict__:
            object.__delattr__(self.optimizer, self.hook_name)
        self.optimizer.__dict__.pop(_TAP_ATTRIBUTE, None)
        if self._jax:
            self._sync_state()
            own = {id(v) for v in self._own}
            store = self.optimizer._variables
            store[:] = [v for v in store if id(v) not in own]
            for opt in self._wrapped:
                for name in ("save_own_variables", "load_own_variables"):
                    opt.__dict__.pop(name, None)
            self._wrapped = []

    # -- JAX: the tap's variables ride in the optimizer's state --------------

    def _attach_to_state(self, model):
        """Makes the tap's variables part of `optimizer.variables` (JAX).

        The JAX trainer gathers `optimizer.variables` into the jitted step's
        state when a step follows a state sync (or the start of an epoch),
        and `stateless_apply` maps exactly those variables while `apply`
        runs, so plain assignments inside `apply` survive the step. The
        caller retraces the training step after a fresh install.
        """
        optimizer = self.optimizer
        self._sync = getattr(model, "jax_state_sync", None)
        self._match_layout(optimizer)
        # Appended to the list itself (`optimizer.variables` is a copy of
        # it); LossScaleOptimizer.variables includes the inner list.
        optimizer._variables.extend(self._own)
        # Checkpoints hold the optimizer's own variables only, in both
        # directions (a model saved with the tap loads into one without it,
        # and the other way round).
        outer = model.optimizer
        for opt in [optimizer] + ([outer] if outer is not optimizer else []):
            for name in ("save_own_variables", "load_own_variables"):
                object.__setattr__(opt, name,
                                   self._without_own(getattr(opt, name)))
            self._wrapped.append(opt)

    def _match_layout(self, optimizer):
        # Under keras.distribution, variables take their layout from the
        # distribution in effect when they are created. If the tap came
        # later than the optimizer (outside a `distribution.scope()`), lay
        # its variables out like the optimizer's step counter (replicated),
        # or the jitted step would mix local and mesh-wide arrays.
        reference = getattr(optimizer._iterations, "_layout", None)
        mesh = getattr(reference, "device_mesh", None)
        if mesh is None:
            return
        try:
            from keras.distribution import TensorLayout
            for v in self._own:
                if getattr(v, "_layout", None) is None:
                    layout = TensorLayout([None] * len(v.shape), mesh)
                    v._layout = layout
                    v.assign(v.value)
        except Exception as e:  # never let monitoring break training
            if self.error is None:
                self.error = e

    def _without_own(self, method):
        tap = self

        def call(store):
            with tap._hidden():
                return method(store)
        return call

    @contextlib.contextmanager
    def _hidden(self):
        """The optimizer's variable list without the tap's, for a while."""
        ids = {id(v) for v in self._own}
        store = self.optimizer._variables
        present = [v for v in store if id(v) in ids]
        store[:] = [v for v in store if id(v) not in ids]
        try:
            yield
        finally:
            missing = [v for v in present if not any(v is w for w in store)]
            store.extend(missing)

    def _sync_state(self):
        # Writes the JAX trainer's state (mid-fit) back into the variables;
        # a no-op when they are already in sync or outside fit().
        if self._sync is not None:
            self._sync()

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

        This reads two small variables (one device transfer each); the
        callback folds `device_parts()` into its own record transfer instead
        when it can.
        """
        self._sync_state()
        return (int(stats.to_host(self.recorded_step)),
                stats.to_host(self.norms))

    def device_parts(self):
        """Tensors to read for the latest norms (no transfer yet)."""
        self._sync_state()
        return {"grad_norm": ops.convert_to_tensor(self.norms),
                "grad_step": ops.cast(ops.convert_to_tensor(self.recorded_step),
                                      "float32")}

    def _norms(self, by_index):
        zero = ops.zeros((), "float32")
        norms = [stats.l2_norm(_dense_values(by_index[i])) if i in by_index
                 else zero for i in range(len(self.variables))]
        return ops.stack(norms) if norms else ops.zeros((1,), "float32")

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
        # Variables as tensors: JAX no longer converts objects through
        # __jax_array__ while tracing.
        every = ops.convert_to_tensor(self._cadence)
        due = ops.equal(ops.mod(iterations, every),
                        ops.convert_to_tensor(self._phase))

        def compute():
            return self._norms(by_index)

        def keep():
            return ops.convert_to_tensor(self.norms)

        self.norms.assign(ops.cond(due, compute, keep))
        self.recorded_step.assign(
            ops.where(due, iterations, ops.convert_to_tensor(self.recorded_step)))


class _SyncedVariable:
    """A variable whose `assign` first syncs the JAX trainer's state.

    Mid-fit, the JAX trainer holds the variables' values in its own state
    and writes them back on `jax_state_sync()`; it reads them again for the
    next step only after such a sync. An assignment made without one would
    be overwritten and never reach the step. Everything else is the
    variable's.
    """

    def __init__(self, variable, sync):
        self._variable = variable
        self._sync = sync

    def assign(self, value):
        self._sync()
        return self._variable.assign(value)

    def __getattr__(self, name):
        if name.startswith("__") or name == "_variable":
            raise AttributeError(name)  # copy/pickle probing a bare instance
        return getattr(self._variable, name)


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
