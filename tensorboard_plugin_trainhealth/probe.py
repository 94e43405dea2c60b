"""The probe: a small fixed batch of training inputs, and what it reveals.

Dead units and saturation are properties of activations, which Keras never
shows a callback. The probe runs the model forward on a few hundred training
samples (captured once) and reads the outputs of the layers that matter
through temporary hooks on their `call`. Hooks see every call of a layer, so
Sequential, Functional, nested and subclassed models are handled alike.

On the TensorFlow backend the hooked forward pass and the reductions are
traced once into a `tf.function`; later records replay that graph.
"""

import inspect

import numpy as np
import keras
from keras import ops

from tensorboard_plugin_trainhealth import stats


class ProbeLayer:
    """A layer whose output the probe inspects."""

    def __init__(self, layer, name, activation, is_output):
        self.layer = layer
        self.name = name
        self.activation = activation
        self.family = stats.family(activation)
        self.is_output = is_output
        data_format = getattr(layer, "data_format", "channels_last")
        self.unit_axis = 1 if data_format == "channels_first" else -1

    def column(self):
        return {
            "name": self.name,
            "class": type(self.layer).__name__,
            "activation": self.activation,
            "is_output": bool(self.is_output),
            "units": _units(self.layer),
        }


def _units(layer):
    for attribute in ("units", "filters"):
        value = getattr(layer, attribute, None)
        if isinstance(value, int):
            return value
    return None


def walk_layers(model, prefix=""):
    """Yields (qualified_name, layer) for every leaf layer, in model order.

    Layers of nested models are named `outer/inner`, which keeps names
    unique when two sub-models hold layers of the same name.
    """
    for layer in getattr(model, "layers", []):
        name = prefix + layer.name
        if getattr(layer, "layers", None):
            yield from walk_layers(layer, name + "/")
        else:
            yield name, layer


def output_layers(model):
    """Ids of the layers whose outputs are the model's outputs.

    Output layers are judged differently: a confident classifier's sigmoid
    sits near 0 and 1, and that is health, not saturation.
    """
    found = set()
    try:
        outputs = keras.tree.flatten(model.outputs)
        operations = [t._keras_history.operation for t in outputs]
    except (AttributeError, TypeError, ValueError):
        layers = getattr(model, "layers", [])
        operations = layers[-1:]
    for op in operations:
        if getattr(op, "layers", None):
            found |= output_layers(op)
        else:
            found.add(id(op))
    return found


def find_probe_layers(model):
    """The layers with a ReLU-family or bounded activation, in model order."""
    outputs = output_layers(model)
    result = []
    for name, layer in walk_layers(model):
        activation = stats.activation_name(layer)
        if stats.family(activation) is not None:
            result.append(ProbeLayer(layer, name, activation, id(layer) in outputs))
    return result


def capture_from_fit(model, max_samples):
    """Finds the training data of the running `fit` and takes a probe from it.

    Callbacks are not given the data, so this looks for `fit`'s epoch
    iterator in the calling frames (Keras builds it before calling
    `on_train_begin`). Returns the probe inputs (numpy, same structure as x)
    or None if no safe source was found. A plain Python generator is never
    read: that would steal batches from training.
    """
    frame = inspect.currentframe()
    try:
        while frame is not None:
            local = frame.f_locals
            if local.get("self") is model and "epoch_iterator" in local:
                return _take_probe(local["epoch_iterator"], max_samples)
            frame = frame.f_back
    finally:
        del frame
    return None


def _take_probe(epoch_iterator, max_samples):
    adapter = getattr(epoch_iterator, "data_adapter", None)
    if adapter is None or type(adapter).__name__ == "GeneratorDataAdapter":
        return None
    return _first_samples(adapter.get_numpy_iterator(), max_samples)


def probe_from_user(data, max_samples):
    """Probe inputs from `probe_data=`: arrays (a list or dict of them for
    multi-input models) holding inputs only, or a batched `tf.data.Dataset`
    yielding `x` or `(x, y[, sample_weight])`."""
    if hasattr(data, "as_numpy_iterator"):
        return _first_samples(data.as_numpy_iterator(), max_samples)
    return keras.tree.map_structure(
        lambda a: np.asarray(a)[:max_samples], data)


def _first_samples(batches_iterator, max_samples):
    batches, count = [], 0
    for batch in batches_iterator:
        x = batch[0] if isinstance(batch, tuple) else batch
        batches.append(x)
        count += len(keras.tree.flatten(x)[0])
        if count >= max_samples:
            break
    if not batches:
        return None
    x = keras.tree.map_structure(lambda *parts: np.concatenate(parts, axis=0),
                                 *batches)
    return keras.tree.map_structure(lambda a: np.asarray(a)[:max_samples], x)


class ActivationProbe:
    """Runs the model on the probe inputs and reduces each layer's output.

    `__call__` returns one float32 vector: for each probe layer its
    dead-unit fraction (ReLU family) or saturated fraction (bounded
    family), followed by each layer's non-finite fraction.
    """

    def __init__(self, model, probe_layers, probe_inputs):
        self.model = model
        self.layers = list(probe_layers)
        self.inputs = probe_inputs
        # On the device once, not at every record.
        self._device_inputs = keras.tree.map_structure(
            ops.convert_to_tensor, probe_inputs)
        # Compiled once per model and probe layers (and kept on the model,
        # for later fits): the inputs are arguments, the layers are not.
        key = ("probe", tuple(id(p.layer) for p in self.layers),
               tuple(id(v) for v in model.variables))
        self._fn = stats.cached_on(model, key, lambda: stats.compile_for_backend(
            self._forward_and_reduce, model.variables))

    def __call__(self):
        return self._fn(self._device_inputs)

    def _forward_and_reduce(self, inputs):
        captured = capture_outputs(self.model, self.layers, inputs)
        signal, nonfinite = [], []
        nan = ops.convert_to_tensor(float("nan"), "float32")
        for probe_layer in self.layers:
            out = _joined(captured.get(id(probe_layer.layer)) or [])
            if out is None:  # the layer was not reached on this forward pass
                signal.append(nan)
                nonfinite.append(nan)
                continue
            if probe_layer.family == "relu":
                signal.append(stats.dead_fraction(out, probe_layer.unit_axis))
            else:
                signal.append(stats.saturation_fraction(out, probe_layer.activation))
            nonfinite.append(stats.nonfinite_fraction(out))
        return ops.stack(signal + nonfinite) if signal else ops.zeros((0,))


def capture_outputs(model, probe_layers, inputs):
    """Runs the model on `inputs`; returns {id(layer): [outputs of each call]}."""
    captured = {}
    hooked = []
    for probe_layer in probe_layers:
        layer = probe_layer.layer
        if id(layer) in captured:
            continue
        captured[id(layer)] = []
        hooked.append(layer)
        _hook(layer, captured[id(layer)])
    try:
        model(inputs, training=False)
    finally:
        for layer in hooked:
            _unhook(layer)
    return captured


def _joined(outputs):
    """A shared layer's outputs from all its calls, as one batch.

    A unit of a layer used twice is dead only if it is zero on every call.
    Calls with different shapes (other inputs) are judged by the first.
    """
    if not outputs:
        return None
    shapes = {tuple(o.shape[1:]) for o in outputs}
    if len(outputs) > 1 and len(shapes) == 1:
        return ops.concatenate(outputs, axis=0)
    return outputs[0]


def fit_to_memory(model, probe_layers, inputs, budget_bytes):
    """Trims the probe so that the inspected outputs fit in `budget_bytes`.

    One sample is run first to measure how many values the inspected layers
    produce per sample; very wide layers then get fewer probe samples.
    """
    if not probe_layers or inputs is None:
        return inputs
    count = len(keras.tree.flatten(inputs)[0])
    one = keras.tree.map_structure(lambda a: a[:1], inputs)
    captured = capture_outputs(model, probe_layers, one)
    per_sample = sum(int(np.prod(o.shape)) for outputs in captured.values()
                     for o in outputs)
    # float32 outputs, plus a float32 copy made by the reductions.
    limit = max(1, int(budget_bytes // max(1, 8 * per_sample)))
    if limit >= count:
        return inputs
    return keras.tree.map_structure(lambda a: a[:limit], inputs)


def _hook(layer, sink):
    original = layer.call

    def recording_call(*args, **kwargs):
        out = original(*args, **kwargs)
        # Recurrent layers with return_state return [output, *states].
        sink.append(out[0] if isinstance(out, (list, tuple)) else out)
        return out

    object.__setattr__(layer, "call", recording_call)


def _unhook(layer):
    if "call" in layer.__dict__:
        object.__delattr__(layer, "call")
