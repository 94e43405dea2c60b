"""Small versions of the models people train, for the overhead benchmark.

Each family is written here from its usual tutorial shape (layer sizes,
batch size, loss), on synthetic data of the same shape; only the number of
samples is cut, so that an epoch takes seconds on a 2-core CPU. A builder
returns (compiled model, x, y, batch size) and is deterministic for a
seed, so that every configuration of the benchmark trains the same model
on the same data.

    python benchmarks/families.py    # prints each family's size and step time
"""

import time

import numpy as np

FAMILIES = ("mlp", "cnn", "convnet", "resnet", "transformer", "bilstm",
            "conv1d", "autoencoder", "recommender", "gru", "multi_output")

DESCRIPTIONS = {
    "mlp": "6-layer MLP, 5 x Dense(512, relu), 256 inputs, batch 64",
    "cnn": "small CNN on 32x32x3, 3 conv + dense, batch 64",
    "convnet": "MNIST convnet: 2 x (Conv2D + max-pool), dropout, batch 128",
    "resnet": "ResNet-style on 32x32x3: residual blocks of 16, 32, 64 "
              "filters with BatchNormalization, batch 64",
    "transformer": "Transformer encoder block (MultiHeadAttention, "
                   "LayerNormalization, feed-forward) over 200 tokens, batch 32",
    "bilstm": "2 x Bidirectional(LSTM(64)) over 200 tokens, batch 32",
    "conv1d": "Conv1D time-series classifier: 3 x (Conv1D(64) + "
              "BatchNormalization + ReLU) over 500 steps, batch 32",
    "autoencoder": "convolutional autoencoder on 28x28 (Conv2D / "
                   "Conv2DTranspose), batch 128",
    "recommender": "Embedding recommender (subclassed: user and item "
                   "embeddings of 50, dot product), batch 64",
    "gru": "GRU(16) + GRU(8) over 20 frames of 2048 features with a mask, "
           "batch 32",
    "multi_output": "two text inputs and tags -> LSTMs -> two heads "
                    "(priority, department), a loss per output, batch 32",
}

# Samples per family: an epoch of a few seconds with TensorFlow here.
SAMPLES = {
    "mlp": 10240, "cnn": 5120, "convnet": 12800, "resnet": 2560,
    "transformer": 3200, "bilstm": 640, "conv1d": 1600, "autoencoder": 3840,
    "recommender": 64000, "gru": 3200, "multi_output": 1280,
}


def build(family, seed=1, samples=None):
    """(compiled model, x, y, batch size) of `family`."""
    import keras

    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    n = samples or SAMPLES[family]
    model, x, y, batch = _BUILDERS[family](keras, rng, n)
    return model, x, y, batch


def _classifier(keras, model, optimizer="adam",
                loss="sparse_categorical_crossentropy"):
    model.compile(optimizer=optimizer, loss=loss, metrics=["accuracy"])
    return model


def _mlp(keras, rng, n):
    layers = keras.layers
    model = keras.Sequential(
        [keras.Input((256,))]
        + [layers.Dense(512, activation="relu") for _ in range(5)]
        + [layers.Dense(10, activation="softmax")], name="mlp6")
    x = rng.standard_normal((n, 256)).astype("float32")
    y = rng.integers(0, 10, size=(n,)).astype("int32")
    return _classifier(keras, model), x, y, 64


def _cnn(keras, rng, n):
    layers = keras.layers
    model = keras.Sequential([
        keras.Input((32, 32, 3)),
        layers.Conv2D(16, 3, padding="same", activation="relu"),
        layers.MaxPooling2D(),
        layers.Conv2D(32, 3, padding="same", activation="relu"),
        layers.MaxPooling2D(),
        layers.Conv2D(64, 3, padding="same", activation="relu"),
        layers.GlobalAveragePooling2D(),
        layers.Dense(64, activation="relu"),
        layers.Dense(10, activation="softmax"),
    ], name="cnn")
    x = rng.random((n, 32, 32, 3)).astype("float32")
    y = rng.integers(0, 10, size=(n,)).astype("int32")
    return _classifier(keras, model), x, y, 64


def _convnet(keras, rng, n):
    layers = keras.layers
    model = keras.Sequential([
        keras.Input((28, 28, 1)),
        layers.Conv2D(32, 3, activation="relu"),
        layers.MaxPooling2D(2),
        layers.Conv2D(64, 3, activation="relu"),
        layers.MaxPooling2D(2),
        layers.Flatten(),
        layers.Dropout(0.5),
        layers.Dense(10, activation="softmax"),
    ], name="convnet")
    x = rng.random((n, 28, 28, 1)).astype("float32")
    y = rng.integers(0, 10, size=(n,)).astype("int32")
    return _classifier(keras, model), x, y, 128


def _resnet(keras, rng, n):
    layers = keras.layers

    def block(x, filters, stride):
        shortcut = x
        y = layers.Conv2D(filters, 3, strides=stride, padding="same",
                          use_bias=False)(x)
        y = layers.BatchNormalization()(y)
        y = layers.ReLU()(y)
        y = layers.Conv2D(filters, 3, padding="same", use_bias=False)(y)
        y = layers.BatchNormalization()(y)
        if stride != 1 or shortcut.shape[-1] != filters:
            shortcut = layers.Conv2D(filters, 1, strides=stride,
                                     use_bias=False)(shortcut)
            shortcut = layers.BatchNormalization()(shortcut)
        return layers.ReLU()(layers.Add()([y, shortcut]))

    inputs = keras.Input((32, 32, 3))
    h = layers.Conv2D(16, 3, padding="same", use_bias=False)(inputs)
    h = layers.ReLU()(layers.BatchNormalization()(h))
    h = block(h, 16, 1)
    h = block(h, 32, 2)
    h = block(h, 64, 2)
    h = layers.GlobalAveragePooling2D()(h)
    outputs = layers.Dense(10, activation="softmax")(h)
    model = keras.Model(inputs, outputs, name="resnet")
    x = rng.random((n, 32, 32, 3)).astype("float32")
    y = rng.integers(0, 10, size=(n,)).astype("int32")
    return _classifier(keras, model), x, y, 64


def _transformer(keras, rng, n):
    layers = keras.layers
    vocab, maxlen, embed, heads, ff = 20000, 200, 32, 2, 32

    class TokenAndPositionEmbedding(layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.token = layers.Embedding(vocab, embed)
            self.position = layers.Embedding(maxlen, embed)

        def call(self, x):
            positions = keras.ops.arange(0, keras.ops.shape(x)[-1])
            return self.token(x) + self.position(positions)

    class TransformerBlock(layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.attention = layers.MultiHeadAttention(num_heads=heads,
                                                       key_dim=embed)
            self.ffn = keras.Sequential([layers.Dense(ff, activation="relu"),
                                         layers.Dense(embed)], name="ffn")
            self.norm1 = layers.LayerNormalization(epsilon=1e-6)
            self.norm2 = layers.LayerNormalization(epsilon=1e-6)
            self.drop1 = layers.Dropout(0.1)
            self.drop2 = layers.Dropout(0.1)

        def call(self, inputs, training=None):
            attended = self.drop1(self.attention(inputs, inputs),
                                  training=training)
            h = self.norm1(inputs + attended)
            return self.norm2(h + self.drop2(self.ffn(h), training=training))

    inputs = keras.Input((maxlen,), dtype="int32")
    h = TokenAndPositionEmbedding(name="embedding")(inputs)
    h = TransformerBlock(name="transformer_block")(h)
    h = layers.GlobalAveragePooling1D()(h)
    h = layers.Dropout(0.1)(h)
    h = layers.Dense(20, activation="relu")(h)
    h = layers.Dropout(0.1)(h)
    outputs = layers.Dense(2, activation="softmax")(h)
    model = keras.Model(inputs, outputs, name="transformer")
    x = rng.integers(1, vocab, size=(n, maxlen)).astype("int32")
    y = rng.integers(0, 2, size=(n,)).astype("int32")
    return _classifier(keras, model), x, y, 32


def _bilstm(keras, rng, n):
    layers = keras.layers
    vocab, maxlen = 20000, 200
    model = keras.Sequential([
        keras.Input((maxlen,), dtype="int32"),
        layers.Embedding(vocab, 128),
        layers.Bidirectional(layers.LSTM(64, return_sequences=True)),
        layers.Bidirectional(layers.LSTM(64)),
        layers.Dense(1, activation="sigmoid"),
    ], name="bilstm")
    x = rng.integers(1, vocab, size=(n, maxlen)).astype("int32")
    y = rng.integers(0, 2, size=(n,)).astype("float32")
    return _classifier(keras, model, loss="binary_crossentropy"), x, y, 32


def _conv1d(keras, rng, n):
    layers = keras.layers
    inputs = keras.Input((500, 1))
    h = inputs
    for _ in range(3):
        h = layers.Conv1D(64, 3, padding="same")(h)
        h = layers.BatchNormalization()(h)
        h = layers.ReLU()(h)
    h = layers.GlobalAveragePooling1D()(h)
    outputs = layers.Dense(2, activation="softmax")(h)
    model = keras.Model(inputs, outputs, name="conv1d")
    x = rng.standard_normal((n, 500, 1)).astype("float32")
    y = rng.integers(0, 2, size=(n,)).astype("int32")
    return _classifier(keras, model), x, y, 32


def _autoencoder(keras, rng, n):
    layers = keras.layers
    inputs = keras.Input((28, 28, 1))
    h = layers.Conv2D(32, 3, activation="relu", padding="same")(inputs)
    h = layers.MaxPooling2D(2, padding="same")(h)
    h = layers.Conv2D(32, 3, activation="relu", padding="same")(h)
    h = layers.MaxPooling2D(2, padding="same")(h)
    h = layers.Conv2DTranspose(32, 3, strides=2, activation="relu",
                               padding="same")(h)
    h = layers.Conv2DTranspose(32, 3, strides=2, activation="relu",
                               padding="same")(h)
    outputs = layers.Conv2D(1, 3, activation="sigmoid", padding="same")(h)
    model = keras.Model(inputs, outputs, name="autoencoder")
    model.compile(optimizer="adam", loss="binary_crossentropy")
    x = rng.random((n, 28, 28, 1)).astype("float32")
    return model, x, x, 128


def _recommender(keras, rng, n):
    layers = keras.layers
    users, items, size = 610, 9724, 50

    class RecommenderNet(keras.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            regularizer = keras.regularizers.l2(1e-6)
            self.user_embedding = layers.Embedding(
                users, size, embeddings_initializer="he_normal",
                embeddings_regularizer=regularizer)
            self.user_bias = layers.Embedding(users, 1)
            self.item_embedding = layers.Embedding(
                items, size, embeddings_initializer="he_normal",
                embeddings_regularizer=regularizer)
            self.item_bias = layers.Embedding(items, 1)

        def call(self, inputs):
            user = self.user_embedding(inputs[:, 0])
            item = self.item_embedding(inputs[:, 1])
            dot = keras.ops.sum(user * item, axis=1, keepdims=True)
            logit = dot + self.user_bias(inputs[:, 0]) + self.item_bias(
                inputs[:, 1])
            return keras.ops.sigmoid(logit)

    model = RecommenderNet(name="recommender")
    model.compile(optimizer=keras.optimizers.Adam(1e-3),
                  loss="binary_crossentropy")
    x = np.stack([rng.integers(0, users, n), rng.integers(0, items, n)],
                 axis=1).astype("int32")
    y = rng.random((n, 1)).astype("float32")
    return model, x, y, 64


def _gru(keras, rng, n):
    layers = keras.layers
    frames, features, classes = 20, 2048, 5
    frame_input = keras.Input((frames, features), name="frames")
    mask_input = keras.Input((frames,), dtype="bool", name="mask")
    h = layers.GRU(16, return_sequences=True)(frame_input, mask=mask_input)
    h = layers.GRU(8)(h)
    h = layers.Dropout(0.4)(h)
    h = layers.Dense(8, activation="relu")(h)
    outputs = layers.Dense(classes, activation="softmax")(h)
    model = keras.Model([frame_input, mask_input], outputs, name="gru")
    lengths = rng.integers(frames // 2, frames + 1, size=n)
    mask = np.arange(frames)[None, :] < lengths[:, None]
    x = [rng.standard_normal((n, frames, features)).astype("float32")
         * mask[:, :, None], mask]
    y = rng.integers(0, classes, size=(n,)).astype("int32")
    return _classifier(keras, model), x, y, 32


def _multi_output(keras, rng, n):
    layers = keras.layers
    words, tag_count, departments = 10000, 12, 4
    title = keras.Input((10,), dtype="int32", name="title")
    body = keras.Input((100,), dtype="int32", name="body")
    tags = keras.Input((tag_count,), name="tags")
    title_h = layers.LSTM(128)(layers.Embedding(words, 64)(title))
    body_h = layers.LSTM(32)(layers.Embedding(words, 64)(body))
    h = layers.concatenate([title_h, body_h, tags])
    priority = layers.Dense(1, activation="sigmoid", name="priority")(h)
    department = layers.Dense(departments, activation="softmax",
                              name="department")(h)
    model = keras.Model([title, body, tags], [priority, department],
                        name="multi_output")
    model.compile(optimizer="adam",
                  loss={"priority": "binary_crossentropy",
                        "department": "categorical_crossentropy"},
                  loss_weights={"priority": 1.0, "department": 0.2})
    x = {"title": rng.integers(0, words, (n, 10)).astype("int32"),
         "body": rng.integers(0, words, (n, 100)).astype("int32"),
         "tags": rng.integers(0, 2, (n, tag_count)).astype("float32")}
    y = {"priority": rng.random((n, 1)).astype("float32"),
         "department": np.eye(departments, dtype="float32")[
             rng.integers(0, departments, n)]}
    return model, x, y, 32


_BUILDERS = {
    "mlp": _mlp, "cnn": _cnn, "convnet": _convnet, "resnet": _resnet,
    "transformer": _transformer, "bilstm": _bilstm, "conv1d": _conv1d,
    "autoencoder": _autoencoder, "recommender": _recommender, "gru": _gru,
    "multi_output": _multi_output,
}


def steps_per_epoch(x, batch):
    import keras

    return -(-len(keras.tree.flatten(x)[0]) // batch)


def main():
    import keras

    print("backend", keras.backend.backend())
    for family in FAMILIES:
        model, x, y, batch = build(family)
        steps = steps_per_epoch(x, batch)
        started = time.perf_counter()
        model.fit(x, y, batch_size=batch, epochs=1, verbose=0)
        first = time.perf_counter() - started
        started = time.perf_counter()
        model.fit(x, y, batch_size=batch, epochs=1, verbose=0)
        epoch = time.perf_counter() - started
        print("%-13s %8d params %4d steps/epoch  first epoch %5.1f s, "
              "then %5.1f s (%.0f ms/step)" % (
                  family, model.count_params(), steps, first, epoch,
                  1000 * epoch / steps), flush=True)


if __name__ == "__main__":
    main()
