"""Class 11: live alarms on transient dips. A dip of validation accuracy
after a warm restart, or a plateau during warm-up, must not leave a live
alert standing; a learning rate that really grows out of hand must."""

import keras
import numpy as np
from keras import layers

from tests.broken_trainings.common import broken, healthy, tabular


def _signals(seed=32, n=512, length=32):
    # Sensor traces: class 1 has a bump somewhere.
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, length, 1)).astype("float32")
    y = rng.integers(0, 2, size=n)
    where = rng.integers(4, length - 4, size=n)
    for k in range(n):
        if y[k]:
            x[k, where[k] - 2:where[k] + 2, 0] += 2.0
    return x, y.astype("int32")


def _conv1d_bn():
    return keras.Sequential([
        keras.Input((32, 1)),
        layers.Conv1D(16, 5, padding="same"),
        layers.BatchNormalization(),
        layers.Activation("relu"),
        layers.GlobalMaxPooling1D(),
        layers.Dense(2, activation="softmax"),
    ])


def _warm_restart(epoch, lr):
    # SGDR-style: the rate decays, and restarts high at epoch 6.
    return 0.05 if epoch in (0, 6) else lr * 0.5


def _runaway(epoch, lr):
    return lr * 10.0  # meant to decay: lr * 0.1


@healthy("11 live")
def warm_restart_dips_then_recovers(cb):
    x, y = _signals()
    model = _conv1d_bn()
    model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9),
                  loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(x, y, epochs=12, batch_size=32, validation_split=0.25,
              verbose=0, callbacks=[
                  cb, keras.callbacks.LearningRateScheduler(_warm_restart)])


@broken("11 live", "learning_rate", "non_finite", "exploding_gradients")
def learning_rate_schedule_runs_away(cb):
    """'It trains fine for two epochs, then the loss explodes.'"""
    x, y = _signals()
    model = _conv1d_bn()
    model.compile(optimizer=keras.optimizers.SGD(1e-3, momentum=0.9),
                  loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(x, y, epochs=8, batch_size=32, validation_split=0.25,
              verbose=0,
              callbacks=[cb, keras.callbacks.LearningRateScheduler(_runaway)])


@healthy("11 live", fixes="learning_rate_schedule_runs_away")
def learning_rate_schedule_decays(cb):
    x, y = _signals()
    model = _conv1d_bn()
    model.compile(optimizer=keras.optimizers.SGD(1e-2, momentum=0.9),
                  loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(x, y, epochs=8, batch_size=32, validation_split=0.25,
              verbose=0, callbacks=[cb, keras.callbacks.LearningRateScheduler(
                  lambda epoch, lr: lr * 0.8)])


def _warmup(epochs):
    def schedule(epoch, lr):
        return 1e-6 if epoch < epochs else 3e-3
    return keras.callbacks.LearningRateScheduler(schedule)


def _mlp():
    return keras.Sequential([
        keras.Input((10,)),
        layers.Dense(32, activation="relu"),
        layers.Dense(1, activation="sigmoid"),
    ])


@healthy("11 live", fixes="warmup_that_never_ends")
def plateau_during_warmup_then_learns(cb):
    x, y = tabular(n=512, d=10, seed=33)
    model = _mlp()
    model.compile(optimizer=keras.optimizers.Adam(1e-6),
                  loss="binary_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=16, batch_size=32, validation_split=0.25,
              verbose=0, callbacks=[cb, _warmup(7)])


@broken("11 live", "learning_rate", "stalled_loss")
def warmup_that_never_ends(cb):
    """'The loss does not move at all' (warm-up longer than the fit)."""
    x, y = tabular(n=512, d=10, seed=33)
    model = _mlp()
    model.compile(optimizer=keras.optimizers.Adam(1e-6),
                  loss="binary_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=10, batch_size=32, validation_split=0.25,
              verbose=0, callbacks=[cb, _warmup(100)])
