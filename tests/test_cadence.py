"""What a record reads, and how often: the fused readout and the cadence.

The cadence's decisions are tested deterministically, with a fake clock
and simulated step and record costs (speed itself is measured in
benchmarks/overhead.py); the callback's reads on a real fit.
"""

import warnings

import keras
import numpy as np

from tensorboard_plugin_trainhealth import TrainHealthCallback
from tensorboard_plugin_trainhealth import cadence as cadence_lib
from tensorboard_plugin_trainhealth import metadata as md
from tensorboard_plugin_trainhealth.callback import TrainHealthWarning


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def advance(self, seconds):
        self.now += seconds


def simulate(cadence, clock, steps, step_time, record_cost, probe_cost,
             start=0, steps_per_epoch=None):
    """Drives `cadence` as the callback does over `steps` steps, each
    costing `step_time`; returns (recorded steps, probed steps, seconds
    spent recording)."""
    recorded, probed, spent = [], [], 0.0
    for completed in range(start, start + steps + 1):
        if steps_per_epoch and (completed - start) % steps_per_epoch == 0:
            cadence.epoch_started()
        cadence.step_started(completed)
        step = completed - 1
        if step >= start and cadence.is_due(step):
            began = clock()
            probe = cadence.probe_due(step)
            clock.advance(record_cost + (probe_cost if probe else 0.0))
            cadence.record_done(step, clock() - began,
                                probe_cost if probe else None)
            spent += clock() - began
            recorded.append(step)
            if probe:
                probed.append(step)
        if completed == cadence.next_record:
            clock.advance(0.0)
            cadence.snapshot_done(0.0)
        if completed < start + steps:
            clock.advance(step_time)
    return recorded, probed, spent


def _cadence(total, every="auto", start=0):
    clock = FakeClock()
    return cadence_lib.Cadence(every, total, start, clock), clock


def test_dense_start_records_every_floor_steps_with_the_probe():
    # Records cost 1/40 of a step: the dense start runs its 30 records.
    cadence, clock = _cadence(total=3000)  # floor: 3000 / 300 = 10
    recorded, probed, _ = simulate(cadence, clock, 3000, step_time=1.0,
                                   record_cost=0.005, probe_cost=0.02)
    dense = recorded[:cadence_lib.DENSE_RECORDS]
    assert dense == list(range(0, 10 * cadence_lib.DENSE_RECORDS, 10))
    assert probed[:cadence_lib.DENSE_RECORDS] == dense


def test_the_dense_start_ends_once_it_has_cost_its_share_of_the_fit():
    # A 30 s fit whose records cost 2.5 steps each: the dense start stops
    # once it has cost DENSE_SHARE of the fit (the first record, which
    # traces, not counted).
    cadence, clock = _cadence(total=3000)
    recorded, probed, _ = simulate(cadence, clock, 3000, step_time=0.01,
                                   record_cost=0.005, probe_cost=0.02)
    share = cadence_lib.DENSE_SHARE * 3000 * 0.01
    dense_records = 2 + int(share / 0.025)
    assert dense_records < cadence_lib.DENSE_RECORDS
    assert recorded[:dense_records] == list(range(0, 10 * dense_records, 10))
    assert probed[:dense_records] == recorded[:dense_records]
    assert recorded[dense_records] - recorded[dense_records - 1] > 10


def test_the_dense_start_keeps_its_minimum_on_a_fit_too_short_to_pay_for_it():
    cadence, clock = _cadence(total=100)
    recorded, probed, _ = simulate(cadence, clock, 100, step_time=0.001,
                                   record_cost=0.05, probe_cost=0.05)
    minimum = cadence_lib.DENSE_MIN_RECORDS
    assert recorded[:minimum] == list(range(minimum))
    assert recorded[minimum] > minimum
    # The probe, 50 steps' worth, runs on the first record only, and then
    # as coverage needs.
    assert probed[0] == 0 and set(probed[1:]).isdisjoint(range(1, minimum))
    assert max(np.diff(probed)) <= 10


def test_a_long_fit_spends_its_budget_and_no_more():
    # 100,000 steps of 10 ms: records cost 50 ms each, probes 250 ms.
    total = 100_000
    cadence, clock = _cadence(total)
    recorded, probed, spent = simulate(cadence, clock, total, step_time=0.01,
                                       record_cost=0.05, probe_cost=0.25,
                                       steps_per_epoch=1000)
    training = total * 0.01
    # 50 ms per record at 0.75% of 10 ms steps: one record per 667 steps,
    # rounded up to the next nice period.
    assert cadence.period == 1000
    dense = 2 + int(cadence_lib.DENSE_SECONDS / 0.3)
    later = np.diff(recorded[dense + 1:])
    # One period apart, but for at most one record placed where coverage
    # needs a probe (a tenth of the fit after one of the dense start's).
    assert np.sum(later != 1000) <= 1 and later.max() == 1000
    budget = (cadence_lib.RECORD_BUDGET + cadence_lib.PROBE_BUDGET) * training
    assert spent <= dense * 0.3 + budget + 0.3
    # The probe kept to its own share after the dense start, and ran.
    later_probes = [s for s in probed if s > recorded[dense]]
    assert 0 < len(later_probes) * 0.25 <= cadence_lib.PROBE_BUDGET * training + 0.25
    # Coverage: a long fit is covered by its budget alone.
    assert max(np.diff(probed)) <= total // 10


def test_a_short_fit_is_covered_end_to_end_whatever_records_cost():
    # Records cost 20x a step: the budget alone would leave a 1000-step fit
    # with a handful of records after the dense start.
    total = 1000
    cadence, clock = _cadence(total)
    recorded, probed, _ = simulate(cadence, clock, total, step_time=0.001,
                                   record_cost=0.02, probe_cost=0.05,
                                   steps_per_epoch=100)
    longest = total // 10
    assert max(np.diff(recorded)) <= longest
    assert max(np.diff(probed)) <= longest
    assert recorded[-1] >= total - longest
    assert probed[-1] >= total - longest
    # ... and no more than that: after the dense start, the longest gap
    # allowed, not a rounder number below it.
    assert len(recorded) <= cadence_lib.DENSE_MIN_RECORDS + 10


def test_coverage_probes_fall_a_full_tenth_apart_not_a_period_sooner():
    # A probe costing most of a step, on a fit of 360 steps (a recurrent
    # model's minute): coverage, not the budget, sets the probes. Records
    # every 20 steps would bring each probe forward to the last record
    # before the gap of 36, nearly doubling them.
    total = 360
    cadence, clock = _cadence(total)
    recorded, probed, _ = simulate(cadence, clock, total, step_time=0.167,
                                   record_cost=0.019, probe_cost=0.138,
                                   steps_per_epoch=20)
    gap = total // 10
    assert cadence.period < gap
    first_covered = probed.index(next(s for s in probed if s >= recorded[
        cadence_lib.DENSE_MIN_RECORDS]))
    assert set(np.diff(probed[first_covered:])) == {gap}
    assert max(np.diff(recorded)) <= gap
    assert probed[-1] >= total - gap


def test_the_dense_start_ends_once_it_has_cost_its_seconds():
    cadence, clock = _cadence(total=30_000)
    recorded, _, _ = simulate(cadence, clock, 30_000, step_time=0.01,
                              record_cost=0.3, probe_cost=0.0)
    # The first record traces and is not counted; then 0.3 s each, until
    # they have cost more than DENSE_SECONDS.
    dense_records = 2 + int(cadence_lib.DENSE_SECONDS / 0.3)
    assert recorded[:dense_records] == list(range(0, 100 * dense_records, 100))
    assert recorded[dense_records] - recorded[dense_records - 1] > 100


def test_a_fit_that_continues_the_previous_one_has_no_dense_start():
    # Records cost 1.6% of 100 steps: the first fit is held to a record
    # every tenth of itself; the second, covered with the first, spreads
    # them as the budget says, from its first step.
    first, clock = _cadence(total=1000)
    simulate(first, clock, 1000, step_time=0.01, record_cost=0.012,
             probe_cost=0.02, steps_per_epoch=1000)
    assert first.period == 100
    second = cadence_lib.Cadence("auto", 1000, 1000, clock, previous=first,
                                 span_steps=2000)
    assert second.dense_left == 0
    recorded, probed, _ = simulate(second, clock, 1000, step_time=0.01,
                                   record_cost=0.012, probe_cost=0.02,
                                   start=1000, steps_per_epoch=1000)
    # The budget's period from the first step, once the record that
    # carries the first fit's probe coverage over (a gap after its last
    # probe) has been placed.
    assert recorded[0] == 1000 and len(recorded) <= 6
    assert set(np.diff(recorded[1:])) == {200}
    assert max(np.diff([first.last_probe_step] + probed)) <= 200


def test_a_fixed_cadence_records_and_probes_every_n_steps():
    cadence, clock = _cadence(total=100, every=7)
    recorded, probed, _ = simulate(cadence, clock, 100, step_time=0.001,
                                   record_cost=1.0, probe_cost=1.0)
    assert recorded == list(range(0, 100, 7))
    assert probed == recorded


def test_a_later_fit_continues_on_due_steps():
    cadence, clock = _cadence(total=40, every=3, start=8)
    recorded, _, _ = simulate(cadence, clock, 40, step_time=0.01,
                              record_cost=0.001, probe_cost=0.001, start=8)
    assert recorded == list(range(9, 48, 3))


def test_an_unknown_length_has_the_unknown_floor_and_no_coverage_bound():
    cadence, _ = _cadence(total=None)
    assert cadence.period == cadence_lib.STEPS_WHEN_UNKNOWN
    assert cadence.max_gap is None


def test_a_run_of_unknown_length_told_its_length_is_covered_from_then_on():
    # Records that cost 5% of a step spread out freely while the length is
    # unknown (after the dense start); told the run has 6,000 steps, the
    # next records come within a tenth of it.
    cadence, clock = _cadence(total=None)
    recorded, _, _ = simulate(cadence, clock, 3000, 0.01, 0.05, 0.0,
                              steps_per_epoch=100)
    assert cadence.period > 600  # no coverage bound yet
    assert cadence.replan(6000)
    assert cadence.period == cadence.max_gap == 600
    assert cadence.next_record - recorded[-1] <= 600
    assert not cadence.replan(6000)  # told again: nothing changes


def test_nice_periods():
    assert [cadence_lib.nice_at_least(n) for n in (1, 3, 7, 11, 60, 101)] == \
        [1, 5, 10, 20, 100, 200]


# -- the callback's reads, on a real fit ----------------------------------------


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


def _fit(model, x, y, log_dir, epochs, batch_size=16, clock=None, **kwargs):
    cb = TrainHealthCallback(str(log_dir), verbose=0, **kwargs)
    if clock is not None:
        cb._clock = clock
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", TrainHealthWarning)
        model.fit(x, y, epochs=epochs, batch_size=batch_size, verbose=0,
                  callbacks=[cb])
    messages = [str(w.message) for w in caught
                if issubclass(w.category, TrainHealthWarning)]
    return cb, messages


class TickingClock(FakeClock):
    """Advances by a fixed tick at every reading: every timed piece of work
    seems to cost one tick, whatever this machine's speed."""

    def __init__(self, tick):
        super().__init__()
        self.tick = tick

    def __call__(self):
        self.now += self.tick
        return self.now


def test_a_real_fit_is_recorded_to_its_end_with_no_long_gap(tmp_path):
    x, y = _data(n=2048)
    model = _model()
    cb, messages = _fit(model, x, y, tmp_path / "run", epochs=3,
                        clock=TickingClock(0.05))
    assert messages == []
    total = 3 * 2048 // 16
    for tag in (md.VARIABLE_WEIGHT_NORM, md.LAYER_DEAD_FRACTION):
        steps = list(cb.series.matrices[tag].steps)
        assert steps[0] == 0 and steps[-1] == total - 1, tag
        assert max(np.diff(steps)) <= total // 10, (tag, steps)


def test_fused_read_is_used_and_equals_the_separate_reads(tmp_path):
    x, y = _data()
    model = _model()
    cb, messages = _fit(model, x, y, tmp_path / "run", epochs=1,
                        every_n_steps=4)
    assert messages == []
    reads = cb._fit.reads
    # The fused path was taken all along, not silently replaced.
    assert reads.readout is not None and reads.readout_error is None

    # Same model state, read both ways.
    reads.snapshot_weights(0)
    snapshot = reads.snapshot[1]
    fused = reads.read_fused(snapshot)
    separate = reads.read_separately(snapshot)
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


def test_a_set_cadence_records_every_signal_at_every_record(tmp_path):
    x, y = _data(n=512)
    model = _model()
    cb, messages = _fit(model, x, y, tmp_path / "run", epochs=2,
                        every_n_steps=5)
    assert messages == []
    expected = list(range(0, 64, 5)) + [63]  # and the fit's last step
    assert list(cb.series.matrices[md.VARIABLE_WEIGHT_NORM].steps) == expected
    assert list(cb.series.matrices[md.LAYER_DEAD_FRACTION].steps) == expected
    # Gradient norms are measured inside the step, on due steps only.
    assert list(cb.series.matrices[md.VARIABLE_GRAD_NORM].steps) == \
        list(range(0, 64, 5))


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
    assert cb._fit.reads.readout is None
    assert "injected fused failure" in str(cb._fit.reads.readout_error)
    due = list(range(0, 32, 2))
    for tag in (md.VARIABLE_WEIGHT_NORM, md.VARIABLE_UPDATE_RATIO,
                md.LAYER_DEAD_FRACTION):
        assert list(cb.series.matrices[tag].steps)[:len(due)] == due, tag
    assert list(cb.series.matrices[md.VARIABLE_GRAD_NORM].steps) == due
    assert list(cb.series.step_scalars[md.STEP_LOSS].steps) == due + [31]


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
    assert second._fit.reads.readout is first._fit.reads.readout
    assert second._fit.probe._compiled is first._fit.probe._compiled
    assert list(second.series.matrices[md.VARIABLE_GRAD_NORM].steps) == \
        list(range(16, 32, 4))


def test_a_loop_of_one_epoch_fits_pays_the_dense_start_once(tmp_path):
    x, y = _data(n=1024)  # 64 steps an epoch
    model = _model()
    clock = TickingClock(0.05)
    fits = [_fit(model, x, y, tmp_path / "run", epochs=1, clock=clock)[0]
            for _ in range(3)]
    assert fits[0]._fit.continues is None
    assert all(cb._fit.continues is not None for cb in fits[1:])
    assert all(cb._fit.cadence.dense_left == 0 for cb in fits[1:])
    per_fit = [list(cb.series.matrices[md.VARIABLE_WEIGHT_NORM].steps)
               for cb in fits]
    # The first fit's dense start records its first steps one by one; the
    # later fits spread their records from their first step on, and are
    # covered as one training with the fits before them.
    assert per_fit[0][:cadence_lib.DENSE_MIN_RECORDS] == list(
        range(cadence_lib.DENSE_MIN_RECORDS))
    for i, steps in enumerate(per_fit[1:], start=1):
        assert len(steps) < len(per_fit[0])
        assert steps[-1] == 64 * (i + 1) - 1
        assert max(np.diff(steps)) <= 64 * (i + 1) // 10
    # Another run, or a recompiled model, starts a phase of its own.
    other = _fit(model, x, y, tmp_path / "other", epochs=1, clock=clock)[0]
    assert other._fit.continues is None
    model.compile(keras.optimizers.SGD(0.01), "binary_crossentropy")
    again = _fit(model, x, y, tmp_path / "run", epochs=1, clock=clock)[0]
    assert again._fit.continues is None
