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


# Activations the probe knows by name and does not judge: their units
# cannot die (leaky and smooth variants) or have no flat tails.
_UNJUDGED = ("linear", "leaky_relu", "elu", "selu", "gelu", "silu", "swish",
             "softplus", "softsign", "exponential", "mish", "log_softmax",
             "hard_silu", "hard_swish", "celu", "glu", "sparse_plus",
             "squareplus", "tanh_shrink", "soft_shrink", "hard_shrink",
             "threshold", "sparsemax")


KNOWN_ACTIVATIONS = RELU_FAMILY + BOUNDED_FAMILY + _UNJUDGED


def activation_name(layer):
    """The name of the activation a layer applies to its output, or None.

    Covers an `activation=` argument (Dense, Conv, recurrent layers), the
    standalone `ReLU`, `Activation` and `Softmax` layers, and activations
    given as functions Keras does not name (`lambda t: ops.relu(t)`,
    `tf.nn.relu`), which are recognised by what they compute.
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
    name = (getattr(fn, "__name__", None) or type(fn).__name__).lower()
    if name in RELU_FAMILY or name in BOUNDED_FAMILY or name in _UNJUDGED:
        return name
    return identify_activation(fn) or name


# Inputs that tell the judged activations apart (two rows for softmax).
_PROBE_VALUES = np.array([[-4.0, -1.0, -0.25, 0.0, 0.5, 3.0, 6.5, 9.0],
                          [-2.0, 0.0, 0.75, 1.5, 2.0, 5.0, 7.0, -0.5]],
                         np.float32)


def _reference(name, x):
    if name == "relu":
        return np.maximum(x, 0)
    if name == "relu6":
        return np.clip(x, 0, 6)
    if name == "sigmoid":
        return 1 / (1 + np.exp(-x))
    if name == "tanh":
        return np.tanh(x)
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def identify_activation(fn):
    """Which judged activation `fn` computes ("relu", ..., "softmax"), found
    by evaluating it on a few values; None if none (or it fails)."""
    try:
        out = to_host(fn(ops.convert_to_tensor(_PROBE_VALUES)))
        out = np.asarray(out, np.float64)
    except Exception:  # an activation we cannot evaluate stays unjudged
        return None
    if out.shape != _PROBE_VALUES.shape:
        return None
    for name in RELU_FAMILY + ("sigmoid", "tanh", "softmax"):
        if np.allclose(out, _reference(name, _PROBE_VALUES.astype(np.float64)),
                       rtol=1e-4, atol=1e-5):
            return name
    return None


def family(activation):
    """'relu', 'bounded' or None: which statistic an activation gets."""
    if activation in RELU_FAMILY:
        return "relu"
    if activation in BOUNDED_FAMILY:
        return "bounded"
    return None


def _as_float(x):
    return ops.cast(x, "float32")


def _static_size(x):
    size = 1
    for d in x.shape:
        size *= int(d)
    return size


def unit_max(outputs, unit_axis=-1):
    """Each unit's largest output over every other axis (batch, space,
    time): a unit whose maximum is zero or below is dead for these samples.
    A unit is one index along `unit_axis` (a Dense unit, a conv channel)."""
    x = ops.moveaxis(_as_float(outputs), unit_axis, -1)
    return ops.max(ops.reshape(x, (-1, x.shape[-1])), axis=0)


def pinned_count(outputs, activation):
    """(how many outputs sit near the activation's bounds, out of how many).

    For softmax, how many samples have a largest probability above
    1 - margin (the distribution has collapsed onto one class), out of the
    samples. The totals are static.
    """
    x = _as_float(outputs)
    if activation == "softmax":
        pinned = ops.greater(ops.max(x, axis=-1), 1.0 - SATURATION_MARGIN)
        return ops.sum(ops.cast(pinned, "float32")), _static_size(x) // x.shape[-1]
    low, high = _BOUNDS[activation]
    pinned = ops.logical_or(ops.less(x, low + SATURATION_MARGIN),
                            ops.greater(x, high - SATURATION_MARGIN))
    return ops.sum(ops.cast(pinned, "float32")), _static_size(x)


def nonfinite_count(outputs):
    """(how many values are NaN or infinite, out of how many), counted
    exactly: a mean of flags in float32 is not zero for a finite output of
    millions of values under XLA."""
    x = _as_float(outputs)
    bad = ops.sum(ops.cast(ops.logical_not(ops.isfinite(x)), "int32"))
    return ops.cast(bad, "float32"), _static_size(x)


def total(outputs):
    """The sum of an output, in one pass: not finite whenever the output
    holds a NaN or an infinity (and, rarely, when a sum of huge finite
    values overflows), so that `nonfinite_count` need only run then."""
    return ops.sum(_as_float(outputs))


def l2_norm(x):
    """L2 norm in float32 (float16 gradients would overflow when squared)."""
    x = _as_float(x)
    return ops.sqrt(ops.sum(ops.square(x)))


def compile_for_backend(fn, state_variables=()):
    """`fn` as one compiled program where the backend allows it.

    Eager Keras ops cost a dispatch each, and a record reduces every
    variable, so:

    * TensorFlow: `fn` becomes a `tf.function`, traced once per argument
      signature; it reads the variables when it runs. It is traced without
      AutoGraph, which would convert every layer's `call` (a trace several
      times slower), and with it only if that fails (a layer or schedule
      with Python control flow on tensors).
    * JAX: `fn` becomes a `jax.jit` of the current values of
      `state_variables` (every variable `fn` reads), read inside through a
      `StatelessScope`; a jitted closure would otherwise freeze the values
      it saw when traced.
    * torch: `fn` runs eagerly under `torch.no_grad()`: statistics need no
      autograd graph.

    The result is called like `fn`; `.trace(*args)` traces it for those
    arguments without running it (TensorFlow, JAX: what the trace sees,
    shapes included, is known before any memory is spent) and returns
    False where there is no trace (torch).
    """
    backend = keras.backend.backend()
    if backend == "tensorflow":
        return _TracedTF(fn)
    if backend == "jax":
        return _JittedJAX(fn, state_variables)
    return _Eager(fn)


class _TracedTF:
    def __init__(self, fn):
        import tensorflow as tf

        self._fn = fn
        self._traced = tf.function(fn, autograph=False)
        self._proven = False

    def _with_autograph(self):
        import tensorflow as tf

        self._traced = tf.function(self._fn)
        self._proven = True

    def __call__(self, *args):
        if self._proven:
            return self._traced(*args)
        try:
            result = self._traced(*args)
        except Exception:  # Python control flow on tensors: let AutoGraph try
            self._with_autograph()
            return self._traced(*args)
        self._proven = True
        return result

    def trace(self, *args):
        try:
            self._traced.get_concrete_function(*args)
        except Exception:
            self._with_autograph()
            self._traced.get_concrete_function(*args)
        return True


class _JittedJAX:
    def __init__(self, fn, state_variables):
        import jax

        state_variables = list(state_variables)
        self._state_variables = state_variables

        def pure(values, *args):
            mapping = list(zip(state_variables, values))
            with keras.StatelessScope(state_mapping=mapping):
                return fn(*args)

        self._jitted = jax.jit(pure)

    def _values(self):
        return [v.value for v in self._state_variables]

    def __call__(self, *args):
        return self._jitted(self._values(), *args)

    def trace(self, *args):
        # jit's trace cache is shared with the later call.
        trace = getattr(self._jitted, "trace", None) or self._jitted.lower
        trace(self._values(), *args)
        return True


class _Eager:
    def __init__(self, fn):
        self._fn = fn
        self._torch = keras.backend.backend() == "torch"

    def __call__(self, *args):
        if not self._torch:
            return self._fn(*args)
        import torch

        with torch.no_grad():
            return self._fn(*args)

    def trace(self, *args):
        return False


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
