"""Facts about arrays: the statistics of the probe batch's inputs and targets.

Host-side numpy, with no framework import, so that every front end (the
Keras callback through `facts.py`, the PyTorch monitor) describes its data
the same way in the RUN_FACTS document (docs/schema.md).
"""

import numpy as np

# Class histograms list at most this many classes (the most frequent).
MAX_CLASSES = 50
# Targets with more distinct values than this are not class labels.
MAX_DISTINCT = 1000


def array_statistics(name, array):
    """Host-side statistics of one probe array (numpy), integers included."""
    a = np.asarray(array)
    facts = {"name": name, "samples": int(a.shape[0]) if a.ndim else 1,
             "shape": list(a.shape[1:]), "dtype": str(a.dtype)}
    if a.size == 0 or not (np.issubdtype(a.dtype, np.number)
                           or a.dtype == np.bool_):
        return facts
    # Reductions run on the array as it is, accumulating in float64: a
    # float64 copy of a large probe batch costs more than all of them.
    if a.dtype == np.bool_:
        a = a.astype(np.uint8)
    finite = np.isfinite(a) if np.issubdtype(a.dtype, np.inexact) else None
    all_finite = finite is None or bool(finite.all())
    facts["nonfinite_fraction"] = (0.0 if all_finite
                                   else float(1.0 - finite.mean()))
    values = a if all_finite else a[finite]
    if values.size == 0:
        return facts
    low, high = values.min(), values.max()
    facts.update(
        abs_max=float(max(abs(float(low)), abs(float(high)))),
        min=float(low),
        max=float(high),
        mean=float(values.mean(dtype=np.float64)),
        std=float(values.std(dtype=np.float64)),
    )
    if a.ndim >= 2 and a.shape[0] > 1:
        facts.update(_max_feature_std(a, None if all_finite else finite))
    return facts


def _max_feature_std(a, finite):
    """{"max_feature_std": the largest spread of one input feature across
    the samples}, or {} when no feature has a finite one. `finite`: the
    mask of finite values, None when all are."""
    flat = a.reshape(a.shape[0], -1)
    if finite is None:
        feature_std = flat.std(axis=0, dtype=np.float64)
    else:
        with np.errstate(all="ignore"):
            feature_std = np.nanstd(
                np.where(finite.reshape(flat.shape), flat, np.nan)
                .astype(np.float64), axis=0)
    if not np.isfinite(feature_std).any():
        return {}
    return {"max_feature_std": float(np.nanmax(feature_std))}


def target_facts(names, probe_targets):
    """One entry per output whose targets the probe batch holds."""
    if probe_targets is None:
        return []
    if isinstance(probe_targets, dict):
        pairs = [(n, probe_targets[n]) for n in names if n in probe_targets]
    elif isinstance(probe_targets, (list, tuple)):
        pairs = list(zip(names, probe_targets))
    elif len(names) == 1:
        pairs = [(names[0], probe_targets)]
    else:
        return []
    return [dict(output=name, **_target_statistics(np.asarray(y)))
            for name, y in pairs if y is not None]


def _target_statistics(y):
    facts = array_statistics(None, y)
    facts.pop("name", None)
    if "min" not in facts:
        return facts
    values = y.astype(np.float64)
    finite = values[np.isfinite(values)]
    integer_valued = bool(np.all(finite == np.round(finite)))
    distinct = np.unique(finite[:100000])
    binary = bool(np.all(np.isin(distinct, (0.0, 1.0))))
    grid = values.ndim >= 2 and values.shape[-1] > 1 and binary
    rows = values.reshape(-1, values.shape[-1]) if grid else None
    one_hot = bool(grid and np.all(rows.sum(axis=-1) == 1))
    facts.update(
        integer_valued=integer_valued,
        distinct=int(min(len(distinct), MAX_DISTINCT)),
        one_hot=one_hot,
        multi_hot=bool(grid and not one_hot),
        classes=None,
    )
    if grid:
        counts = {str(i): int(c) for i, c in enumerate(rows.sum(axis=0))}
        facts["classes"] = _top(counts)
    elif integer_valued and len(distinct) <= MAX_CLASSES:
        labels, counts = np.unique(finite, return_counts=True)
        facts["classes"] = _top({_label(v): int(c)
                                 for v, c in zip(labels, counts)})
    return facts


def _label(value):
    return str(int(value)) if value == int(value) else str(value)


def _top(counts):
    ordered = sorted(counts.items(), key=lambda kv: -kv[1])[:MAX_CLASSES]
    return dict(ordered)


def probe_facts(probe, requested, skipped):
    """The `probe` fact: how many samples it really uses, and which layers
    it inspects or cannot."""
    return {
        "samples": probe.samples if probe is not None else 0,
        "requested": requested,
        "chunks": probe.chunks if probe is not None else 0,
        "inspected": [p.name for p in probe.layers] if probe is not None else [],
        "not_inspected": list(skipped),
    }
