"""Small helpers the rule families share: numbers from facts, numbers in
messages, persistent conditions over records, and steps of epochs."""

import dataclasses
import math
import warnings
from typing import Optional

import numpy as np


def num(value):
    """A float from a fact (numbers, "NaN"/"Infinity" strings), else None."""
    if value is None or isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError, OverflowError):
        return None


def finite(value):
    """`num(value)` when it is finite, else None."""
    x = num(value)
    return x if x is not None and math.isfinite(x) else None


def fmt(x):
    """A short number for messages: 0.001, 1.5e-06, 350, 1000."""
    x = float(x)
    if np.isfinite(x) and (x == 0 or 1e-3 <= abs(x) < 1e6):
        return np.format_float_positional(x, precision=3, fractional=False,
                                          trim="-")
    return "%.3g" % x


def pct(x):
    percent = 100 * float(x)
    if not math.isfinite(percent):
        return "%s%%" % percent
    return "%d%%" % round(percent)


def nanmedian(x, axis=None):
    """np.nanmedian without the all-NaN-slice warning (gives NaN)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmedian(np.asarray(x, np.float64), axis=axis)


def nanmax(x, axis=None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmax(np.asarray(x, np.float64), axis=axis)


def persistent_start(mask, t, min_records=None):
    """Index where a stretch of `mask` that still holds begins, else None.

    Still holds: true on `min_records` consecutive records from there, and
    on at least `t.persistence_fraction` of the records from there on.
    """
    mask = np.asarray(mask, bool)
    need = _need(t, min_records)
    n = len(mask)
    index = np.arange(n)
    true_from = np.cumsum(mask[::-1])[::-1]  # trues in mask[i:]
    falses = np.nonzero(~mask)[0]
    next_false = np.append(falses, n)[np.searchsorted(falses, index)]
    ok = ((next_false - index >= need)
          & (true_from >= t.persistence_fraction * (n - index)))
    hits = np.nonzero(ok)[0]
    return int(hits[0]) if len(hits) else None


def _need(t, min_records):
    return max(1, t.persistence_records if min_records is None
               else min_records)


@dataclasses.dataclass
class Stretch:
    """Where a persistent condition began, was last seen and ended.

    Indices into the records; `resolved` is the first record from which it
    no longer held (None while it still holds).
    """

    start: int
    last: int
    resolved: Optional[int]


def condition(mask, t, min_records=None):
    """The `Stretch` of a persistent condition in `mask`, or None.

    A condition that still holds at the end (`persistent_start`) is
    reported from where that stretch began. Otherwise the condition held
    on at least `min_records` consecutive records at some point and then
    went away: it is reported from its first such stretch, resolved after
    its last one. Shorter blips are not conditions.
    """
    mask = np.asarray(mask, bool)
    need = _need(t, min_records)
    active = persistent_start(mask, t, min_records)
    trues = np.nonzero(mask)[0]
    if active is not None:
        return Stretch(active, int(trues[-1]), None)
    runs = _runs(mask)
    runs = [(a, b) for a, b in runs if b - a + 1 >= need]
    if not runs:
        return None
    last = runs[-1][1]
    resolved = last + 1 if last + 1 < len(mask) else None
    return Stretch(runs[0][0], last, resolved)


def _runs(mask):
    """(first, last) index of every maximal run of trues."""
    runs, start = [], None
    for i, value in enumerate(mask):
        if value and start is None:
            start = i
        elif not value and start is not None:
            runs.append((start, i - 1))
            start = None
    if start is not None:
        runs.append((start, len(mask) - 1))
    return runs


def carry_into_nonfinite(mask, values):
    """Extends `mask` over the non-finite records that follow a true one
    (a value that grows past a threshold and then overflows has not come
    back)."""
    mask = np.array(mask, bool)
    bad = ~np.isfinite(values)
    for i in range(1, len(mask)):
        if bad[i] and mask[i - 1]:
            mask[i] = True
    return mask


def epoch_step(series, epoch):
    """The global step at which `epoch` ended, or a best guess, or None."""
    step = series.step_of_epoch(epoch)
    if step is not None:
        return step
    per_epoch = num(series.facts.get("steps_per_epoch"))
    if per_epoch and per_epoch > 0:
        return int((int(epoch) + 1) * per_epoch)
    return None


def epoch_start_step(series, epoch):
    """The global step at which `epoch` began (0 for the first epoch)."""
    if int(epoch) <= 0:
        return int(num(series.facts.get("initial_step")) or 0)
    return epoch_step(series, int(epoch) - 1)


def finite_epochs(series, key):
    """(epoch indices, values) of an epoch metric where it is finite."""
    e = series.epoch(key)
    ok = np.isfinite(e.values)
    return e.steps[ok], e.values[ok]


def layer_of(col):
    """The layer of a column: its "layer", else its name up to the last
    "/" (a variable: "dense_1/kernel"), else its name (a layer)."""
    name = col.get("name")
    if col.get("layer") or not isinstance(name, str):
        return col.get("layer")
    return name.rsplit("/", 1)[0]


def kernel_columns(matrix):
    """(index, column, element count) of the weight matrices (rank >= 2)
    other than embedding tables; every column when shapes are unknown."""
    shaped = [(i, c) for i, c in enumerate(matrix.columns)
              if isinstance(c.get("shape"), (list, tuple))]
    if not shaped:
        return [(i, c, 1) for i, c in enumerate(matrix.columns)]
    return [(i, c, max(1, int(np.prod(c["shape"])))) for i, c in shaped
            if len(c["shape"]) >= 2 and not is_embedding(c)]


def is_embedding(col):
    """An embedding table: only the rows of a batch's tokens get a
    gradient, so its per-element figures say nothing about the layer."""
    name = str(col.get("name") or "").lower()
    cls = str(col.get("class") or "").lower()
    return name.endswith("embeddings") or "embedding" in cls


def sentence(parts, joiner="; "):
    """Clauses joined, the first letter upper-cased (nothing else)."""
    text = joiner.join(p for p in parts if p)
    return text[:1].upper() + text[1:]
