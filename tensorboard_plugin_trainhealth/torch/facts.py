"""The run's facts for a PyTorch model, in the schema the Keras side writes.

What the diagnosis's before-the-first-step checks read (docs/schema.md,
"Facts"): the model's layers, each output's head (the last layer with
parameters and the activation after it, found by the probe), each output's
loss, and the statistics of the probe's inputs and targets.

A loss is known by what it computes: `loss_fn` (a loss module, a function,
or a dict or list of them per output) runs once on the probe's outputs and
targets under a `TorchFunctionMode` that notes which of PyTorch's loss
functions it calls, and on which output. A loss module held by the model
(a LightningModule's `self.criterion`) counts too.
"""

import numpy as np
import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

from tensorboard_plugin_trainhealth import array_facts
from tensorboard_plugin_trainhealth.torch import modules as modules_lib
from tensorboard_plugin_trainhealth.torch import probe as probe_lib
from tensorboard_plugin_trainhealth.torch import reading as reading_lib

# PyTorch's loss functions by the schema's loss names: (name, from_logits).
# nll_loss takes log-probabilities: a cross-entropy whose logits question
# does not arise (from_logits None), the classes question does.
_LOSS_FUNCTIONS = {
    F.binary_cross_entropy: ("binary_crossentropy", False),
    F.binary_cross_entropy_with_logits: ("binary_crossentropy", True),
    F.cross_entropy: (None, True),  # sparse or categorical: by the targets
    F.nll_loss: ("sparse_categorical_crossentropy", None),
    F.mse_loss: ("mean_squared_error", False),
    F.l1_loss: ("mean_absolute_error", False),
    F.huber_loss: ("huber", False),
    F.smooth_l1_loss: ("huber", False),
    F.kl_div: ("kl_divergence", None),
    F.poisson_nll_loss: ("poisson", None),
}
_LOSS_MODULES = {
    torch.nn.BCELoss: F.binary_cross_entropy,
    torch.nn.BCEWithLogitsLoss: F.binary_cross_entropy_with_logits,
    torch.nn.CrossEntropyLoss: F.cross_entropy,
    torch.nn.NLLLoss: F.nll_loss,
    torch.nn.MSELoss: F.mse_loss,
    torch.nn.L1Loss: F.l1_loss,
    torch.nn.HuberLoss: F.huber_loss,
    torch.nn.SmoothL1Loss: F.smooth_l1_loss,
    torch.nn.KLDivLoss: F.kl_div,
    torch.nn.PoissonNLLLoss: F.poisson_nll_loss,
}


def _describe_call(func, args, kwargs):
    name, from_logits = _LOSS_FUNCTIONS[func]
    if name is None:  # cross_entropy: class indices or probabilities
        target = kwargs.get("target", args[1] if len(args) > 1 else None)
        sparse = not (isinstance(target, torch.Tensor)
                      and target.is_floating_point())
        name = ("sparse_categorical_crossentropy" if sparse
                else "categorical_crossentropy")
    return {"name": name, "from_logits": from_logits,
            "function": func.__name__}


class _LossSpy(TorchFunctionMode):
    """Notes each PyTorch loss function called, with its input tensor."""

    def __init__(self):
        super().__init__()
        self.calls = []  # (input tensor, description)

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in _LOSS_FUNCTIONS:
            given = kwargs.get("input", args[0] if args else None)
            self.calls.append((given, _describe_call(func, args, kwargs)))
        return func(*args, **kwargs)


def _spy(loss_fn, outputs, targets):
    spy = _LossSpy()
    try:
        with torch.no_grad(), spy:
            loss_fn(outputs, targets)
    except Exception:  # a loss we cannot run on the probe: known by class
        pass
    return spy.calls


def _by_class(loss_fn):
    """A loss module's description without running it (class-index
    targets assumed for CrossEntropyLoss)."""
    for cls, func in _LOSS_MODULES.items():
        if isinstance(loss_fn, cls):
            return _describe_call(func, (None, torch.zeros(1, dtype=torch.long)),
                                  {})
    return None


def _unknown(loss_fn):
    if loss_fn is None:
        return {"name": None, "from_logits": None}
    name = getattr(loss_fn, "__name__", None) or type(loss_fn).__name__
    return {"name": str(name), "from_logits": None}


def _same(a, b):
    return a is b or getattr(a, "_base", None) is b


def describe_losses(loss_fn, named_outputs, targets, model=None):
    """One `{"output", "name", "from_logits", "weight"}` per output.

    `loss_fn`: a loss (module or function) of `(outputs, targets)`, or a
    dict (by output name) or list (by position) of losses of
    `(output, target)`; None looks for a loss module held by `model`.
    """
    names = [name for name, _ in named_outputs]
    tensors = [tensor for _, tensor in named_outputs]
    if loss_fn is None and model is not None:
        loss_fn = next((m for m in model.modules() if modules_lib.is_loss(m)),
                       None)
    found = [None] * len(names)
    if isinstance(loss_fn, (dict, list, tuple)):
        for j, name in enumerate(names):
            one = (loss_fn.get(name) if isinstance(loss_fn, dict)
                   else (list(loss_fn) + [None] * len(names))[j])
            target = _per_output(targets, name, j)
            calls = _spy(one, tensors[j], target) if one is not None \
                and target is not None else []
            found[j] = (calls[0][1] if calls else None) or _by_class(one) \
                or _unknown(one)
    elif loss_fn is not None:
        whole_output = tensors[0] if len(tensors) == 1 else \
            dict(zip(names, tensors))
        calls = _spy(loss_fn, whole_output, targets) \
            if targets is not None else []
        for given, description in calls:
            for j, tensor in enumerate(tensors):
                if found[j] is None and _same(given, tensor):
                    found[j] = description
        if len(names) == 1 and found[0] is None and calls:
            found[0] = calls[0][1]
        fallback = _by_class(loss_fn) or _unknown(loss_fn)
        found = [f or dict(fallback) for f in found]
    found = [f or _unknown(None) for f in found]
    return [dict(output=name, weight=None, **f) for name, f in zip(names, found)]


def loss_facts(loss_fn, probe, targets, model):
    """`losses` of the facts: `describe_losses` on the probe's first
    outputs (then dropped from the device) and the probe's targets."""
    if probe is None or probe.first_outputs is None:
        return describe_losses(loss_fn, [("output", None)], None, model)
    outputs, probe.first_outputs = probe.first_outputs, None
    named = reading_lib.named_outputs(outputs)
    device = named[0][1].device if named else "cpu"
    if targets is not None:
        targets = probe_lib.map_inputs(
            lambda t: t.to(device) if isinstance(t, torch.Tensor) else t,
            targets)
    return describe_losses(loss_fn, named, targets, model)


def _per_output(targets, name, j):
    if isinstance(targets, dict):
        return targets.get(name)
    if isinstance(targets, (list, tuple)):
        return targets[j] if j < len(targets) else None
    return targets if j == 0 else None


def describe_model(model, probe, optimizer):
    """Static facts: the model's layers, its heads (from the probe's first
    reading, when there is a probe) and its optimizer."""
    facts = {"model": {"name": type(model).__name__,
                       "class": type(model).__name__,
                       "layers": modules_lib.leaf_paths(model)},
             "outputs": []}
    if probe is not None:
        facts["outputs"] = [
            {"output": name, "layer": head["layer"], "class": head["class"],
             "activation": head["activation"],
             "activation_observed": head["observed"], "units": head["units"]}
            for name, head in zip(probe.output_names, probe.heads)]
    if optimizer is not None:
        lr = optimizer.param_groups[0].get("lr") if optimizer.param_groups \
            else None
        try:
            lr = float(lr)
        except (TypeError, ValueError):
            lr = None
        facts["optimizer"] = {"class": type(optimizer).__name__,
                              "learning_rate": lr}
    return facts


def not_inspected(model, probe):
    """`{"layer", "reason"}` for the layers whose activations the probe
    cannot judge: fused kernels, and activation modules never called."""
    skipped = []
    paths = modules_lib.module_paths(model)
    seen = {site.name for site in probe.layers} if probe is not None else set()
    opaque = dict(probe.first_pass.opaque) if probe is not None \
        and probe.first_pass is not None else {}
    for module in model.modules():
        path = paths.get(id(module), "")
        reason = modules_lib.opaque_reason(module)
        if reason is not None:
            opaque.setdefault(path or "model", reason)
        elif probe is not None and modules_lib.activation_of_module(module) \
                and path not in seen:
            skipped.append({"layer": path,
                            "reason": "not called in the model's forward pass"})
    return [{"layer": p, "reason": r} for p, r in opaque.items()] + skipped


def _numpy(value):
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    return np.asarray(value)


def input_facts(inputs):
    """Statistics of each probe input: "input" for one, "input_<i>" for a
    tuple, a dict's keys."""
    if isinstance(inputs, dict):
        pairs = [(str(k), v) for k, v in inputs.items()]
    elif isinstance(inputs, (tuple, list)):
        pairs = [("input_%d" % i, v) for i, v in enumerate(inputs)]
    else:
        pairs = [("input", inputs)]
    return [array_facts.array_statistics(name, _numpy(v)) for name, v in pairs
            if isinstance(v, (torch.Tensor, np.ndarray))]


def data_facts(inputs, targets, output_names):
    facts = {"inputs": input_facts(inputs)}
    if targets is not None:
        host = probe_lib.map_inputs(_numpy, targets)
        facts["targets"] = array_facts.target_facts(output_names, host)
    return facts


def run_facts(model, optimizer, loss_fn, probe, reading, batch, requested):
    """The facts of a run's start (docs/schema.md): model, heads with what
    they output on the probe, losses, inputs, targets and the probe."""
    facts = describe_model(model, probe, optimizer)
    if reading is not None:
        facts["outputs"] = [dict(head, measured=reading.measured(j))
                            for j, head in enumerate(facts["outputs"])]
    names = probe.output_names if probe is not None else ["output"]
    targets = batch[1] if batch is not None else None
    facts["losses"] = loss_facts(loss_fn, probe, targets, model)
    if batch is not None:
        facts.update(data_facts(batch[0], targets, names))
    facts["probe_samples"] = probe.samples if probe is not None else 0
    facts["probe"] = array_facts.probe_facts(probe, requested,
                                             not_inspected(model, probe))
    return facts
