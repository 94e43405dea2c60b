"""The suite's first scenarios, kept as they were: one textbook pathology
each, and six healthy trainings."""

import keras
import numpy as np

from tests.broken_trainings.common import broken, fit, healthy


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


# -- broken ------------------------------------------------------------------
# Several of these have more than one mistake; each names every kind that
# points at one of them.


@broken("legacy", "non_finite", "unscaled_inputs", "learning_rate")
def non_finite(cb):
    # SGD(50) on inputs x10 and targets x1000: NaN within two steps.
    x, y = _tabular()
    model = _mlp(head=None)
    model.compile(keras.optimizers.SGD(50.0), "mse")
    fit(model, x * 10, y * 1000, cb, epochs=3)


@broken("legacy", "exploding_gradients", "learning_rate")
def exploding_gradients(cb):
    # Plain SGD past its stability limit (lr > 2 / largest curvature):
    # every step overshoots further; the gradient norm grows 10,000-fold
    # within a few steps and then overflows.
    x, y = _tabular()
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((8,)),
                              keras.layers.Dense(8, name="hidden"),
                              keras.layers.Dense(1, name="output")])
    model.compile(keras.optimizers.SGD(0.52), "mse")
    fit(model, x, y, cb, epochs=4)


@broken("legacy", "vanishing_gradients")
def vanishing_gradients(cb):
    x, y = _tabular()
    model = _mlp(activation="sigmoid", width=16, depth=10,
                 kernel_initializer=keras.initializers.RandomNormal(stddev=0.1))
    model.compile(keras.optimizers.SGD(0.01), "binary_crossentropy")
    fit(model, x, y, cb, epochs=3)


@broken("legacy", "dead_relu", "learning_rate")
def dead_relu(cb):
    # Adam(1.0): the updates kill the ReLUs.
    x, y = _tabular()
    model = _mlp(width=32, depth=3, seed=3)
    model.compile(keras.optimizers.Adam(1.0), "binary_crossentropy")
    fit(model, x, y, cb, epochs=4)


@broken("legacy", "saturation")
def saturation(cb):
    x, y = _tabular(scale=1.0)
    model = _mlp(activation="sigmoid", depth=2)
    model.compile(keras.optimizers.Adam(1e-3), "binary_crossentropy")
    # Inputs are unit-scale, but the first layer's weights are huge.
    model.layers[0].kernel.assign(model.layers[0].kernel * 200.0)
    fit(model, x, y, cb, epochs=4)


@broken("legacy", "overfitting")
def overfitting(cb):
    x, y = _tabular(n=96, noise=0.2)
    xv, yv = _tabular(n=256, seed=9)
    model = _mlp(width=256, depth=3)
    model.compile(keras.optimizers.Adam(3e-3), "binary_crossentropy")
    model.fit(x, y, validation_data=(xv, yv), epochs=30, batch_size=32,
              verbose=0, callbacks=[cb])


@broken("legacy", "stalled_loss", "learning_rate")
def stalled_loss(cb):
    x, y = _tabular()
    model = _mlp()
    model.compile(keras.optimizers.SGD(1e-7), "binary_crossentropy")
    fit(model, x, y, cb, epochs=8)


@broken("legacy", "unscaled_inputs")
def unscaled_inputs(cb):
    x, y = _tabular(scale=5000.0)
    model = _mlp()
    model.compile(keras.optimizers.Adam(1e-3), "binary_crossentropy")
    fit(model, np.abs(x), y, cb, epochs=2)


def _shows_learning_rate_info(result):
    if not any(a.kind == "learning_rate" and a.severity == "info"
               for a in result.alerts):
        return ["the update ratio is not shown as information"]
    return []


@healthy("legacy", check=_shows_learning_rate_info)
def learning_rate(cb):
    # SGD at 3.0: each step moves the kernels by 5-50% of their norm, where
    # ~0.1% is healthy; yet the run learns (val_loss 0.12 -> 0.06 in three
    # epochs), so the high ratio is information, not a warning.
    x, y = _tabular()
    model = _mlp(activation="tanh")
    model.compile(keras.optimizers.SGD(3.0), "binary_crossentropy")
    fit(model, x, y, cb, epochs=3)


@broken("legacy", "loss_activation_mismatch")
def loss_activation_mismatch(cb):
    x, y = _tabular()
    model = _mlp(head="softmax", units=2)
    model.compile(keras.optimizers.Adam(1e-3), "binary_crossentropy")
    fit(model, x, keras.utils.to_categorical(y, 2), cb, epochs=2)


@broken("legacy", "loss_activation_mismatch")
def logits_mismatch(cb):
    x, y = _tabular()
    model = _mlp(head="sigmoid")
    model.compile(keras.optimizers.Adam(1e-3),
                  keras.losses.BinaryCrossentropy(from_logits=True))
    fit(model, x, y, cb, epochs=2)


# -- healthy -----------------------------------------------------------------


@healthy("legacy")
def healthy_mlp(cb):
    x, y = _tabular()
    model = _mlp()
    model.compile(keras.optimizers.Adam(1e-3), "binary_crossentropy",
                  metrics=["accuracy"])
    fit(model, x, y, cb, epochs=8)


@broken("legacy", "stalled_loss", "collapsed_predictions")
def healthy_cnn(cb):
    # Named healthy when written, it never learns: global average pooling
    # discards where in the image the brighter half is, which is the whole
    # signal (validation accuracy stays at the majority share).
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
    fit(model, x, y, cb, epochs=6)


@healthy("legacy")
def healthy_regression(cb):
    rng = np.random.default_rng(2)
    x = rng.normal(size=(384, 8)).astype("float32")
    y = (x @ rng.normal(size=(8, 1)) + 0.1 * rng.normal(size=(384, 1))).astype(
        "float32")
    model = _mlp(head=None)
    model.compile(keras.optimizers.Adam(3e-3), "mse")
    fit(model, x, y, cb, epochs=8)


@healthy("legacy")
def healthy_noisy(cb):
    # 30% label noise: a train/validation gap from the first epoch, and a
    # loss that stays high, without anything being wrong with the training.
    x, y = _tabular(noise=0.3, n=512)
    model = _mlp(width=16)
    model.compile(keras.optimizers.Adam(1e-3), "binary_crossentropy")
    fit(model, x, y, cb, epochs=8)


@healthy("legacy")
def healthy_confident(cb):
    # Separable data: the output sigmoid sits at 0 and 1, which is health.
    x, y = _tabular()
    x = x + np.where(y[:, None] > 0, 3.0, -3.0).astype("float32")
    model = _mlp()
    model.compile(keras.optimizers.Adam(1e-2), "binary_crossentropy")
    fit(model, x, y, cb, epochs=8)


@healthy("legacy")
def healthy_slow_start(cb):
    x, y = _tabular()
    model = _mlp(width=16)
    model.compile(keras.optimizers.Adam(2e-4), "binary_crossentropy")
    fit(model, x, y, cb, epochs=8)
