"""What one probe run of a PyTorch model found, brought to the host.

Each chunk of probe samples leaves device reductions (per activation site
and per model output); they go to the host in one transfer per chunk and
are combined there in float64. The result has the attributes the recorder
reads from any probe reading (`signal`, `nonfinite`, `prediction_std`,
`top_class_share`, `measured(j)`; see `recorder.Recorder._probe`).
"""

import numpy as np
import torch

# Outputs with more values per row than this (a sequence of vocabulary
# logits) get no class statistics: they would be a large transfer.
MAX_OUTPUT_UNITS = 4096


def named_outputs(outputs, prefix=""):
    """[(name, tensor)] of a model's outputs: "output" for one tensor,
    "output_<i>" for a tuple or list, the keys of a dict (nested ones
    joined with "/"); non-tensor entries left out."""
    if isinstance(outputs, torch.Tensor):
        return [(prefix or "output", outputs)]
    if isinstance(outputs, dict):
        items = [(str(k), v) for k, v in outputs.items()]
    elif isinstance(outputs, (tuple, list)):
        items = [("output_%d" % i if not prefix else str(i), v)
                 for i, v in enumerate(outputs)]
    else:
        return []
    named = []
    for key, value in items:
        named.extend(named_outputs(value, prefix + "/" + key if prefix else key))
    return named


def _rows(output, class_axis):
    x = output.detach().float()
    if x.dim() == 0:
        return None
    if x.dim() == 1:
        return x.reshape(-1, 1)
    x = x.movedim(class_axis, -1)
    if x.shape[-1] > MAX_OUTPUT_UNITS:
        return None
    return x.reshape(-1, x.shape[-1])


def reduce_outputs(outputs, class_axes):
    """{(part, j): (device tensor, rows)} for each model output j."""
    parts = {}
    for j, (_, output) in enumerate(named_outputs(outputs)):
        rows = _rows(output, class_axes[j] if j < len(class_axes) else -1)
        if rows is None or rows.shape[0] == 0:
            continue
        n = int(rows.shape[0])
        parts[("mean", j)] = (rows.mean(0), n)
        parts[("var", j)] = (rows.var(0, unbiased=False), n)
        parts[("range", j)] = (torch.stack([rows.min(), rows.max()]), n)
        if rows.shape[1] > 1:
            parts[("classes", j)] = (torch.bincount(
                rows.argmax(1), minlength=rows.shape[1]).float(), n)
            parts[("row_sum_error", j)] = (
                (rows.sum(1) - 1.0).abs().max().reshape(1), n)
        else:
            parts[("sides", j)] = (torch.stack([
                (rows > 0.5).sum().float(), (rows > 0.0).sum().float()]), n)
    return parts


def _site_parts(sites, probe_pass):
    """{(part, i): (device tensor, total)} for each site i, its calls
    combined: a unit's maximum over calls of the same shape, counts summed."""
    parts = {}
    for i, site in enumerate(sites):
        calls = probe_pass.reduced.get(site.name)
        if not calls:
            continue
        if site.family == "relu":
            first = calls[0]["unit_max"][0]
            maxima = [c["unit_max"][0] for c in calls
                      if c["unit_max"][0].shape == first.shape]
            parts[("unit_max", i)] = (torch.stack(maxima).amax(0), None)
        else:
            parts[("pinned", i)] = _summed(calls, "pinned")
        parts[("nonfinite", i)] = _summed(calls, "nonfinite")
    return parts


def _summed(calls, key):
    return (torch.stack([c[key][0].float() for c in calls]).sum().reshape(1),
            sum(c[key][1] for c in calls))


def to_host(parts):
    """{key: (numpy float64, total)}: one device-to-host transfer."""
    if not parts:
        return {}
    keys = list(parts)
    flat = [parts[k][0].detach().float().reshape(-1) for k in keys]
    device = flat[0].device
    joined = torch.cat([f.to(device) for f in flat]).cpu().numpy()
    out, start = {}, 0
    for key, f in zip(keys, flat):
        size = f.numel()
        out[key] = (joined[start:start + size].astype(np.float64),
                    parts[key][1])
        start += size
    return out


def combine(sites, passes, output_count, exact=True):
    """A `Reading` from the passes over each chunk of the samples; None
    when, not `exact`, a site's values are not all finite (their sums
    stand for the counts: see probe._reduce)."""
    host = []
    for probe_pass, output_parts in passes:
        parts = _site_parts(sites, probe_pass)
        parts.update(output_parts)
        host.append(to_host(parts))
    if not exact:
        sums = [h[("nonfinite", i)][0][0] for h in host
                for i in range(len(sites)) if ("nonfinite", i) in h]
        if not np.all(np.isfinite(sums)):
            return None
        for h in host:
            for i in range(len(sites)):
                if ("nonfinite", i) in h:
                    h[("nonfinite", i)] = (np.zeros(1), h[("nonfinite", i)][1])
    signal = np.full(len(sites), np.nan)
    nonfinite = np.full(len(sites), np.nan)
    for i, site in enumerate(sites):
        present = [h for h in host if ("nonfinite", i) in h]
        if not present:
            continue
        if site.family == "relu":
            maxima = np.max([h[("unit_max", i)][0] for h in present], axis=0)
            signal[i] = float(np.mean(~(maxima > 0))) if maxima.size else np.nan
        else:
            signal[i] = _fraction(present, ("pinned", i))
        nonfinite[i] = _fraction(present, ("nonfinite", i))
    outputs = [_output_reading(host, j) for j in range(output_count)]
    unreached = [i for i in range(len(sites))
                 if not any(("nonfinite", i) in h for h in host)]
    return Reading(signal, nonfinite, outputs, unreached)


def _fraction(host, key):
    count = sum(float(h[key][0][0]) for h in host)
    total = sum(h[key][1] for h in host)
    return count / total if total else np.nan


def _output_reading(host, j):
    chunks = [h for h in host if ("mean", j) in h]
    if not chunks:
        return {}
    counts = np.array([h[("mean", j)][1] for h in chunks], np.float64)
    means = np.stack([h[("mean", j)][0] for h in chunks])
    variances = np.stack([h[("var", j)][0] for h in chunks])
    rows = counts.sum()
    weights = (counts / rows)[:, None]
    mean = (weights * means).sum(0)
    # The variance of the union of the chunks: within plus between.
    variance = (weights * (variances + (means - mean) ** 2)).sum(0)
    low = float(min(h[("range", j)][0][0] for h in chunks))
    high = float(max(h[("range", j)][0][1] for h in chunks))
    in_unit = bool(0.0 <= low and high <= 1.0)
    if ("classes", j) in chunks[0]:
        classes = np.sum([h[("classes", j)][0] for h in chunks], axis=0)
        top = classes.max() / rows
        error = max(float(h[("row_sum_error", j)][0][0]) for h in chunks)
        rows_sum_to_one = bool(error < 1e-3)
    else:
        sides = np.sum([h[("sides", j)][0] for h in chunks], axis=0)
        above = sides[0] if in_unit else sides[1]
        top = max(above, rows - above) / rows
        rows_sum_to_one = None
    return {
        "min": low, "max": high, "mean": float(mean.mean()),
        "in_unit_interval": in_unit, "rows_sum_to_one": rows_sum_to_one,
        "prediction_std": float(np.mean(np.sqrt(np.maximum(variance, 0.0)))),
        "top_class_share": float(top),
    }


class Reading:
    """One probe run's values on the host.

    `signal[i]`: the dead fraction (ReLU family) or saturated fraction
    (bounded) of site i; `nonfinite[i]`: its share of NaN/Inf values; NaN
    for a site this run did not reach. Per output j: `prediction_std[j]`,
    `top_class_share[j]` and `measured(j)` (docs/schema.md).
    """

    def __init__(self, signal, nonfinite, outputs, unreached=()):
        self.signal = signal
        self.nonfinite = nonfinite
        self.outputs = outputs
        self.unreached = list(unreached)
        self.prediction_std = np.array(
            [o.get("prediction_std", np.nan) for o in outputs], np.float64)
        self.top_class_share = np.array(
            [o.get("top_class_share", np.nan) for o in outputs], np.float64)

    def measured(self, j):
        return dict(self.outputs[j]) if j < len(self.outputs) and \
            self.outputs[j] else None
