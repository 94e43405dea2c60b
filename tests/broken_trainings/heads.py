"""Class 3: output heads and losses that do not fit the targets."""

import keras
import numpy as np
from keras import layers

from tests.broken_trainings.common import blobs, broken, fit, healthy, tabular


def _tags(seed=3):
    # Articles with 5 possible tags, 1-3 tags each (multi-hot targets).
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(512, 12)).astype("float32")
    w = rng.normal(size=(12, 5))
    scores = x @ w
    y = (scores > np.quantile(scores, 0.65, axis=0)).astype("float32")
    y[y.sum(axis=1) == 0, 0] = 1.0
    return x, y


def _tagger(head):
    return keras.Sequential([
        keras.Input((12,)),
        layers.Dense(32, activation="relu"),
        layers.Dense(5, activation=head),
    ])


@broken("3 heads", "loss_activation_mismatch")
def softmax_on_multilabel_tags(cb):
    """'Only one tag ever gets a probability above 0.5.'"""
    x, y = _tags()
    model = _tagger("softmax")
    model.compile(optimizer="adam", loss="categorical_crossentropy",
                  metrics=["accuracy"])
    fit(model, x, y, cb, epochs=8)


@healthy("3 heads", fixes="softmax_on_multilabel_tags")
def softmax_on_multilabel_tags_fixed(cb):
    x, y = _tags()
    model = _tagger("sigmoid")
    model.compile(optimizer="adam", loss="binary_crossentropy",
                  metrics=["binary_accuracy"])
    fit(model, x, y, cb, epochs=8)


@broken("3 heads", "loss_activation_mismatch", "collapsed_predictions")
def one_unit_softmax(cb):
    """'My binary classifier always predicts 1.0.'"""
    x, y = tabular(n=512, d=10, seed=6)
    model = keras.Sequential([
        keras.Input((10,)),
        layers.Dense(16, activation="relu"),
        layers.Dense(1, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="binary_crossentropy",
                  metrics=["accuracy"])
    fit(model, x, y, cb, epochs=6)


@healthy("3 heads", fixes="one_unit_softmax")
def one_unit_softmax_fixed(cb):
    x, y = tabular(n=512, d=10, seed=6)
    model = keras.Sequential([
        keras.Input((10,)),
        layers.Dense(16, activation="relu"),
        layers.Dense(1, activation="sigmoid"),
    ])
    model.compile(optimizer="adam", loss="binary_crossentropy",
                  metrics=["accuracy"])
    fit(model, x, y, cb, epochs=8)


@broken("3 heads", "loss_activation_mismatch")
def sigmoid_with_categorical_crossentropy(cb):
    """Four classes, one-hot labels, sigmoid outputs."""
    x, y = blobs(n=640, d=16, classes=4, seed=7)
    model = keras.Sequential([
        keras.Input((16,)),
        layers.Dense(32, activation="relu"),
        layers.Dense(4, activation="sigmoid"),
    ])
    model.compile(optimizer="adam", loss="categorical_crossentropy",
                  metrics=["accuracy"])
    fit(model, x, keras.utils.to_categorical(y, 4), cb, epochs=8)


@healthy("3 heads", fixes="sigmoid_with_categorical_crossentropy")
def sigmoid_with_categorical_crossentropy_fixed(cb):
    x, y = blobs(n=640, d=16, classes=4, seed=7)
    model = keras.Sequential([
        keras.Input((16,)),
        layers.Dense(32, activation="relu"),
        layers.Dense(4, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="categorical_crossentropy",
                  metrics=["accuracy"])
    fit(model, x, keras.utils.to_categorical(y, 4), cb, epochs=8)


def _ages(seed=9):
    # Age from 6 standardized health measurements: 3 to 103 years.
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(512, 6)).astype("float32")
    age = 53 + 15 * (x @ rng.normal(size=6)) / 2.5
    return x, np.clip(age, 3, 103).astype("float32")


@broken("3 heads", "loss_activation_mismatch")
def sigmoid_head_for_age_regression(cb):
    """'The predicted age is always below 1.'"""
    x, y = _ages()
    model = keras.Sequential([
        keras.Input((6,)),
        layers.Dense(32, activation="relu"),
        layers.Dense(1, activation="sigmoid"),
    ])
    model.compile(optimizer="adam", loss="mse", metrics=["mae"])
    fit(model, x, y, cb, epochs=8)


@healthy("3 heads", fixes="sigmoid_head_for_age_regression")
def sigmoid_head_for_age_regression_fixed(cb):
    x, y = _ages()
    model = keras.Sequential([
        keras.Input((6,)),
        layers.Dense(32, activation="relu"),
        layers.Dense(1),
    ])
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse",
                  metrics=["mae"])
    fit(model, (x - x.mean(0)) / x.std(0), (y - 53) / 15, cb, epochs=8)


@broken("3 heads", "loss_activation_mismatch")
def mae_loss_on_a_classifier(cb):
    """'Accuracy is stuck, the loss barely moves' (MAE on one-hot labels)."""
    x, y = blobs(n=640, d=16, classes=5, seed=12)
    model = keras.Sequential([
        keras.Input((16,)),
        layers.Dense(32, activation="relu"),
        layers.Dense(5, activation="softmax"),
    ])
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mae",
                  metrics=["accuracy"])
    fit(model, x, keras.utils.to_categorical(y, 5), cb, epochs=8)


@healthy("3 heads", fixes="mae_loss_on_a_classifier")
def mae_loss_on_a_classifier_fixed(cb):
    x, y = blobs(n=640, d=16, classes=5, seed=12)
    model = keras.Sequential([
        keras.Input((16,)),
        layers.Dense(32, activation="relu"),
        layers.Dense(5, activation="softmax"),
    ])
    model.compile(optimizer=keras.optimizers.SGD(0.01),
                  loss="categorical_crossentropy", metrics=["accuracy"])
    fit(model, x, keras.utils.to_categorical(y, 5), cb, epochs=8)
