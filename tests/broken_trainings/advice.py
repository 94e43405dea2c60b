"""Class 2: harmful advice. A learning rate far too high leaves the loss
far above chance (or spiked and stuck at it); the advice must lower it, and
never tell a run with inputs within +-1 to normalize them."""

import keras
from keras import layers

from tests.broken_trainings.common import blobs, broken, fit, healthy, tabular


def _lowers_lr(result):
    problems = []
    for a in result.counted:
        if "raise the learning rate" in a.advice.lower():
            problems.append("%s raises the learning rate" % a.kind)
        if "normalize the inputs" in a.advice.lower():
            problems.append("%s normalizes inputs within +-1" % a.kind)
    primary = result.primary
    if primary is not None and primary.kind == "learning_rate" and \
            "lower the learning rate" not in primary.advice:
        problems.append("the learning-rate alert does not lower it")
    return problems


def _digits_model():
    return keras.Sequential([
        keras.Input((16,)),
        layers.Dense(64, activation="relu"),
        layers.Dense(64, activation="relu"),
        layers.Dense(10, activation="softmax"),
    ])


@broken("2 advice", "learning_rate", check=_lowers_lr)
def adam_learning_rate_3(cb):
    """'Accuracy stays at 10 % and the loss is 30-60, I tried more epochs.'"""
    x, y = blobs(n=640, d=16, classes=10, seed=2)
    model = _digits_model()
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=3.0),
                  loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    fit(model, x, y, cb, epochs=8)


@healthy("2 advice", fixes="adam_learning_rate_3")
def adam_learning_rate_3_fixed(cb):
    x, y = blobs(n=640, d=16, classes=10, seed=2)
    model = _digits_model()
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-3),
                  loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    fit(model, x, y, cb, epochs=8)


def _churn_model():
    return keras.Sequential([
        keras.Input((12,)),
        layers.Dense(32, activation="relu"),
        layers.Dense(32, activation="relu"),
        layers.Dense(1, activation="sigmoid"),
    ])


@broken("2 advice", "learning_rate", check=_lowers_lr)
def rmsprop_learning_rate_1(cb):
    """'The loss jumps at the start and then never goes below 0.69.'"""
    x, y = tabular(n=512, d=12, seed=4)
    model = _churn_model()
    model.compile(optimizer=keras.optimizers.RMSprop(learning_rate=1.0),
                  loss="binary_crossentropy", metrics=["accuracy"])
    fit(model, x, y, cb, epochs=8)


@healthy("2 advice", fixes="rmsprop_learning_rate_1")
def rmsprop_learning_rate_1_fixed(cb):
    x, y = tabular(n=512, d=12, seed=4)
    model = _churn_model()
    model.compile(optimizer=keras.optimizers.RMSprop(learning_rate=1e-3),
                  loss="binary_crossentropy", metrics=["accuracy"])
    fit(model, x, y, cb, epochs=8)
