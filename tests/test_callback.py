"""The callback on real (tiny) Keras trainings, checked against known values."""

import warnings

import keras
import numpy as np
import pytest
from tensorboard import context
from tensorboard.data import provider as provider_lib

from tensorboard_plugin_trainhealth import TrainHealthCallback
from tensorboard_plugin_trainhealth import metadata as md
from tensorboard_plugin_trainhealth import reader
from tensorboard_plugin_trainhealth.callback import TrainHealthWarning

from tests import providers


def _fit(model, x, y, log_dir, epochs=2, batch_size=32, callbacks=(),
         fit_kwargs=None, **kwargs):
    cb = TrainHealthCallback(str(log_dir), verbose=0, **kwargs)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", TrainHealthWarning)
        history = model.fit(x, y, epochs=epochs, batch_size=batch_size,
                            verbose=0, callbacks=[cb, *callbacks],
                            **(fit_kwargs or {}))
    health_warnings = [str(w.message) for w in caught
                       if issubclass(w.category, TrainHealthWarning)]
    return cb, history, health_warnings


def _column(matrix, name):
    return matrix.values[:, matrix.names.index(name)]


def test_dead_layer_reads_fully_dead_and_live_layer_reads_alive(tmp_path):
    rng = np.random.default_rng(1)
    x = rng.uniform(0, 1, size=(256, 6)).astype("float32")
    y = rng.uniform(0, 1, size=(256, 1)).astype("float32")
    inputs = keras.Input((6,))
    dead = keras.layers.Dense(
        8, activation="relu", name="dead",
        bias_initializer=keras.initializers.Constant(-100.0))(inputs)
    alive = keras.layers.Dense(
        8, activation="relu", name="alive",
        bias_initializer=keras.initializers.Constant(100.0))(inputs)
    out = keras.layers.Dense(1)(keras.layers.Concatenate()([dead, alive]))
    model = keras.Model(inputs, out)
    model.compile(keras.optimizers.SGD(1e-6), "mse")

    cb, _, _ = _fit(model, x, y, tmp_path / "run", every_n_steps=2)

    dead_fraction = cb.series.matrices[md.LAYER_DEAD_FRACTION]
    assert dead_fraction.names == ["dead", "alive"]
    np.testing.assert_array_equal(_column(dead_fraction, "dead"), 1.0)
    np.testing.assert_array_equal(_column(dead_fraction, "alive"), 0.0)
    # Every second step, and the fit's last step (15).
    assert list(dead_fraction.steps) == [0, 2, 4, 6, 8, 10, 12, 14, 15]


def test_sigmoid_fed_huge_inputs_reads_saturated(tmp_path):
    rng = np.random.default_rng(2)
    x = rng.uniform(1000, 5000, size=(256, 4)).astype("float32")
    y = rng.integers(0, 2, size=(256, 1)).astype("float32")
    model = keras.Sequential([
        keras.Input((4,)),
        keras.layers.Dense(16, activation="sigmoid", name="hidden"),
        keras.layers.Dense(1, activation="sigmoid", name="head"),
    ])
    model.compile("adam", "binary_crossentropy")

    cb, _, _ = _fit(model, x, y, tmp_path / "run", epochs=1, every_n_steps=1)

    saturation = cb.series.matrices[md.LAYER_SATURATION]
    assert saturation.names == ["hidden", "head"]
    assert _column(saturation, "hidden").min() > 0.95
    flags = {c["name"]: c["is_output"] for c in saturation.columns}
    assert flags == {"hidden": False, "head": True}
    # The static facts carry what the unscaled-input check needs.
    (inputs,) = cb.series.facts["inputs"]
    assert inputs["abs_max"] > 1000 and inputs["min"] >= 1000


def test_gradient_norms_match_the_analytic_gradient(tmp_path):
    # Linear least squares, full batch, plain SGD: the gradient of
    # mean((xw - t)^2) is 2/N x^T (xw - t), and w moves by -lr * gradient.
    rng = np.random.default_rng(3)
    n, d, lr = 64, 5, 0.05
    x = rng.normal(size=(n, d)).astype("float32")
    t = rng.normal(size=(n, 1)).astype("float32")
    model = keras.Sequential([
        keras.Input((d,)),
        keras.layers.Dense(1, use_bias=False, kernel_initializer="zeros",
                           name="linear"),
    ])
    model.compile(keras.optimizers.SGD(lr), "mse")

    cb, _, _ = _fit(model, x, t, tmp_path / "run", epochs=4, batch_size=n,
                    every_n_steps=1)

    w = np.zeros((d, 1), np.float64)
    expected_norms, expected_ratios = [], []
    for _ in range(4):
        g = 2.0 / n * x.T.astype(np.float64) @ (x @ w - t)
        new_w = w - lr * g
        expected_norms.append(np.linalg.norm(g))
        expected_ratios.append(np.linalg.norm(new_w - w) / np.linalg.norm(w)
                               if np.linalg.norm(w) else np.inf)
        w = new_w
    grad = cb.series.matrices[md.VARIABLE_GRAD_NORM]
    assert grad.names == ["linear/kernel"]
    assert list(grad.steps) == [0, 1, 2, 3]
    np.testing.assert_allclose(grad.values[:, 0], expected_norms, rtol=1e-4)
    global_norm = cb.series.scalar(md.STEP_GRAD_NORM)
    np.testing.assert_allclose(global_norm.values, expected_norms, rtol=1e-4)
    ratio = cb.series.matrices[md.VARIABLE_UPDATE_RATIO]
    np.testing.assert_allclose(ratio.values[1:, 0], expected_ratios[1:], rtol=1e-3)
    np.testing.assert_allclose(cb.series.scalar(md.STEP_LEARNING_RATE).values, lr,
                               rtol=1e-6)


def _small_classifier():
    model = keras.Sequential([
        keras.Input((8,)),
        keras.layers.Dense(16, activation="relu"),
        keras.layers.Dense(1, activation="sigmoid"),
    ])
    model.compile("adam", "binary_crossentropy", metrics=["accuracy"])
    return model


def _classification_data(seed=4, n=256):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 8)).astype("float32")
    y = (x[:, :4].sum(axis=1) > 0).astype("float32")
    return x, y


def test_gap_equals_val_minus_train_from_history_on_both_data_paths(tmp_path):
    x, y = _classification_data()
    model = _small_classifier()
    cb = TrainHealthCallback(str(tmp_path / "run"), verbose=0)
    history = model.fit(x[:192], y[:192], validation_data=(x[192:], y[192:]),
                        epochs=3, verbose=0, callbacks=[cb])
    h = history.history
    for metric in ("loss", "accuracy"):
        expected = np.array(h["val_" + metric]) - np.array(h[metric])
        for data_provider in providers.both(tmp_path):
            points = data_provider.read_scalars(
                context.RequestContext(), experiment_id="",
                plugin_name=md.PLUGIN_NAME, downsample=1000,
                run_tag_filter=provider_lib.RunTagFilter(
                    ["run"], [md.gap_tag(metric)]),
            )["run"][md.gap_tag(metric)]
            assert [p.step for p in points] == [0, 1, 2]
            np.testing.assert_allclose([p.value for p in points], expected,
                                       rtol=1e-5, atol=1e-6)


def test_summaries_read_back_identically_through_both_data_paths(tmp_path):
    x, y = _classification_data()
    model = _small_classifier()
    cb, _, _ = _fit(model, x, y, tmp_path / "run", epochs=2, every_n_steps=3)
    for data_provider in providers.both(tmp_path):
        run = reader.read_run(data_provider, context.RequestContext(), "", "run")
        assert run is not None and run.problems == []
        assert set(run.matrices) == set(cb.series.matrices)
        for tag, expected in cb.series.matrices.items():
            got = run.matrices[tag]
            assert got.columns == expected.columns
            np.testing.assert_array_equal(got.steps, expected.steps)
            np.testing.assert_allclose(got.values, expected.values, rtol=1e-6)
        assert set(run.step_scalars) == set(cb.series.step_scalars)
        for tag, expected in cb.series.step_scalars.items():
            np.testing.assert_array_equal(run.step_scalars[tag].steps,
                                          expected.steps)
            np.testing.assert_allclose(run.step_scalars[tag].values,
                                       expected.values, rtol=1e-6)
        np.testing.assert_allclose(run.epoch("loss").values,
                                   cb.series.epoch("loss").values, rtol=1e-6)
        assert [(l["name"], l["from_logits"]) for l in run.facts["losses"]] \
            == [("binary_crossentropy", False)]
        assert run.facts["gradient_source"] == "optimizer"


def test_multi_input_functional_with_nested_model_conv_and_lstm(tmp_path):
    tf = pytest.importorskip("tensorflow")  # for tf.data, on every backend

    rng = np.random.default_rng(5)
    image = keras.Input((8, 8, 1), name="image")
    sequence = keras.Input((5, 3), name="sequence")
    conv = keras.layers.Conv2D(4, 3, activation="relu", name="conv")(image)
    pooled = keras.layers.GlobalAveragePooling2D()(conv)
    recurrent = keras.layers.LSTM(6, name="lstm")(sequence)
    inner_in = keras.Input((10,))
    inner_out = keras.layers.Dense(5, activation="tanh", name="inner_dense")(inner_in)
    encoder = keras.Model(inner_in, inner_out, name="encoder")
    hidden = encoder(keras.layers.Concatenate()([pooled, recurrent]))
    hidden = keras.layers.ReLU(name="standalone_relu")(keras.layers.Dense(4)(hidden))
    out = keras.layers.Dense(3, activation="softmax", name="head")(hidden)
    model = keras.Model([image, sequence], out)
    model.compile("adam", "sparse_categorical_crossentropy")
    xa = rng.normal(size=(96, 8, 8, 1)).astype("float32")
    xb = rng.normal(size=(96, 5, 3)).astype("float32")
    y = rng.integers(0, 3, 96)
    dataset = tf.data.Dataset.from_tensor_slices(((xa, xb), y)).batch(32)

    cb = TrainHealthCallback(str(tmp_path / "run"), every_n_steps=1, verbose=0)
    model.fit(dataset, epochs=1, verbose=0, callbacks=[cb])

    m = cb.series.matrices
    assert m[md.LAYER_DEAD_FRACTION].names == ["conv", "standalone_relu"]
    assert m[md.LAYER_SATURATION].names == ["lstm", "encoder/inner_dense", "head"]
    assert "lstm/recurrent_kernel" in m[md.VARIABLE_GRAD_NORM].names
    assert "encoder/inner_dense/kernel" in m[md.VARIABLE_GRAD_NORM].names
    assert np.all(np.isfinite(m[md.VARIABLE_GRAD_NORM].values))
    assert np.all(m[md.VARIABLE_GRAD_NORM].values > 0)
    # The probe came from the tf.data pipeline, both inputs, 96 samples.
    assert [i["name"] for i in cb.series.facts["inputs"]] == ["image", "sequence"]
    assert [i["samples"] for i in cb.series.facts["inputs"]] == [96, 96]
    # A conv unit is a channel: the fraction is a multiple of 1/4.
    fractions = _column(m[md.LAYER_DEAD_FRACTION], "conv") * 4
    np.testing.assert_allclose(fractions, np.round(fractions))


def test_works_beside_keras_tensorboard_on_the_same_log_dir(tmp_path):
    pytest.importorskip("tensorflow")  # keras.callbacks.TensorBoard needs it
    x, y = _classification_data()
    model = _small_classifier()
    log_dir = tmp_path / "run"
    _fit(model, x, y, log_dir, epochs=2,
         callbacks=[keras.callbacks.TensorBoard(str(log_dir))])
    data_provider = reader.open_logdir(str(tmp_path))
    runs = reader.trainhealth_runs(data_provider, context.RequestContext(), "")
    assert runs == ["run"]
    assert list((log_dir / "train").glob("events.out.tfevents.*"))
    run = reader.read_run(data_provider, context.RequestContext(), "", "run")
    assert len(run.epoch("loss")) == 2


def test_broken_probe_switches_off_one_signal_and_training_goes_on(tmp_path):
    x, y = _classification_data()
    model = _small_classifier()
    wrong_shape = np.zeros((16, 3), np.float32)  # the model wants 8 features
    cb, history, health_warnings = _fit(model, x, y, tmp_path / "run", epochs=3,
                                        probe_data=wrong_shape)
    assert len(history.history["loss"]) == 3
    assert len(health_warnings) == 1
    assert "activation_stats switched off" in health_warnings[0]
    assert md.LAYER_DEAD_FRACTION not in cb.series.matrices or \
        len(cb.series.matrices[md.LAYER_DEAD_FRACTION].steps) == 0
    assert len(cb.series.matrices[md.VARIABLE_GRAD_NORM].steps) > 0


def test_python_generator_is_not_read_and_says_how_to_get_a_probe(tmp_path):
    x, y = _classification_data()
    model = _small_classifier()

    def batches():
        while True:
            yield x[:32], y[:32]

    cb = TrainHealthCallback(str(tmp_path / "run"), verbose=0)
    with pytest.warns(TrainHealthWarning, match="probe_data="):
        model.fit(batches(), steps_per_epoch=4, epochs=2, verbose=0,
                  callbacks=[cb])
    assert len(cb.series.matrices[md.VARIABLE_GRAD_NORM].steps) == 8
    assert "inputs" not in cb.series.facts


def test_second_fit_continues_the_step_axis(tmp_path):
    x, y = _classification_data()
    model = _small_classifier()
    first, _, _ = _fit(model, x, y, tmp_path / "run", epochs=1, every_n_steps=2)
    second, _, _ = _fit(model, x, y, tmp_path / "run", epochs=1, every_n_steps=2)
    first_steps = first.series.matrices[md.VARIABLE_GRAD_NORM].steps
    second_steps = second.series.matrices[md.VARIABLE_GRAD_NORM].steps
    assert list(first_steps) == [0, 2, 4, 6]
    assert list(second_steps) == [8, 10, 12, 14]
    run = reader.read_run(reader.open_logdir(str(tmp_path)),
                          context.RequestContext(), "", "run")
    np.testing.assert_array_equal(run.matrices[md.VARIABLE_GRAD_NORM].steps,
                                  list(first_steps) + list(second_steps))


def test_bad_arguments_are_rejected_clearly():
    with pytest.raises(ValueError, match="on_critical"):
        TrainHealthCallback("logs", on_critical="explode")
    with pytest.raises(ValueError, match="every_n_steps"):
        TrainHealthCallback("logs", every_n_steps=0)


def test_on_critical_stop_ends_training_and_says_why(tmp_path, capsys):
    rng = np.random.default_rng(6)
    x = rng.uniform(0, 50000, size=(256, 8)).astype("float32")  # raw amounts
    y = rng.integers(0, 2, size=(256,)).astype("float32")
    model = _small_classifier()
    cb = TrainHealthCallback(str(tmp_path / "run"), on_critical="stop")
    history = model.fit(x, y, epochs=5, verbose=0, callbacks=[cb])
    assert len(history.history["loss"]) == 1  # stopped in the first epoch
    out = capsys.readouterr().out
    assert "stopping training (on_critical='stop')" in out
    assert "not normalized" in out
    # The record of the last step reached is there.
    last = int(keras.ops.convert_to_numpy(model.optimizer.iterations)) - 1
    assert cb.series.matrices[md.VARIABLE_WEIGHT_NORM].steps[-1] == last
    # The alert is in the run's summaries too.
    tensors = reader.open_logdir(str(tmp_path)).list_tensors(
        context.RequestContext(), experiment_id="", plugin_name=md.PLUGIN_NAME)
    assert md.RUN_ALERTS in tensors["run"]


def test_on_critical_warn_keeps_training(tmp_path):
    rng = np.random.default_rng(6)
    x = rng.uniform(0, 50000, size=(256, 8)).astype("float32")
    y = rng.integers(0, 2, size=(256,)).astype("float32")
    model = _small_classifier()
    cb, history, health_warnings = _fit(model, x, y, tmp_path / "run", epochs=3)
    assert len(history.history["loss"]) == 3
    assert any(a.get("kind") == "unscaled_inputs"
               for _, a in cb.series.live_alerts)
    assert health_warnings == []


def _optimizer_state(model):
    # The optimizer's own variables, in order (on JAX the gradient tap's
    # variables ride in the optimizer's state; they are never saved).
    return [np.array(keras.ops.convert_to_numpy(v.value))
            for v in model.optimizer.variables
            if not v.name.startswith("trainhealth_")]


def _skip_warnings(caught):
    return [str(w.message) for w in caught
            if "Skipping variable loading" in str(w.message)]


def test_checkpoint_saved_with_the_tap_loads_into_a_fresh_model(tmp_path):
    x, y = _classification_data()
    model = _small_classifier()
    checkpoint = keras.callbacks.ModelCheckpoint(str(tmp_path / "ckpt.keras"))
    cb, _, _ = _fit(model, x, y, tmp_path / "run", epochs=1, every_n_steps=2,
                    callbacks=[checkpoint])
    assert len(cb.series.matrices[md.VARIABLE_GRAD_NORM].steps) == 4
    model.save(str(tmp_path / "saved.keras"))
    expected = _optimizer_state(model)
    assert expected  # built: iterations, learning rate, Adam's slots
    for name in ("ckpt.keras", "saved.keras"):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            fresh = keras.models.load_model(str(tmp_path / name))
        assert _skip_warnings(caught) == []
        restored = _optimizer_state(fresh)
        assert len(restored) == len(expected)
        for got, want in zip(restored, expected):
            np.testing.assert_allclose(got, want, rtol=1e-6)
        assert int(keras.ops.convert_to_numpy(fresh.optimizer.iterations)) == 8
        # The restored model trains, and a tap installs on it as usual.
        again, _, _ = _fit(fresh, x, y, tmp_path / ("again_" + name), epochs=1,
                           every_n_steps=2)
        assert list(again.series.matrices[md.VARIABLE_GRAD_NORM].steps) == \
            [8, 10, 12, 14]


def test_checkpoint_of_a_fresh_model_loads_into_a_model_with_the_tap(tmp_path):
    x, y = _classification_data()
    source = _small_classifier()
    checkpoint = keras.callbacks.ModelCheckpoint(
        str(tmp_path / "fresh.weights.h5"), save_weights_only=True)
    source.fit(x, y, epochs=2, batch_size=32, verbose=0, callbacks=[checkpoint])
    source.save(str(tmp_path / "fresh.keras"))
    expected = _optimizer_state(source)
    weights = [np.array(w) for w in source.get_weights()]

    for name in ("fresh.weights.h5", "fresh.keras"):
        model = _small_classifier()
        _fit(model, x, y, tmp_path / ("tap_" + name), epochs=1, every_n_steps=2)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model.load_weights(str(tmp_path / name))
        assert _skip_warnings(caught) == []
        restored = _optimizer_state(model)
        assert len(restored) == len(expected)
        for got, want in zip(restored, expected):
            np.testing.assert_allclose(got, want, rtol=1e-6)
        for got, want in zip(model.get_weights(), weights):
            np.testing.assert_allclose(got, want, rtol=1e-6)
        # The tap still records after the load, on the restored step axis.
        cb, _, _ = _fit(model, x, y, tmp_path / ("tap_" + name), epochs=1,
                        every_n_steps=2)
        assert list(cb.series.matrices[md.VARIABLE_GRAD_NORM].steps) == \
            [16, 18, 20, 22]


def test_the_loss_at_an_epochs_last_step_is_the_training_loss(tmp_path):
    # Every step is recorded, the epochs' last ones too: after validation
    # the loss tracker holds the validation loss, which must not be taken.
    x, y = _classification_data()
    model = _small_classifier()
    cb, history, _ = _fit(model, x, y, tmp_path / "run", epochs=3,
                          every_n_steps=1,
                          fit_kwargs={"validation_split": 0.25})
    loss = cb.series.scalar(md.STEP_LOSS)
    ends = [cb.series.step_of_epoch(e) - 1 for e in range(3)]
    at_ends = [loss.values[list(loss.steps).index(s)] for s in ends]
    np.testing.assert_allclose(at_ends, history.history["loss"], rtol=1e-5)
    assert not np.allclose(at_ends, history.history["val_loss"], rtol=1e-3)


def test_a_fit_is_recorded_to_its_last_step(tmp_path):
    x, y = _classification_data()  # 256 samples: 8 steps per epoch
    model = _small_classifier()
    cb, _, _ = _fit(model, x, y, tmp_path / "run", epochs=2, every_n_steps=6)
    for tag in (md.VARIABLE_WEIGHT_NORM, md.LAYER_DEAD_FRACTION):
        assert list(cb.series.matrices[tag].steps) == [0, 6, 12, 15], tag
    assert list(cb.series.scalar(md.STEP_LOSS).steps) == [0, 6, 12, 15]
    run = reader.read_run(reader.open_logdir(str(tmp_path)),
                          context.RequestContext(), "", "run")
    assert run.matrices[md.VARIABLE_WEIGHT_NORM].steps[-1] == 15


def test_a_fit_stopped_early_is_recorded_to_the_step_it_stopped_at(tmp_path):
    class StopAt(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 2:
                self.model.stop_training = True

    x, y = _classification_data()
    model = _small_classifier()
    cb, _, _ = _fit(model, x, y, tmp_path / "run", epochs=3, every_n_steps=5,
                    callbacks=[StopAt()])
    assert cb.series.matrices[md.VARIABLE_WEIGHT_NORM].steps[-1] == 2


def test_each_live_alert_is_printed_once_as_one_line(tmp_path, capsys):
    rng = np.random.default_rng(6)
    x = rng.uniform(0, 50000, size=(256, 8)).astype("float32")
    y = rng.integers(0, 2, size=(256,)).astype("float32")
    model = _small_classifier()
    cb = TrainHealthCallback(str(tmp_path / "run"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(x, y, epochs=2, verbose=0, callbacks=[cb])
    lines = [l for l in capsys.readouterr().out.splitlines()
             if "Train Health" in l]
    raised = cb.series.live_alerts
    assert raised and len(lines) == len(raised)
    assert all(l.startswith("Train Health [") for l in lines)
    assert not [w for w in caught if issubclass(w.category, TrainHealthWarning)]

    model = _small_classifier()
    quiet = TrainHealthCallback(str(tmp_path / "quiet"), verbose=0)
    model.fit(x, y, epochs=2, verbose=0, callbacks=[quiet])
    assert quiet.series.live_alerts
    assert "Train Health" not in capsys.readouterr().out


@pytest.mark.skipif(keras.backend.backend() == "torch",
                    reason="the torch trainer refuses steps_per_execution > 1")
def test_with_steps_per_execution_every_part_of_a_record_is_of_one_step(
        tmp_path):
    # Full-batch SGD on least squares, 16 identical batches an epoch, so
    # that the gradient and the weights of every step are known. Keras
    # calls back once per 3 steps: the record of a due step falls at the
    # end of its execution, and its weights, gradients and update ratio
    # are all of that step.
    rng = np.random.default_rng(3)
    n, d, lr = 16, 5, 0.05
    x = rng.normal(size=(n, d)).astype("float32")
    t = rng.normal(size=(n, 1)).astype("float32")
    model = keras.Sequential([
        keras.Input((d,)),
        keras.layers.Dense(1, use_bias=False, kernel_initializer="ones",
                           name="linear"),
    ])
    model.compile(keras.optimizers.SGD(lr), "mse", steps_per_execution=3)
    cb, _, messages = _fit(model, np.tile(x, (16, 1)), np.tile(t, (16, 1)),
                           tmp_path / "run", epochs=2, batch_size=n,
                           fit_kwargs={"shuffle": False}, every_n_steps=5)
    assert messages == []

    weights, grads = [np.ones((d, 1))], []
    for _ in range(32):
        grads.append(2.0 / n * x.T.astype(np.float64) @ (x @ weights[-1] - t))
        weights.append(weights[-1] - lr * grads[-1])
    # Executions: [0-2] [3-5] ... [15] in the first epoch (16 steps), then
    # [16-18] ... [31]; the due steps 0, 5, 10, ... are recorded at the
    # last step of the execution that holds them, and the fit's last step.
    recorded = [2, 5, 11, 15, 21, 27, 30]
    weight = cb.series.matrices[md.VARIABLE_WEIGHT_NORM]
    assert list(weight.steps) == recorded + [31]
    np.testing.assert_allclose(
        weight.values[:, 0], [np.linalg.norm(weights[s + 1])
                              for s in recorded + [31]], rtol=1e-5)
    grad = cb.series.matrices[md.VARIABLE_GRAD_NORM]
    assert list(grad.steps) == recorded
    np.testing.assert_allclose(
        grad.values[:, 0], [np.linalg.norm(grads[s]) for s in recorded],
        rtol=1e-4)
    # An update ratio is per step, over the steps since the snapshot taken
    # at the start of the execution.
    ratio = cb.series.matrices[md.VARIABLE_UPDATE_RATIO]
    assert list(ratio.steps) == recorded
    starts = [0, 3, 9, 15, 19, 25, 28]
    expected = [np.linalg.norm(weights[s + 1] - weights[b])
                / np.linalg.norm(weights[b]) / (s + 1 - b)
                for s, b in zip(recorded, starts)]
    np.testing.assert_allclose(ratio.values[:, 0], expected, rtol=1e-4)
