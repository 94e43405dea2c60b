"""When to record: the cadence of records and of the activation probe.

A record reads a few reductions from the device; the probe runs the model
on a few hundred samples and costs far more. `Cadence` decides, for one
`fit`, at which optimizer steps records fall and which of them run the
probe. Pure Python: it is given the steps and the time (an injectable
clock), and shared by the Keras callback and the plain-PyTorch monitor.

With `every_n_steps="auto"`:

* **Dense start.** The first records come at the densest cadence
  (`RECORDS_PER_FIT` per fit: every step for short fits): the start of
  training is where learning rates kill ReLUs and gradients explode. It
  lasts `DENSE_RECORDS` records at most, and ends earlier, after
  `DENSE_MIN_RECORDS`, once it has cost `DENSE_SHARE` of the fit's
  estimated training time (or `DENSE_SECONDS`, whichever is less). Its
  first record runs the probe, and the others while the probe fits in
  that share. A fit
  that continues the previous one (`previous=`: the same model, optimizer
  and variables, as a loop of `fit(epochs=1)` calls makes them) has no
  dense start, and keeps what records cost there.
* **Budget.** After that, what records cost on this run decides: records
  are spread out to cost at most `RECORD_BUDGET` of the training time, and
  the probe runs on a record only while everything it spent since the
  fit's first step (its setup and the dense start's probes included)
  stays within `PROBE_BUDGET` of the time.
* **Coverage.** Within a fit, no two consecutive records, and no two
  consecutive probes, are further apart than a tenth of the fit
  (`MAX_GAP_FRACTION`): a short fit spends more than the budget to stay
  readable; on fits of a minute or more the budget is what binds, unless
  one probe costs more than about a thousandth of the fit. Where coverage
  needs a probe, a record falls exactly a tenth of the fit after the last
  probe, off the period if need be, so that probes come no more often
  than coverage needs. For a fit that continues the previous ones, "the fit" is all of them (`span_steps`):
  a loop of short fits is read as the one training it is.

A fixed `every_n_steps=N` records every N steps (its multiples), probe
included, whatever it costs. With "auto", a record follows the one before
by the current period. The owner points the gradient tap at each record's
step (`GradientTap.set_due`).
"""

import math
import time

RECORDS_PER_FIT = 300
DENSE_RECORDS = 30
DENSE_MIN_RECORDS = 5
DENSE_SECONDS = 1.0
DENSE_SHARE = 0.005
RECORD_BUDGET = 0.0075
PROBE_BUDGET = 0.0075
MAX_GAP_FRACTION = 0.1
STEPS_WHEN_UNKNOWN = 50
# The first records include one-time tracing: costs are judged from later
# ones, the median of the latest few.
_WARMUP_RECORDS = 2
_COST_WINDOW = 5


def nice_at_least(n):
    """The smallest of 1, 2, 5, 10, 20, 50, ... that is >= n."""
    value = 1
    while value < n:
        for factor in (2, 2.5, 2):
            value = int(value * factor)
            if value >= n:
                break
    return value


class Cadence:
    """The record and probe cadence of one fit.

    Args:
        every_n_steps: `"auto"` or a positive int.
        total_steps: the steps this fit will run, if known (Keras gives
            `params["steps"] * epochs`); without it there is no coverage
            bound and the densest cadence is `STEPS_WHEN_UNKNOWN`.
        start_step: the optimizer step the fit starts at (a later fit
            continues the step axis).
        clock: seconds as a float, `time.perf_counter` by default; tests
            pass a fake one.
        previous: the `Cadence` of the fit this one continues (same model,
            optimizer and variables, no step in between), or None. A
            continuing fit has no dense start; its period and what records
            cost carry over.
        span_steps: the steps the coverage rule divides, when more than
            this fit's (a continuing fit: the steps since the first of the
            fits it continues, plus its own).

    The owner calls `epoch_started` when an epoch begins, `step_started`
    before each step, then, around its own work, `record_done` (with what
    the record and its probe cost) and `snapshot_done`. `next_record` is
    the next step to record; `period` the current spacing, which the
    gradient tap must follow.
    """

    def __init__(self, every_n_steps="auto", total_steps=None, start_step=0,
                 clock=time.perf_counter, previous=None, span_steps=None):
        if every_n_steps != "auto" and (
                isinstance(every_n_steps, bool)
                or not isinstance(every_n_steps, int) or every_n_steps < 1):
            raise ValueError("every_n_steps must be 'auto' or a positive int, "
                             "got %r" % (every_n_steps,))
        self.auto = every_n_steps == "auto"
        self.clock = clock
        self.total_steps = total_steps if total_steps else None
        if not self.auto:
            self.floor = every_n_steps
        elif self.total_steps:
            self.floor = max(1, math.ceil(self.total_steps / RECORDS_PER_FIT))
        else:
            self.floor = STEPS_WHEN_UNKNOWN
        span = max(span_steps or 0, self.total_steps or 0)
        self.max_gap = (max(self.floor, int(span * MAX_GAP_FRACTION))
                        if self.auto and self.total_steps else None)
        self.period = self.floor
        self.records = 0
        self.record_costs = []
        self.probe_costs = []
        self.last_probe_step = None
        self.last_probe_cost = 0.0
        self.last_step = None  # of this fit's latest record
        self.per_step = None  # training seconds per step, the latest measure
        continuing = self.auto and previous is not None and previous.auto
        if continuing:
            self.record_costs = previous.record_costs[-_COST_WINDOW:]
            self.probe_costs = previous.probe_costs[-_COST_WINDOW:]
            self.last_probe_step = previous.last_probe_step
            self.per_step = previous.per_step
            self.period = self._budget_period() or min(
                max(self.floor, previous.period), self.max_gap or previous.period)
        self.next_record = -(-int(start_step) // self.period) * self.period
        self.dense_left = DENSE_RECORDS if self.auto and not continuing else 0
        self.dense_spent = 0.0
        # The probe's budget is counted from the fit's first step, and
        # what it spends from there: the setup (`setup_done`), the dense
        # start's probes, and the others.
        self.budget_started = None
        self.probe_spent = 0.0
        self._pending_cost = 0.0
        # (time, step, spent) from the epoch's second step: its first may
        # trace the training step.
        self._epoch_clock = None
        self._epoch_first_step = None

    # -- what the owner tells ---------------------------------------------

    def epoch_started(self):
        """Timing restarts after each epoch's first step (which may trace)."""
        self._epoch_clock = None
        self._epoch_first_step = None

    def setup_done(self, cost):
        """The owner's setup for this fit (building the probe, its first
        reading, the facts) cost `cost` seconds: the probe's budget pays
        for it."""
        self.probe_spent += cost

    def step_started(self, completed):
        """Before the step that follows `completed` finished steps."""
        if self.budget_started is None:
            self.budget_started = self.clock()
        if self._epoch_clock is not None:
            return
        if self._epoch_first_step is None:
            self._epoch_first_step = completed
        elif completed > self._epoch_first_step:
            self._epoch_clock = [self.clock(), completed, 0.0]

    def snapshot_done(self, cost):
        """A weight snapshot (for update ratios) cost `cost` seconds; it
        belongs to the record that follows it."""
        self._spend(cost)
        self._pending_cost += cost

    def record_done(self, step, cost, probe_cost=None):
        """The record of `step` cost `cost` seconds in all, its probe
        `probe_cost` of them (None: the probe did not run). Returns True
        when the period changed."""
        self._spend(cost)
        self.records += 1
        self.last_step = step
        if probe_cost is not None:
            self.last_probe_step = step
            self.last_probe_cost = probe_cost
            self.probe_costs.append(probe_cost)
            self.probe_spent += probe_cost
        norms_cost = cost - (probe_cost or 0.0) + self._pending_cost
        self._pending_cost = 0.0
        self.record_costs.append(norms_cost)
        self.next_record = (self._next_after(step) if self.auto
                            else (step // self.period + 1) * self.period)
        if not self.auto:
            return False
        if self.dense_left > 0:
            self.dense_left -= 1
            if self.records > 1:
                self.dense_spent += cost  # the first record traces
            if self.dense_left > 0 and not self._dense_start_spent(step):
                return False
            self.dense_left = 0
        return self._adapt(step)

    def replan(self, total_steps):
        """The fit's length became known, or was found longer than planned
        (a plain PyTorch loop tells its steps only as it runs): the densest
        cadence and the coverage bound follow `total_steps`, while the dense
        start and the costs measured so far are kept. Returns True when the
        period changed."""
        if not self.auto or not total_steps:
            return False
        self.total_steps = int(total_steps)
        self.floor = max(1, math.ceil(self.total_steps / RECORDS_PER_FIT))
        self.max_gap = max(self.floor, int(self.total_steps * MAX_GAP_FRACTION))
        period = min(max(self.floor, self.period), self.max_gap)
        if period == self.period:
            return False
        self.period = period
        if self.last_step is not None:
            self.next_record = self._next_after(self.last_step)
        return True

    # -- what the owner asks ----------------------------------------------

    def is_due(self, step):
        """Whether `step` (just finished) is recorded."""
        return step >= self.next_record

    def probe_due(self, step):
        """Whether the record of `step` runs the activation probe."""
        if not self.auto:
            return True
        if self.dense_left > 0:
            # The dense start probes its first record, and the others
            # while they stay within its share.
            return (not self.probe_costs or self.dense_spent
                    + _median(self.probe_costs[-_COST_WINDOW:])
                    <= self._dense_allowance(step))
        if self.last_probe_step is None or (
                self.max_gap is not None
                and step - self.last_probe_step >= self.max_gap):
            # Coverage: a tenth of the fit without a probe (records are
            # placed so that one falls exactly there, `_next_after`).
            return True
        now = self.clock()
        elapsed = now - (now if self.budget_started is None
                         else self.budget_started)
        estimate = _median(self.probe_costs[-_COST_WINDOW:])
        return self.probe_spent + estimate <= PROBE_BUDGET * elapsed

    # -- inside -----------------------------------------------------------

    def _spend(self, cost):
        if self._epoch_clock is not None:
            self._epoch_clock[2] += cost

    def _training_per_step(self, step):
        """Seconds of training per step in this epoch so far, or None."""
        if self._epoch_clock is None:
            return None
        started, start_step, spent = self._epoch_clock
        steps = step + 1 - start_step
        training = self.clock() - started - spent
        if steps < 1 or training <= 0:
            return None
        return training / steps

    def _dense_allowance(self, step):
        """What the dense start may cost: its share of the fit's estimated
        training time, at most DENSE_SECONDS."""
        per_step = self._training_per_step(step)
        if not self.total_steps or per_step is None:
            return DENSE_SECONDS
        return min(DENSE_SECONDS, DENSE_SHARE * per_step * self.total_steps)

    def _dense_start_spent(self, step):
        """Whether the dense start has had its share of the fit."""
        return (self.records >= DENSE_MIN_RECORDS
                and self.dense_spent > self._dense_allowance(step))

    def _adapt(self, step):
        """Spreads records out until they cost about RECORD_BUDGET."""
        if self._epoch_clock is not None \
                and step + 1 - self._epoch_clock[1] >= 2:
            self.per_step = self._training_per_step(step) or self.per_step
        period = self._budget_period()
        if period is None or period == self.period:
            return False
        self.period = period
        self.next_record = self._next_after(step)
        return True

    def _next_after(self, step):
        """The record after `step`: a period on, or sooner where the
        coverage rule needs a probe, exactly a tenth of the fit after the
        last one (a period that does not divide the gap would otherwise
        bring the probe forward, and with it more probes than coverage
        needs)."""
        following = step + self.period
        if self.max_gap is not None and self.last_probe_step is not None:
            probe_by = self.last_probe_step + self.max_gap
            if step < probe_by < following:
                return probe_by
        return following

    def _budget_period(self):
        """The period at which records cost RECORD_BUDGET, within the
        floor and the coverage bound; None until costs are known."""
        if len(self.record_costs) <= _WARMUP_RECORDS or self.per_step is None:
            return None
        cost = _median(self.record_costs[-_COST_WINDOW:])
        needed = cost / (RECORD_BUDGET * self.per_step)
        period = max(self.floor, nice_at_least(needed))
        if self.max_gap is not None and period > self.max_gap:
            # Coverage binds: the longest gap it allows, exactly (a nice
            # number below it could double the records).
            period = self.max_gap
        return period


def _median(values):
    if not values:
        return 0.0
    ordered = sorted(values)
    mid = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[mid]
    return 0.5 * (ordered[mid - 1] + ordered[mid])
