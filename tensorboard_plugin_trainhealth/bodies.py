"""The /run and /heatmap answers, as pure functions of a shaped run.

A body is a JSON-ready dict; the flag saying whether the read it comes
from is still current ("stale") is added when it is sent (answers.py),
since the same body is sent fresh and, after the run changes, stale.
Series are restricted to a step range, then averaged over equal buckets
of consecutive records (`bucket`); numbers are sent rounded to 7
significant digits, non-finite ones as "NaN"/"Infinity"/"-Infinity"
(see docs/http_api.md).
"""

import base64
import math

import numpy as np

from tensorboard_plugin_trainhealth import jsonsafe
from tensorboard_plugin_trainhealth import signals

DEFAULT_MAX_STEPS = 2000
MAX_MAX_STEPS = 100000

# The status of a run whose first read has not finished yet.
STATUS_PENDING = "pending"


def run_body(run, shaped, diagnosis, preliminary,
             max_steps=DEFAULT_MAX_STEPS, step_range=None):
    """Everything the page shows about one run except the heatmaps.

    `shaped` is the run's `shaping.ShapedRun` and `diagnosis` its
    `shaping.served_diagnosis`; None for both while the run's first read
    is under way (status "pending").
    """
    body = {
        "run": run,
        "preliminary": preliminary,
        "status": STATUS_PENDING if diagnosis is None
        else diagnosis["status"],
        "alerts": [] if diagnosis is None else diagnosis["alerts"],
        "problems": [] if shaped is None else list(shaped.problems),
        "facts": {},
        "max_steps": max_steps,
        "downsampled": False,
        "extent": None,
        "step_range": list(step_range) if step_range else None,
        "step_series": {},
        "epochs": {},
        "gaps": {},
        "epoch_end_step": {"steps": [], "values": []},
        "layers": [],
        "variables": [],
        "signals": {},
    }
    for problem in ([] if diagnosis is None else diagnosis["problems"]):
        if problem not in body["problems"]:
            body["problems"].append(problem)
    if shaped is None or shaped.described is None:
        return body
    body.update(shaped.described)
    body["extent"] = shaped.extent
    downsampled = False
    for key, (steps, values) in shaped.step_series.items():
        steps, values = in_range(steps, values, step_range)
        entry = series_json(steps, values, max_steps, with_bounds=True)
        downsampled = downsampled or entry.pop("downsampled")
        body["step_series"][key] = entry
    body["downsampled"] = downsampled
    return body


def heatmap_body(run, shaped, signal, preliminary,
                 max_steps=DEFAULT_MAX_STEPS, step_range=None,
                 encoding="json"):
    """One per-layer signal as a layer-by-step matrix.

    Rows are layers in model order; `values[i]` is row i over the
    (possibly bucketed) steps, or, with encoding "f32", the whole matrix
    as base64 of little-endian float32 in "values_f32". `shaped` is None
    while the run's first read is under way.
    """
    entry = signals.heatmap(signal)
    body = {
        "run": run,
        "preliminary": preliminary,
        "signal": signal,
        "tag": entry["tag"],
        "scale": entry["scale"],
        "available": False,
        "rows": [],
        "steps": [],
        "step_ends": [],
        "values": [],
        "range": None,
        "total_steps": 0,
        "downsampled": False,
        "extent": None if shaped is None else shaped.extent,
        "step_range": list(step_range) if step_range else None,
        "problems": _heatmap_problems(shaped, signal),
    }
    if encoding == "f32":
        body["encoding"] = "f32"
        del body["values"]
        body["values_f32"] = ""
    heatmap = None if shaped is None else shaped.heatmaps.get(signal)
    if heatmap is None:
        return body
    rows, steps, values, value_range = heatmap
    try:
        steps, values = in_range(steps, values, step_range)
        first, last, means, downsampled = bucket(steps, values, max_steps)
        body.update({
            "available": True,
            "rows": rows,
            "steps": [int(s) for s in first],
            "step_ends": [int(s) for s in last],
            "range": value_range,
            "total_steps": int(len(steps)),
            "downsampled": downsampled,
        })
        if encoding == "f32":
            matrix = np.ascontiguousarray(means.T, dtype="<f4")
            body["values_f32"] = base64.b64encode(
                matrix.tobytes()).decode("ascii")
        else:
            body["values"] = [floats(means[:, i])
                              for i in range(means.shape[1])]
    except Exception as e:  # pylint: disable=broad-except
        body["problems"].append("cannot build %s: %s" % (signal, e))
    return body


def _heatmap_problems(shaped, signal):
    """What a heatmap's answer reports: why the run could not be read at
    all, or why this heatmap could not be built. The other problems of the
    run are in its /run answer, shown once."""
    if shaped is None:
        return []
    if shaped.described is None:
        return list(shaped.problems)
    own = "cannot build %s:" % signal
    return [p for p in shaped.problems if p.startswith(own)]


def in_range(steps, values, step_range):
    """The records of (steps, values) with a step in `step_range`
    ((start, end), inclusive, either None; or None for all)."""
    if step_range is None:
        return steps, values
    lo, hi = step_range
    i0 = 0 if lo is None else int(np.searchsorted(steps, lo, side="left"))
    i1 = (len(steps) if hi is None
          else int(np.searchsorted(steps, hi, side="right")))
    return steps[i0:i1], values[i0:i1]


def bucket(steps, values, max_points):
    """Averages consecutive records into at most `max_points` buckets.

    Returns (first_steps, last_steps, means, downsampled); `values` is [T]
    or [T, K]. Plain sums propagate NaN and Inf, so a bucket holding a
    non-finite record is itself non-finite.
    """
    steps = np.asarray(steps, np.int64)
    values = np.asarray(values)
    if values.dtype.kind != "f":
        values = values.astype(np.float64)
    count = len(steps)
    if max_points is None or count <= max_points:
        return steps, steps, values, False
    edges = np.linspace(0, count, max_points + 1).astype(np.int64)
    starts = edges[:-1]
    sizes = np.diff(edges).astype(np.float64)
    with np.errstate(all="ignore"):
        # Summed in float64 without a float64 copy of a float32 matrix.
        sums = np.add.reduceat(values, starts, axis=0, dtype=np.float64)
        means = sums / (sizes if values.ndim == 1 else sizes[:, None])
    return steps[starts], steps[edges[1:] - 1], means, True


def series_json(steps, values, max_points, with_bounds=False):
    """A step series as /run sends it (see `bucket`); with `with_bounds`,
    a downsampled one carries each bucket's "min" and "max" too, so that
    a spike survives the averaging."""
    first, last, means, downsampled = bucket(steps, values, max_points)
    entry = {
        "steps": [int(s) for s in first],
        "step_ends": [int(s) for s in last],
        "values": floats(means),
        "downsampled": downsampled,
    }
    if downsampled and with_bounds:
        low, high = bucket_bounds(values, len(first))
        entry["min"] = floats(low)
        entry["max"] = floats(high)
    return entry


def bucket_bounds(values, max_points):
    """Each bucket's (min, max), buckets as in `bucket`; a non-finite
    record makes both bounds of its bucket NaN, like the mean."""
    values = np.asarray(values, np.float64)
    edges = np.linspace(0, len(values), max_points + 1).astype(np.int64)
    starts = edges[:-1]
    finite = np.isfinite(values)
    bad = np.add.reduceat((~finite).astype(np.int64), starts) > 0
    low = np.minimum.reduceat(np.where(finite, values, np.inf), starts)
    high = np.maximum.reduceat(np.where(finite, values, -np.inf), starts)
    return np.where(bad, np.nan, low), np.where(bad, np.nan, high)


def round_sig(x, digits=7):
    """`x` rounded to `digits` significant digits."""
    if not math.isfinite(x) or x == 0:
        return x
    return round(x, digits - 1 - int(math.floor(math.log10(abs(x)))))


def floats(values, digits=7):
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
        out[i] = jsonsafe.nonfinite_name(out[i])
    return out
