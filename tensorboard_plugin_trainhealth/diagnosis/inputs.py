"""Static checks of the inputs: NaN/Inf, and values far from unit scale
(whatever their dtype: raw uint8 pixels and int64 measurements included;
ids fed to an Embedding or a lookup are not magnitudes); and regression
targets far from unit scale (prices in dollars), a warning once learning
is impaired."""

from tensorboard_plugin_trainhealth.diagnosis.alerts import Alert
from tensorboard_plugin_trainhealth.diagnosis.outputs import REGRESSION
from tensorboard_plugin_trainhealth.diagnosis.util import fmt, num
from tensorboard_plugin_trainhealth.diagnosis.view import (
    is_index_input, layer_names)

_STATS = ("abs_max", "mean", "std", "min", "max", "max_feature_std",
          "nonfinite_fraction")


def _non_finite_input(name, evidence, fraction):
    return Alert(
        "unscaled_inputs", "critical", name, None, None, evidence,
        "Remove or impute the NaN/Inf entries before training (e.g. "
        "np.nan_to_num, or fill with the training mean): one NaN input "
        "turns the loss and then every weight into NaN.",
        "Input %s holds NaN/Inf in %s of its values"
        % (name, fmt(100 * fraction) + "%"))


def _scale_advice(stats, dtype):
    low, high, abs_max = stats["min"], stats["max"], stats["abs_max"]
    if low is not None and high is not None and low >= 0 \
            and 1 < high <= 255 and (dtype.startswith("uint8") or
                                     stats["std"] is None
                                     or stats["std"] > 10):
        return ("These look like raw 8-bit values (0..%s%s): divide by 255, "
                "e.g. x.astype('float32') / 255 or "
                "keras.layers.Rescaling(1/255) as the first layer."
                % (fmt(high), ", %s" % dtype if dtype else ""))
    return ("Standardize to mean 0 / std 1: keras.layers.Normalization() as "
            "the first layer with .adapt(x_train), or sklearn StandardScaler "
            "fitted on the training data%s; or MinMax-scale to [0, 1]%s."
            % (" (now mean %s, std %s)" % (fmt(stats["mean"]),
                                           fmt(stats["std"]))
               if stats["mean"] is not None and stats["std"] is not None
               else "", " (divide by %s)" % fmt(abs_max) if abs_max else ""))


def _severity(stats, t):
    abs_max = stats["abs_max"]
    spread = max([v for v in (stats["std"], stats["max_feature_std"])
                  if v is not None], default=None)
    if (abs_max is not None and abs_max > t.input_abs_max_critical) or \
            (spread is not None and spread > t.input_std_critical):
        return "critical", spread
    if (abs_max is not None and abs_max > t.input_abs_max_warning) or \
            (spread is not None and spread > t.input_std_warning):
        return "warning", spread
    return None, spread


def _scaled_in_model(inp, facts):
    """True when a Rescaling or Normalization layer takes this input (its
    recorded "consumers"); "maybe" when the model has such a layer but the
    facts do not say which input it takes; else False."""
    def scales(name):
        flat = "".join(ch for ch in str(name).lower() if ch.isalpha())
        return flat.startswith(("rescaling", "normalization"))

    consumers = inp.get("consumers")
    if isinstance(consumers, list) and consumers:
        return any(scales(c) for c in consumers)
    return "maybe" if any(scales(n) for n in layer_names(facts)) else False


def _check_input(index, inp, facts, t):
    name = str(inp.get("name") or "input_%d" % index)
    stats = {k: num(inp.get(k)) for k in _STATS}
    evidence = {"input": name}
    evidence.update({k: v for k, v in stats.items() if v is not None})
    dtype = str(inp.get("dtype") or "").lower()
    if dtype:
        evidence["dtype"] = dtype
    nonfinite = stats["nonfinite_fraction"]
    if nonfinite is not None and nonfinite > 0:
        return _non_finite_input(name, evidence, nonfinite)
    if is_index_input(inp, facts):
        return None
    severity, spread = _severity(stats, t)
    abs_max = stats["abs_max"]
    if severity is None:
        if abs_max is not None and 0 < abs_max < t.input_abs_max_tiny:
            return Alert(
                "unscaled_inputs", "info", name, None, None, evidence,
                "Standardize to unit variance (keras.layers.Normalization "
                "adapted on the training data, or sklearn StandardScaler).",
                "Input %s is tiny: its largest magnitude is %s"
                % (name, fmt(abs_max)))
        return None
    parts = []
    if abs_max is not None:
        parts.append("magnitudes up to %s" % fmt(abs_max))
    if spread is not None:
        parts.append("std %s" % fmt(spread))
    message = "Input %s is not normalized (%s; expected ~1)" % (
        name, ", ".join(parts))
    in_model = _scaled_in_model(inp, facts)
    if in_model is True:
        return None
    if in_model == "maybe":
        severity = "info"
        message += ("; the model has a Rescaling/Normalization layer, "
                    "which is fine if it takes this input")
    return Alert("unscaled_inputs", severity, name, None, None, evidence,
                 _scale_advice(stats, dtype), message)


def check_inputs(view):
    inputs = view.facts.get("inputs")
    if not isinstance(inputs, list):
        return []
    found = [_check_input(i, inp, view.facts, view.t)
             for i, inp in enumerate(inputs) if isinstance(inp, dict)]
    return [a for a in found if a is not None]


def check_targets(view):
    """Regression targets whose scale is far from 1: the head must reach
    values of that size in small steps, and MSE gradients scale with it."""
    t = view.t
    alerts = []
    for o in view.outputs:
        if o.family not in REGRESSION + (None,) or \
                o.categorical_targets is not False:
            continue
        mean, std = o.target_stat("mean"), o.target_stat("std")
        scale = max(abs(mean or 0.0), std or 0.0)
        if scale <= t.input_abs_max_warning:
            continue
        where = o.layer or o.name
        severity = "warning" if view.progress.impaired else "info"
        alerts.append(Alert(
            "unscaled_inputs", severity, "targets of %s" % where, None, None,
            {"output": o.name, "mean": mean, "std": std,
             "min": o.target_stat("min"), "max": o.target_stat("max"),
             "loss": o.loss_name},
            "Standardize the targets: y_scaled = (y - y.mean()) / y.std() "
            "for training, and y = y_scaled * std + mean after predict() "
            "(or predict log(y) for positive, skewed values).",
            "The targets of %s are far from unit scale (mean %s, std %s)%s"
            % (where, fmt(mean or 0.0), fmt(std or 0.0),
               "; learning is impaired (%s)" % view.progress.reason
               if severity == "warning" else "")))
    return alerts
