"""A PyTorch model as the schema names it: module paths, parameter columns.

Module paths are PyTorch's own names (`model.named_modules()`) with `/` for
`.`, the separator every other front end writes: `encoder.0` is the row
`encoder/0`, its weight the column `encoder/0/weight`. Wrappers that add a
level to those names without being part of the model (`torch.compile`'s
`_orig_mod`, DistributedDataParallel's and DataParallel's `module`) are
looked through, so a compiled or distributed model reads like the plain one.
"""

import torch

# Activation modules by the schema's activation names; the probe judges the
# ReLU family (dead units) and the bounded ones (saturation).
ACTIVATION_MODULES = (
    (torch.nn.ReLU, "relu"),
    (torch.nn.ReLU6, "relu6"),
    (torch.nn.Sigmoid, "sigmoid"),
    (torch.nn.Hardsigmoid, "hard_sigmoid"),
    (torch.nn.Tanh, "tanh"),
    (torch.nn.Softmax, "softmax"),
)
# Layers whose activations run inside one fused kernel the probe cannot
# look into, with the reason it gives.
OPAQUE_MODULES = (
    (torch.nn.RNNBase, "recurrent layer: its gate activations run inside a "
                       "fused kernel and cannot be seen"),
    (torch.nn.MultiheadAttention, "attention: its softmax runs inside a "
                                  "fused kernel and cannot be seen"),
    (torch.nn.TransformerEncoderLayer, "Transformer layer: its fast path runs "
                                       "inside one fused kernel"),
    (torch.nn.TransformerDecoderLayer, "Transformer layer: its attention runs "
                                       "inside fused kernels"),
)


def unwrap(model):
    """The module a wrapper trains: through torch.compile's OptimizedModule
    and (Distributed)DataParallel, as often as they are nested."""
    while True:
        inner = getattr(model, "_orig_mod", None)
        if isinstance(inner, torch.nn.Module):
            model = inner
            continue
        if isinstance(model, (torch.nn.parallel.DistributedDataParallel,
                              torch.nn.DataParallel)):
            model = model.module
            continue
        return model


def path(name):
    """`encoder.0` -> `encoder/0` (the schema's separator)."""
    return name.replace(".", "/")


def module_paths(model):
    """{id(module): path} for every submodule (the root is ""); a module
    held twice keeps its first path."""
    paths = {}
    for name, module in model.named_modules():
        paths.setdefault(id(module), path(name))
    return paths


def is_loss(module):
    return isinstance(module, torch.nn.modules.loss._Loss)


def leaf_paths(model):
    """Paths of the modules that hold no others (losses left out), in
    registration order."""
    return [path(name) for name, module in model.named_modules()
            if name and not list(module.children()) and not is_loss(module)]


def activation_of_module(module):
    """The schema name of an activation module's function, or None."""
    if isinstance(module, torch.nn.Hardtanh) and not isinstance(
            module, torch.nn.ReLU6):
        if (module.min_val, module.max_val) == (0.0, 6.0):
            return "relu6"
        return None
    for cls, name in ACTIVATION_MODULES:
        if isinstance(module, cls):
            return name
    return None


def opaque_reason(module):
    for cls, reason in OPAQUE_MODULES:
        if isinstance(module, cls):
            return reason
    return None


def units_of(module):
    """A layer's output units (Linear) or channels (convolutions), or None."""
    for attribute in ("out_features", "out_channels", "num_features",
                      "hidden_size", "embedding_dim"):
        value = getattr(module, attribute, None)
        if isinstance(value, int):
            return value
    return None


def trainable_parameters(model, optimizer=None):
    """(parameters, columns) of the trainable parameters of `model` that the
    optimizer updates (every trainable one without an optimizer), in the
    model's order. A column is `{"name": "<module path>/<parameter>",
    "layer": <module path>, "shape": [...]}`; parameters of the root module
    belong to the layer "model", as variables no layer owns do in Keras."""
    stepped = None
    if optimizer is not None:
        stepped = {id(p) for group in optimizer.param_groups
                   for p in group["params"]}
    parameters, columns = [], []
    for name, parameter in model.named_parameters():
        if not parameter.requires_grad or (
                stepped is not None and id(parameter) not in stepped):
            continue
        owner, _, short = name.rpartition(".")
        layer = path(owner) if owner else "model"
        parameters.append(parameter)
        columns.append({"name": layer + "/" + short, "layer": layer,
                        "shape": [int(d) for d in parameter.shape]})
    return parameters, columns
