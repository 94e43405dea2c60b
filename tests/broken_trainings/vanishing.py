"""Class 6: alerts that vanish. What was raised during training must be in
the final report: resolved where its condition ended, and counted unless
the training demonstrably recovered."""

import keras
import numpy as np
from keras import layers

from tests.broken_trainings.common import broken, fit, healthy, tabular


def _learning_rate_kept(result):
    if "learning_rate" not in result.named():
        return ["no learning-rate alert counts in the final report"]
    return []


def _prices(seed=19):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(512, 8)).astype("float32")
    y = (3 * x[:, 0] - 2 * x[:, 1] + rng.normal(size=512)).astype("float32")
    return x, y


def _price_model():
    return keras.Sequential([
        keras.Input((8,)),
        layers.Dense(32, activation="relu"),
        layers.Dense(32, activation="relu"),
        layers.Dense(1),
    ])


@broken("6 vanishing alerts", "learning_rate", check=_learning_rate_kept)
def loss_jumps_then_plateaus(cb):
    """'The loss jumped to 1e7 in the first epoch, then settled at 13 and
    never went lower.'"""
    x, y = _prices()
    model = _price_model()
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=2.0),
                  loss="mse")
    fit(model, x, y, cb, epochs=10)


@healthy("6 vanishing alerts", fixes="loss_jumps_then_plateaus")
def loss_jumps_then_plateaus_fixed(cb):
    x, y = _prices()
    model = _price_model()
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=3e-3),
                  loss="mse")
    fit(model, x, y, cb, epochs=10)


def _labels_from_another_file(seed=20):
    # Labels loaded from a second CSV sorted differently than the features.
    x, y = tabular(n=512, d=8, seed=seed)
    return x, np.sort(y)[np.random.default_rng(1).permutation(len(y))]


def _classifier():
    return keras.Sequential([
        keras.Input((8,)),
        layers.Dense(16, activation="relu"),
        layers.Dense(1, activation="sigmoid"),
    ])


@broken("6 vanishing alerts", "stalled_loss", "collapsed_predictions")
def classifier_that_never_learned(cb):
    """'Accuracy stays at 50 %, the loss at 0.693.'"""
    x, y = _labels_from_another_file()
    model = _classifier()
    model.compile(optimizer=keras.optimizers.Adam(1e-3),
                  loss="binary_crossentropy", metrics=["accuracy"])
    fit(model, x, y, cb, epochs=12)


@healthy("6 vanishing alerts", fixes="classifier_that_never_learned")
def classifier_that_never_learned_fixed(cb):
    x, y = tabular(n=512, d=8, seed=20)
    model = _classifier()
    model.compile(optimizer=keras.optimizers.Adam(1e-3),
                  loss="binary_crossentropy", metrics=["accuracy"])
    fit(model, x, y, cb, epochs=12)
