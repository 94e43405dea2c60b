"""A suite of deliberately broken trainings, and healthy ones, for diagnosis.

Each scenario trains a tiny real Keras model with `TrainHealthCallback` and
names the alert kind it must raise at warning or above (None for healthy
trainings, which must raise nothing at warning or above).

    python -m tests.broken_trainings        # prints detection rate and false alarms

The same scenarios run under pytest in tests/test_detection_suite.py.
"""

import os
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from tensorboard_plugin_trainhealth import TrainHealthCallback  # noqa: E402
from tensorboard_plugin_trainhealth import diagnosis  # noqa: E402


def _tabular(n=384, d=8, seed=0, scale=1.0, noise=0.0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)).astype("float32")
    y = (x[:, : d // 2].sum(axis=1) > 0).astype("float32")
    if noise:
        flip = rng.uniform(size=n) < noise
        y = np.where(flip, 1 - y, y).astype("float32")
    return x * scale, y


def _mlp(activation="relu", width=32, depth=2, head="sigmoid", units=1, d=8,
         kernel_initializer="glorot_uniform", seed=0):
    keras.utils.set_random_seed(seed)
    layers = [keras.Input((d,))]
    for i in range(depth):
        layers.append(keras.layers.Dense(
            width, activation=activation, name="hidden_%d" % (i + 1),
            kernel_initializer=kernel_initializer))
    layers.append(keras.layers.Dense(units, activation=head, name="output"))
    return keras.Sequential(layers)


def _train(model, x, y, log_dir, epochs=8, batch_size=32, validation=0.25,
           **fit_kwargs):
    cb = TrainHealthCallback(log_dir, verbose=0)
    model.fit(x, y, validation_split=validation, epochs=epochs,
              batch_size=batch_size, verbose=0, callbacks=[cb], **fit_kwargs)
    return cb.series


# -- broken ------------------------------------------------------------------


def non_finite(log_dir):
    x, y = _tabular()
    model = _mlp(head=None)
    model.compile(keras.optimizers.SGD(50.0), "mse")
    return _train(model, x * 10, y * 1000, log_dir, epochs=3)


def exploding_gradients(log_dir):
    # Plain SGD past its stability limit (lr > 2 / largest curvature):
    # every step overshoots further; the gradient norm grows 10,000-fold
    # within a few steps and then overflows.
    x, y = _tabular()
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((8,)),
                              keras.layers.Dense(8, name="hidden"),
                              keras.layers.Dense(1, name="output")])
    model.compile(keras.optimizers.SGD(0.52), "mse")
    return _train(model, x, y, log_dir, epochs=4)


def vanishing_gradients(log_dir):
    x, y = _tabular()
    model = _mlp(activation="sigmoid", width=16, depth=10,
                 kernel_initializer=keras.initializers.RandomNormal(stddev=0.1))
    model.compile(keras.optimizers.SGD(0.01), "binary_crossentropy")
    return _train(model, x, y, log_dir, epochs=3)


def dead_relu(log_dir):
    x, y = _tabular()
    model = _mlp(width=32, depth=3, seed=3)
    model.compile(keras.optimizers.Adam(1.0), "binary_crossentropy")
    return _train(model, x, y, log_dir, epochs=4)


def saturation(log_dir):
    x, y = _tabular(scale=1.0)
    model = _mlp(activation="sigmoid", depth=2)
    model.compile(keras.optimizers.Adam(1e-3), "binary_crossentropy")
    # Inputs are unit-scale, but the first layer's weights are huge.
    model.layers[0].kernel.assign(model.layers[0].kernel * 200.0)
    return _train(model, x, y, log_dir, epochs=4)


def overfitting(log_dir):
    x, y = _tabular(n=96, noise=0.2)
    xv, yv = _tabular(n=256, seed=9)
    model = _mlp(width=256, depth=3)
    model.compile(keras.optimizers.Adam(3e-3), "binary_crossentropy")
    cb = TrainHealthCallback(log_dir, verbose=0)
    model.fit(x, y, validation_data=(xv, yv), epochs=30, batch_size=32,
              verbose=0, callbacks=[cb])
    return cb.series


def stalled_loss(log_dir):
    x, y = _tabular()
    model = _mlp()
    model.compile(keras.optimizers.SGD(1e-7), "binary_crossentropy")
    return _train(model, x, y, log_dir, epochs=8)


def unscaled_inputs(log_dir):
    x, y = _tabular(scale=5000.0)
    model = _mlp()
    model.compile(keras.optimizers.Adam(1e-3), "binary_crossentropy")
    return _train(model, np.abs(x), y, log_dir, epochs=2)


def learning_rate(log_dir):
    # SGD at 3.0: each step moves the kernels by 5-50% of their norm, where
    # ~0.1% is healthy; the run never diverges, it just thrashes.
    x, y = _tabular()
    model = _mlp(activation="tanh")
    model.compile(keras.optimizers.SGD(3.0), "binary_crossentropy")
    return _train(model, x, y, log_dir, epochs=3)


def loss_activation_mismatch(log_dir):
    x, y = _tabular()
    model = _mlp(head="softmax", units=2)
    model.compile(keras.optimizers.Adam(1e-3), "binary_crossentropy")
    return _train(model, x, keras.utils.to_categorical(y, 2), log_dir, epochs=2)


def logits_mismatch(log_dir):
    x, y = _tabular()
    model = _mlp(head="sigmoid")
    model.compile(keras.optimizers.Adam(1e-3),
                  keras.losses.BinaryCrossentropy(from_logits=True))
    return _train(model, x, y, log_dir, epochs=2)


# -- healthy -----------------------------------------------------------------


def healthy_mlp(log_dir):
    x, y = _tabular()
    model = _mlp()
    model.compile(keras.optimizers.Adam(1e-3), "binary_crossentropy",
                  metrics=["accuracy"])
    return _train(model, x, y, log_dir, epochs=8)


def healthy_cnn(log_dir):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(256, 12, 12, 1)).astype("float32")
    y = (x[:, :6].mean(axis=(1, 2, 3)) > x[:, 6:].mean(axis=(1, 2, 3))).astype(
        "int32")
    keras.utils.set_random_seed(1)
    model = keras.Sequential([
        keras.Input((12, 12, 1)),
        keras.layers.Conv2D(8, 3, activation="relu", padding="same",
                            kernel_initializer="he_normal"),
        keras.layers.MaxPooling2D(),
        keras.layers.Conv2D(8, 3, activation="relu", padding="same",
                            kernel_initializer="he_normal"),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(2, activation="softmax"),
    ])
    model.compile(keras.optimizers.Adam(3e-3), "sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return _train(model, x, y, log_dir, epochs=6)


def healthy_regression(log_dir):
    rng = np.random.default_rng(2)
    x = rng.normal(size=(384, 8)).astype("float32")
    y = (x @ rng.normal(size=(8, 1)) + 0.1 * rng.normal(size=(384, 1))).astype(
        "float32")
    model = _mlp(head=None)
    model.compile(keras.optimizers.Adam(3e-3), "mse")
    return _train(model, x, y, log_dir, epochs=8)


def healthy_noisy(log_dir):
    # 30% label noise: a train/validation gap from the first epoch, and a
    # loss that stays high, without anything being wrong with the training.
    x, y = _tabular(noise=0.3, n=512)
    model = _mlp(width=16)
    model.compile(keras.optimizers.Adam(1e-3), "binary_crossentropy")
    return _train(model, x, y, log_dir, epochs=8)


def healthy_confident(log_dir):
    # Separable data: the output sigmoid sits at 0 and 1, which is health.
    x, y = _tabular()
    x = x + np.where(y[:, None] > 0, 3.0, -3.0).astype("float32")
    model = _mlp()
    model.compile(keras.optimizers.Adam(1e-2), "binary_crossentropy")
    return _train(model, x, y, log_dir, epochs=8)


def healthy_slow_start(log_dir):
    x, y = _tabular()
    model = _mlp(width=16)
    model.compile(keras.optimizers.Adam(2e-4), "binary_crossentropy")
    return _train(model, x, y, log_dir, epochs=8)


BROKEN = {
    "non_finite": non_finite,
    "exploding_gradients": exploding_gradients,
    "vanishing_gradients": vanishing_gradients,
    "dead_relu": dead_relu,
    "saturation": saturation,
    "overfitting": overfitting,
    "stalled_loss": stalled_loss,
    "unscaled_inputs": unscaled_inputs,
    "learning_rate": learning_rate,
    "loss_activation_mismatch": loss_activation_mismatch,
    "logits_mismatch": logits_mismatch,
}
EXPECTED_KIND = {name: name for name in BROKEN}
EXPECTED_KIND["logits_mismatch"] = "loss_activation_mismatch"

HEALTHY = {
    "healthy_mlp": healthy_mlp,
    "healthy_cnn": healthy_cnn,
    "healthy_regression": healthy_regression,
    "healthy_noisy": healthy_noisy,
    "healthy_confident": healthy_confident,
    "healthy_slow_start": healthy_slow_start,
}


def serious(alerts):
    warning = diagnosis.severity_rank("warning")
    return [a for a in alerts if diagnosis.severity_rank(a.severity) >= warning]


def run_scenario(scenario, log_dir):
    return serious(diagnosis.diagnose(scenario(log_dir)))


def main():
    detected, false_alarms = 0, 0
    with tempfile.TemporaryDirectory() as root:
        print("%-26s %-26s %s" % ("scenario", "expected", "raised (>= warning)"))
        for name, scenario in list(BROKEN.items()) + list(HEALTHY.items()):
            started = time.time()
            alerts = run_scenario(scenario, os.path.join(root, name))
            kinds = sorted({a.kind for a in alerts})
            expected = EXPECTED_KIND.get(name)
            if expected is not None:
                ok = expected in kinds
                detected += ok
            else:
                ok = not kinds
                false_alarms += len(alerts)
            print("%-26s %-26s %s%s  (%.1fs)" % (
                name, expected or "(healthy)", ", ".join(kinds) or "-",
                "" if ok else "   <-- MISS", time.time() - started))
    print("\ndetection: %d/%d broken trainings raised their alert; "
          "false alarms: %d alerts >= warning on %d healthy trainings"
          % (detected, len(BROKEN), false_alarms, len(HEALTHY)))
    return 0 if detected == len(BROKEN) and not false_alarms else 1


if __name__ == "__main__":
    sys.exit(main())
