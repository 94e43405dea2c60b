"""A model's layers as a tree of paths: what each row of the tab is called.

Keras tracks the layers a layer holds (`Layer._layers`): the sublayers of a
custom layer, the forward and backward layers of `Bidirectional`, the
Dense layers of a Transformer block's feed-forward part. Every layer gets
the path of names from the model down to it, like the variable paths Keras
itself builds (`block/sequential/dense_1`), and every variable the path of
the layer that owns it plus its name (`block/sequential/dense_1/kernel`).

Leaves are the layers the probe can inspect: layers holding no others, and
layers that call theirs inside a loop (recurrent layers run their cell per
time step; `TimeDistributed` maps its layer over time), which are inspected
as a whole.
"""

import keras

# Layers whose sublayers run inside a loop the layer traces itself: their
# sublayers' outputs are loop-internal values, not the layer's output.
_LOOPING = (keras.layers.RNN, keras.layers.TimeDistributed)


class Node:
    """One layer of the tree."""

    __slots__ = ("path", "layer", "parent", "children")

    def __init__(self, path, layer, parent):
        self.path = path
        self.layer = layer
        self.parent = parent
        self.children = []

    @property
    def is_leaf(self):
        return not self.children


def sublayers(layer):
    """The layers `layer` holds directly (input layers left out)."""
    if isinstance(layer, _LOOPING):
        return []
    if isinstance(layer, keras.Model) and hasattr(layer, "layers"):
        held = list(layer.layers)
    else:
        held = list(getattr(layer, "_layers", None) or [])
    return [sub for sub in held
            if not isinstance(sub, keras.layers.InputLayer)]


def walk(model):
    """Every layer under `model` (not the model itself), parents first, in
    the order Keras tracks them. A layer held twice is listed once, under
    its first path; paths are unique."""
    nodes, seen, taken = [], {id(model)}, set()

    def visit(layer, parent, prefix):
        for sub in sublayers(layer):
            if id(sub) in seen:
                continue
            seen.add(id(sub))
            path = _unique(prefix + str(sub.name), taken)
            node = Node(path, sub, parent)
            if parent is not None:
                parent.children.append(node)
            nodes.append(node)
            visit(sub, node, path + "/")

    visit(model, None, "")
    return nodes


def leaves(model):
    """The leaf nodes of `walk(model)`, in model order."""
    return [node for node in walk(model) if node.is_leaf]


def _unique(path, taken):
    candidate, n = path, 2
    while candidate in taken:
        candidate = "%s#%d" % (path, n)
        n += 1
    taken.add(candidate)
    return candidate


def variable_columns(model, variables):
    """One column per variable of `variables`, in that order:
    `{"name": owner path/variable name, "layer": the owner's path,
    "shape": [...]}`, the owner being the layer that created the variable
    (a looping layer owns its cell's). A variable no layer owns is named
    under "model"."""
    owner = {}
    for node in walk(model):
        for v in _own_variables(node.layer):
            owner.setdefault(id(v), node)
    columns = []
    taken = set()
    for v in variables:
        node = owner.get(id(v))
        short = str(getattr(v, "name", "variable"))
        if node is None:
            name, layer = "model/" + short, "model"
        else:
            name, layer = node.path + "/" + short, node.path
        columns.append({"name": _unique(name, taken), "layer": layer,
                        "shape": [int(d) for d in v.shape]})
    return columns


def _own_variables(layer):
    if isinstance(layer, _LOOPING):
        return list(layer.weights)
    own = getattr(layer, "_trainable_variables", None)
    if own is not None:
        return list(own) + list(getattr(layer, "_non_trainable_variables", []))
    return list(getattr(layer, "weights", []))


def output_layers(model):
    """Ids of the layers whose outputs are the model's outputs, in order.

    Output layers are judged differently: a confident classifier's sigmoid
    sits near 0 and 1, and that is health, not saturation.
    """
    try:
        outputs = keras.tree.flatten(model.outputs)
        operations = [t._keras_history.operation for t in outputs]
    except (AttributeError, TypeError, ValueError):
        held = sublayers(model)
        operations = held[-1:]
    found = []
    for op in operations:
        if isinstance(op, keras.Model):
            found.extend(output_layers(op))
        else:
            found.append(id(op))
    return found
