"""The probe: a small fixed batch of training samples, and what it reveals.

Dead units and saturation are properties of activations, which Keras never
shows a callback. The probe runs the model forward on a few hundred training
samples (captured once) and reduces the outputs of the layers that matter,
found anywhere in the layer tree (`layer_tree.py`: sublayers of custom
layers and wrappers included), through temporary hooks on their `call`.
Hooks see every call of a layer, so Sequential, Functional, nested and
subclassed models are handled alike, and a shared layer is judged over all
its calls.

Each hook reduces its layer's output at once (a unit's maximum, a count of
saturated values, a count of non-finite ones), so no layer's output is kept
beyond its own call: the probe needs about the memory of one forward pass.
When even that is too large, the samples run in equal chunks whose
reductions are combined on the host. The model's outputs are reduced too
(their spread across the samples, the share of the most common predicted
class), for the collapsed-prediction check.

On the TensorFlow backend the hooked forward pass and the reductions are
traced once into a `tf.function`, on JAX into a `jax.jit`; later records
replay them.
"""

import numpy as np
import keras
from keras import ops

from tensorboard_plugin_trainhealth import layer_tree
from tensorboard_plugin_trainhealth.probe_data import sample_count
from tensorboard_plugin_trainhealth.probe_reading import ProbeReading
from tensorboard_plugin_trainhealth import stats

# Outputs with more values per row than this (a sequence of vocabulary
# logits) get no class statistics: they would be a large transfer.
MAX_OUTPUT_UNITS = 4096


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
            "units": units(self.layer),
        }


def units(layer):
    for attribute in ("units", "filters"):
        value = getattr(layer, attribute, None)
        if isinstance(value, int):
            return value
    return None


def find_probe_layers(model):
    """(probe layers, not inspected): the leaf layers with a ReLU-family or
    bounded activation in model order, and `{"layer", "reason"}` for the
    layers whose activations the probe cannot judge."""
    outputs = set(layer_tree.output_layers(model))
    found, skipped = [], []
    for node in layer_tree.leaves(model):
        layer = node.layer
        activation = stats.activation_name(layer)
        if stats.family(activation) is not None:
            found.append(ProbeLayer(layer, node.path, activation,
                                    id(layer) in outputs))
            continue
        reason = _why_not_inspected(layer, activation)
        if reason:
            skipped.append({"layer": node.path, "reason": reason})
    return found, skipped


def _why_not_inspected(layer, activation):
    if activation is not None and activation not in stats.KNOWN_ACTIVATIONS:
        return ("its activation (%s) is not one the probe recognises"
                % activation)
    module = type(layer).__module__ or ""
    if activation is None and not module.startswith("keras") \
            and layer.trainable_weights:
        return ("custom layer: an activation applied inside its call() "
                "cannot be seen")
    return None


class ActivationProbe:
    """Runs the model on the probe inputs and reduces what it sees.

    Calling it returns a `ProbeReading` (host numpy values). The samples
    run in as many equal chunks, one after another, as keep every probe
    layer's output within `memory_budget_bytes` (None: one chunk); the
    widths are learned from the probe's own trace (TensorFlow, JAX), or
    from one sample run eagerly (torch, and a model not built yet).
    """

    def __init__(self, model, probe_layers, probe_inputs, output_names,
                 memory_budget_bytes=None):
        self.model = model
        self.layers = list(probe_layers)
        self.output_names = list(output_names)
        count = sample_count(probe_inputs)
        if not model.variables:
            # Builds a subclassed model that has not seen data yet, before
            # its variables are handed to the compiled probe.
            _measure_eagerly(model, self.layers, probe_inputs)
        # Compiled once per model and probe layers (and kept on the model,
        # for later fits): the inputs are arguments, the layers are not.
        key = ("probe", tuple(id(p.layer) for p in self.layers),
               tuple(id(v) for v in model.variables))
        self._compiled = stats.cached_on(
            model, key, lambda: _CompiledProbe(model, self.layers))
        # On the device once, not at every record.
        whole = keras.tree.map_structure(ops.convert_to_tensor, probe_inputs)
        per_sample, self.unreached = self._compiled.measure(whole)
        chunks = 1
        if memory_budget_bytes is not None and count > 1:
            chunks = max(1, min(count, -(-per_sample * count
                                         // memory_budget_bytes)))
        size = count // chunks
        self.samples = size * chunks
        self.chunks = chunks
        self._chunks = [whole] if chunks == 1 else [
            keras.tree.map_structure(
                lambda a, i=i: ops.convert_to_tensor(a[i * size:(i + 1) * size]),
                probe_inputs)
            for i in range(chunks)]

    def __call__(self):
        parts = [self._compiled.read(chunk) for chunk in self._chunks]
        return ProbeReading.combine(self._compiled, parts)


class _CompiledProbe:
    """The traced forward pass and reductions, and the layout of their
    result (which segment of the returned vector is what), learned when it
    is traced."""

    def __init__(self, model, probe_layers):
        self.model = model
        self.layers = list(probe_layers)
        self.layout = None
        self.output_count = 0
        self._traced_width = 0
        self._measured = {}  # per-sample input signature -> measure()
        self._fn = stats.compile_for_backend(self._forward_and_reduce,
                                             model.variables)
        self._count_fn = None
        self._count_layout = None

    def read(self, inputs):
        flat = stats.to_host(self._fn(inputs)).astype(np.float64)
        parts = _split(flat, self.layout)
        if not all(np.all(np.isfinite(parts[key][0])) for key in parts
                   if key[0] == "sum"):
            parts.update(self._nonfinite_counts(inputs))
        return parts

    def _nonfinite_counts(self, inputs):
        """{("nonfinite", i): (count, total)}: a second, rarer program,
        run only when an output's sum says it holds a NaN or infinity."""
        if self._count_fn is None:
            self._count_fn = stats.compile_for_backend(
                self._forward_and_count, self.model.variables)
        flat = stats.to_host(self._count_fn(inputs)).astype(np.float64)
        return _split(flat, self._count_layout)

    def measure(self, inputs):
        """(bytes per sample of the widest probe layer's output, indices
        of the probe layers the forward pass does not reach) on `inputs`,
        before running on them."""
        signature = tuple((tuple(a.shape[1:]), str(a.dtype))
                          for a in keras.tree.flatten(inputs))
        known = self._measured.get(signature)
        if known is None:
            if self._fn.trace(inputs):
                unreached = [name[1] for name, _, _ in self.layout
                             if name[0] == "unreached"]
                known = (self._traced_width, unreached)
            else:
                known = _measure_eagerly(self.model, self.layers, inputs)
            self._measured[signature] = known
        width, unreached = known
        # float32 outputs, plus a float32 copy made by the reductions.
        return 8 * max(width, 1), list(unreached)

    def _forward_and_reduce(self, inputs):
        sinks, outputs = _hooked_forward(self.model, self.layers, inputs)
        samples = max(1, _elements(keras.tree.flatten(inputs)[0].shape[:1]))
        layout, values = [], []

        def add(name, tensor, total=None):
            tensor = ops.reshape(ops.cast(tensor, "float32"), (-1,))
            layout.append((name, int(tensor.shape[0]), total))
            values.append(tensor)

        width = 0
        for i, probe_layer in enumerate(self.layers):
            calls = sinks.get(id(probe_layer.layer)) or []
            if not calls:  # not reached on this forward pass
                add(("unreached", i), ops.zeros((1,)))
                continue
            width = max([width] + [c["size"] // samples for c in calls])
            if probe_layer.family == "relu":
                maxima = [c["unit_max"] for c in calls
                          if c["unit_max"].shape == calls[0]["unit_max"].shape]
                add(("unit_max", i), _reduce(ops.maximum, maxima))
            else:
                add(("pinned", i), sum(c["pinned"][0] for c in calls),
                    sum(c["pinned"][1] for c in calls))
            add(("sum", i), ops.stack([c["sum"] for c in calls]),
                sum(c["size"] for c in calls))
        flat_outputs = keras.tree.flatten(outputs)
        self.output_count = len(flat_outputs)
        for j, out in enumerate(flat_outputs):
            _add_output(add, j, out)
        # Runs while tracing: the sizes are static, known once traced.
        self.layout = layout
        self._traced_width = width
        return ops.concatenate(values, axis=0) if values else ops.zeros((0,))


    def _forward_and_count(self, inputs):
        sinks, _ = _hooked_forward(self.model, self.layers, inputs,
                                   _count_reduction)
        layout, values = [], []
        for i, probe_layer in enumerate(self.layers):
            calls = sinks.get(id(probe_layer.layer)) or []
            if calls:
                layout.append((("nonfinite", i), 1,
                               sum(c["nonfinite"][1] for c in calls)))
                values.append(ops.reshape(
                    sum(c["nonfinite"][0] for c in calls), (1,)))
        self._count_layout = layout
        return ops.concatenate(values, axis=0) if values else ops.zeros((0,))


def _add_output(add, j, output):
    """The reductions of model output j (see `_output_reading`)."""
    rows = _as_rows(output)
    if rows is None:
        return
    add(("out_mean", j), ops.mean(rows, axis=0), int(rows.shape[0]))
    add(("out_var", j), ops.var(rows, axis=0))
    add(("out_range", j), ops.stack([ops.min(rows), ops.max(rows)]))
    if rows.shape[1] > 1:
        predicted = ops.one_hot(ops.argmax(rows, axis=-1), rows.shape[1])
        add(("out_classes", j), ops.sum(predicted, axis=0))
        add(("out_row_sum_error", j),
            ops.max(ops.abs(ops.sum(rows, axis=-1) - 1.0)))
    else:
        add(("out_sides", j), ops.stack([
            ops.sum(ops.cast(ops.greater(rows, 0.5), "float32")),
            ops.sum(ops.cast(ops.greater(rows, 0.0), "float32"))]))


def _elements(shape):
    """How many values a static shape holds (an unknown dimension: 1)."""
    return int(np.prod([int(d) if d is not None else 1 for d in shape]))


def _reduce(fn, tensors):
    result = tensors[0]
    for t in tensors[1:]:
        result = fn(result, t)
    return result


def _as_rows(output):
    """An output as (rows, units): one row per sample (and time step, for a
    sequence of predictions); None when a row holds too many values."""
    x = ops.cast(output, "float32")
    if len(x.shape) == 0:
        return None
    if len(x.shape) == 1:
        return ops.reshape(x, (-1, 1))
    if int(x.shape[-1]) > MAX_OUTPUT_UNITS:
        return None
    return ops.reshape(x, (-1, int(x.shape[-1])))


def _split(flat, layout):
    out, start = {}, 0
    for name, size, total in layout:
        out[name] = (flat[start:start + size], total)
        start += size
    return out


def _hooked_forward(model, probe_layers, inputs, reductions=None):
    """Runs the model on `inputs` with every probe layer hooked; returns
    ({id(layer): [reductions of each call]}, the model's outputs)."""
    reductions = reductions or _reductions
    sinks = {}
    hooked = []
    for probe_layer in probe_layers:
        layer = probe_layer.layer
        if id(layer) in sinks:
            continue
        sinks[id(layer)] = []
        hooked.append(layer)
        _hook(layer, probe_layer, sinks[id(layer)], reductions)
    try:
        outputs = model(inputs, training=False)
    finally:
        for layer in hooked:
            _unhook(layer)
    return sinks, outputs


def _reductions(probe_layer, out):
    reduced = {"sum": stats.total(out), "size": _elements(out.shape)}
    if probe_layer.family == "relu":
        reduced["unit_max"] = stats.unit_max(out, probe_layer.unit_axis)
    else:
        reduced["pinned"] = stats.pinned_count(out, probe_layer.activation)
    return reduced


def _count_reduction(probe_layer, out):
    return {"nonfinite": stats.nonfinite_count(out)}


def _hook(layer, probe_layer, sink, reductions):
    original = layer.call

    def recording_call(*args, **kwargs):
        out = original(*args, **kwargs)
        # Recurrent layers with return_state return [output, *states].
        first = out[0] if isinstance(out, (list, tuple)) else out
        sink.append(reductions(probe_layer, first))
        return out

    object.__setattr__(layer, "call", recording_call)


def _unhook(layer):
    if "call" in layer.__dict__:
        object.__delattr__(layer, "call")


def _measure_eagerly(model, probe_layers, inputs):
    """(elements per sample of the widest probe layer's output, indices of
    the probe layers not reached), from one sample run eagerly."""
    widths, reached = [], set()
    hooked = {}
    for probe_layer in probe_layers:
        layer = probe_layer.layer
        if id(layer) not in hooked:
            hooked[id(layer)] = layer
            _hook_measuring(layer, widths, reached)
    try:
        model(keras.tree.map_structure(lambda a: a[:1], inputs), training=False)
    finally:
        for layer in hooked.values():
            _unhook(layer)
    unreached = [i for i, p in enumerate(probe_layers)
                 if id(p.layer) not in reached]
    return max(widths, default=1), unreached


def _hook_measuring(layer, widths, reached):
    original = layer.call

    def measuring_call(*args, **kwargs):
        out = original(*args, **kwargs)
        first = out[0] if isinstance(out, (list, tuple)) else out
        widths.append(_elements(first.shape))
        reached.add(id(layer))
        return out

    object.__setattr__(layer, "call", measuring_call)


def build(model, inputs, output_names, memory_budget_bytes):
    """The probe of `model` on `inputs`, run once: (probe, its first
    reading, the layers not inspected as `{"layer", "reason"}`).

    A subclassed model that has not seen data yet is built on the way.
    A layer the forward pass never calls (attention computed by a fused
    kernel instead of its Softmax layer) has no outputs to judge: it is
    left out, and listed.
    """
    layers, skipped = find_probe_layers(model)
    probe = ActivationProbe(model, layers, inputs, output_names,
                            memory_budget_bytes)
    if probe.unreached:
        skipped = skipped + [
            {"layer": layers[i].name,
             "reason": "not called in the model's forward pass"}
            for i in probe.unreached]
        layers = [p for i, p in enumerate(layers) if i not in probe.unreached]
        probe = ActivationProbe(model, layers, inputs, output_names,
                                memory_budget_bytes)
    return probe, probe(), skipped
