"""Class 10: dead-ReLU alerts on layers that recover. A layer whose dead
fraction falls, in a run that learns, is not a warning; one that stays dead
and stops the training is."""

import keras
from keras import layers

from tests.broken_trainings.common import broken, fit, healthy, tabular


def _no_contradicted_message(result):
    problems = []
    for a in result.alerts:
        if a.kind == "dead_relu" and a.evidence.get("falling") and \
                "do not recover" in a.message + a.advice:
            problems.append("says dead units do not recover while the "
                            "fraction falls")
    return problems


def _network(bias, width=32):
    init = keras.initializers.Constant(bias)
    return keras.Sequential([
        keras.Input((10,)),
        layers.Dense(width, activation="relu", bias_initializer=init),
        layers.Dense(width, activation="relu", bias_initializer=init),
        layers.Dense(1, activation="sigmoid"),
    ])


@broken("10 recovering", "dead_relu")
def relu_units_start_dead(cb):
    """'Nothing happens: loss 0.693 from the first to the last epoch'
    (a bias_initializer copied from a tutorial for a different scale)."""
    x, y = tabular(n=512, d=10, seed=30)
    model = _network(bias=-3.0)
    model.compile(optimizer="adam", loss="binary_crossentropy",
                  metrics=["accuracy"])
    fit(model, x, y, cb, epochs=8)


@healthy("10 recovering", fixes="relu_units_start_dead")
def relu_units_start_dead_fixed(cb):
    x, y = tabular(n=512, d=10, seed=30)
    model = _network(bias=0.0)
    model.compile(optimizer="adam", loss="binary_crossentropy",
                  metrics=["accuracy"])
    fit(model, x, y, cb, epochs=8)


def _narrow(bias):
    return keras.Sequential([
        keras.Input((10,)),
        layers.Dense(32, activation="relu"),
        layers.Dense(8, activation="relu", name="narrow",
                     bias_initializer=keras.initializers.Constant(bias)),
        layers.Dense(1, activation="sigmoid"),
    ])


@healthy("10 recovering", fixes="narrow_relu_layer_stays_dead",
         check=_no_contradicted_message)
def narrow_relu_layer_recovers(cb):
    """Most of an 8-unit layer starts dead and comes back as the layer
    below learns; the model trains well."""
    x, y = tabular(n=640, d=10, seed=31)
    model = _narrow(bias=-0.6)
    model.compile(optimizer=keras.optimizers.Adam(3e-3),
                  loss="binary_crossentropy", metrics=["accuracy"])
    fit(model, x, y, cb, epochs=10)


@broken("10 recovering", "dead_relu", check=_no_contradicted_message)
def narrow_relu_layer_stays_dead(cb):
    """The same network, its 8-unit layer dead for good."""
    x, y = tabular(n=640, d=10, seed=31)
    model = _narrow(bias=-4.0)
    model.compile(optimizer=keras.optimizers.Adam(3e-3),
                  loss="binary_crossentropy", metrics=["accuracy"])
    fit(model, x, y, cb, epochs=10)
