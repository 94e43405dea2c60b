"""The callback under faults: training always goes on, nothing written is lost.

Fault injection replaces one function at a time with one that raises (the
signal's computation, the event-file layer, the probe), then checks that
`fit` completes, that exactly one `TrainHealthWarning` names the fault, that
the other signals are still recorded, and that what was written reads back.
Then: runs that end badly (Ctrl-C, an exception, NaN with TerminateOnNaN),
resumed trainings, and unusual models.
"""

import errno
import os
import subprocess
import sys
import time
import warnings

import keras
import numpy as np
import pytest
from tensorboard import context
from tensorboard.summary.writer import record_writer

from tensorboard_plugin_trainhealth import TrainHealthCallback
from tensorboard_plugin_trainhealth import callback as callback_lib
from tensorboard_plugin_trainhealth import diagnosis
from tensorboard_plugin_trainhealth import gradients
from tensorboard_plugin_trainhealth import metadata as md
from tensorboard_plugin_trainhealth import reader
from tensorboard_plugin_trainhealth import readout as readout_lib
from tensorboard_plugin_trainhealth import stats
from tensorboard_plugin_trainhealth.callback import TrainHealthWarning

EPOCHS = 3


def _data(n=192, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 6)).astype("float32")
    y = (x[:, :3].sum(axis=1) > 0).astype("float32")
    return x, y


def _model():
    model = keras.Sequential([
        keras.Input((6,)),
        keras.layers.Dense(12, activation="relu", name="hidden"),
        keras.layers.Dropout(0.1),  # a layer with no activation at all
        keras.layers.Dense(1, activation="sigmoid", name="head"),
    ])
    model.compile(keras.optimizers.Adam(1e-3), "binary_crossentropy")
    return model


def _fit(log_dir, model=None, epochs=EPOCHS, callbacks=(), **kwargs):
    x, y = _data()
    model = model or _model()
    cb = TrainHealthCallback(str(log_dir), every_n_steps=2, verbose=0, **kwargs)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", TrainHealthWarning)
        history = model.fit(x, y, epochs=epochs, batch_size=32, verbose=0,
                            callbacks=[cb, *callbacks])
    messages = [str(w.message) for w in caught
                if issubclass(w.category, TrainHealthWarning)]
    return cb, history, messages


def _read(logdir, run="run"):
    return reader.read_run(reader.open_logdir(str(logdir)),
                           context.RequestContext(), "", run)


def _raise(*args, **kwargs):
    raise RuntimeError("injected fault")


# Each fault: (what to replace, the signal named in the warning, a tag that
# must still be recorded, a tag that must be missing).
FAULTS = {
    "weights": ((stats, "weight_norms"), "weights",
                md.VARIABLE_GRAD_NORM, md.VARIABLE_WEIGHT_NORM),
    "update_ratios": ((stats, "update_norms"), "update_ratios",
                      md.VARIABLE_WEIGHT_NORM, md.VARIABLE_UPDATE_RATIO),
    "activation_stats": ((stats, "unit_max"), "activation_stats",
                         md.VARIABLE_GRAD_NORM, md.LAYER_DEAD_FRACTION),
    "gradient_norms": ((gradients, "_dense_values"), "gradient norms",
                       md.LAYER_DEAD_FRACTION, md.VARIABLE_GRAD_NORM),
    "diagnosis": ((diagnosis, "diagnose"), "diagnosis",
                  md.VARIABLE_GRAD_NORM, None),
    "epoch": ((callback_lib.TrainHealthCallback, "_write_epoch"), "epoch",
              md.VARIABLE_GRAD_NORM, None),
    "loss": ((readout_lib, "current_loss"), "loss",
             md.VARIABLE_GRAD_NORM, None),
}


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_a_failing_signal_is_switched_off_with_one_warning(fault, tmp_path,
                                                           monkeypatch):
    (owner, name), signal, kept, lost = FAULTS[fault]
    monkeypatch.setattr(owner, name, _raise)
    cb, history, messages = _fit(tmp_path / "run")
    assert len(history.history["loss"]) == EPOCHS
    assert len(messages) == 1, messages
    assert signal in messages[0] and "injected fault" in messages[0]
    run = _read(tmp_path)
    assert run.problems == []
    assert len(run.matrices[kept].steps) > 0
    if lost is not None:
        assert lost not in run.matrices or len(run.matrices[lost].steps) == 0


def test_unwritable_log_dir_warns_once_and_training_goes_on(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a directory")
    cb, history, messages = _fit(blocker / "run")
    assert len(history.history["loss"]) == EPOCHS
    assert len(messages) == 1 and "writer switched off" in messages[0]
    # Live diagnosis still works from memory.
    assert len(cb.series.matrices[md.VARIABLE_GRAD_NORM].steps) > 0


def test_disk_full_keeps_what_was_written(tmp_path, monkeypatch):
    real_write = record_writer.RecordWriter.write
    writes = []

    def write_until_full(self, data):
        if len(writes) >= 40:
            raise OSError(errno.ENOSPC, "No space left on device")
        writes.append(data)
        return real_write(self, data)

    monkeypatch.setattr(record_writer.RecordWriter, "write", write_until_full)
    cb, history, messages = _fit(tmp_path / "run")
    assert len(history.history["loss"]) == EPOCHS
    assert len(messages) == 1, messages
    assert "writer switched off" in messages[0]
    assert "No space left" in messages[0]
    run = _read(tmp_path)
    recorded = cb.series.matrices[md.VARIABLE_GRAD_NORM]
    on_disk = run.matrices[md.VARIABLE_GRAD_NORM]
    # What reached the disk is a readable prefix of what was recorded.
    assert 0 < len(on_disk.steps) < len(recorded.steps)
    np.testing.assert_array_equal(on_disk.steps,
                                  recorded.steps[:len(on_disk.steps)])


class _Interrupt(keras.callbacks.Callback):
    def __init__(self, at_batch, error):
        super().__init__()
        self.at_batch, self.error = at_batch, error

    def on_train_batch_begin(self, batch, logs=None):
        if batch == self.at_batch:
            raise self.error


@pytest.mark.parametrize("error", [KeyboardInterrupt(), RuntimeError("boom")],
                         ids=["ctrl_c", "exception"])
def test_records_survive_a_fit_that_raises(error, tmp_path):
    x, y = _data()
    model = _model()
    cb = TrainHealthCallback(str(tmp_path / "run"), every_n_steps=1, verbose=0)
    with pytest.raises(type(error)):
        model.fit(x, y, epochs=1, batch_size=32, verbose=0,
                  callbacks=[cb, _Interrupt(5, error)])
    # on_train_end never ran, the file is still open: everything recorded
    # up to the interruption (step 4 is recorded as step 5 begins, just
    # before the interruption) is already readable.
    run = _read(tmp_path)
    np.testing.assert_array_equal(run.matrices[md.VARIABLE_GRAD_NORM].steps,
                                  [0, 1, 2, 3, 4])
    np.testing.assert_array_equal(
        run.matrices[md.VARIABLE_GRAD_NORM].steps,
        cb.series.matrices[md.VARIABLE_GRAD_NORM].steps)


@pytest.mark.parametrize("error", [KeyboardInterrupt(), RuntimeError("boom")],
                         ids=["ctrl_c", "exception"])
def test_the_last_step_of_an_interrupted_fit_is_recorded_by_the_next(error,
                                                                     tmp_path):
    x, y = _data()
    model = _model()
    cb = TrainHealthCallback(str(tmp_path / "run"), every_n_steps=3, verbose=0)
    with pytest.raises(type(error)):
        model.fit(x, y, epochs=1, batch_size=32, verbose=0,
                  callbacks=[cb, _Interrupt(5, error)])
    # Steps 0-4 ran; 0 and 3 were due. A notebook's next fit finishes the
    # interrupted one first: its last step, 4, is recorded.
    model.fit(x, y, epochs=1, batch_size=32, verbose=0, callbacks=[cb])
    steps = list(_read(tmp_path).matrices[md.VARIABLE_WEIGHT_NORM].steps)
    assert steps[:3] == [0, 3, 4], steps
    assert steps[-1] == 5 + len(x) // 32 - 1


INTERRUPTED_TRAINER = r"""
import sys, numpy as np, keras
from tensorboard_plugin_trainhealth import TrainHealthCallback

class Interrupt(keras.callbacks.Callback):
    def on_train_batch_begin(self, batch, logs=None):
        if batch == 5:
            raise KeyboardInterrupt

rng = np.random.default_rng(0)
x = rng.normal(size=(320, 6)).astype("float32")
y = (x.sum(axis=1) > 0).astype("float32")
model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(8, activation="relu"),
                          keras.layers.Dense(1, activation="sigmoid")])
model.compile("adam", "binary_crossentropy")
model.fit(x, y, epochs=2, batch_size=32, verbose=0,
          callbacks=[TrainHealthCallback(sys.argv[1], every_n_steps=3, verbose=0),
                     Interrupt()])
"""


def test_the_last_step_of_a_fit_killed_by_ctrl_c_is_recorded_at_exit(tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", INTERRUPTED_TRAINER, str(tmp_path / "run")],
        capture_output=True, text=True, timeout=300)
    assert "KeyboardInterrupt" in result.stderr
    steps = list(_read(tmp_path).matrices[md.VARIABLE_WEIGHT_NORM].steps)
    assert steps == [0, 3, 4], steps


# The interrupted fit caught, then another model trained to its end with its
# own callback: finishing that one must leave the first one's exit hook.
INTERRUPTED_THEN_ANOTHER = INTERRUPTED_TRAINER.replace(
    "model.fit(", "try:\n  model.fit(").replace(
    "                     Interrupt()])",
    "                     Interrupt()])\nexcept KeyboardInterrupt:\n  pass"
) + r"""
other = keras.Sequential([keras.Input((6,)), keras.layers.Dense(1)])
other.compile("sgd", "mse")
other.fit(x, y, epochs=1, batch_size=32, verbose=0,
          callbacks=[TrainHealthCallback(sys.argv[2], verbose=0)])
"""


def test_another_callback_finishing_keeps_the_interrupted_ones_exit_hook(
        tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", INTERRUPTED_THEN_ANOTHER, str(tmp_path / "run"),
         str(tmp_path / "other")],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    steps = list(_read(tmp_path).matrices[md.VARIABLE_WEIGHT_NORM].steps)
    assert steps == [0, 3, 4], steps


def test_nan_loss_with_terminate_on_nan_keeps_the_last_records(tmp_path):
    x, y = _data()
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(8),
                              keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(50.0), "mse")
    cb = TrainHealthCallback(str(tmp_path / "run"), every_n_steps=1, verbose=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TrainHealthWarning)
        model.fit(x * 100, y * 100, epochs=5, batch_size=32, verbose=0,
                  callbacks=[cb, keras.callbacks.TerminateOnNaN()])
    run = _read(tmp_path)
    flags = run.scalar(md.STEP_NONFINITE_GRADIENTS)
    assert flags.values[-1] == 1.0
    alerts = diagnosis.diagnose(run)
    kinds = {a.kind for a in alerts} | {c.kind for a in alerts
                                        for c in a.consequences}
    assert "non_finite" in kinds


def _assert_continuous(run):
    steps = run.matrices[md.VARIABLE_GRAD_NORM].steps
    assert np.all(np.diff(steps) > 0), steps
    epochs = run.epoch("loss").steps
    assert list(epochs) == list(range(len(epochs))), epochs
    assert np.all(np.diff(run.epoch_end_step.values) > 0)


def test_resumed_trainings_continue_the_step_and_epoch_axes(tmp_path):
    x, y = _data()
    model = _model()
    log_dir = str(tmp_path / "run")
    model.fit(x, y, epochs=2, batch_size=32, verbose=0,
              callbacks=[TrainHealthCallback(log_dir, every_n_steps=2, verbose=0)])
    # A second fit without initial_epoch: Keras counts epochs from 0 again.
    model.fit(x, y, epochs=2, batch_size=32, verbose=0,
              callbacks=[TrainHealthCallback(log_dir, every_n_steps=2, verbose=0)])
    # Then saved, restored and resumed with initial_epoch, as after a crash.
    path = str(tmp_path / "checkpoint.keras")
    model.save(path)
    restored = keras.models.load_model(path)
    restored.fit(x, y, initial_epoch=4, epochs=6, batch_size=32, verbose=0,
                 callbacks=[TrainHealthCallback(log_dir, every_n_steps=2,
                                                verbose=0)])
    run = _read(tmp_path)
    _assert_continuous(run)
    assert len(run.epoch("loss")) == 6
    assert run.matrices[md.VARIABLE_GRAD_NORM].steps[-1] == 6 * 6 - 2


def test_files_opened_within_one_second_are_all_read(tmp_path):
    # TensorBoard's Python loader skips a file whose name sorts before one
    # created earlier; the event-file counter sorts "10" before "9", so a
    # dozen writers opened into one run quickly must still all be read.
    from tensorboard_plugin_trainhealth.writer import SummaryWriter

    log_dir = str(tmp_path / "run")
    for step in range(12):
        writer = SummaryWriter(log_dir)
        writer.scalar(md.STEP_LOSS, step, float(step))
        writer.close()
    names = os.listdir(log_dir)
    assert sorted(names) == sorted(
        names, key=lambda n: os.path.getmtime(os.path.join(log_dir, n)))
    loss = _read(tmp_path).scalar(md.STEP_LOSS)
    assert list(loss.steps) == list(range(12))
    assert list(loss.values) == [float(s) for s in range(12)]


def test_custom_train_step_subclassed_model(tmp_path):
    if keras.backend.backend() != "tensorflow":
        pytest.skip("a custom train_step is written per backend")
    import tensorflow as tf

    class Custom(keras.Model):
        def __init__(self):
            super().__init__()
            self.hidden = keras.layers.Dense(8, activation="tanh")
            self.out = keras.layers.Dense(1)

        def call(self, x):
            return self.out(self.hidden(x))

        def train_step(self, data):
            x, y = data
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean(tf.square(self(x, training=True) - y))
            grads = tape.gradient(loss, self.trainable_variables)
            self.optimizer.apply_gradients(zip(grads, self.trainable_variables))
            return {"loss": loss}

    model = Custom()
    model.compile(keras.optimizers.SGD(0.01))
    cb, history, messages = _fit(tmp_path / "run", model=model)
    assert messages == []
    assert cb.series.matrices[md.LAYER_SATURATION].names == [model.hidden.name]
    assert np.all(cb.series.matrices[md.VARIABLE_GRAD_NORM].values > 0)


def test_shared_layer_is_judged_over_all_its_calls(tmp_path):
    # Each unit of the shared layer is alive on exactly one of the two
    # inputs: judged on one call half its units would look dead.
    shared = keras.layers.Dense(
        2, activation="relu", name="shared", use_bias=False,
        kernel_initializer=keras.initializers.Constant([[1.0, -1.0]]))
    a, b = keras.Input((1,)), keras.Input((1,))
    joined = keras.layers.Concatenate()([shared(a), shared(b)])
    model = keras.Model([a, b], keras.layers.Dense(1)(joined))
    model.compile(keras.optimizers.SGD(0.0), "mse")
    xa = np.ones((64, 1), np.float32)
    xb = -np.ones((64, 1), np.float32)
    cb = TrainHealthCallback(str(tmp_path / "run"), every_n_steps=1, verbose=0)
    model.fit([xa, xb], np.zeros((64, 1)), epochs=1, batch_size=32, verbose=0,
              callbacks=[cb])
    dead = cb.series.matrices[md.LAYER_DEAD_FRACTION]
    assert dead.names == ["shared"]
    np.testing.assert_array_equal(dead.values, 0.0)


def test_mixed_precision_records_unscaled_finite_gradients(tmp_path):
    if keras.backend.backend() != "tensorflow":
        pytest.skip("float16 matmuls on CPU are a TensorFlow feature here")
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = _model()
        assert type(model.optimizer).__name__ == "LossScaleOptimizer"
        cb, history, messages = _fit(tmp_path / "run", model=model)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert messages == []
    norms = cb.series.scalar(md.STEP_GRAD_NORM).values
    # Loss-scaled gradients would be ~32768x larger.
    assert np.all(np.isfinite(norms)) and np.all(norms < 100)
    assert np.all(norms > 0)


def test_very_wide_layer_is_probed_in_chunks_with_every_sample(tmp_path):
    x, y = _data(n=256)
    model = keras.Sequential([
        keras.Input((6,)),
        keras.layers.Dense(100_000, activation="relu", name="wide"),
        keras.layers.Dense(1),
    ])
    model.compile(keras.optimizers.SGD(1e-3), "mse")
    cb = TrainHealthCallback(str(tmp_path / "run"), every_n_steps=4, verbose=0)
    model.fit(x, y, epochs=1, batch_size=64, verbose=0, callbacks=[cb])
    budget = callback_lib.PROBE_MEMORY_BUDGET_BYTES
    probe = cb.series.facts["probe"]
    assert probe["samples"] == 256 and probe["requested"] == 256
    assert probe["chunks"] > 1
    assert (256 // probe["chunks"]) * 100_000 * 8 <= budget
    dead = cb.series.matrices[md.LAYER_DEAD_FRACTION]
    assert len(dead.steps) > 0
    # The same fraction as reading all 256 outputs at once, on the host.
    kernel, bias = (np.asarray(w) for w in model.get_layer("wide").get_weights())
    outputs = np.maximum(np.asarray(x[:256]) @ kernel + bias, 0)
    np.testing.assert_allclose(dead.values[-1, 0],
                               np.mean(outputs.max(axis=0) <= 0), atol=1e-6)


LIVE_TRAINER = r"""
import sys, time, numpy as np, keras
from tensorboard_plugin_trainhealth import TrainHealthCallback

class Slow(keras.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        time.sleep(0.05)

rng = np.random.default_rng(0)
x = rng.normal(size=(320, 6)).astype("float32")
y = (x.sum(axis=1) > 0).astype("float32")
model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(8, activation="relu"),
                          keras.layers.Dense(1, activation="sigmoid")])
model.compile("adam", "binary_crossentropy")
model.fit(x, y, epochs=4, batch_size=32, verbose=0,
          callbacks=[TrainHealthCallback(sys.argv[1], every_n_steps=1, verbose=0), Slow()])
print("done")
"""


def test_reading_while_a_training_writes(tmp_path):
    """A real training in another process; we poll through TensorBoard."""
    trainer = subprocess.Popen([sys.executable, "-c", LIVE_TRAINER,
                                str(tmp_path / "run")],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    seen = []
    try:
        deadline = time.time() + 180
        while trainer.poll() is None and time.time() < deadline:
            run = _read(tmp_path)
            if run is not None:
                assert run.problems == []
                grad = run.matrices.get(md.VARIABLE_GRAD_NORM)
                if grad is not None and len(grad.steps):
                    # Whole records only: every row is complete and finite.
                    assert grad.values.shape[1] == 4
                    assert np.all(np.isfinite(grad.values))
                    seen.append(int(grad.steps[-1]))
            time.sleep(0.3)
        out, err = trainer.communicate(timeout=60)
        assert trainer.returncode == 0, err[-2000:]
    finally:
        if trainer.poll() is None:
            trainer.kill()
    assert len(seen) >= 2 and seen == sorted(seen)  # never goes backwards
    # Once the writer has closed, one more read has the very last step.
    final = _read(tmp_path).matrices[md.VARIABLE_GRAD_NORM]
    assert final.steps[-1] == 4 * 10 - 1
    assert seen[-1] <= final.steps[-1]


@pytest.fixture
def read_only_dir(tmp_path):
    """A directory on a read-only file system (where root cannot write
    either); skips where mounting is not allowed."""
    mount_point = tmp_path / "read_only"
    mount_point.mkdir()
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(mount_point)],
        capture_output=True)
    if result.returncode != 0:
        pytest.skip("cannot mount a read-only file system here")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", str(mount_point)], capture_output=True)


@pytest.mark.filterwarnings("error::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_read_only_log_dir_gives_one_warning_and_no_traceback(read_only_dir,
                                                                capfd):
    cb, history, messages = _fit(read_only_dir)
    assert len(history.history["loss"]) == EPOCHS
    assert len(messages) == 1 and "writer switched off" in messages[0], messages
    assert "Traceback" not in capfd.readouterr().err
    # Live diagnosis still works from memory.
    assert len(cb.series.matrices[md.VARIABLE_GRAD_NORM].steps) > 0
