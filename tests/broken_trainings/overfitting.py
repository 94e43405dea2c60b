"""Class 8: overfitting as the seeds define it ("training accuracy climbs
steadily but validation accuracy plateaus or drops, the gap widens with
each epoch"), and over-confidence, which is not overfitting."""

import keras
import numpy as np
from keras import layers

from tests.broken_trainings.common import broken, healthy, tabular


def _restores_best(result):
    for a in result.counted:
        if a.kind == "overfitting":
            if "restore_best_weights=True" not in a.advice:
                return ["no EarlyStopping(restore_best_weights=True)"]
            if "epoch" not in a.advice:
                return ["no best epoch in the advice"]
    return []


def _small_clinical_study(seed=25):
    x, y = tabular(n=160, d=20, seed=seed, noise=0.15, informative=4)
    xv, yv = tabular(n=384, d=20, seed=seed + 100, noise=0.15, informative=4)
    return (x, y), (xv, yv)


@broken("8 overfitting", "overfitting", check=_restores_best)
def big_network_on_160_patients(cb):
    """'Training accuracy is 100 % but validation is stuck around 75 %.'"""
    (x, y), val = _small_clinical_study()
    model = keras.Sequential([
        keras.Input((20,)),
        layers.Dense(256, activation="relu"),
        layers.Dense(256, activation="relu"),
        layers.Dense(1, activation="sigmoid"),
    ])
    model.compile(optimizer=keras.optimizers.Adam(1e-3),
                  loss="binary_crossentropy", metrics=["accuracy"])
    model.fit(x, y, validation_data=val, epochs=30, batch_size=32,
              verbose=0, callbacks=[cb])


@healthy("8 overfitting", fixes="big_network_on_160_patients")
def big_network_on_160_patients_fixed(cb):
    (x, y), val = _small_clinical_study()
    model = keras.Sequential([
        keras.Input((20,)),
        layers.Dense(32, activation="relu",
                     kernel_regularizer=keras.regularizers.l2(1e-3)),
        layers.Dropout(0.5),
        layers.Dense(1, activation="sigmoid"),
    ])
    model.compile(optimizer=keras.optimizers.Adam(1e-3),
                  loss="binary_crossentropy", metrics=["accuracy"])
    stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=2,
                                         restore_best_weights=True)
    model.fit(x, y, validation_data=val, epochs=30, batch_size=32,
              verbose=0, callbacks=[cb, stop])


def _reviews(seed=26):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(192, 40)).astype("float32")
    y = (x[:, :3].sum(axis=1) > 0).astype("int32")
    xv = rng.normal(size=(384, 40)).astype("float32")
    yv = (xv[:, :3].sum(axis=1) > 0).astype("int32")
    return (x, y), (xv, yv)


@broken("8 overfitting", "overfitting", check=_restores_best)
def wide_softmax_classifier_memorizes(cb):
    """'val_loss goes up after epoch 5 while loss keeps going down.'"""
    (x, y), val = _reviews()
    model = keras.Sequential([
        keras.Input((40,)),
        layers.Dense(512, activation="relu"),
        layers.Dense(2, activation="softmax"),
    ])
    model.compile(optimizer=keras.optimizers.Adam(3e-3),
                  loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(x, y, validation_data=val, epochs=25, batch_size=32,
              verbose=0, callbacks=[cb])


@healthy("8 overfitting", fixes="wide_softmax_classifier_memorizes")
def wide_softmax_classifier_stopped_early(cb):
    (x, y), val = _reviews()
    model = keras.Sequential([
        keras.Input((40,)),
        layers.Dense(64, activation="relu",
                     kernel_regularizer=keras.regularizers.l2(1e-3)),
        layers.Dropout(0.5),
        layers.Dense(2, activation="softmax"),
    ])
    model.compile(optimizer=keras.optimizers.Adam(3e-3),
                  loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=2,
                                         restore_best_weights=True)
    model.fit(x, y, validation_data=val, epochs=25, batch_size=32,
              verbose=0, callbacks=[cb, stop])


@healthy("8 overfitting")
def confident_classifier_keeps_improving(cb):
    """val_loss creeps up on a few confident mistakes while validation
    accuracy keeps improving: over-confidence (info), not overfitting."""
    x, y = tabular(n=1280, d=10, seed=27, noise=0.03)
    model = keras.Sequential([
        keras.Input((10,)),
        layers.Dense(64, activation="relu"),
        layers.Dense(1, activation="sigmoid"),
    ])
    model.compile(optimizer=keras.optimizers.Adam(1e-2),
                  loss="binary_crossentropy", metrics=["accuracy"])
    model.fit(x, y, validation_split=0.25, epochs=14, batch_size=64,
              verbose=0, callbacks=[cb])
