"""Class 9: heads judged by what they output, not by their declaration:
a sigmoid inside a custom layer, or applied in a subclassed model's
call(), is a sigmoid head."""

import keras
from keras import layers, ops

from tests.broken_trainings.common import (
    broken, healthy, ratings, tabular)


class Classifier(layers.Layer):
    """A head that owns its Dense layers (structured-data tutorials)."""

    def __init__(self, probabilities=True, **kwargs):
        super().__init__(**kwargs)
        self.hidden = layers.Dense(16, activation="relu")
        self.out = layers.Dense(
            1, activation="sigmoid" if probabilities else None)

    def call(self, x):
        return self.out(self.hidden(x))


def _classifier_model(probabilities):
    inputs = keras.Input((12,), name="features")
    x = layers.Dense(32, activation="relu")(inputs)
    outputs = Classifier(probabilities, name="classifier")(x)
    return keras.Model(inputs, outputs)


@healthy("9 measured heads", fixes="custom_layer_without_sigmoid")
def sigmoid_inside_a_custom_layer(cb):
    x, y = tabular(n=512, d=12, seed=28)
    model = _classifier_model(probabilities=True)
    model.compile(optimizer="adam", loss="binary_crossentropy",
                  metrics=["accuracy"])
    model.fit(x, y, epochs=8, batch_size=32, validation_split=0.25,
              verbose=0, callbacks=[cb])


@broken("9 measured heads", "loss_activation_mismatch")
def custom_layer_without_sigmoid(cb):
    """'binary_crossentropy gives loss 7.7 and accuracy 0.5.'"""
    x, y = tabular(n=512, d=12, seed=28)
    model = _classifier_model(probabilities=False)
    model.compile(optimizer="adam", loss="binary_crossentropy",
                  metrics=["accuracy"])
    model.fit(x, y, epochs=8, batch_size=32, validation_split=0.25,
              verbose=0, callbacks=[cb])


class Recommender(keras.Model):
    """User and item embeddings, their dot product as a "like" score."""

    def __init__(self, users, items, probabilities=True, dim=8):
        super().__init__()
        self.user = layers.Embedding(users, dim)
        self.item = layers.Embedding(items, dim)
        self.probabilities = probabilities

    def call(self, inputs):
        score = ops.sum(self.user(inputs[0]) * self.item(inputs[1]), axis=-1)
        return ops.sigmoid(score) if self.probabilities else score


@healthy("9 measured heads", fixes="subclassed_call_returns_raw_scores")
def sigmoid_in_subclassed_call(cb):
    u, i, liked = ratings(seed=29)
    model = Recommender(60, 40, probabilities=True)
    model.compile(optimizer=keras.optimizers.Adam(0.01),
                  loss="binary_crossentropy", metrics=["accuracy"])
    model.fit([u, i], liked, epochs=8, batch_size=64, validation_split=0.2,
              verbose=0, callbacks=[cb])


@broken("9 measured heads", "loss_activation_mismatch")
def subclassed_call_returns_raw_scores(cb):
    """'My recommender's loss is huge and accuracy stuck.'"""
    u, i, liked = ratings(seed=29)
    model = Recommender(60, 40, probabilities=False)
    model.compile(optimizer=keras.optimizers.Adam(0.01),
                  loss="binary_crossentropy", metrics=["accuracy"])
    model.fit([u, i], liked, epochs=8, batch_size=64, validation_split=0.2,
              verbose=0, callbacks=[cb])
