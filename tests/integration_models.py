"""Two tiny Keras trainings for the integration tests: a healthy one and
one whose hidden ReLU layer is dead from the first step (its bias is -100,
so every unit outputs 0 on every sample: 100 % dead, a critical alert).
CPU, a few seconds each."""

import keras
import numpy as np


def data(seed=0, n=256):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, size=(n, 6)).astype("float32")
    y = (x[:, :3].sum(axis=1) > 1.5).astype("float32")
    return x, y


def model(dead=False, learning_rate=0.01, units=8):
    bias = keras.initializers.Constant(-100.0 if dead else 0.0)
    net = keras.Sequential([
        keras.Input((6,)),
        keras.layers.Dense(units, activation="relu", name="hidden",
                           bias_initializer=bias),
        keras.layers.Dense(1, activation="sigmoid", name="head"),
    ])
    net.compile(keras.optimizers.Adam(learning_rate), "binary_crossentropy",
                metrics=["accuracy"])
    return net
