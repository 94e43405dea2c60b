"""Writes a synthetic trainhealth log of a big model, for the scale benchmark.

    python benchmarks/generate_scale_logdir.py LOGDIR [--layers 200]
        [--steps 20000] [--runs 1]

One run per `--runs` (named `deep_000`, `deep_001`, ...), each with
`--layers` layers in model order and one record at every step 0..steps-1,
written through the project's own `SummaryWriter`, so the files are exactly
what the callback writes:

* every fifth layer is a tanh "gate", the last one a sigmoid output, the
  rest ReLU layers: `layers/dead_fraction` has a column per ReLU layer,
  `layers/saturation` one per gate and the output;
* every layer has a kernel and a bias: `variables/grad_norm`,
  `variables/update_ratio` and `variables/weight_norm` have 2 x layers
  columns;
* step scalars (loss, global gradient norm, learning rate), 20 epochs of
  loss / val_loss / accuracy, the epoch end steps and the run facts.

The values have structure worth looking at: three ReLU layers die part way,
one gate saturates, gradients shrink towards the input, and validation loss
turns in the last epochs. Deterministic (fixed seeds).
"""

import argparse
import math
import os
import sys
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from tensorboard_plugin_trainhealth import metadata  # noqa: E402
from tensorboard_plugin_trainhealth.writer import SummaryWriter  # noqa: E402

EPOCHS = 20


def model_layout(n_layers):
    """(layer columns, dead columns, saturation columns, variable columns)."""
    layers, dead, saturating, variables = [], [], [], []
    for i in range(n_layers):
        name = "block_%03d/dense" % i
        if i == n_layers - 1:
            name, activation = "output", "sigmoid"
        elif i % 5 == 4:
            name, activation = "block_%03d/gate" % i, "tanh"
        else:
            activation = "relu"
        column = {"name": name, "class": "Dense", "activation": activation,
                  "is_output": i == n_layers - 1,
                  "units": 1 if i == n_layers - 1 else 64}
        layers.append(column)
        (dead if activation == "relu" else saturating).append(column)
        for part, shape in (("kernel", [64, column["units"]]),
                            ("bias", [column["units"]])):
            variables.append({"name": "%s/%s" % (name, part), "layer": name,
                              "shape": shape})
    return layers, dead, saturating, variables


def _ramp(steps, start, width):
    """0 before `start`, rising smoothly to 1 over `width` steps."""
    return np.clip((steps - start) / float(width), 0.0, 1.0) ** 2


def write_run(run_dir, n_layers, n_steps, seed):
    rng = np.random.default_rng(seed)
    layers, dead_cols, sat_cols, var_cols = model_layout(n_layers)
    steps = np.arange(n_steps)
    t = steps / max(1, n_steps - 1)

    # Dead fraction: a little noise, three layers die part way.
    dead = (0.02 + 0.02 * rng.random((n_steps, len(dead_cols)))).astype(
        np.float32)
    for k, (at, width) in enumerate(((0.15, 0.05), (0.4, 0.1), (0.7, 0.02))):
        column = min(len(dead_cols) - 1, (k + 1) * len(dead_cols) // 4)
        dead[:, column] = np.maximum(
            dead[:, column], _ramp(t, at, width).astype(np.float32))
    # Saturation: one gate drifts into its flat tails.
    sat = (0.05 * rng.random((n_steps, len(sat_cols)))).astype(np.float32)
    if len(sat_cols) > 2:
        sat[:, len(sat_cols) // 2] += (0.9 * _ramp(t, 0.5, 0.3)).astype(
            np.float32)
    # Gradient norms: smaller towards the input, decaying over training.
    index = {c["name"]: i for i, c in enumerate(layers)}
    depth = np.array([index[c["layer"]] for c in var_cols], np.float64)
    scale = 0.5 * np.exp(-(n_layers - 1 - depth) / (n_layers / 4.0))
    decay = (0.2 + 0.8 * np.exp(-4 * t))[:, None]
    wobble = np.exp(0.3 * rng.standard_normal((n_steps, len(var_cols))))
    grad = (scale[None, :] * decay * wobble).astype(np.float32)
    update = (1e-3 * decay * np.exp(0.4 * rng.standard_normal(
        (n_steps, len(var_cols))))).astype(np.float32)
    weight = (4.0 + 0.5 * t[:, None] + 0.05 * rng.standard_normal(
        (n_steps, len(var_cols)))).astype(np.float32)
    loss = (0.7 * np.exp(-3 * t) + 0.1 + 0.03 * rng.standard_normal(n_steps))
    grad_global = np.sqrt(np.sum(grad.astype(np.float64) ** 2, axis=1))

    writer = SummaryWriter(run_dir, flush_secs=120)
    try:
        writer.json(metadata.RUN_FACTS, 0, {
            "loss": {"name": "binary_crossentropy", "from_logits": False},
            "model": {"name": "deep", "class": "Functional",
                      "layers": [c["name"] for c in layers]},
            "outputs": [{"layer": "output", "class": "Dense",
                         "activation": "sigmoid", "units": 1}],
            "optimizer": {"class": "Adam", "learning_rate": 1e-3},
            "every_n_steps": 1,
            "gradient_source": "optimizer",
        })
        for i in range(n_steps):
            step = int(steps[i])
            writer.scalar(metadata.STEP_LOSS, step, loss[i])
            writer.scalar(metadata.STEP_GRAD_NORM, step, grad_global[i])
            writer.scalar(metadata.STEP_LEARNING_RATE, step, 1e-3)
            writer.vector(metadata.LAYER_DEAD_FRACTION, step, dead[i],
                          dead_cols)
            writer.vector(metadata.LAYER_SATURATION, step, sat[i], sat_cols)
            writer.vector(metadata.VARIABLE_GRAD_NORM, step, grad[i],
                          var_cols)
            writer.vector(metadata.VARIABLE_UPDATE_RATIO, step, update[i],
                          var_cols)
            writer.vector(metadata.VARIABLE_WEIGHT_NORM, step, weight[i],
                          var_cols)
        per_epoch = n_steps // EPOCHS
        for epoch in range(EPOCHS):
            e = epoch / (EPOCHS - 1)
            train = 0.6 * math.exp(-3 * e) + 0.1
            val = train + 0.02 + 0.3 * max(0.0, e - 0.6) ** 2
            writer.scalar(metadata.epoch_tag("loss"), epoch, train)
            writer.scalar(metadata.epoch_tag("val_loss"), epoch, val)
            writer.scalar(metadata.epoch_tag("accuracy"), epoch,
                          0.9 - train / 2)
            writer.scalar(metadata.epoch_tag("val_accuracy"), epoch,
                          0.9 - val / 2)
            writer.scalar(metadata.EPOCH_END_STEP, epoch,
                          (epoch + 1) * per_epoch - 1)
    finally:
        writer.close()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("logdir")
    parser.add_argument("--layers", type=int, default=200)
    parser.add_argument("--steps", type=int, default=20000)
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args(argv)
    for r in range(args.runs):
        started = time.time()
        run_dir = os.path.join(args.logdir, "deep_%03d" % r)
        write_run(run_dir, args.layers, args.steps, seed=r)
        print("wrote %s: %d layers x %d steps in %.1f s"
              % (run_dir, args.layers, args.steps, time.time() - started))
    return 0


if __name__ == "__main__":
    sys.exit(main())
