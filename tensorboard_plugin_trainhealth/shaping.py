"""What a read run becomes for the dashboard: pure functions of its data.

`ShapedRun` is built once per read of a run, from its `RunSeries`: the
parts of the /run answer that no query changes (facts, epochs, gaps,
layers, ...), the step series, and one float32 layer-by-step matrix per
heatmap signal, variables already aggregated per layer. The raw series is
not kept. `served_diagnosis` is the run's diagnosis as the routes serve it.
Everything here is a function of its arguments: no state, no I/O.
"""

import collections
import math

import numpy as np

from tensorboard_plugin_trainhealth import bodies
from tensorboard_plugin_trainhealth import jsonsafe
from tensorboard_plugin_trainhealth import metadata
from tensorboard_plugin_trainhealth import signals

# The status of a run that could not be read or diagnosed.
STATUS_UNKNOWN = "unknown"
_END = object()  # the end of `merged_layers`' linked list


class ShapedRun:
    """What the routes serve about one run (see the module docstring).

    Attributes:
      problems: what could not be read or shaped, as text.
      described: the query-independent part of /run (a JSON-ready dict), or
        None when the run could not be read or summarised.
      step_series: {key: (steps int64, values float64)}, keys as /run's
        "step_series" names them.
      heatmaps: {signal: (rows, steps int64, values float32 [T, rows],
        value range)}.
      extent: [first step, last step] over everything above, or None.
      nbytes: the arrays' size, for the run store's memory budget.
    """

    def __init__(self, series, problems=()):
        self.problems = list(problems)
        self.described = None
        self.step_series = {}
        self.heatmaps = {}
        self.extent = None
        self.nbytes = 0
        if series is None:
            return
        try:
            self.described = describe_run(series)
            for tag, s in sorted(series.step_scalars.items()):
                key = tag[len("step/"):] if tag.startswith("step/") else tag
                self.step_series[key] = (np.asarray(s.steps, np.int64),
                                         np.asarray(s.values, np.float64))
        except Exception as e:  # pylint: disable=broad-except
            self.described = None
            self.problems.append("cannot summarise run: %s: %s"
                                 % (type(e).__name__, e))
        for entry in signals.HEATMAPS:
            try:
                heatmap = layer_matrix(series, entry)
            except Exception as e:  # pylint: disable=broad-except
                self.problems.append("cannot build %s: %s: %s"
                                     % (entry["signal"], type(e).__name__, e))
                continue
            if heatmap is not None:
                self.heatmaps[entry["signal"]] = heatmap
        self.extent = extent(
            [s for s, _ in self.step_series.values()]
            + [h[1] for h in self.heatmaps.values()])
        self.nbytes = sum(s.nbytes + v.nbytes
                          for s, v in self.step_series.values())
        self.nbytes += sum(h[1].nbytes + h[2].nbytes
                           for h in self.heatmaps.values())


def served_diagnosis(series, read_problems=()):
    """{"status", "alerts", "problems"} of a RunSeries (or None: unread).

    Alerts are `Alert.to_dict()` as diagnosis gives them, every key passed
    through (made JSON-ready); "status" is `diagnosis.run_status`. A rule
    that fails costs the alerts ("unknown", with the failure in
    "problems"), never the rest of the run.
    """
    if series is None:
        return {"status": STATUS_UNKNOWN, "alerts": [],
                "problems": list(read_problems)}
    try:
        # Imported late: diagnosis is the heaviest module and a bug in a
        # rule should cost the alerts, not the whole tab.
        from tensorboard_plugin_trainhealth import diagnosis

        alerts = diagnosis.diagnose(series)
        status = diagnosis.run_status(alerts)
        alert_dicts = []
        for alert in alerts:
            entry = dict(alert.to_dict())
            entry.setdefault("message", alert.message)
            alert_dicts.append(jsonsafe.to_json(entry))
    except Exception as e:  # pylint: disable=broad-except
        return {"status": STATUS_UNKNOWN, "alerts": [],
                "problems": list(read_problems)
                + ["diagnosis failed: %s: %s" % (type(e).__name__, e)]}
    return {"status": status, "alerts": alert_dicts,
            "problems": list(read_problems)}


def extent(step_arrays):
    """[first step, last step] over the non-empty arrays, or None."""
    lows = [int(s[0]) for s in step_arrays if len(s)]
    highs = [int(s[-1]) for s in step_arrays if len(s)]
    if not lows:
        return None
    return [min(lows), max(highs)]


def describe_run(series):
    """The parts of /run that neither max_steps nor a step range change."""
    epochs = {}
    for key, s in sorted(series.epochs.items()):
        epochs[key] = {"steps": [int(x) for x in s.steps],
                       "values": bodies.floats(s.values)}
    available = {}
    for entry in signals.HEATMAPS:
        matrix = series.matrices.get(entry["tag"])
        available[entry["signal"]] = {
            "available": matrix is not None,
            "records": 0 if matrix is None else int(len(matrix.steps)),
            "scale": entry["scale"],
        }
    return {
        "facts": jsonsafe.to_json(series.facts),
        "epochs": epochs,
        "gaps": gaps(series),
        "epoch_end_step": {
            "steps": [int(s) for s in series.epoch_end_step.steps],
            "values": [int(v) if math.isfinite(v) else None
                       for v in series.epoch_end_step.values],
        },
        "layers": jsonsafe.to_json(merged_layers(series)),
        "variables": jsonsafe.to_json(variable_columns(series)),
        "signals": available,
    }


def gaps(series):
    """val_<m> - <m> (and the ratio) for each metric logged both ways."""
    out = {}
    for key, train in sorted(series.epochs.items()):
        val = series.epochs.get("val_" + key)
        if key.startswith("val_") or val is None:
            continue
        common, ti, vi = np.intersect1d(train.steps, val.steps,
                                        return_indices=True)
        with np.errstate(all="ignore"):
            difference = val.values[vi] - train.values[ti]
            ratio = val.values[vi] / train.values[ti]
        out[key] = {
            "steps": [int(s) for s in common],
            "values": bodies.floats(difference),
            "ratio": bodies.floats(ratio),
        }
    return out


def variable_columns(series):
    """The columns of the first variable signal recorded, or []."""
    for tag in metadata.VARIABLE_TAGS:
        if tag in series.matrices:
            return series.matrices[tag].columns
    return []


def layer_of(column):
    """The layer a variable column belongs to: its "layer", else its name
    up to the last "/"."""
    layer = column.get("layer")
    if isinstance(layer, str) and layer:
        return layer
    return str(column.get("name", "")).rsplit("/", 1)[0]


def merged_layers(series):
    """One ordered list of every layer any signal mentions.

    Each signal covers some layers (dead fraction only ReLU-like ones,
    gradients only layers with weights), each list in model order. Merging
    from the longest list and placing a missing layer right after its
    predecessor in its own list keeps model order. Linear in the number of
    columns: the merged order is a linked list (name -> next name).
    """
    sources = [series.matrices[t].columns for t in metadata.LAYER_TAGS
               if t in series.matrices]
    variables = variable_columns(series)
    if variables:
        owners = dict.fromkeys(layer_of(column) for column in variables)
        sources.append([{"name": layer} for layer in owners])
    by_name = {}
    following = {}  # name -> the next name in the merged order
    first = _END
    for columns in sorted(sources, key=len, reverse=True):
        previous = _END
        for column in columns:
            name = column.get("name")
            if name in by_name:
                for k, v in column.items():
                    by_name[name].setdefault(k, v)
            else:
                by_name[name] = dict(column)
                if previous is _END:
                    following[name], first = first, name
                else:
                    following[name] = following[previous]
                    following[previous] = name
            previous = name
    merged = []
    name = first
    while name is not _END:
        merged.append(by_name[name])
        name = following[name]
    return merged


def layer_matrix(series, entry):
    """(rows, steps, float32 values [T, rows], value range) of one heatmap
    of the catalogue (`signals.HEATMAPS`), or None when it was not
    recorded."""
    matrix = series.matrices.get(entry["tag"])
    if matrix is None:
        return None
    if entry["aggregate"] == "layer":
        # Rows of names only, which the reader made text.
        rows, values = per_layer(series, entry["tag"], matrix)
    else:
        rows, values = jsonsafe.to_json(matrix.columns), matrix.values
    return (rows, np.asarray(matrix.steps, np.int64),
            np.asarray(values, np.float32),
            value_range(values, entry["scale"]))


def per_layer(series, tag, matrix):
    """Aggregates the variable matrix of `tag` to one row per layer, in
    model order.

    Gradient norms (VARIABLE_GRAD_NORM) and other norms: the layer's norm,
    sqrt of the sum of its variables' squared norms. Update ratios
    (VARIABLE_UPDATE_RATIO): ||dW|| / ||W|| over the layer's variables
    when the weight norms were recorded at the same steps, else the largest
    of its variables' ratios; variables whose ratio is undefined (NaN) are
    left out.
    """
    groups = collections.OrderedDict()
    for i, column in enumerate(matrix.columns):
        groups.setdefault(layer_of(column), []).append(i)
    weights = series.matrices.get(metadata.VARIABLE_WEIGHT_NORM)
    aligned = (weights is not None
               and [c.get("name") for c in weights.columns]
               == [c.get("name") for c in matrix.columns]
               and np.array_equal(weights.steps, matrix.steps))
    # A few layers with as many variables each at a time: their columns
    # side by side are then a [steps, layers, variables] array summed over
    # its last axis, small enough to stay in the processor's cache (a few
    # columns of a long run, many layers of a wide one).
    sizes = [len(indices) for indices in groups.values()]
    order = np.fromiter((i for indices in groups.values() for i in indices),
                        np.int64, count=len(matrix.columns))
    steps = len(matrix.steps)
    out = np.empty((steps, len(groups)), np.float64)
    with np.errstate(all="ignore"):
        for g0, g1, c0, c1 in _chunks(sizes, steps):
            shape = (steps, g1 - g0, sizes[g0])
            columns = order[c0:c1]
            v = matrix.values[:, columns].reshape(shape)
            if tag == metadata.VARIABLE_UPDATE_RATIO:
                w = (weights.values[:, columns].reshape(shape) if aligned
                     else None)
                out[:, g0:g1] = _update_ratios(v, w)
            else:
                out[:, g0:g1] = np.sqrt(np.sum(v * v, axis=2))
    rows = [{"name": layer,
             "variables": [matrix.columns[i].get("name") for i in indices]}
            for layer, indices in groups.items()]
    return rows, out


def _chunks(sizes, steps, elements=1 << 16):
    """(first group, end group, first column, end column) of runs of
    consecutive groups of as many columns each (`sizes`), of about
    `elements` values of a `steps`-long matrix each."""
    per_chunk = max(1, elements // max(1, steps))
    g0 = c0 = 0
    while g0 < len(sizes):
        g1, c1 = g0 + 1, c0 + sizes[g0]
        while (g1 < len(sizes) and sizes[g1] == sizes[g0]
               and c1 + sizes[g1] - c0 <= per_chunk):
            c1 += sizes[g1]
            g1 += 1
        yield g0, g1, c0, c1
        g0, c0 = g1, c1


def _update_ratios(ratios, weights):
    """Per layer ([steps, layers, variables] in, [steps, layers] out):
    ||dW|| / ||W|| from the variables' ratios and weight norms (None: not
    recorded at the same steps), else the largest ratio. NaN ratios are
    undefined ones (a weight that was exactly zero, like a fresh bias):
    left out rather than poisoning the row."""
    undefined = np.isnan(ratios)
    largest = np.where(undefined.all(axis=2), np.nan,
                       np.max(np.where(undefined, -np.inf, ratios), axis=2))
    if weights is None:
        return largest
    w = np.where(undefined, 0.0, weights)
    norm = np.sqrt(np.sum(w * w, axis=2))
    exact = np.sqrt(np.sum(np.where(undefined, 0.0, ratios * w) ** 2,
                           axis=2)) / norm
    return np.where(norm > 0, exact, largest)


def value_range(values, scale):
    """[min, max] of the finite values (positive ones on a log scale),
    rounded as sent, or None."""
    values = np.asarray(values, np.float64)
    finite = values[np.isfinite(values)]
    if scale == "log":
        finite = finite[finite > 0]
    if finite.size == 0:
        return None
    return [bodies.round_sig(float(finite.min())),
            bodies.round_sig(float(finite.max()))]
