"""The callback on the models and uses people really have: sublayers,
wrappers, several outputs and inputs, schedules, fine-tuning, conv nets.

Each test trains a tiny real model and checks values known in advance.
"""

import warnings

import keras
import numpy as np
import pytest
from keras import layers, ops
from tensorboard import context

from tensorboard_plugin_trainhealth import TrainHealthCallback
from tensorboard_plugin_trainhealth import metadata as md
from tensorboard_plugin_trainhealth import reader
from tensorboard_plugin_trainhealth.callback import TrainHealthWarning


def _fit(model, x, y, log_dir, epochs=1, batch_size=32, callbacks=(),
         **kwargs):
    cb = TrainHealthCallback(str(log_dir), verbose=0, **kwargs)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", TrainHealthWarning)
        model.fit(x, y, epochs=epochs, batch_size=batch_size, verbose=0,
                  callbacks=[cb, *callbacks])
    messages = [str(w.message) for w in caught
                if issubclass(w.category, TrainHealthWarning)]
    return cb, messages


class TransformerBlock(layers.Layer):
    def __init__(self, dim=8, heads=2, **kwargs):
        super().__init__(**kwargs)
        self.att = layers.MultiHeadAttention(heads, dim // heads,
                                             name="attention")
        self.ffn = keras.Sequential(
            [layers.Dense(16, activation="relu", name="expand"),
             layers.Dense(dim, name="project")], name="ffn")
        self.norm = layers.LayerNormalization(name="norm")

    def call(self, x):
        x = self.norm(x + self.att(x, x))
        return x + self.ffn(x)


def test_sublayers_of_custom_layers_and_wrappers_are_inspected(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(128, 6, 8)).astype("float32")
    y = rng.integers(0, 2, size=(128,)).astype("float32")
    inputs = keras.Input((6, 8))
    h = TransformerBlock(name="block")(inputs)
    h = layers.Bidirectional(layers.LSTM(4, return_sequences=True, name="lstm"),
                             name="bi")(h)
    h = layers.GlobalAveragePooling1D()(h)
    out = layers.Dense(1, activation="sigmoid", name="head")(h)
    model = keras.Model(inputs, out)
    model.compile("adam", "binary_crossentropy")
    cb, messages = _fit(model, x, y, tmp_path / "run", every_n_steps=2)
    assert messages == []
    dead = cb.series.matrices[md.LAYER_DEAD_FRACTION]
    assert dead.names == ["block/ffn/expand"]  # the feed-forward ReLU
    saturation = cb.series.matrices[md.LAYER_SATURATION]
    assert saturation.names == ["bi/forward_lstm", "bi/backward_lstm", "head"]
    assert np.all(np.isfinite(dead.values))
    assert np.all((0 <= saturation.values) & (saturation.values <= 1))
    # Every variable is named by its full path: no two rows alike.
    names = [c["name"] for c in cb.series.matrices[md.VARIABLE_GRAD_NORM].columns]
    assert len(set(names)) == len(names)
    assert "block/ffn/expand/kernel" in names
    assert "block/attention/query/kernel" in names
    assert "bi/forward_lstm/kernel" in names and "bi/backward_lstm/kernel" in names
    # Keras computes the attention with a fused kernel: its Softmax layer
    # is never called, and the facts say so.
    assert cb.series.facts["probe"]["not_inspected"] == [
        {"layer": "block/attention/softmax",
         "reason": "not called in the model's forward pass"}]


class Scale(layers.Layer):
    """A custom layer that applies its nonlinearity inside call()."""

    def build(self, shape):
        self.w = self.add_weight(shape=(shape[-1],), initializer="ones")

    def call(self, x):
        return ops.relu(x * self.w)


def test_layers_the_probe_cannot_judge_are_listed_with_the_reason(tmp_path):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(64, 4)).astype("float32")
    y = rng.normal(size=(64, 1)).astype("float32")
    model = keras.Sequential([
        keras.Input((4,)),
        layers.Dense(8, activation=lambda t: ops.relu(t), name="lambda_relu"),
        layers.Dense(8, activation=lambda t: t * ops.sigmoid(2.0 * t),
                     name="custom_act"),
        Scale(name="scale"),
        layers.Dense(1, name="out"),
    ])
    model.compile("sgd", "mse")
    cb, messages = _fit(model, x, y, tmp_path / "run", every_n_steps=1)
    assert messages == []
    # A lambda that computes ReLU is recognised as one.
    assert cb.series.matrices[md.LAYER_DEAD_FRACTION].names == ["lambda_relu"]
    skipped = {s["layer"]: s["reason"]
               for s in cb.series.facts["probe"]["not_inspected"]}
    assert set(skipped) == {"custom_act", "scale"}
    assert "not one the probe recognises" in skipped["custom_act"]
    assert "custom layer" in skipped["scale"]


def test_each_output_is_paired_with_its_own_loss(tmp_path):
    rng = np.random.default_rng(2)
    x = rng.normal(size=(96, 5)).astype("float32")
    inputs = keras.Input((5,), name="features")
    shared = layers.Dense(8, activation="relu")(inputs)
    model = keras.Model(inputs, {
        "cls": layers.Dense(1, activation="sigmoid", name="cls")(shared),
        "reg": layers.Dense(1, name="reg")(shared)})
    # Keys in the "wrong" order, weights per output.
    model.compile("adam", loss={"reg": "mse", "cls": "binary_crossentropy"},
                  loss_weights={"cls": 1.0, "reg": 0.25})
    y = {"cls": (x[:, 0] > 0).astype("float32"),
         "reg": (100 + 10 * x[:, 1]).astype("float32")}
    cb, messages = _fit(model, x, y, tmp_path / "run", every_n_steps=2)
    assert messages == []
    facts = cb.series.facts
    losses = {l["output"]: (l["name"], l["weight"]) for l in facts["losses"]}
    assert losses == {"cls": ("binary_crossentropy", 1.0),
                      "reg": ("mean_squared_error", 0.25)}
    heads = {h["output"]: (h["layer"], h["activation"]) for h in facts["outputs"]}
    assert heads == {"cls": ("cls", "sigmoid"), "reg": ("reg", "linear")}
    targets = {t["output"]: t for t in facts["targets"]}
    assert targets["cls"]["classes"] is not None and targets["cls"]["distinct"] == 2
    assert targets["reg"]["min"] > 50 and targets["reg"]["classes"] is None
    measured = {h["output"]: h["measured"] for h in facts["outputs"]}
    assert measured["cls"]["in_unit_interval"] is True
    assert measured["reg"]["prediction_std"] > 0


def test_dict_inputs_are_described_by_name_integers_included(tmp_path):
    rng = np.random.default_rng(3)
    n = 64
    data = {"title": rng.normal(size=(n, 3)).astype("float32"),
            "body": (1000 + rng.normal(size=(n, 5))).astype("float32"),
            "tags": rng.integers(0, 381, size=(n, 2)).astype("int64")}
    ins = {name: keras.Input((a.shape[1],), name=name, dtype=str(a.dtype))
           for name, a in data.items()}
    joined = layers.Concatenate()([ops.cast(ins[k], "float32")
                                   for k in ("title", "body", "tags")])
    model = keras.Model(ins, layers.Dense(1)(joined))
    model.compile("sgd", "mse")
    cb, messages = _fit(model, data, np.zeros((n, 1), "float32"),
                        tmp_path / "run", every_n_steps=2)
    assert messages == []
    inputs = {i["name"]: i for i in cb.series.facts["inputs"]}
    assert set(inputs) == {"title", "body", "tags"}
    assert inputs["title"]["shape"] == [3] and abs(inputs["title"]["mean"]) < 1
    assert inputs["body"]["shape"] == [5] and inputs["body"]["mean"] > 900
    assert inputs["tags"]["dtype"] == "int64"
    assert inputs["tags"]["max"] == data["tags"].max()


def test_raw_uint8_images_are_described_with_their_scale(tmp_path):
    rng = np.random.default_rng(4)
    x = rng.integers(0, 256, size=(64, 6, 6, 1)).astype("uint8")
    y = rng.integers(0, 2, size=(64,))
    model = keras.Sequential([
        keras.Input((6, 6, 1)), layers.Rescaling(1.0),
        layers.Conv2D(4, 3, activation="relu"), layers.Flatten(),
        layers.Dense(2, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy")
    cb, _ = _fit(model, x, y, tmp_path / "run", every_n_steps=2)
    [facts] = cb.series.facts["inputs"]
    assert facts["dtype"] == "uint8"
    assert facts["max"] == x.max() and facts["abs_max"] > 200


def test_finite_conv_outputs_have_no_nonfinite_values_exactly(tmp_path):
    # A (256, 11, 11, 64) output: a float32 mean of isfinite() flags is not
    # exactly 1 under XLA; the count must be exactly 0.
    rng = np.random.default_rng(5)
    x = rng.normal(size=(256, 13, 13, 3)).astype("float32")
    y = rng.integers(0, 2, size=(256,))
    model = keras.Sequential([
        keras.Input((13, 13, 3)), layers.Conv2D(64, 3, activation="relu"),
        layers.GlobalAveragePooling2D(), layers.Dense(2, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy")
    cb, _ = _fit(model, x, y, tmp_path / "run", every_n_steps=4)
    nonfinite = cb.series.matrices[md.LAYER_ACTIVATION_NONFINITE]
    assert nonfinite.values.shape[0] > 0
    np.testing.assert_array_equal(nonfinite.values, 0.0)
    assert not np.any(cb.series.scalar(md.STEP_NONFINITE_ACTIVATIONS).values)


def test_nonfinite_activations_are_counted_exactly(tmp_path):
    # 5 of the 64 probe samples hold a NaN: every unit of both tanh and
    # sigmoid layers is NaN for those samples, finite for the others.
    rng = np.random.default_rng(7)
    x = rng.normal(size=(128, 4)).astype("float32")
    y = (x[:, 0] > 0).astype("float32")
    probe = rng.normal(size=(64, 4)).astype("float32")
    probe[[3, 10, 20, 40, 63], 1] = np.nan
    model = keras.Sequential([
        keras.Input((4,)), layers.Dense(3, activation="tanh", name="hidden"),
        layers.Dense(1, activation="sigmoid", name="head")])
    model.compile("adam", "binary_crossentropy")
    cb, _ = _fit(model, x, y, tmp_path / "run", every_n_steps=2,
                 probe_data=probe)
    nonfinite = cb.series.matrices[md.LAYER_ACTIVATION_NONFINITE]
    assert nonfinite.names == ["hidden", "head"]
    np.testing.assert_allclose(nonfinite.values, 5 / 64)
    assert np.all(cb.series.scalar(md.STEP_NONFINITE_ACTIVATIONS).values == 1)


def test_a_schedule_is_recorded_at_the_step_that_applied_it(tmp_path):
    rng = np.random.default_rng(6)
    x = rng.normal(size=(128, 4)).astype("float32")
    y = rng.normal(size=(128, 1)).astype("float32")
    schedule = keras.optimizers.schedules.ExponentialDecay(
        0.1, decay_steps=1, decay_rate=0.5)
    model = keras.Sequential([keras.Input((4,)), layers.Dense(1)])
    model.compile(keras.optimizers.SGD(schedule), "mse")
    cb, _ = _fit(model, x, y, tmp_path / "run", every_n_steps=1)
    lr = cb.series.scalar(md.STEP_LEARNING_RATE)
    np.testing.assert_allclose(lr.values, 0.1 * 0.5 ** lr.steps, rtol=1e-5)


def test_fine_tuning_in_the_same_log_dir_records_both_phases(tmp_path):
    rng = np.random.default_rng(7)
    x = rng.normal(size=(96, 4)).astype("float32")
    y = (x[:, 0] > 0).astype("float32")
    base = layers.Dense(8, activation="relu", name="base")
    model = keras.Sequential([keras.Input((4,)), base,
                              layers.Dense(1, activation="sigmoid", name="head")])
    base.trainable = False
    model.compile("adam", "binary_crossentropy")
    first, _ = _fit(model, x, y, tmp_path / "run", every_n_steps=1)
    base.trainable = True
    model.compile(keras.optimizers.Adam(1e-4), "binary_crossentropy")
    second, messages = _fit(model, x, y, tmp_path / "run", every_n_steps=1)
    assert messages == []
    # The recompiled optimizer counts from 0 again; the run's axis goes on.
    phase1 = list(first.series.matrices[md.VARIABLE_GRAD_NORM].steps)
    phase2 = list(second.series.matrices[md.VARIABLE_GRAD_NORM].steps)
    assert phase1 == [0, 1, 2] and phase2 == [3, 4, 5]
    assert [c["name"] for c in first.series.facts["columns"][md.VARIABLE_GRAD_NORM]] \
        == ["head/kernel", "head/bias"]
    assert [c["name"] for c in second.series.facts["columns"][md.VARIABLE_GRAD_NORM]] \
        == ["base/kernel", "base/bias", "head/kernel", "head/bias"]


def test_a_second_trainhealth_callback_on_one_fit_is_refused_clearly(tmp_path):
    rng = np.random.default_rng(8)
    x = rng.normal(size=(64, 4)).astype("float32")
    y = rng.normal(size=(64, 1)).astype("float32")
    model = keras.Sequential([keras.Input((4,)), layers.Dense(1)])
    model.compile("sgd", "mse")
    second = TrainHealthCallback(str(tmp_path / "b"), verbose=0, every_n_steps=1)
    first, messages = _fit(model, x, y, tmp_path / "a", epochs=2,
                           every_n_steps=3, callbacks=[second])
    assert len(messages) == 1 and "two TrainHealthCallbacks" in messages[0]
    assert list(first.series.epoch("loss").steps) == [0, 1]
    assert list(first.series.matrices[md.VARIABLE_GRAD_NORM].steps) == [0, 3]
    assert not second.series.matrices and not second.series.epochs


@pytest.mark.parametrize("log_dir", [None, "", "  "])
def test_a_missing_log_dir_is_rejected(log_dir):
    with pytest.raises(ValueError, match="log_dir"):
        TrainHealthCallback(log_dir)


def test_run_facts_name_the_probe_actually_used(tmp_path):
    rng = np.random.default_rng(9)
    x = rng.normal(size=(100, 4)).astype("float32")
    y = rng.normal(size=(100, 1)).astype("float32")
    model = keras.Sequential([keras.Input((4,)), layers.Dense(4, activation="relu"),
                              layers.Dense(1)])
    model.compile("sgd", "mse")
    cb, _ = _fit(model, x, y, tmp_path / "run", probe_samples=512)
    probe = cb.series.facts["probe"]
    assert probe["requested"] == 512 and probe["samples"] == 100
    run = reader.read_run(reader.open_logdir(str(tmp_path)),
                          context.RequestContext(), "", "run")
    assert run.facts["probe"]["samples"] == 100


def test_the_facts_name_the_writer_whose_heartbeats_the_run_holds(tmp_path):
    rng = np.random.default_rng(10)
    x = rng.normal(size=(64, 4)).astype("float32")
    y = rng.normal(size=(64, 1)).astype("float32")
    model = keras.Sequential([keras.Input((4,)), layers.Dense(1)])
    model.compile("sgd", "mse")
    cb, _ = _fit(model, x, y, tmp_path / "run")
    identity = cb.series.facts["writer"]
    provider = reader.open_logdir(str(tmp_path))
    tags = provider.list_scalars(context.RequestContext(), experiment_id="",
                                 plugin_name=md.PLUGIN_NAME)["run"]
    assert md.writer_tag(identity["id"]) in tags
