"""The activation probe for PyTorch models: dead units, saturation, outputs.

The probe runs the model (unwrapped: never the compiled or distributed
wrapper, so no recompilation and no collective) in eval mode, without
gradients, on a few hundred training samples kept on the device. While it
runs, a `TorchFunctionMode` sees every activation the forward computes,
whether through a module (`nn.ReLU`, `nn.Sigmoid`, `nn.Softmax`, ...) or a
function (`F.relu(x)`, `torch.sigmoid(x)`, `x.tanh()`), and temporary
forward hooks on every module say which module it is in. Each activation
is reduced where it is computed (a unit's maximum, a count of saturated
values, a count of non-finite ones), so the probe needs about the memory of
one forward pass; samples run in chunks when even that is too much.

An activation is a *site*, named by the module that computes it: the
module's path for an activation module (`encoder/1`), the path of the
module whose forward calls it plus the function for a functional one
(`block/relu`, then `block/relu#2` for a second call in the same forward).
A module called several times (shared) is judged over all its calls.
"""

import weakref

import numpy as np
import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

from tensorboard_plugin_trainhealth.torch import modules as modules_lib
from tensorboard_plugin_trainhealth.torch import reading as reading_lib

# Within 1% of a bound, a sigmoid's or tanh's derivative has fallen below
# ~4% of its peak (the Keras probe's stats.SATURATION_MARGIN).
SATURATION_MARGIN = 0.01
_BOUNDS = {"sigmoid": (0.0, 1.0), "hard_sigmoid": (0.0, 1.0),
           "tanh": (-1.0, 1.0)}
RELU_FAMILY = ("relu", "relu6")
_CHANNELS_FIRST = (torch.nn.modules.conv._ConvNd,
                   torch.nn.modules.batchnorm._BatchNorm,
                   torch.nn.modules.instancenorm._InstanceNorm,
                   torch.nn.GroupNorm)


def _fixed(name):
    return lambda args, kwargs: name


def _hardtanh(args, kwargs):
    low = kwargs.get("min_val", args[1] if len(args) > 1 else -1.0)
    high = kwargs.get("max_val", args[2] if len(args) > 2 else 1.0)
    return "relu6" if (low, high) == (0.0, 6.0) else None


_FUNCTIONS = {}
for _name, _fns in (
        ("relu", (F.relu, torch.relu, torch.relu_, torch.Tensor.relu,
                  torch.Tensor.relu_, F.relu_)),
        ("relu6", (F.relu6,)),
        ("sigmoid", (F.sigmoid, torch.sigmoid, torch.sigmoid_,
                     torch.Tensor.sigmoid, torch.Tensor.sigmoid_)),
        ("hard_sigmoid", (F.hardsigmoid,)),
        ("tanh", (F.tanh, torch.tanh, torch.tanh_, torch.Tensor.tanh,
                  torch.Tensor.tanh_)),
        ("softmax", (F.softmax, torch.softmax, torch.Tensor.softmax))):
    for _fn in _fns:
        _FUNCTIONS[_fn] = _fixed(_name)
_FUNCTIONS[F.hardtanh] = _hardtanh
# Activations the probe does not judge (their units cannot die, or they have
# no flat tails), still noted: an output head's activation is one of them.
for _name, _fns in (
        ("log_softmax", (F.log_softmax, torch.log_softmax,
                         torch.Tensor.log_softmax)),
        ("leaky_relu", (F.leaky_relu,)), ("elu", (F.elu,)),
        ("gelu", (F.gelu,)), ("silu", (F.silu,)), ("softplus", (F.softplus,))):
    for _fn in _fns:
        _FUNCTIONS[_fn] = _fixed(_name)
_FUSED_ATTENTION = (F.scaled_dot_product_attention,)


def family(activation):
    if activation in RELU_FAMILY:
        return "relu"
    if activation in _BOUNDS or activation == "softmax":
        return "bounded"
    return None


class Site:
    """One activation the probe judges."""

    def __init__(self, name, activation, module_class, producer, unit_axis,
                 units):
        self.name = name
        self.activation = activation
        self.family = family(activation)
        self.module_class = module_class
        self.producer = producer  # (path, class) of the layer before, or None
        self.unit_axis = unit_axis
        self.units = units
        self.is_output = False

    def column(self):
        column = {"name": self.name, "class": self.module_class,
                  "activation": self.activation,
                  "is_output": bool(self.is_output), "units": self.units}
        if self.producer is not None:
            column["after"], column["after_class"] = self.producer
        return column


def _softmax_dim(args, kwargs):
    dim = kwargs.get("dim", args[1] if len(args) > 1 else None)
    return -1 if dim is None else int(dim)


def _reduce(site, out, args, kwargs, exact):
    """{part: (device tensor, total)} for one call of a site.

    Non-finite values are counted exactly only when `exact`; otherwise
    the part is the values' sum, a fraction of the cost, which is finite
    when they all are (the probe runs again, exactly, when one is not).
    """
    x = out.detach().float()
    if exact:
        parts = {"nonfinite": ((~torch.isfinite(x)).sum(), x.numel())}
    else:
        parts = {"nonfinite": (x.sum(), x.numel())}
    if site.family == "relu":
        # Each unit's maximum over every other axis, without a copy.
        axis = site.unit_axis % x.dim()
        others = [d for d in range(x.dim()) if d != axis]
        parts["unit_max"] = (x.amax(others) if others else x, None)
    elif site.activation == "softmax":
        top = x.amax(_softmax_dim(args, kwargs))
        parts["pinned"] = ((top > 1.0 - SATURATION_MARGIN).sum(), top.numel())
    else:
        low, high = _BOUNDS[site.activation]
        pinned = (x < low + SATURATION_MARGIN) | (x > high - SATURATION_MARGIN)
        parts["pinned"] = (pinned.sum(), x.numel())
    return parts


class _Frame:
    __slots__ = ("path", "module", "calls")

    def __init__(self, path, module):
        self.path, self.module, self.calls = path, module, {}


class _Pass(TorchFunctionMode):
    """One forward pass of the probe: the module stack, the sites met and
    their reductions, and (for the facts) the order of the layers run."""

    def __init__(self, paths, sites, exact=False):
        super().__init__()
        self.exact = exact  # count non-finite values (see _reduce)
        self.paths = paths
        self.sites = sites  # {name: Site}, shared by every pass of a probe
        self.stack = []
        self.reduced = {}  # {site name: [parts of each call]}
        self.events = []  # (kind, path or site, weakref of the output)
        self.producer = None  # the last layer with parameters that ran
        self.layer_modules = {}  # {path: module} of the layers that ran
        self.opaque = {}  # {path: reason}
        self.widest = 0  # the most values one activation held

    # -- module hooks ----------------------------------------------------

    def enter(self, module, args):
        self.stack.append(_Frame(self.paths.get(id(module), ""), module))

    def leave(self, module, args, output):
        frame = self.stack.pop() if self.stack else None
        if frame is None or list(module.children()) or \
                modules_lib.activation_of_module(module):
            return
        if any(True for _ in module.parameters(recurse=False)):
            self.producer = (frame.path, module)
            self.layer_modules[frame.path] = module
            if isinstance(output, torch.Tensor):
                self.events.append(("layer", frame.path, weakref.ref(output)))

    # -- activations -----------------------------------------------------

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if func in _FUSED_ATTENTION and self.stack:
            self.opaque.setdefault(
                self.stack[-1].path or "model",
                "attention: its softmax runs inside "
                "scaled_dot_product_attention and cannot be seen")
            return out
        resolve = _FUNCTIONS.get(func)
        activation = resolve(args, kwargs) if resolve else None
        if activation is None or not isinstance(out, torch.Tensor) \
                or not out.is_floating_point() or out.dim() == 0:
            return out
        if family(activation) is None:
            producer = self.producer[0] if self.producer else None
            self.events.append(("act", (activation, producer), weakref.ref(out)))
            return out
        site = self._site(func, activation, out)
        self.widest = max(self.widest, out.numel())
        self.reduced.setdefault(site.name, []).append(
            _reduce(site, out, args, kwargs, self.exact))
        self.events.append(("site", site, weakref.ref(out)))
        return out

    def _site(self, func, activation, out):
        frame = self.stack[-1] if self.stack else _Frame("", None)
        if frame.module is not None and \
                modules_lib.activation_of_module(frame.module):
            name, module_class = frame.path, type(frame.module).__name__
        else:
            short = getattr(func, "__name__", activation).rstrip("_")
            n = frame.calls[short] = frame.calls.get(short, 0) + 1
            name = (frame.path + "/" if frame.path else "") + short \
                + ("" if n == 1 else "#%d" % n)
            module_class = (type(frame.module).__name__
                            if frame.module is not None else "function")
        site = self.sites.get(name)
        if site is None:
            site = self.sites[name] = self._new_site(
                name, activation, module_class, out)
        return site

    def _new_site(self, name, activation, module_class, out):
        producer, axis, units = None, -1, None
        if self.producer is not None:
            producer_path, module = self.producer
            producer = (producer_path, type(module).__name__)
            if out.dim() >= 3 and isinstance(module, _CHANNELS_FIRST):
                axis = 1
        if out.dim() >= 2:
            units = int(out.shape[axis])
        return Site(name, activation, module_class, producer, axis, units)


def _hook_all(model, probe_pass):
    handles = []
    for module in model.modules():
        handles.append(module.register_forward_pre_hook(probe_pass.enter))
        handles.append(module.register_forward_hook(probe_pass.leave))
    return handles


def call_model(model, inputs):
    """`model(x)`, `model(*x)` for a tuple or list, `model(**x)` for a dict."""
    if isinstance(inputs, dict):
        return model(**inputs)
    if isinstance(inputs, (tuple, list)):
        return model(*inputs)
    return model(inputs)


def run_pass(model, inputs, paths, sites, exact=False):
    """Runs `model` on `inputs` under a `_Pass`: (the pass, the outputs)."""
    probe_pass = _Pass(paths, sites, exact)
    training = [(m, m.training) for m in model.modules()]
    handles = _hook_all(model, probe_pass)
    try:
        model.eval()
        with torch.no_grad(), probe_pass:
            outputs = call_model(model, inputs)
    finally:
        for handle in handles:
            handle.remove()
        for module, mode in training:
            module.training = mode
    return probe_pass, outputs


def map_inputs(fn, inputs):
    if isinstance(inputs, dict):
        return {k: map_inputs(fn, v) for k, v in inputs.items()}
    if isinstance(inputs, (tuple, list)):
        return type(inputs)(map_inputs(fn, v) for v in inputs)
    return fn(inputs)


def first_tensor(inputs):
    if isinstance(inputs, dict):
        return first_tensor(next(iter(inputs.values())))
    if isinstance(inputs, (tuple, list)):
        return first_tensor(inputs[0])
    return inputs


class TorchProbe:
    """Runs the model on the probe inputs; calling it returns a
    `reading.Reading` (host numpy values).

    Args:
        model: the unwrapped module.
        inputs: the probe inputs (tensors on the model's device).
        memory_budget_bytes: no site's output for one chunk exceeds this.
    """

    def __init__(self, model, inputs, memory_budget_bytes):
        self.model = model
        self.paths = modules_lib.module_paths(model)
        self.sites = {}
        count = int(first_tensor(inputs).shape[0])
        # One sample first: which activations exist, and how wide they are.
        probe_pass, _ = run_pass(model, map_inputs(lambda a: a[:1], inputs),
                                 self.paths, self.sites)
        # float32 outputs, plus a float32 copy made by the reductions.
        per_sample = 8 * max(1, probe_pass.widest)
        chunks = max(1, min(count, -(-per_sample * count // memory_budget_bytes)))
        size = count // chunks
        self.samples = size * chunks
        self.chunks = chunks
        self._chunks = [map_inputs(lambda a, i=i: a[i * size:(i + 1) * size],
                                   inputs) for i in range(chunks)]
        self.layers = []  # the sites, fixed by the first full reading
        self.output_names = []
        self.heads = []
        self.class_axes = []
        self.first_pass = None
        self.first_outputs = None  # the first reading's, for the loss facts

    def __call__(self):
        reading = self._read(exact=False)
        if reading is None:  # a non-finite value somewhere: count them
            reading = self._read(exact=True)
        return reading

    def _read(self, exact):
        passes = []
        for chunk in self._chunks:
            probe_pass, outputs = run_pass(self.model, chunk, self.paths,
                                           self.sites, exact)
            if self.first_pass is None:
                self._fix_layout(probe_pass, outputs)
            passes.append((probe_pass, reading_lib.reduce_outputs(
                outputs, self.class_axes)))
        return reading_lib.combine(self.layers, passes, len(self.output_names),
                                   exact)

    def _fix_layout(self, probe_pass, outputs):
        """At the first reading: the sites in the order they ran, which
        ones give the model's outputs, the outputs' names and heads."""
        self.first_pass = probe_pass
        self.first_outputs = outputs
        order = []
        for kind, what, _ in probe_pass.events:
            if kind == "site" and what not in order:
                order.append(what)
        named = reading_lib.named_outputs(outputs)
        self.output_names = [name for name, _ in named]
        self.heads = [head_of(probe_pass, tensor) for _, tensor in named]
        for site in order:
            site.is_output = any(h["site"] is site for h in self.heads)
        self.class_axes = [h["class_axis"] for h in self.heads]
        self.layers = order


def build(model, inputs, memory_budget_bytes):
    """The probe of `model` on `inputs` and its first reading."""
    probe = TorchProbe(model, inputs, memory_budget_bytes)
    return probe, probe()


def head_of(probe_pass, output):
    """What produced one model output: {"layer", "class", "activation",
    "observed", "units", "site", "class_axis"}, the layer being the last one with
    parameters before the output and the activation the one applied after
    it ("linear" if none; `site` is its Site when the probe judges it).

    Found by tensor identity (the output is a layer's or an activation's
    output, or a view of one), else from the order things ran in (a
    reshape or an arithmetic op after the last layer).
    """
    base = getattr(output, "_base", None)
    match = None
    for event in reversed(probe_pass.events):
        produced = event[2]()
        if produced is not None and (produced is output or produced is base):
            match = event
            break
    # Matched by identity, what ran after the layer is known; from the
    # order things ran in, not (a function the probe does not see may
    # have run between).
    observed = match is not None
    if match is None:
        match = probe_pass.events[-1] if probe_pass.events else None
    layer, activation, site = None, "linear", None
    if match is not None:
        kind, what, _ = match
        if kind == "layer":
            layer = what
        elif kind == "site":
            site, activation = what, what.activation
            layer = what.producer[0] if what.producer else None
        else:
            activation, layer = what
    module = probe_pass.layer_modules.get(layer)
    channels_first = isinstance(module, _CHANNELS_FIRST) and output.dim() >= 3
    axis = 1 if channels_first else -1
    units = modules_lib.units_of(module) if module is not None else None
    if units is None:
        units = int(output.shape[axis]) if output.dim() >= 2 else 1
    return {"layer": layer if layer is not None else "model",
            "class": type(module).__name__ if module is not None else None,
            "activation": activation, "observed": observed, "units": units,
            "site": site, "class_axis": axis}


def _as_tensor(value, device):
    if isinstance(value, torch.Tensor):
        return value.detach().to(device)
    return torch.as_tensor(np.asarray(value), device=device)


def _take(structure, count):
    return map_inputs(lambda a: a[:count], structure)


def _joined(batches):
    first = batches[0]
    if isinstance(first, dict):
        return {k: _joined([b[k] for b in batches]) for k in first}
    if isinstance(first, (tuple, list)):
        return type(first)(_joined([b[i] for b in batches])
                           for i in range(len(first)))
    return torch.cat([torch.as_tensor(b) for b in batches])


def probe_batch(probe_data, samples, device):
    """(inputs, targets or None) on `device`, at most `samples` of them.

    `probe_data`: inputs (a tensor or array; a tuple or list of them for a
    model called as `model(*x)`; a dict for `model(**x)`), or `(x, y)` as
    a list or tuple of two whose first is inputs, or an iterable of such
    batches (a DataLoader: read from a fresh iterator, never the training
    one). Targets are kept on the host.
    """
    if hasattr(probe_data, "__iter__") and not isinstance(
            probe_data, (torch.Tensor, np.ndarray, dict, tuple, list)):
        inputs, targets, count = [], [], 0
        for batch in probe_data:
            x, y = _split(batch)
            inputs.append(x)
            targets.append(y)
            count += int(first_tensor(x).shape[0])
            if count >= samples:
                break
        if not inputs:
            return None
        x = _joined(inputs)
        y = None if any(t is None for t in targets) else _joined(targets)
    else:
        x, y = _split(probe_data)
    x = map_inputs(lambda a: _as_tensor(a, device), _take(x, samples))
    if y is not None:
        y = map_inputs(lambda a: _as_tensor(a, "cpu"), _take(y, samples))
    return x, y


def _split(batch):
    """(inputs, targets) of a batch: `(x, y)`, `[x, y]` or `(x, y, weights)`;
    anything else is inputs alone (a multi-input model's probe is
    `((x1, x2), y)` or `((x1, x2), None)`)."""
    if isinstance(batch, (tuple, list)) and len(batch) in (2, 3):
        return batch[0], batch[1]
    return batch, None
