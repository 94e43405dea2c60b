"""Class 7: conditions that are real but harmless. Saturated hidden sigmoids
and half-dead ReLU layers in runs that train to high accuracy are
information; the same conditions where they stop learning are warnings."""

import keras
import numpy as np
from keras import layers

from tests.broken_trainings.common import broken, fit, healthy, tabular


def _separable(seed=21, n=640, d=10):
    x, y = tabular(n=n, d=d, seed=seed)
    x = x + np.where(y[:, None] > 0, 0.8, -0.8).astype("float32")
    return x, y


@broken("7 harmless", "saturation", "vanishing_gradients")
def sigmoid_network_initialized_huge(cb):
    """'Loss stuck at 0.69 with my sigmoid network.'"""
    x, y = tabular(n=512, d=10, seed=22)
    big = keras.initializers.RandomNormal(stddev=4.0)
    model = keras.Sequential([
        keras.Input((10,)),
        layers.Dense(32, activation="sigmoid", kernel_initializer=big),
        layers.Dense(32, activation="sigmoid", kernel_initializer=big),
        layers.Dense(32, activation="sigmoid", kernel_initializer=big),
        layers.Dense(1, activation="sigmoid"),
    ])
    model.compile(optimizer=keras.optimizers.SGD(0.01),
                  loss="binary_crossentropy", metrics=["accuracy"])
    fit(model, x, y, cb, epochs=8)


@healthy("7 harmless", fixes="sigmoid_network_initialized_huge")
def hidden_sigmoid_saturates_but_learns(cb):
    x, y = _separable()
    model = keras.Sequential([
        keras.Input((10,)),
        layers.Dense(32, activation="sigmoid"),
        layers.Dense(1, activation="sigmoid"),
    ])
    model.compile(optimizer=keras.optimizers.Adam(0.05),
                  loss="binary_crossentropy", metrics=["accuracy"])
    fit(model, x, y, cb, epochs=10)


@broken("7 harmless", "dead_relu", "learning_rate")
def relu_network_dies_and_stalls(cb):
    """'Validation accuracy is stuck around 55 %, the ReLUs look dead.'"""
    x, y = tabular(n=512, d=10, seed=23)
    model = keras.Sequential([
        keras.Input((10,)),
        layers.Dense(64, activation="relu"),
        layers.Dense(64, activation="relu"),
        layers.Dense(64, activation="relu"),
        layers.Dense(64, activation="relu"),
        layers.Dense(1, activation="sigmoid"),
    ])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.5),
                  loss="binary_crossentropy", metrics=["accuracy"])
    fit(model, x, y, cb, epochs=8)


@healthy("7 harmless", fixes="relu_network_dies_and_stalls")
def half_dead_relu_but_learns(cb):
    x, y = _separable(seed=24)
    model = keras.Sequential([
        keras.Input((10,)),
        layers.Dense(128, activation="relu"),
        layers.Dense(64, activation="relu"),
        layers.Dense(1, activation="sigmoid"),
    ])
    model.compile(optimizer=keras.optimizers.Adam(0.02),
                  loss="binary_crossentropy", metrics=["accuracy"])
    fit(model, x, y, cb, epochs=10)
