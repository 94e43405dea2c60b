"""Class 4: labels the loss cannot use, and lopsided label histograms."""

import keras
import numpy as np
from keras import layers

from tests.broken_trainings.common import blobs, broken, fit, healthy, tabular


def _three_grades(seed=13):
    # Product reviews rated bad / neutral / good (0, 1, 2).
    x, y = blobs(n=640, d=12, classes=3, seed=seed)
    return x, y.astype("float32")


@broken("4 labels", "label_mismatch")
def three_classes_into_binary_crossentropy(cb):
    """'The loss is negative and keeps going down to -20000.'"""
    x, y = _three_grades()
    model = keras.Sequential([
        keras.Input((12,)),
        layers.Dense(32, activation="relu"),
        layers.Dense(1, activation="sigmoid"),
    ])
    model.compile(optimizer="adam", loss="binary_crossentropy",
                  metrics=["accuracy"])
    fit(model, x, y, cb, epochs=6)


@healthy("4 labels", fixes="three_classes_into_binary_crossentropy")
def three_classes_fixed(cb):
    x, y = _three_grades()
    model = keras.Sequential([
        keras.Input((12,)),
        layers.Dense(32, activation="relu"),
        layers.Dense(3, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    fit(model, x, y, cb, epochs=8)


def _defect_images(seed=14):
    # 8x8 grey patches (0..255) and a defect grade 0..9.
    rng = np.random.default_rng(seed)
    grade = rng.integers(0, 10, size=512)
    x = rng.normal(size=(512, 64)) * 20 + 100 + 8 * grade[:, None]
    return x.astype("float32"), grade


@broken("4 labels", "label_mismatch")
def labels_scaled_with_the_images(cb):
    """'Accuracy is 100 % from the first epoch but predictions are useless'
    (the labels were divided by 255 along with the pixels, then cast)."""
    x, grade = _defect_images()
    x = x / 255.0
    y = (grade / 255.0).astype("int32")  # same preprocessing as x
    model = keras.Sequential([
        keras.Input((64,)),
        layers.Dense(32, activation="relu"),
        layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    fit(model, x, y, cb, epochs=6)


@healthy("4 labels", fixes="labels_scaled_with_the_images")
def labels_scaled_with_the_images_fixed(cb):
    x, grade = _defect_images()
    x = (x - x.mean()) / x.std()
    model = keras.Sequential([
        keras.Input((64,)),
        layers.Dense(32, activation="relu"),
        layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    fit(model, x, grade, cb, epochs=8)


def _transactions(seed=15):
    # 3 % fraud, weakly visible in the features.
    x, _ = tabular(n=1280, d=10, seed=seed)
    rng = np.random.default_rng(seed)
    score = 0.7 * x[:, 0] + 0.5 * x[:, 1] + rng.normal(size=len(x))
    y = (score > np.quantile(score, 0.97)).astype("float32")
    return x, y


@broken("4 labels", "class_imbalance", "collapsed_predictions")
def fraud_without_class_weights(cb):
    """'97 % accuracy, but it never flags a single fraud.'"""
    x, y = _transactions()
    model = keras.Sequential([
        keras.Input((10,)),
        layers.Dense(16, activation="relu"),
        layers.Dense(1, activation="sigmoid"),
    ])
    model.compile(optimizer=keras.optimizers.SGD(0.01),
                  loss="binary_crossentropy", metrics=["accuracy"])
    fit(model, x, y, cb, epochs=8)


@healthy("4 labels", fixes="fraud_without_class_weights")
def fraud_with_class_weights(cb):
    x, y = _transactions()
    model = keras.Sequential([
        keras.Input((10,)),
        layers.Dense(16, activation="relu"),
        layers.Dense(1, activation="sigmoid"),
    ])
    model.compile(optimizer=keras.optimizers.Adam(3e-3),
                  loss="binary_crossentropy",
                  metrics=[keras.metrics.AUC(name="auc")])
    share = y.mean()
    fit(model, x, y, cb, epochs=8,
        class_weight={0: 0.5 / (1 - share), 1: 0.5 / share})
