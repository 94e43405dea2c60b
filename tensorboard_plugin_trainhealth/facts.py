"""The run's facts: what the model, its loss and its data are, before training.

Written once per `fit` as the RUN_FACTS document (see docs/schema.md) and
read by the before-the-first-step checks: each output with its own loss,
the head's declared activation and what it really outputs on the probe
samples, and the statistics of the inputs and targets. Host-side numpy on
the probe batch; nothing here runs during training steps.
"""

import keras

from tensorboard_plugin_trainhealth import gradients
from tensorboard_plugin_trainhealth import layer_tree
from tensorboard_plugin_trainhealth import probe as probe_lib
from tensorboard_plugin_trainhealth import stats
from tensorboard_plugin_trainhealth.array_facts import (
    array_statistics, target_facts)


def output_names(model):
    """The model's output names, in the order of `keras.tree.flatten` of its
    outputs (as a loss dict keys them)."""
    names = getattr(model, "output_names", None)
    if names:
        return [str(n) for n in names]
    heads = _output_nodes(model)
    return [node.path for node in heads] or ["output"]


def _output_nodes(model):
    by_id = {id(node.layer): node for node in layer_tree.walk(model)}
    return [by_id[i] for i in layer_tree.output_layers(model) if i in by_id]


def describe_model(model):
    """Static facts about a compiled model: its layers, heads, losses and
    optimizer."""
    names = output_names(model)
    heads = []
    for name, node in zip(names, _output_nodes(model)):
        heads.append({
            "output": name,
            "layer": node.path,
            "class": type(node.layer).__name__,
            "activation": stats.activation_name(node.layer) or "linear",
            "units": probe_lib.units(node.layer),
        })
    facts = {
        "model": {"name": model.name, "class": type(model).__name__,
                  "layers": [node.path for node in layer_tree.leaves(model)]},
        "outputs": heads,
        "losses": describe_losses(model, names),
    }
    optimizer = model.optimizer
    if optimizer is not None:
        base = gradients.base_optimizer(optimizer)
        try:
            lr = float(stats.to_host(base.learning_rate))
        except Exception:  # a schedule object without a value yet
            lr = None
        facts["optimizer"] = {"class": type(base).__name__, "learning_rate": lr}
    return facts


def describe_losses(model, names):
    """One `{"output", "name", "from_logits", "weight"}` per output: a loss
    dict is matched by output name, a list by position, a single loss
    applies to every output."""
    loss = getattr(model, "loss", None)
    compile_loss = getattr(model, "_compile_loss", None)
    weights = getattr(compile_loss, "_user_loss_weights", None)
    per_loss = _per_output(loss, names)
    per_weight = _per_output(weights, names)
    return [dict(output=name, weight=_weight(weight), **describe_loss(one))
            for name, one, weight in zip(names, per_loss, per_weight)]


def _per_output(value, names):
    if isinstance(value, dict):
        return [value.get(name) for name in names]
    if isinstance(value, (list, tuple)):
        values = list(value)
        return (values + [None] * len(names))[:len(names)]
    return [value] * len(names)


def _weight(weight):
    try:
        return None if weight is None else float(weight)
    except (TypeError, ValueError):
        return None


def describe_loss(loss):
    """{"name", "from_logits"} for one compiled loss."""
    if loss is None:
        return {"name": None, "from_logits": None}
    if isinstance(loss, str):
        try:
            resolved = keras.losses.get(loss)
        except (ValueError, TypeError):
            return {"name": loss, "from_logits": False}
        loss = resolved
    name = getattr(loss, "name", None) or getattr(loss, "__name__", None) \
        or type(loss).__name__
    from_logits = getattr(loss, "from_logits", None)
    if from_logits is None:
        config = getattr(loss, "get_config", lambda: {})()
        from_logits = config.get("from_logits", False) if isinstance(config, dict) \
            else False
    return {"name": str(name), "from_logits": bool(from_logits)}


# -- the data ----------------------------------------------------------------


def input_names(model, probe_inputs):
    """Names for the flattened probe inputs: a dict's keys (in flatten
    order), else the model's input names by position."""
    if isinstance(probe_inputs, dict):
        return [str(k) for k in sorted(probe_inputs)]
    flat = keras.tree.flatten(probe_inputs)
    names = []
    try:
        names = [t.name for t in keras.tree.flatten(model.inputs)]
    except (AttributeError, TypeError, ValueError):
        pass
    if len(names) != len(flat):
        names = [None] * len(flat)
    # Unnamed keras.Input()s are called keras_tensor_<n>: say "input" instead.
    default = ["input" if len(flat) == 1 else "input_%d" % i
               for i in range(len(flat))]
    return [name if name and not name.startswith("keras_tensor") else d
            for name, d in zip(names, default)]


def input_facts(model, probe_inputs):
    return [array_statistics(name, array) for name, array in
            zip(input_names(model, probe_inputs),
                keras.tree.flatten(probe_inputs))]


def data_facts(model, probe_data):
    """The facts of the probe batch: its inputs and targets."""
    facts = {}
    if probe_data is not None:
        inputs, targets = probe_data
        facts["inputs"] = input_facts(model, inputs)
        facts["targets"] = target_facts(output_names(model), targets)
    return facts


def with_measured_outputs(heads, reading):
    """`heads` (describe_model's "outputs") with each one's measurement."""
    if reading is None:
        return heads
    return [dict(head, measured=reading.measured(j))
            for j, head in enumerate(heads)]
