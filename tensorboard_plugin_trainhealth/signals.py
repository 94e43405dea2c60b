"""The signal catalogue: what the tab shows, and from which tag.

One list, beside the schema (metadata.py), that the plugin's routes and
the frontend both take from: the heatmaps (per-layer signals), the step
charts (global signals per step), the signals runs can be compared on, and
where on the page each alert kind's evidence is. The plugin serves
`CATALOGUE` as JSON (see docs/http_api.md); the frontend builds its
sections from it and keeps no list of its own.

Pure stdlib: importable without TensorBoard, Keras or numpy.
"""

from tensorboard_plugin_trainhealth import metadata as md

# Per-layer signals, drawn as layer-by-step heatmaps. Variable signals
# ("aggregate": "layer") are combined per layer by the plugin.
HEATMAPS = (
    {
        "signal": "dead_fraction",
        "tag": md.LAYER_DEAD_FRACTION,
        "scale": "linear",
        "domain": [0, 1],
        "aggregate": "none",
        "title": "Dead ReLU fraction",
        "value_label": "dead fraction",
        "description": "Share of a ReLU-like layer's units that output zero "
                       "for every probe sample. 1 (yellow) means the layer "
                       "is dead.",
        "missing": "dead-ReLU fraction (no ReLU-family layers in the model)",
    },
    {
        "signal": "saturation",
        "tag": md.LAYER_SATURATION,
        "scale": "linear",
        "domain": [0, 1],
        "aggregate": "none",
        "title": "Saturation",
        "value_label": "saturation",
        "description": "Share of a sigmoid/tanh-like layer's outputs in the "
                       "flat tails, where gradients vanish.",
        "missing": "saturation (no sigmoid, tanh or softmax layers)",
    },
    {
        "signal": "grad_norm",
        "tag": md.VARIABLE_GRAD_NORM,
        "scale": "log",
        "domain": None,
        "aggregate": "layer",
        "title": "Gradient norm per layer",
        "value_label": "gradient norm",
        "description": "Norm of each layer's gradient (all its variables), "
                       "log colour scale. Dark rows get almost no gradient "
                       "(vanishing); bright ones very large gradients "
                       "(exploding).",
        "missing": "gradient norms (the optimizer's step was not visible: "
                   "see the README on JAX and custom loops)",
    },
    {
        "signal": "update_ratio",
        "tag": md.VARIABLE_UPDATE_RATIO,
        "scale": "log",
        "domain": None,
        "aggregate": "layer",
        "title": "Update ratio per layer",
        "value_label": "update ratio",
        "description": "Size of each step's weight change relative to the "
                       "weights (||ΔW|| / ||W||), log colour scale; around "
                       "1e-3 is typical.",
        "missing": "update ratios",
    },
)

# Global signals per step, drawn as line charts. "key" is the tag without
# its "step/" prefix, as the /run answer's "step_series" names it.
STEP_CHARTS = (
    {
        "key": "grad_norm_global",
        "tag": md.STEP_GRAD_NORM,
        "log_y": True,
        "title": "Global gradient norm",
        "label": "gradient norm",
        "description": "Norm of the whole gradient at each recorded step "
                       "(log scale).",
    },
    {
        "key": "loss",
        "tag": md.STEP_LOSS,
        "log_y": False,
        "title": "Training loss per step",
        "label": "loss",
        "description": "The running training loss at each recorded step.",
    },
    {
        "key": "learning_rate",
        "tag": md.STEP_LEARNING_RATE,
        "log_y": True,
        "title": "Learning rate",
        "label": "learning rate",
        "description": "The optimizer's learning rate (log scale).",
    },
)

# What "Compare runs" overlays. "axis" says what its x axis counts.
COMPARE = (
    {"key": "loss", "title": "Training loss", "source": "step_series",
     "axis": "step"},
    {"key": "gap", "title": "Validation gap", "source": "gaps",
     "axis": "epoch"},
    {"key": "grad_norm_global", "title": "Global gradient norm",
     "source": "step_series", "axis": "step"},
)

# Where each alert kind's evidence is shown: the heatmap of its layer
# first, then a chart; the facts panel when neither is on the page.
# "chart" names a STEP_CHARTS key or "epoch_loss" (the epoch chart).
EVIDENCE = {
    "dead_relu": {"heatmap": "dead_fraction", "chart": None},
    "saturation": {"heatmap": "saturation", "chart": None},
    "vanishing_gradients": {"heatmap": "grad_norm",
                            "chart": "grad_norm_global"},
    "exploding_gradients": {"heatmap": "grad_norm",
                            "chart": "grad_norm_global"},
    "learning_rate": {"heatmap": "update_ratio", "chart": "learning_rate"},
    "stalled_loss": {"heatmap": None, "chart": "loss"},
    "overfitting": {"heatmap": None, "chart": "epoch_loss"},
    "unscaled_inputs": {"heatmap": None, "chart": "facts"},
    "loss_activation_mismatch": {"heatmap": None, "chart": "facts"},
    "label_mismatch": {"heatmap": None, "chart": "facts"},
    "class_imbalance": {"heatmap": None, "chart": "facts"},
    "collapsed_predictions": {"heatmap": None, "chart": "loss"},
}
# Non-finite alerts name the signal where NaN/Inf appeared first
# (evidence["signal"]): where to look for each.
NON_FINITE_EVIDENCE = {
    "gradients": {"heatmap": "grad_norm", "chart": "grad_norm_global"},
    "weights": {"heatmap": "update_ratio", "chart": "grad_norm_global"},
    "activations": {"heatmap": "dead_fraction", "chart": "loss"},
    "loss": {"heatmap": None, "chart": "loss"},
}

CATALOGUE = {
    "heatmaps": list(HEATMAPS),
    "step_charts": list(STEP_CHARTS),
    "compare": list(COMPARE),
    "evidence": EVIDENCE,
    "non_finite_evidence": NON_FINITE_EVIDENCE,
}


def heatmap(signal):
    """The HEATMAPS entry of `signal`, or None."""
    for entry in HEATMAPS:
        if entry["signal"] == signal:
            return entry
    return None
