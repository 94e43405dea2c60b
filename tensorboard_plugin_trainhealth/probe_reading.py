"""What one run of the activation probe found, on the host.

The probe (`probe.py`) returns, per chunk of its samples, the reductions of
each inspected layer's output and of the model's outputs; `ProbeReading`
combines the chunks into the signals a record holds: per layer the dead
or saturated fraction and the share of non-finite values, per output the
spread of the predictions and the share of the most common class.
"""

import numpy as np


class ProbeReading:
    """What one probe run found, per probe layer and per model output.

    `signal[i]`: the dead fraction (ReLU family) or saturated fraction
    (bounded) of probe layer i; `nonfinite[i]`: its share of NaN/Inf
    outputs (0 exactly when there are none); NaN for a layer the forward
    pass did not reach. `prediction_std[j]` and `top_class_share[j]` for
    output j (NaN when not measured).
    """

    def __init__(self, signal, nonfinite, outputs, unreached=()):
        self.unreached = list(unreached)  # indices of layers not reached
        self.signal = signal
        self.nonfinite = nonfinite
        self.outputs = outputs  # per output: a dict, see `measured`
        self.prediction_std = np.array(
            [o.get("prediction_std", np.nan) for o in outputs], np.float64)
        self.top_class_share = np.array(
            [o.get("top_class_share", np.nan) for o in outputs], np.float64)

    def measured(self, j):
        """Output j as the facts describe it (`measured`, docs/schema.md)."""
        return dict(self.outputs[j]) if j < len(self.outputs) else None

    @classmethod
    def combine(cls, compiled, parts):
        """One reading from the parts of equal chunks of the samples."""
        layers = compiled.layers
        signal = np.full(len(layers), np.nan)
        nonfinite = np.full(len(layers), np.nan)
        for i, probe_layer in enumerate(layers):
            if ("unreached", i) in parts[0]:
                continue
            if probe_layer.family == "relu":
                maxima = np.max([p[("unit_max", i)][0] for p in parts], axis=0)
                signal[i] = float(np.mean(~(maxima > 0))) if maxima.size else np.nan
            else:
                signal[i] = _fraction(parts, ("pinned", i))
            nonfinite[i] = _nonfinite_fraction(parts, i)
        outputs = [_output_reading(parts, j)
                   for j in range(compiled.output_count)]
        unreached = [i for i in range(len(layers))
                     if ("unreached", i) in parts[0]]
        return cls(signal, nonfinite, outputs, unreached)


def _output_reading(parts, j):
    if ("out_mean", j) not in parts[0]:
        return {}
    means = np.stack([p[("out_mean", j)][0] for p in parts])
    variances = np.stack([p[("out_var", j)][0] for p in parts])
    # Equal chunks: the total variance is the mean of the chunks' variances
    # plus the variance of their means.
    total = variances.mean(axis=0) + means.var(axis=0)
    low = float(min(p[("out_range", j)][0][0] for p in parts))
    high = float(max(p[("out_range", j)][0][1] for p in parts))
    rows = sum(p[("out_mean", j)][1] for p in parts)
    in_unit = bool(0.0 <= low and high <= 1.0)
    if ("out_classes", j) in parts[0]:
        counts = np.sum([p[("out_classes", j)][0] for p in parts], axis=0)
        top = counts.max() / rows if rows else np.nan
        error = max(float(p[("out_row_sum_error", j)][0][0]) for p in parts)
        rows_sum_to_one = bool(error < 1e-3)
    else:
        sides = np.sum([p[("out_sides", j)][0] for p in parts], axis=0)
        above = sides[0] if in_unit else sides[1]
        top = max(above, rows - above) / rows if rows else np.nan
        rows_sum_to_one = None
    return {
        "min": low, "max": high, "mean": float(means.mean()),
        "in_unit_interval": in_unit, "rows_sum_to_one": rows_sum_to_one,
        "prediction_std": float(np.mean(np.sqrt(np.maximum(total, 0.0)))),
        "top_class_share": float(top),
    }


def _nonfinite_fraction(parts, i):
    """Layer i's share of non-finite outputs: 0 for a chunk whose sums are
    finite, its exact count otherwise."""
    count, total = 0.0, 0
    for p in parts:
        total += p[("sum", i)][1]
        if ("nonfinite", i) in p:
            count += float(p[("nonfinite", i)][0][0])
    return count / total if total else np.nan


def _fraction(parts, key):
    count = sum(float(p[key][0][0]) for p in parts)
    total = sum(p[key][1] for p in parts)
    return count / total if total else np.nan
