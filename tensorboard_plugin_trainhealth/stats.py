"""Training-health statistics, computed on the device with `keras.ops`.

Each function here turns tensors into a few float32 reductions; the callback
stacks them into one vector so that a record costs a single device-to-host
transfer. Nothing here writes or decides anything.
"""

import keras
import numpy as np
from keras import ops

# Activation families. A ReLU unit is dead when it outputs exactly zero for
# every probe sample; a bounded activation is saturated when its output sits
# within SATURATION_MARGIN of a bound, where its derivative has fallen below
# about 4% of its peak (sigmoid: s(1-s) < 0.0099 vs 0.25; tanh: 1-y^2 < 0.02
# vs 1) and learning through it has all but stopped.
RELU_FAMILY = ("relu", "relu6")
BOUNDED_FAMILY = ("sigmoid", "hard_sigmoid", "tanh", "softmax")
SATURATION_MARGIN = 0.01

_BOUNDS = {
    "sigmoid": (0.0, 1.0),
    "hard_sigmoid": (0.0, 1.0),
    "tanh": (-1.0, 1.0),
}


def activation_name(layer):
    """The name of the activation a layer applies to its output, or None.

    Covers an `activation=` argument (Dense, Conv, recurrent layers) and the
    standalone `ReLU`, `Activation` and `Softmax` layers.
    """
    cls = type(layer).__name__
    if cls == "ReLU":
        # ReLU(negative_slope>0) is leaky: its units cannot die.
        if float(getattr(layer, "negative_slope", 0.0) or 0.0) != 0.0:
            return "leaky_relu"
        max_value = getattr(layer, "max_value", None)
        return "relu6" if max_value is not None and float(max_value) == 6.0 else "relu"
    if cls == "Softmax":
        return "softmax"
    fn = getattr(layer, "activation", None)
    if fn is None or not callable(fn):
        return None
    name = getattr(fn, "__name__", None) or type(fn).__name__
    return name.lower()


def family(activation):
    """'relu', 'bounded' or None: which statistic an activation gets."""
    if activation in RELU_FAMILY:
        return "relu"
    if activation in BOUNDED_FAMILY:
        return "bounded"
    return None


def _as_float(x):
    return ops.cast(x, "float32")


def dead_fraction(outputs, unit_axis=-1):
    """Fraction of units whose output is zero (or below) for every sample.

    A unit is one index along `unit_axis` (a Dense unit, a conv channel);
    all other axes (batch, space, time) are reduced over.
    """
    x = _as_float(outputs)
    x = ops.moveaxis(x, unit_axis, -1)
    units = x.shape[-1]
    x = ops.reshape(x, (-1, units))
    alive = ops.cast(ops.greater(ops.max(x, axis=0), 0.0), "float32")
    return 1.0 - ops.mean(alive)


def saturation_fraction(outputs, activation):
    """Fraction of outputs pinned near the activation's bounds.

    For softmax, the fraction of samples whose largest probability exceeds
    1 - margin: the distribution has collapsed onto one class.
    """
    x = _as_float(outputs)
    if activation == "softmax":
        return ops.mean(
            ops.cast(ops.greater(ops.max(x, axis=-1), 1.0 - SATURATION_MARGIN),
                     "float32"))
    low, high = _BOUNDS[activation]
    pinned = ops.logical_or(ops.less(x, low + SATURATION_MARGIN),
                            ops.greater(x, high - SATURATION_MARGIN))
    return ops.mean(ops.cast(pinned, "float32"))


def nonfinite_fraction(outputs):
    x = _as_float(outputs)
    return 1.0 - ops.mean(ops.cast(ops.isfinite(x), "float32"))


def l2_norm(x):
    """L2 norm in float32 (float16 gradients would overflow when squared)."""
    x = _as_float(x)
    return ops.sqrt(ops.sum(ops.square(x)))


def compile_for_backend(fn, state_variables=()):
    """`fn` as one compiled program where the backend allows it.

    Eager Keras ops cost a dispatch each, and a record reduces every
    variable, so:

    * TensorFlow: `fn` becomes a `tf.function`, traced once per argument
      signature; it reads the variables when it runs.
    * JAX: `fn` becomes a `jax.jit` of the current values of
      `state_variables` (every variable `fn` reads), read inside through a
      `StatelessScope`; a jitted closure would otherwise freeze the values
      it saw when traced.
    * torch: `fn` runs eagerly under `torch.no_grad()`: statistics need no
      autograd graph.
    """
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.function(fn)
    if backend == "jax":
        import jax

        state_variables = list(state_variables)

        def pure(values, *args):
            mapping = list(zip(state_variables, values))
            with keras.StatelessScope(state_mapping=mapping):
                return fn(*args)

        jitted = jax.jit(pure)

        def run(*args):
            return jitted([v.value for v in state_variables], *args)

        return run
    if backend == "torch":
        import torch

        def run_without_grad(*args):
            with torch.no_grad():
                return fn(*args)

        return run_without_grad
    return fn


def cached_on(owner, key, build):
    """`build()`, made once per `key` and kept on `owner` (a model).

    Compiling costs a trace (TensorFlow) or a compilation (JAX) of up to a
    second; keeping the compiled functions on the model spares that cost
    to every later `fit` and every new callback on the same model.
    """
    cache = owner.__dict__.get(_CACHE_ATTRIBUTE)
    if cache is None:
        cache = {}
        # object.__setattr__ keeps Keras's attribute tracking out of it.
        object.__setattr__(owner, _CACHE_ATTRIBUTE, cache)
    value = cache.get(key)
    if value is None:
        value = cache[key] = build()
    return value


_CACHE_ATTRIBUTE = "_trainhealth_compiled"


def unique_variables(*groups):
    """The variables of several lists, each once, in order."""
    seen, out = set(), []
    for group in groups:
        for v in group:
            if id(v) not in seen:
                seen.add(id(v))
                out.append(v)
    return out


def weight_norms(variables):
    return ops.stack([l2_norm(ops.convert_to_tensor(v)) for v in variables])


def update_norms(variables, snapshot):
    """(||w - w0||, ||w0||) per variable, against an earlier snapshot."""
    return (ops.stack([l2_norm(ops.convert_to_tensor(v) - w0)
                       for v, w0 in zip(variables, snapshot)]),
            ops.stack([l2_norm(w0) for w0 in snapshot]))


def to_host(x):
    """A tensor or variable as numpy: the one device-to-host transfer."""
    x = ops.convert_to_tensor(x)
    if hasattr(x, "numpy") and keras.backend.backend() == "tensorflow":
        # Keras's convert_to_numpy goes through np.array(), which warns
        # under numpy 2 for TF tensors; .numpy() is the same copy, quietly.
        return np.asarray(x.numpy())
    return np.asarray(ops.convert_to_numpy(x))


def input_statistics(name, array):
    """Host-side statistics of one probe input array (numpy), for diagnosis.

    Computed once at the start of training; the probe set is small.
    """
    a = np.asarray(array)
    stats = {"name": name, "samples": int(a.shape[0]) if a.ndim else 1,
             "shape": list(a.shape[1:]), "dtype": str(a.dtype)}
    if not np.issubdtype(a.dtype, np.number) or a.size == 0:
        return stats
    a = a.astype(np.float64)
    finite = np.isfinite(a)
    stats["nonfinite_fraction"] = float(1.0 - finite.mean())
    values = a[finite]
    if values.size == 0:
        return stats
    stats.update(
        abs_max=float(np.abs(values).max()),
        min=float(values.min()),
        max=float(values.max()),
        mean=float(values.mean()),
        std=float(values.std()),
    )
    if a.ndim >= 2 and a.shape[0] > 1:
        flat = np.where(finite, a, np.nan).reshape(a.shape[0], -1)
        with np.errstate(all="ignore"):
            feature_std = np.nanstd(flat, axis=0)
        if np.isfinite(feature_std).any():
            stats["max_feature_std"] = float(np.nanmax(feature_std))
    return stats
