"""Class 1: consequences reported as causes. A NaN input, a log(0) in a
hand-written loss, an exploding regression: each is one incident, whose
dead ReLUs and NaN weights are consequences, not causes of their own."""

import keras
import numpy as np
from keras import layers, ops

from tests.broken_trainings.common import broken, fit, healthy, tabular


def _no_dead_relu_primary(result):
    return ["dead_relu reported as a cause"
            for a in result.counted if a.kind == "dead_relu"]


def _clinic_data():
    # Patient records: 8 standardized measurements, some readings missing.
    x, y = tabular(n=512, d=8, seed=11)
    x[::9, 3] = np.nan  # blood pressure not taken at every visit
    return x, y


@broken("1 consequences", "unscaled_inputs", check=_no_dead_relu_primary)
def nan_in_csv_column(cb):
    """'loss: nan from the first epoch, what is wrong with my model?'"""
    x, y = _clinic_data()
    model = keras.Sequential([
        keras.Input((8,)),
        layers.Dense(32, activation="relu"),
        layers.Dense(16, activation="relu"),
        layers.Dense(1, activation="sigmoid"),
    ])
    model.compile(optimizer="adam", loss="binary_crossentropy",
                  metrics=["accuracy"])
    fit(model, x, y, cb, epochs=4)


@healthy("1 consequences", fixes="nan_in_csv_column")
def nan_in_csv_column_fixed(cb):
    x, y = _clinic_data()
    column_mean = np.nanmean(x[:, 3])
    x[:, 3] = np.where(np.isnan(x[:, 3]), column_mean, x[:, 3])
    model = keras.Sequential([
        keras.Input((8,)),
        layers.Dense(32, activation="relu"),
        layers.Dense(16, activation="relu"),
        layers.Dense(1, activation="sigmoid"),
    ])
    model.compile(optimizer="adam", loss="binary_crossentropy",
                  metrics=["accuracy"])
    fit(model, x, y, cb, epochs=8)


def _store_sales():
    # Daily sales per store: counts, many of them zero.
    rng = np.random.default_rng(5)
    x = rng.normal(size=(512, 6)).astype("float32")
    rate = np.exp(0.6 * x[:, 0] - 0.4 * x[:, 1] + 0.5)
    return x, rng.poisson(rate).astype("float32")[:, None]


def rmsle_wrong(y_true, y_pred):
    # RMSLE as in the competition's formula, without the +1.
    return ops.sqrt(ops.mean(ops.square(ops.log(y_pred) - ops.log(y_true))))


def rmsle(y_true, y_pred):
    return ops.sqrt(ops.mean(ops.square(ops.log1p(y_pred)
                                        - ops.log1p(y_true))))


def _sales_model():
    return keras.Sequential([
        keras.Input((6,)),
        layers.Dense(32, activation="relu"),
        layers.Dense(32, activation="relu"),
        layers.Dense(1, activation="softplus"),
    ])


@broken("1 consequences", "non_finite", check=_no_dead_relu_primary)
def log_of_zero_in_custom_loss(cb):
    """'My custom RMSLE loss gives nan right away.'"""
    x, y = _store_sales()
    model = _sales_model()
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=rmsle_wrong)
    fit(model, x, y, cb, epochs=4)


@healthy("1 consequences", fixes="log_of_zero_in_custom_loss")
def log_of_zero_fixed(cb):
    x, y = _store_sales()
    model = _sales_model()
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=rmsle)
    fit(model, x, y, cb, epochs=8)


def _house_prices():
    # Standardized features, prices in dollars.
    rng = np.random.default_rng(8)
    x = rng.normal(size=(384, 10)).astype("float32")
    price = 250_000 + 60_000 * (x @ rng.normal(size=10) / 3)
    return x, price.astype("float32")


@broken("1 consequences", "unscaled_inputs", "exploding_gradients",
        "learning_rate", check=_no_dead_relu_primary)
def exploding_house_prices(cb):
    """'After a few steps the loss is inf and then nan.'"""
    x, y = _house_prices()
    model = keras.Sequential([
        keras.Input((10,)),
        layers.Dense(64, activation="relu"),
        layers.Dense(64, activation="relu"),
        layers.Dense(1),
    ])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.01),
                  loss="mse")
    fit(model, x, y, cb, epochs=4)


@healthy("1 consequences", fixes="exploding_house_prices")
def exploding_house_prices_fixed(cb):
    x, y = _house_prices()
    y = (y - y.mean()) / y.std()  # predict standardized prices
    model = keras.Sequential([
        keras.Input((10,)),
        layers.Dense(64, activation="relu"),
        layers.Dense(64, activation="relu"),
        layers.Dense(1),
    ])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.01),
                  loss="mse")
    fit(model, x, y, cb, epochs=8)
