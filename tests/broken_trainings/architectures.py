"""Ordinary healthy programs of the architectures people train, written the
way keras.io examples write them. None may raise a warning."""

import keras
import numpy as np
from keras import layers, ops

from tests.broken_trainings.common import (
    fit, healthy, images, ratings, tabular, token_sequences)

GROUP = "architectures"


@healthy(GROUP)
def small_convnet_on_uint8_images(cb):
    x, y = images(n=384, size=12, classes=3, seed=40)
    model = keras.Sequential([
        keras.Input((12, 12, 1)),
        layers.Rescaling(1.0 / 255),
        layers.Conv2D(16, 3, padding="same", activation="relu"),
        layers.BatchNormalization(),
        layers.MaxPooling2D(),
        layers.Conv2D(16, 3, padding="same", activation="relu"),
        layers.GlobalAveragePooling2D(),
        layers.Dropout(0.2),
        layers.Dense(3, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    fit(model, x, y, cb, epochs=6)


class TransformerBlock(layers.Layer):
    def __init__(self, dim, heads, ff_dim, **kwargs):
        super().__init__(**kwargs)
        self.att = layers.MultiHeadAttention(num_heads=heads, key_dim=dim)
        self.ffn = keras.Sequential([layers.Dense(ff_dim, activation="relu"),
                                     layers.Dense(dim)], name="ffn")
        self.norm1 = layers.LayerNormalization(epsilon=1e-6)
        self.norm2 = layers.LayerNormalization(epsilon=1e-6)
        self.drop1 = layers.Dropout(0.1)
        self.drop2 = layers.Dropout(0.1)

    def call(self, inputs, training=False):
        attention = self.drop1(self.att(inputs, inputs), training=training)
        out1 = self.norm1(inputs + attention)
        return self.norm2(out1 + self.drop2(self.ffn(out1),
                                            training=training))


class TokenAndPositionEmbedding(layers.Layer):
    def __init__(self, length, vocab, dim, **kwargs):
        super().__init__(**kwargs)
        self.token = layers.Embedding(vocab, dim)
        self.position = layers.Embedding(length, dim)

    def call(self, x):
        positions = ops.arange(0, ops.shape(x)[-1])
        return self.token(x) + self.position(positions)


@healthy(GROUP)
def transformer_text_classifier(cb):
    x, y = token_sequences(n=512, length=16, vocab=60, seed=41)
    inputs = keras.Input((16,))
    h = TokenAndPositionEmbedding(16, 60, 16)(inputs)
    h = TransformerBlock(16, 2, 20)(h)
    h = layers.GlobalAveragePooling1D()(h)
    h = layers.Dropout(0.1)(h)
    h = layers.Dense(16, activation="relu")(h)
    outputs = layers.Dense(1, activation="sigmoid")(h)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.Adam(3e-3),
                  loss="binary_crossentropy", metrics=["accuracy"])
    fit(model, x, y, cb, epochs=8)


@healthy(GROUP)
def lstm_sentiment(cb):
    x, y = token_sequences(n=512, length=16, vocab=60, seed=42)
    model = keras.Sequential([
        keras.Input((16,), dtype="int32"),
        layers.Embedding(60, 16),
        layers.LSTM(16),
        layers.Dense(1, activation="sigmoid"),
    ])
    model.compile(optimizer=keras.optimizers.Adam(5e-3),
                  loss="binary_crossentropy", metrics=["accuracy"])
    fit(model, x, y, cb, epochs=6)


@healthy(GROUP)
def gru_forecaster(cb):
    rng = np.random.default_rng(43)
    t = np.arange(512 + 24)[:, None] * 0.3
    wave = np.sin(t + rng.uniform(0, 6, size=(1, 1))) + 0.1 * rng.normal(
        size=t.shape)
    x = np.stack([wave[i:i + 24] for i in range(512)]).astype("float32")
    y = wave[24:24 + 512].astype("float32")
    model = keras.Sequential([
        keras.Input((24, 1)),
        layers.Bidirectional(layers.GRU(12)),
        layers.Dense(1),
    ])
    model.compile(optimizer=keras.optimizers.Adam(5e-3), loss="mse")
    fit(model, x, y, cb, epochs=6)


@healthy(GROUP)
def embedding_recommender(cb):
    u, i, liked = ratings(n=2560, seed=44)
    user = keras.Input((1,), name="user")
    item = keras.Input((1,), name="item")
    eu = layers.Flatten()(layers.Embedding(60, 8, name="user_emb")(user))
    ei = layers.Flatten()(layers.Embedding(40, 8, name="item_emb")(item))
    h = layers.Concatenate()([eu, ei, layers.Dot(axes=1)([eu, ei])])
    h = layers.Dense(32, activation="relu")(h)
    outputs = layers.Dense(1, activation="sigmoid")(h)
    model = keras.Model([user, item], outputs)
    model.compile(optimizer=keras.optimizers.Adam(5e-3),
                  loss="binary_crossentropy", metrics=["accuracy"])
    model.fit({"user": u[:, None], "item": i[:, None]}, liked, epochs=6,
              batch_size=64, validation_split=0.2, verbose=0,
              callbacks=[cb])


@healthy(GROUP)
def structured_data_with_normalization_layer(cb):
    # Heart-disease-style table: raw ages, cholesterol, income; a category.
    rng = np.random.default_rng(45)
    n = 640
    age = rng.integers(25, 80, size=n).astype("float32")
    chol = rng.normal(240, 45, size=n).astype("float32")
    city = rng.integers(0, 6, size=n).astype("int32")
    risk = (age - 50) / 12 + (chol - 240) / 45 + 0.4 * (city == 2)
    y = (risk + 0.5 * rng.normal(size=n) > 0).astype("float32")
    numeric = np.stack([age, chol], axis=1)
    normalizer = layers.Normalization()
    normalizer.adapt(numeric)
    num_in = keras.Input((2,), name="numeric")
    city_in = keras.Input((1,), name="city", dtype="int32")
    city_vec = layers.Flatten()(layers.Embedding(6, 3)(city_in))
    h = layers.Concatenate()([normalizer(num_in), city_vec])
    h = layers.Dense(32, activation="relu")(h)
    h = layers.Dropout(0.3)(h)
    outputs = layers.Dense(1, activation="sigmoid")(h)
    model = keras.Model([num_in, city_in], outputs)
    model.compile(optimizer="adam", loss="binary_crossentropy",
                  metrics=["accuracy"])
    model.fit({"numeric": numeric, "city": city[:, None]}, y, epochs=8,
              batch_size=32, validation_split=0.25, verbose=0,
              callbacks=[cb])


@healthy(GROUP)
def dense_autoencoder(cb):
    rng = np.random.default_rng(46)
    codes = rng.uniform(size=(512, 3))
    x = (1 / (1 + np.exp(-(codes @ rng.normal(size=(3, 24)) * 2)))).astype(
        "float32")
    model = keras.Sequential([
        keras.Input((24,)),
        layers.Dense(16, activation="relu"),
        layers.Dense(4, name="code"),
        layers.Dense(16, activation="relu"),
        layers.Dense(24, activation="sigmoid"),
    ])
    model.compile(optimizer=keras.optimizers.Adam(5e-3), loss="mse")
    fit(model, x, x, cb, epochs=8)


@healthy(GROUP)
def two_headed_model_with_a_loss_per_output(cb):
    x, y = tabular(n=512, d=10, seed=47)
    amount = (x[:, 2] * 2 + x[:, 3]).astype("float32")
    inputs = keras.Input((10,))
    h = layers.Dense(32, activation="relu")(inputs)
    cls = layers.Dense(1, activation="sigmoid", name="cls")(h)
    reg = layers.Dense(1, name="reg")(h)
    model = keras.Model(inputs, {"cls": cls, "reg": reg})
    model.compile(optimizer="adam",
                  loss={"cls": "binary_crossentropy", "reg": "mse"},
                  loss_weights={"cls": 1.0, "reg": 0.5})
    model.fit(x, {"cls": y, "reg": amount}, epochs=8, batch_size=32,
              validation_split=0.25, verbose=0, callbacks=[cb])
