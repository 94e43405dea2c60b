"""What a record reads, and how often: the fused readout and the "auto" budget.

Speed itself is measured in benchmarks/overhead.py; these tests check the
behaviour the budget relies on: one fused read that equals the separate
reads, a dense start, records spread out once they cost more than their
share, and a probe that keeps to its own share.
"""

import time
import warnings

import keras
import numpy as np

from tensorboard_plugin_trainhealth import TrainHealthCallback
from tensorboard_plugin_trainhealth import callback as callback_lib
from tensorboard_plugin_trainhealth import metadata as md
from tensorboard_plugin_trainhealth.callback import TrainHealthWarning


def _data(n=2048, d=8, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)).astype("float32")
    y = (x[:, :4].sum(axis=1) > 0).astype("float32")
    return x, y


def _model(d=8, width=16, seed=0):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([
        keras.Input((d,)),
        keras.layers.Dense(width, activation="relu", name="hidden"),
        keras.layers.Dense(1, activation="sigmoid", name="output"),
    ])
    model.compile(keras.optimizers.SGD(0.05), "binary_crossentropy")
    return model


def _fit(model, x, y, log_dir, epochs, batch_size=16, **kwargs):
    cb = TrainHealthCallback(str(log_dir), verbose=0, **kwargs)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", TrainHealthWarning)
        model.fit(x, y, epochs=epochs, batch_size=batch_size, verbose=0,
                  callbacks=[cb])
    messages = [str(w.message) for w in caught
                if issubclass(w.category, TrainHealthWarning)
                and "TrainHealthCallback" in str(w.message)]
    return cb, messages


def test_fused_read_is_used_and_equals_the_separate_reads(tmp_path):
    x, y = _data()
    model = _model()
    cb, messages = _fit(model, x, y, tmp_path / "run", epochs=1,
                        every_n_steps=4)
    assert messages == []
    # The fused path was taken all along, not silently replaced.
    assert cb._readout is not None and cb._readout_error is None

    # Same model state, read both ways.
    cb._snapshot_weights(0)
    snapshot = cb._snapshot[1]
    fused = cb._read_fused(snapshot)
    separate = cb._read_separately(snapshot)
    for name in ("weight_norm", "update_norm", "snapshot_norm", "grad_norm",
                 "grad_step", "loss", "learning_rate"):
        np.testing.assert_allclose(fused[name], separate[name], rtol=1e-5,
                                   err_msg=name)
    # No step ran since the snapshot: nothing moved.
    np.testing.assert_array_equal(fused["update_norm"], 0.0)
    kernel = model.get_layer("hidden").kernel
    np.testing.assert_allclose(
        fused["weight_norm"][0], np.linalg.norm(np.asarray(kernel)), rtol=1e-5)
    np.testing.assert_allclose(fused["learning_rate"], 0.05, rtol=1e-6)


def test_auto_records_densely_first_then_within_its_budget(tmp_path):
    # A tiny model: a step costs about as much as a record's bookkeeping,
    # so the budget must spread records out after the dense start.
    x, y = _data(n=4096)
    model = _model()
    cb, messages = _fit(model, x, y, tmp_path / "run", epochs=3)
    assert messages == []
    steps = list(cb.series.matrices[md.VARIABLE_WEIGHT_NORM].steps)
    total = 3 * 4096 // 16
    floor = -(-total // callback_lib.AUTO_RECORDS_PER_FIT)
    dense = steps[:callback_lib.AUTO_DENSE_RECORDS]
    assert dense == list(range(0, floor * len(dense), floor))
    assert len(dense) == callback_lib.AUTO_DENSE_RECORDS
    # Records, once measured, cost far more than 0.75% of a step each: after
    # the dense start they are spread far apart (the first gap only reaches
    # the next multiple of the new cadence).
    later = np.diff(steps[callback_lib.AUTO_DENSE_RECORDS:])
    assert len(later) > 0 and later.min() >= 10 * floor, steps
    assert cb._every >= 10 * floor

    # The probe kept to its own share of the time after the dense start.
    probe = cb.series.matrices[md.LAYER_DEAD_FRACTION]
    assert list(probe.steps[:len(dense)]) == dense
    assert cb._budget_start is not None
    elapsed = time.perf_counter() - cb._budget_start
    assert cb._probe_spent <= (callback_lib.PROBE_OVERHEAD_BUDGET * elapsed
                               + max(cb._probe_costs))


def test_a_set_cadence_records_every_signal_at_every_record(tmp_path):
    x, y = _data(n=512)
    model = _model()
    cb, messages = _fit(model, x, y, tmp_path / "run", epochs=2,
                        every_n_steps=3)
    assert messages == []
    expected = list(range(0, 64, 3))
    assert list(cb.series.matrices[md.VARIABLE_WEIGHT_NORM].steps) == expected
    assert list(cb.series.matrices[md.LAYER_DEAD_FRACTION].steps) == expected
    assert list(cb.series.matrices[md.VARIABLE_GRAD_NORM].steps) == expected


def test_a_failing_fused_read_falls_back_to_guarded_reads(tmp_path,
                                                          monkeypatch):
    from tensorboard_plugin_trainhealth import readout

    def broken(self, group_names, snapshot=None):
        raise RuntimeError("injected fused failure")

    monkeypatch.setattr(readout.FusedReadout, "read", broken)
    x, y = _data(n=512)
    model = _model()
    cb, messages = _fit(model, x, y, tmp_path / "run", epochs=1,
                        every_n_steps=2)
    # Nothing was lost and nobody was bothered: the separate reads took over.
    assert messages == []
    assert cb._readout is None
    assert "injected fused failure" in str(cb._readout_error)
    for tag in (md.VARIABLE_WEIGHT_NORM, md.VARIABLE_UPDATE_RATIO,
                md.VARIABLE_GRAD_NORM, md.LAYER_DEAD_FRACTION):
        assert list(cb.series.matrices[tag].steps) == list(range(0, 32, 2)), tag
    assert list(cb.series.step_scalars[md.STEP_LOSS].steps) == list(range(0, 32, 2))


def test_a_callback_added_to_a_trained_model_records_on_due_steps(tmp_path):
    x, y = _data(n=128)
    model = _model()
    model.fit(x, y, epochs=1, batch_size=16, verbose=0)  # 8 steps, no callback
    cb, messages = _fit(model, x, y, tmp_path / "run", epochs=1,
                        every_n_steps=3)
    assert messages == []
    # Steps 8..15 ran; the due ones are the multiples of 3.
    assert list(cb.series.matrices[md.VARIABLE_GRAD_NORM].steps) == [9, 12, 15]
    assert list(cb.series.matrices[md.VARIABLE_WEIGHT_NORM].steps) == [9, 12, 15]


def test_compiled_reads_are_kept_on_the_model_across_fits(tmp_path):
    x, y = _data(n=256)
    model = _model()
    first, _ = _fit(model, x, y, tmp_path / "a", epochs=1, every_n_steps=4)
    second, messages = _fit(model, x, y, tmp_path / "b", epochs=1,
                            every_n_steps=4)
    assert messages == []
    assert second._readout is first._readout
    assert second._probe._fn is first._probe._fn
    assert list(second.series.matrices[md.VARIABLE_GRAD_NORM].steps) == \
        list(range(16, 32, 4))
