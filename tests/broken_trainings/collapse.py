"""Class 5: collapsed predictions: "training runs, and predict() returns
the same output for every input"."""

import keras
import numpy as np
from keras import layers

from tests.broken_trainings.common import broken, fit, healthy, tabular


def _fraud_amounts(seed=16):
    # Transaction amounts in cents, 0 to 50,000, balanced labels.
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 50_000, size=(512, 6)).astype("float32")
    y = (x[:, 0] + x[:, 1] > 50_000).astype("float32")
    return x, y


def _amount_model():
    return keras.Sequential([
        keras.Input((6,)),
        layers.Dense(32, activation="sigmoid"),
        layers.Dense(16, activation="sigmoid"),
        layers.Dense(1, activation="sigmoid"),
    ])


@broken("5 collapse", "unscaled_inputs")
def same_prediction_for_raw_amounts(cb):
    """'predict() returns 0.5 for every transaction.'"""
    x, y = _fraud_amounts()
    model = _amount_model()
    model.compile(optimizer="adam", loss="binary_crossentropy",
                  metrics=["accuracy"])
    fit(model, x, y, cb, epochs=8)


@healthy("5 collapse", fixes="same_prediction_for_raw_amounts")
def same_prediction_for_raw_amounts_fixed(cb):
    x, y = _fraud_amounts()
    x = (x - x.min(0)) / (x.max(0) - x.min(0))  # MinMax to [0, 1]
    model = _amount_model()
    model.compile(optimizer=keras.optimizers.Adam(0.01),
                  loss="binary_crossentropy", metrics=["accuracy"])
    fit(model, x, y, cb, epochs=8)


def _energy(seed=17):
    # Hourly energy use from 8 sensor readings.
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(512, 8)).astype("float32")
    y = (x @ rng.normal(size=8) + 0.2 * rng.normal(size=512)).astype(
        "float32")
    return x, y


def _energy_model():
    return keras.Sequential([
        keras.Input((8,)),
        layers.Dense(32, activation="relu"),
        layers.Dense(1),
    ])


@broken("5 collapse", "collapsed_predictions", "stalled_loss")
def features_and_targets_shuffled_apart(cb):
    """'The model predicts the mean for everything.'"""
    x, y = _energy()
    rng = np.random.default_rng(0)
    rng.shuffle(x)  # shuffled in place... separately from y
    rng.shuffle(y)
    model = _energy_model()
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="mse")
    fit(model, x, y, cb, epochs=10)


@healthy("5 collapse", fixes="features_and_targets_shuffled_apart")
def features_and_targets_shuffled_together(cb):
    x, y = _energy()
    order = np.random.default_rng(0).permutation(len(x))
    x, y = x[order], y[order]
    model = _energy_model()
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="mse")
    fit(model, x, y, cb, epochs=10)


def _zero_init_model(initializer):
    return keras.Sequential([
        keras.Input((8,)),
        layers.Dense(32, activation="relu", kernel_initializer=initializer),
        layers.Dense(32, activation="relu", kernel_initializer=initializer),
        layers.Dense(1, activation="sigmoid",
                     kernel_initializer=initializer),
    ])


@broken("5 collapse", "dead_relu", "collapsed_predictions")
def zero_initialized_weights(cb):
    """'All predictions are identical, 0.5-ish.'"""
    x, y = tabular(n=512, d=8, seed=18)
    model = _zero_init_model("zeros")
    model.compile(optimizer="adam", loss="binary_crossentropy",
                  metrics=["accuracy"])
    fit(model, x, y, cb, epochs=8)


@healthy("5 collapse", fixes="zero_initialized_weights")
def zero_initialized_weights_fixed(cb):
    x, y = tabular(n=512, d=8, seed=18)
    model = _zero_init_model("he_normal")
    model.compile(optimizer="adam", loss="binary_crossentropy",
                  metrics=["accuracy"])
    fit(model, x, y, cb, epochs=8)
