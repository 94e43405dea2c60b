"""The Train Health TensorBoard plugin: HTTP routes over the recorded series.

All data comes from `context.data_provider` (through `reader.py`), so the
plugin works unchanged with the Rust data server (`--load_fast=true`) and
the Python multiplexer (`--load_fast=false`). Route handlers only parse the
query and format the response; the `*_impl` methods hold the logic and
return plain JSON-ready dicts, which keeps them testable without HTTP.

Routes (all under /data/plugin/trainhealth), GET:

  /runs
      {"runs": [{"run": str, "status": "ok"|"warning"|"critical"|"unknown",
                 "alert_count": int, "problems": [str]}],
       "problems": [str]}
  /run?run=R[&max_steps=N]
      {"run", "status", "max_steps", "downsampled": bool,
       "alerts": [{"kind", "severity", "layer", "first_step", "last_step",
                   "evidence", "advice", "message"}],
       "problems": [str], "facts": {...},
       "step_series": {"grad_norm_global"|"loss"|...:
                       {"steps": [int], "step_ends": [int], "values": [num]}},
       "epochs": {"loss"|"val_loss"|...: {"steps": [epoch], "values": [num]}},
       "gaps": {"loss"|...: {"steps": [epoch], "values": [val - train],
                             "ratio": [val / train]}},
       "epoch_end_step": {"steps": [epoch], "values": [global step]},
       "layers": [layer column dicts, model order, merged over signals],
       "variables": [variable column dicts],
       "signals": {signal: {"available": bool, "records": int,
                            "scale": "linear"|"log"}}}
  /heatmap?run=R&signal=S[&max_steps=N]      (S one of `SIGNALS`)
      {"run", "signal", "tag", "scale": "linear"|"log", "available": bool,
       "rows": [{"name", ...column, "variables": [...] when aggregated}],
       "steps": [int], "step_ends": [int],
       "values": [[num per step] per row], "range": [min, max] | null,
       "total_steps": int, "downsampled": bool, "problems": [str]}
  /index.js /model.js /views.js /style.css
      the frontend (see `frontend/`).

"status" is diagnosis.run_status(), or "unknown" when the run could not be
read or diagnosed. Step keys of `step_series` are the schema's step tags
without "step/". Per-layer gradient norms are aggregated from the
variables (see `_per_layer`).

JSON conventions:

* Non-finite floats are sent as the strings "NaN", "Infinity" and
  "-Infinity" (JSON has no literal for them and NaN is exactly what a
  training-health tool must show); the frontend's `model.js` turns them back
  into numbers.
* Recorded values were float32; they are sent rounded to 7 significant
  digits.
* Series longer than `max_steps` (default 2000) are averaged over equal
  buckets of consecutive records; `steps`/`step_ends` give each bucket's
  first and last step. A non-finite value makes its bucket non-finite, so a
  NaN never disappears in the averaging.
* Bad or missing query parameters answer 400, an unknown run or signal 404
  (plain text). A run that cannot be read answers 200 with the failure in
  `problems`, never 500.
"""

import collections
import json
import math
import os
import threading

import numpy as np
from werkzeug import wrappers

from tensorboard import errors
from tensorboard import plugin_util
from tensorboard.backend import http_util
from tensorboard.data import provider as provider_lib
from tensorboard.plugins import base_plugin

from tensorboard_plugin_trainhealth import metadata
from tensorboard_plugin_trainhealth import reader

DEFAULT_MAX_STEPS = 2000
MAX_MAX_STEPS = 100000

# signal -> (tag, colour scale). Variable signals are aggregated per layer.
SIGNALS = {
    "dead_fraction": (metadata.LAYER_DEAD_FRACTION, "linear"),
    "saturation": (metadata.LAYER_SATURATION, "linear"),
    "grad_norm": (metadata.VARIABLE_GRAD_NORM, "log"),
    "update_ratio": (metadata.VARIABLE_UPDATE_RATIO, "log"),
}

# The only files served as the frontend. A fixed table, not a path lookup:
# nothing a request says ever reaches the file system.
ASSETS = {
    "index.js": "text/javascript",
    "model.js": "text/javascript",
    "views.js": "text/javascript",
    "style.css": "text/css",
}

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
# Built packages carry the frontend in static/ (see setup.py); an editable
# install serves the repository's frontend/ directly.
_STATIC_DIRS = (
    os.path.join(_PACKAGE_DIR, "static"),
    os.path.join(os.path.dirname(_PACKAGE_DIR), "frontend"),
)

# Recently read runs kept in memory: the page asks for a run and its four
# heatmaps together, every 30 s. Small, because a long run of a deep model
# is large and TensorBoard already holds the records.
_SERIES_CACHE_SIZE = 4

STATUS_UNKNOWN = "unknown"


class TrainHealthPlugin(base_plugin.TBPlugin):
    """Serves training-health diagnosis and per-layer matrices."""

    plugin_name = metadata.PLUGIN_NAME

    def __init__(self, context):
        self._data_provider = context.data_provider
        self._lock = threading.Lock()
        # (experiment, run) -> (fingerprint, RunSeries or None, problems)
        self._series_cache = collections.OrderedDict()
        # (experiment, run) -> (fingerprint, diagnosis dict)
        self._diagnosis_cache = {}

    def get_plugin_apps(self):
        apps = {
            "/runs": self._runs_route,
            "/run": self._run_route,
            "/heatmap": self._heatmap_route,
        }
        for name in ASSETS:
            apps["/" + name] = self._asset_app(name)
        return apps

    def is_active(self):
        # TensorBoard already marks the plugin active when the data
        # provider's list_plugins() names "trainhealth"; anything more here
        # would read data on every plugins listing.
        return False

    def frontend_metadata(self):
        return base_plugin.FrontendMetadata(
            es_module_path="/index.js", tab_name="Train Health"
        )

    # Route handlers: parse, call an *_impl, respond.

    @wrappers.Request.application
    def _runs_route(self, request):
        ctx, experiment = _request_context(request)
        return _respond_json(request, lambda: self.runs_impl(ctx, experiment))

    @wrappers.Request.application
    def _run_route(self, request):
        ctx, experiment = _request_context(request)

        def body():
            run = _required_arg(request, "run")
            max_steps = _max_steps_arg(request)
            return self.run_impl(ctx, experiment, run, max_steps)

        return _respond_json(request, body)

    @wrappers.Request.application
    def _heatmap_route(self, request):
        ctx, experiment = _request_context(request)

        def body():
            run = _required_arg(request, "run")
            signal = _required_arg(request, "signal")
            max_steps = _max_steps_arg(request)
            return self.heatmap_impl(ctx, experiment, run, signal, max_steps)

        return _respond_json(request, body)

    def _asset_app(self, name):
        @wrappers.Request.application
        def serve(request):
            try:
                content, content_type = self.asset_impl(name)
            except errors.PublicError as e:
                return _respond_error(request, e)
            return http_util.Respond(request, content, content_type)

        return serve

    # Logic.

    def runs_impl(self, ctx, experiment):
        """Lists the runs with trainhealth data and the status of each."""
        if self._data_provider is None:
            return {"runs": [], "problems": ["no data provider"]}
        try:
            fingerprints = self._fingerprints(ctx, experiment)
        except errors.PublicError:
            raise
        except Exception as e:  # pylint: disable=broad-except
            return {"runs": [], "problems": ["cannot list runs: %s" % e]}
        runs = []
        for run in sorted(fingerprints):
            diagnosis = self._diagnosis(ctx, experiment, run,
                                        fingerprints[run])
            runs.append({
                "run": run,
                "status": diagnosis["status"],
                "alert_count": len(diagnosis["alerts"]),
                "problems": diagnosis["problems"],
            })
        self._forget_runs_except(experiment, set(fingerprints))
        return {"runs": runs, "problems": []}

    def run_impl(self, ctx, experiment, run, max_steps=DEFAULT_MAX_STEPS):
        """Everything the page shows about one run, except the heatmaps.

        Raises:
          errors.NotFoundError: if the run has no trainhealth data.
        """
        fingerprint = self._run_fingerprint(ctx, experiment, run)
        series, problems = self._series(ctx, experiment, run, fingerprint)
        diagnosis = self._diagnosis(ctx, experiment, run, fingerprint)
        result = {
            "run": run,
            "status": diagnosis["status"],
            "alerts": diagnosis["alerts"],
            "problems": list(problems),
            "facts": {},
            "max_steps": max_steps,
            "step_series": {},
            "epochs": {},
            "gaps": {},
            "epoch_end_step": {"steps": [], "values": []},
            "layers": [],
            "variables": [],
            "signals": {},
        }
        for problem in diagnosis["problems"]:
            if problem not in result["problems"]:
                result["problems"].append(problem)
        if series is None:
            return result
        try:
            result.update(_describe_run(series, max_steps))
        except Exception as e:  # pylint: disable=broad-except
            result["problems"].append("cannot summarise run: %s" % e)
        return result

    def heatmap_impl(self, ctx, experiment, run, signal,
                     max_steps=DEFAULT_MAX_STEPS):
        """One per-layer signal as a layer-by-step matrix.

        Rows are layers in model order; `values[i]` is row i over the
        (possibly bucketed) steps.

        Raises:
          errors.NotFoundError: for an unknown signal or run.
        """
        if signal not in SIGNALS:
            raise errors.NotFoundError(
                "unknown signal %r; known: %s"
                % (signal, ", ".join(sorted(SIGNALS))))
        tag, scale = SIGNALS[signal]
        fingerprint = self._run_fingerprint(ctx, experiment, run)
        series, problems = self._series(ctx, experiment, run, fingerprint)
        result = {
            "run": run,
            "signal": signal,
            "tag": tag,
            "scale": scale,
            "available": False,
            "rows": [],
            "steps": [],
            "step_ends": [],
            "values": [],
            "range": None,
            "total_steps": 0,
            "downsampled": False,
            "problems": list(problems),
        }
        if series is None or tag not in series.matrices:
            return result
        try:
            result.update(_heatmap(series, signal, max_steps))
        except Exception as e:  # pylint: disable=broad-except
            result["problems"].append("cannot build %s: %s" % (signal, e))
        return result

    def asset_impl(self, name):
        """Returns `(bytes, content_type)` of one frontend file.

        Raises:
          errors.NotFoundError: unless `name` is one of `ASSETS`.
        """
        content_type = ASSETS.get(name)
        if content_type is None:
            raise errors.NotFoundError("no such file")
        for directory in _STATIC_DIRS:
            path = os.path.join(directory, name)
            if os.path.isfile(path):
                with open(path, "rb") as f:
                    return f.read(), content_type
        raise errors.NotFoundError("frontend file %s is not installed" % name)

    # Reading, with small caches keyed by what the provider lists.

    def _fingerprints(self, ctx, experiment, runs=None):
        """run -> a value that changes whenever the run's data changes."""
        run_filter = (provider_lib.RunTagFilter(runs=runs)
                      if runs is not None else None)
        result = {}
        for lister in (self._data_provider.list_scalars,
                       self._data_provider.list_tensors):
            listing = lister(ctx, experiment_id=experiment,
                             plugin_name=metadata.PLUGIN_NAME,
                             run_tag_filter=run_filter)
            for run, tags in listing.items():
                entries = result.setdefault(run, set())
                for tag, ts in tags.items():
                    entries.add((tag, ts.max_step, ts.max_wall_time))
        return {run: frozenset(e) for run, e in result.items() if e}

    def _run_fingerprint(self, ctx, experiment, run):
        if self._data_provider is None:
            raise errors.NotFoundError("no data provider")
        fingerprint = self._fingerprints(ctx, experiment, [run]).get(run)
        if fingerprint is None:
            raise errors.NotFoundError("no trainhealth data for run %r" % run)
        return fingerprint

    def _series(self, ctx, experiment, run, fingerprint):
        """(RunSeries or None, problems) for a run, read at most once per
        change of its data."""
        key = (experiment, run)
        with self._lock:
            cached = self._series_cache.get(key)
            if cached is not None and cached[0] == fingerprint:
                self._series_cache.move_to_end(key)
                return cached[1], cached[2]
        problems = []
        try:
            series = reader.read_run(self._data_provider, ctx, experiment, run)
            if series is not None:
                problems.extend(series.problems)
        except errors.PublicError:
            raise
        except Exception as e:  # pylint: disable=broad-except
            series = None
            problems.append("cannot read run: %s: %s"
                            % (type(e).__name__, e))
        with self._lock:
            self._series_cache[key] = (fingerprint, series, problems)
            self._series_cache.move_to_end(key)
            while len(self._series_cache) > _SERIES_CACHE_SIZE:
                self._series_cache.popitem(last=False)
        return series, problems

    def _diagnosis(self, ctx, experiment, run, fingerprint):
        key = (experiment, run)
        with self._lock:
            cached = self._diagnosis_cache.get(key)
        if cached is not None and cached[0] == fingerprint:
            return cached[1]
        series, problems = self._series(ctx, experiment, run, fingerprint)
        result = _diagnose(series, problems)
        with self._lock:
            self._diagnosis_cache[key] = (fingerprint, result)
        return result

    def _forget_runs_except(self, experiment, runs):
        with self._lock:
            for cache in (self._series_cache, self._diagnosis_cache):
                for key in [k for k in cache
                            if k[0] == experiment and k[1] not in runs]:
                    del cache[key]


def _diagnose(series, read_problems):
    """{"status", "alerts", "problems"} for a RunSeries (or None)."""
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
            entry["message"] = alert.message
            alert_dicts.append(to_json(entry))
    except Exception as e:  # pylint: disable=broad-except
        return {"status": STATUS_UNKNOWN, "alerts": [],
                "problems": list(read_problems)
                + ["diagnosis failed: %s: %s" % (type(e).__name__, e)]}
    return {"status": status, "alerts": alert_dicts,
            "problems": list(read_problems)}


# Shaping the data.


def _describe_run(series, max_steps):
    step_series = {}
    downsampled = False
    for tag, s in sorted(series.step_scalars.items()):
        key = tag[len("step/"):] if tag.startswith("step/") else tag
        step_series[key] = _series_json(s.steps, s.values, max_steps)
        downsampled = downsampled or step_series[key].pop("downsampled")
    epochs = {key: _series_json(s.steps, s.values, None)
              for key, s in sorted(series.epochs.items())}
    for entry in epochs.values():
        entry.pop("step_ends")
        entry.pop("downsampled")
    signals = {}
    for signal, (tag, scale) in SIGNALS.items():
        matrix = series.matrices.get(tag)
        signals[signal] = {
            "available": matrix is not None,
            "records": 0 if matrix is None else int(len(matrix.steps)),
            "scale": scale,
        }
    return {
        "facts": to_json(series.facts),
        "step_series": step_series,
        "downsampled": downsampled,
        "epochs": epochs,
        "gaps": _gaps(series),
        "epoch_end_step": {
            "steps": [int(s) for s in series.epoch_end_step.steps],
            "values": [int(v) if math.isfinite(v) else None
                       for v in series.epoch_end_step.values],
        },
        "layers": to_json(_merged_layers(series)),
        "variables": to_json(_variable_columns(series)),
        "signals": signals,
    }


def _gaps(series):
    """val_<m> - <m> (and the ratio) for each metric logged both ways."""
    gaps = {}
    for key, train in sorted(series.epochs.items()):
        val = series.epochs.get("val_" + key)
        if key.startswith("val_") or val is None:
            continue
        common, ti, vi = np.intersect1d(train.steps, val.steps,
                                        return_indices=True)
        with np.errstate(all="ignore"):
            difference = val.values[vi] - train.values[ti]
            ratio = val.values[vi] / train.values[ti]
        gaps[key] = {
            "steps": [int(s) for s in common],
            "values": _floats(difference),
            "ratio": _floats(ratio),
        }
    return gaps


def _variable_columns(series):
    for tag in metadata.VARIABLE_TAGS:
        if tag in series.matrices:
            return series.matrices[tag].columns
    return []


def _layer_of(column):
    layer = column.get("layer")
    if isinstance(layer, str) and layer:
        return layer
    return str(column.get("name", "")).rsplit("/", 1)[0]


def _merged_layers(series):
    """One ordered list of every layer any signal mentions.

    Each signal covers some layers (dead fraction only ReLU-like ones,
    gradients only layers with weights), each list in model order. Merging
    from the longest list and placing a missing layer right after its
    predecessor in its own list keeps model order.
    """
    sources = [series.matrices[t].columns for t in metadata.LAYER_TAGS
               if t in series.matrices]
    variables = _variable_columns(series)
    if variables:
        seen = []
        for column in variables:
            layer = _layer_of(column)
            if layer not in seen:
                seen.append(layer)
        sources.append([{"name": layer} for layer in seen])
    merged = []
    by_name = {}
    for columns in sorted(sources, key=len, reverse=True):
        previous = None
        for column in columns:
            name = column.get("name")
            if name in by_name:
                for k, v in column.items():
                    by_name[name].setdefault(k, v)
            else:
                entry = dict(column)
                by_name[name] = entry
                at = 0 if previous is None else merged.index(
                    by_name[previous]) + 1
                merged.insert(at, entry)
            previous = name
    return merged


def _heatmap(series, signal, max_steps):
    tag, scale = SIGNALS[signal]
    matrix = series.matrices[tag]
    if tag in metadata.VARIABLE_TAGS:
        rows, values = _per_layer(series, signal, matrix)
    else:
        rows, values = [dict(c) for c in matrix.columns], matrix.values
    bucketed = _bucket(matrix.steps, values, max_steps)
    first, last, means, downsampled = bucketed
    return {
        "available": True,
        "rows": to_json(rows),
        "steps": [int(s) for s in first],
        "step_ends": [int(s) for s in last],
        "values": [_floats(means[:, i]) for i in range(means.shape[1])],
        "range": _value_range(values, scale),
        "total_steps": int(len(matrix.steps)),
        "downsampled": downsampled,
    }


def _per_layer(series, signal, matrix):
    """Aggregates a variable matrix to one row per layer, in model order.

    grad_norm: the layer's gradient norm, sqrt of the sum of its variables'
    squared norms. update_ratio: ||dW|| / ||W|| over the layer's variables
    when the weight norms were recorded at the same steps, else the largest
    of its variables' ratios; variables whose ratio is undefined (NaN) are
    left out.
    """
    groups = collections.OrderedDict()
    for i, column in enumerate(matrix.columns):
        groups.setdefault(_layer_of(column), []).append(i)
    weights = series.matrices.get(metadata.VARIABLE_WEIGHT_NORM)
    aligned = (weights is not None
               and [c.get("name") for c in weights.columns] == matrix.names
               and np.array_equal(weights.steps, matrix.steps))
    out = np.zeros((len(matrix.steps), len(groups)), np.float64)
    with np.errstate(all="ignore"):
        for j, indices in enumerate(groups.values()):
            v = matrix.values[:, indices]
            if signal == "grad_norm":
                out[:, j] = np.sqrt(np.sum(v * v, axis=1))
                continue
            # NaN ratios are undefined ones (a weight that was exactly zero,
            # like a fresh bias): leave them out rather than poison the row.
            undefined = np.isnan(v)
            largest = np.where(undefined.all(axis=1), np.nan,
                               np.max(np.where(undefined, -np.inf, v), axis=1))
            if aligned:
                w = np.where(undefined, 0.0, weights.values[:, indices])
                norm = np.sqrt(np.sum(w * w, axis=1))
                exact = np.sqrt(np.sum(np.where(undefined, 0.0, v * w) ** 2,
                                       axis=1)) / norm
                out[:, j] = np.where(norm > 0, exact, largest)
            else:
                out[:, j] = largest
    rows = [{"name": layer,
             "variables": [matrix.columns[i].get("name") for i in indices]}
            for layer, indices in groups.items()]
    return rows, out


def _value_range(values, scale):
    values = np.asarray(values, np.float64)
    finite = values[np.isfinite(values)]
    if scale == "log":
        finite = finite[finite > 0]
    if finite.size == 0:
        return None
    return [_round_sig(float(finite.min())), _round_sig(float(finite.max()))]


def _bucket(steps, values, max_points):
    """Averages consecutive records into at most `max_points` buckets.

    Returns (first_steps, last_steps, means, downsampled); `values` is [T]
    or [T, K]. Plain sums propagate NaN and Inf, so a bucket holding a
    non-finite record is itself non-finite.
    """
    steps = np.asarray(steps, np.int64)
    values = np.asarray(values, np.float64)
    count = len(steps)
    if max_points is None or count <= max_points:
        return steps, steps, values, False
    edges = np.linspace(0, count, max_points + 1).astype(np.int64)
    starts = edges[:-1]
    sizes = np.diff(edges).astype(np.float64)
    with np.errstate(all="ignore"):
        sums = np.add.reduceat(values, starts, axis=0)
        means = sums / (sizes if values.ndim == 1 else sizes[:, None])
    return steps[starts], steps[edges[1:] - 1], means, True


def _series_json(steps, values, max_points):
    first, last, means, downsampled = _bucket(steps, values, max_points)
    return {
        "steps": [int(s) for s in first],
        "step_ends": [int(s) for s in last],
        "values": _floats(means),
        "downsampled": downsampled,
    }


def _nonfinite_name(x):
    if math.isnan(x):
        return "NaN"
    return "Infinity" if x > 0 else "-Infinity"


def _round_sig(x, digits=7):
    if not math.isfinite(x) or x == 0:
        return x
    return round(x, digits - 1 - int(math.floor(math.log10(abs(x)))))


def _floats(values, digits=7):
    """A float array as a JSON-ready list; non-finite values as strings."""
    values = np.asarray(values, np.float64).reshape(-1)
    finite = np.isfinite(values)
    with np.errstate(all="ignore"):
        nonzero = finite & (values != 0)
        exponent = np.floor(np.log10(np.abs(np.where(nonzero, values, 1.0))))
        scale = 10.0 ** (digits - 1 - exponent)
        rounded = np.where(nonzero, np.round(values * scale) / scale, values)
        # Rounding can overflow for values near the float64 limits.
        rounded = np.where(np.isfinite(rounded), rounded, values)
    out = rounded.tolist()
    for i in np.flatnonzero(~finite):
        out[i] = _nonfinite_name(out[i])
    return out


def to_json(obj):
    """Makes facts, columns and alert evidence JSON-ready.

    numpy values become Python ones, tuples lists, keys strings, and
    non-finite floats the strings "NaN", "Infinity", "-Infinity".
    """
    if isinstance(obj, dict):
        return {str(k): to_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [to_json(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_json(obj.tolist())
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        x = float(obj)
        return x if math.isfinite(x) else _nonfinite_name(x)
    if isinstance(obj, bytes):
        return obj.decode("utf-8", "replace")
    if obj is None or isinstance(obj, str):
        return obj
    return str(obj)


# HTTP helpers.


def _request_context(request):
    return (plugin_util.context(request.environ),
            plugin_util.experiment_id(request.environ))


def _required_arg(request, name):
    value = request.args.get(name)
    if value is None or value == "":
        raise errors.InvalidArgumentError("missing query parameter %r" % name)
    return value


def _max_steps_arg(request):
    raw = request.args.get("max_steps")
    if raw is None:
        return DEFAULT_MAX_STEPS
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if not 1 <= value <= MAX_MAX_STEPS:
        raise errors.InvalidArgumentError(
            "max_steps must be an integer from 1 to %d" % MAX_MAX_STEPS)
    return value


def _respond_error(request, error):
    return http_util.Respond(request, str(error), "text/plain",
                             code=error.http_code)


def _respond_json(request, make_body):
    """Runs `make_body` and answers its dict as JSON, or its PublicError as
    plain text with the error's status."""
    try:
        body = make_body()
    except errors.PublicError as e:
        return _respond_error(request, e)
    # Serialised here (not by Respond) with allow_nan=False: every
    # non-finite value must already be one of our strings.
    text = json.dumps(body, allow_nan=False, separators=(",", ":"))
    return http_util.Respond(request, text, "application/json")
