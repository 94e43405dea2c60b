"""Experimental variants of TrainHealthCallback, for measuring proposals.

Nothing here is used by the package. `overhead.py --patch NAME[,NAME]`
applies these to `TrainHealthCallback` in the benchmark's own process (by
wrapping `_setup` and friends), so that a proposed change can be measured
against the package as it is before anyone edits the package:

* `budget_first`: the "auto" cadence obeys its time budget even when that
  means fewer than AUTO_MIN_RECORDS_PER_FIT records in a short fit
  (callback.AUTO_MIN_RECORDS_PER_FIT = 1).
* `fused` (TensorFlow): one compiled function per record computes every
  reduction (weight, update and gradient norms, the probe, loss, learning
  rate) and returns one vector: one call and one device-to-host transfer
  instead of ~5 calls and ~15 eager ops; the weight snapshot is one
  compiled call too, and the probe inputs become a tensor once.
* `probe_gate`: the probe has its own time budget (PROBE_BUDGET of the
  wall time since training began, 1%): records skip the activation
  statistics while the probe would exceed it. Gradient, weight and update
  norms keep the record cadence.
* `jax_jit` (JAX): the probe, weight norms and update norms run as
  `jax.jit` functions of the variables' values (through a StatelessScope),
  instead of op by op.
* `torch_nograd` (torch): the probe and the norms run under
  `torch.no_grad()` (no autograd graph is built for them).
"""

import time

PROBE_BUDGET = 0.01

PATCHES = {}


def patch(fn):
    PATCHES[fn.__name__] = fn
    return fn


def apply(names):
    for name in names:
        if name not in PATCHES:
            raise SystemExit("unknown patch %r; known: %s"
                             % (name, ", ".join(sorted(PATCHES))))
        PATCHES[name]()


def _after_setup(hook):
    """Runs hook(cb) after every TrainHealthCallback._setup."""
    from tensorboard_plugin_trainhealth import callback as cb_lib

    cls = cb_lib.TrainHealthCallback
    original = cls._setup

    def _setup(self):
        original(self)
        if self._ready:
            self._guard("patch", hook, self)

    cls._setup = _setup


@patch
def budget_first():
    from tensorboard_plugin_trainhealth import callback as cb_lib

    cb_lib.AUTO_MIN_RECORDS_PER_FIT = 1


class _Lazy:
    """Stands for a part of the record that the fused function computes."""

    def __init__(self, key):
        self.key = key


class _TapProxy:
    def __init__(self, tap):
        self._tap = tap

    def __getattr__(self, name):
        return getattr(self._tap, name)

    def device_parts(self):
        return {"grad_norm": _Lazy("grad_norm"), "grad_step": _Lazy("grad_step")}


@patch
def fused():
    import keras

    if keras.backend.backend() != "tensorflow":
        return
    import tensorflow as tf
    from tensorboard_plugin_trainhealth import callback as cb_lib
    from tensorboard_plugin_trainhealth import stats

    cls = cb_lib.TrainHealthCallback
    original_to_host = cls._to_host
    original_loss = cls._current_loss
    original_lr = cls._learning_rate

    def hook(cb):
        variables = cb._variables
        probe = cb._probe
        tap = cb._tap
        probe_inputs = None
        if probe is not None:
            probe_inputs = tf.nest.map_structure(tf.convert_to_tensor,
                                                 probe.inputs)
        sizes = {}

        def compute(keys, snapshot):
            parts = []
            for key in keys:
                if key == "weight_norm":
                    parts.append(stats.weight_norms(variables))
                elif key == "update_norm":
                    parts.append(stats.update_norms(variables, snapshot)[0])
                elif key == "snapshot_norm":
                    parts.append(tf.stack([stats.l2_norm(w) for w in snapshot]))
                elif key == "grad_norm":
                    parts.append(tf.convert_to_tensor(tap.norms))
                elif key == "grad_step":
                    parts.append(tf.convert_to_tensor(tap.recorded_step))
                elif key == "activations":
                    parts.append(probe._forward_and_reduce(probe_inputs))
                elif key == "loss":
                    parts.append(original_loss(cb))
                elif key == "learning_rate":
                    parts.append(tf.convert_to_tensor(original_lr(cb)))
            flat = [tf.reshape(tf.cast(p, tf.float32), [-1]) for p in parts]
            sizes[keys] = [int(f.shape[0]) for f in flat]
            return tf.concat(flat, axis=0)

        fused_fn = tf.function(compute)
        snapshot_fn = tf.function(
            lambda: [tf.identity(v.value) for v in variables])
        state = {"snapshot": []}

        def to_host(parts):
            lazy = {k: v for k, v in parts.items() if isinstance(v, _Lazy)}
            if not lazy:
                return original_to_host(cb, parts)
            keys = tuple(lazy)
            snap = state["snapshot"] if "update_norm" in keys else []
            joined = fused_fn(keys, snap).numpy()
            out, start = {}, 0
            for name, size in zip(keys, sizes[keys]):
                out[name] = joined[start:start + size]
                start += size
            rest = {k: v for k, v in parts.items() if k not in lazy}
            if rest:
                out.update(original_to_host(cb, rest))
            return out

        def update_norms(snapshot):
            state["snapshot"] = snapshot
            return _Lazy("update_norm"), _Lazy("snapshot_norm")

        def snapshot_weights(step):
            if not cb.update_ratios or not variables:
                return
            cb._snapshot = (step, snapshot_fn())

        cb._to_host = to_host
        cb._weight_norms_fn = lambda: _Lazy("weight_norm")
        cb._update_norms_fn = update_norms
        cb._snapshot_weights = snapshot_weights
        cb._current_loss = lambda: _Lazy("loss")
        cb._learning_rate = lambda: _Lazy("learning_rate")
        if tap is not None:
            cb._tap = _TapProxy(tap)
        if probe is not None:
            cb._probe_real = probe
            cb._probe = lambda: _Lazy("activations")

    _after_setup(hook)


@patch
def probe_gate():
    def hook(cb):
        probe = cb._probe
        if probe is None:
            return
        # Calibrate once, at setup: the first call traces, the second is
        # timed. (Fused: time the standalone probe; it costs the same.)
        real = getattr(cb, "_probe_real", None) or probe
        real()
        started = time.perf_counter()
        real()
        gate = {"cost": time.perf_counter() - started, "spent": 0.0,
                "runs": 0, "begin": time.perf_counter()}

        def gated():
            elapsed = time.perf_counter() - gate["begin"]
            if gate["runs"] and (gate["spent"] + gate["cost"]
                                 > PROBE_BUDGET * elapsed):
                return None
            gate["runs"] += 1
            gate["spent"] += gate["cost"]
            return probe()

        cb._probe = gated
        cb._probe_gate = gate

    _after_setup(hook)


@patch
def jax_jit():
    import keras

    if keras.backend.backend() != "jax":
        return
    import jax
    import jax.numpy as jnp
    from tensorboard_plugin_trainhealth import stats

    def hook(cb):
        model = cb.model
        variables = cb._variables
        probe = cb._probe
        if probe is not None:
            def forward(tv, ntv, x):
                mapping = (list(zip(model.trainable_variables, tv))
                           + list(zip(model.non_trainable_variables, ntv)))
                with keras.StatelessScope(state_mapping=mapping):
                    return probe._forward_and_reduce(x)

            jitted = jax.jit(forward)
            x = jax.tree.map(jnp.asarray, probe.inputs)
            probe._fn = lambda inputs: jitted(
                [v.value for v in model.trainable_variables],
                [v.value for v in model.non_trainable_variables], x)
        weight_norms = jax.jit(
            lambda values: jnp.stack([stats.l2_norm(v) for v in values]))
        update_norms = jax.jit(lambda values, snapshot: (
            jnp.stack([stats.l2_norm(v - w) for v, w in zip(values, snapshot)]),
            jnp.stack([stats.l2_norm(w) for w in snapshot])))
        cb._weight_norms_fn = lambda: weight_norms(
            [v.value for v in variables])
        cb._update_norms_fn = lambda snapshot: update_norms(
            [v.value for v in variables], list(snapshot))

    _after_setup(hook)


@patch
def torch_nograd():
    import keras

    if keras.backend.backend() != "torch":
        return
    import torch

    def no_grad(fn):
        def wrapped(*args):
            with torch.no_grad():
                return fn(*args)
        return wrapped

    def hook(cb):
        if cb._probe is not None:
            cb._probe._fn = no_grad(cb._probe._fn)
        cb._weight_norms_fn = no_grad(cb._weight_norms_fn)
        cb._update_norms_fn = no_grad(cb._update_norms_fn)
        original_snapshot = cb._snapshot_weights
        cb._snapshot_weights = no_grad(original_snapshot)

    _after_setup(hook)
