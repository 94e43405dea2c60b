"""When to record: the cadence of records and of the activation probe.

A record reads a few reductions from the device; the probe runs the model
on a few hundred samples and costs far more. `Cadence` decides, for one
`fit`, at which optimizer steps records fall and which of them run the
probe. Pure Python: it is given the steps and the time (an injectable
clock), and shared by the Keras callback and the plain-PyTorch monitor.

With `every_n_steps="auto"`:

* **Dense start.** The first `DENSE_RECORDS` records come at the densest
  cadence (`RECORDS_PER_FIT` per fit: every step for short fits), with the
  probe: the start of training is where learning rates kill ReLUs and
  gradients explode. The dense start ends early once it has cost
  `DENSE_SECONDS`.
* **Budget.** After that, what records cost on this run decides: records
  are spread out to cost at most `RECORD_BUDGET` of the training time, and
  the probe runs on a record only while it stays within `PROBE_BUDGET`.
* **Coverage.** Within a fit, no two consecutive records, and no two
  consecutive probes, are further apart than a tenth of the fit
  (`MAX_GAP_FRACTION`): a short fit spends more than the budget to stay
  readable; on fits of a minute or more the budget is what binds.

A fixed `every_n_steps=N` records every N steps, probe included, whatever
it costs. Records fall on multiples of the period, where the gradient tap
measures (it records when `step % period == 0`).
"""

import math
import time

RECORDS_PER_FIT = 300
DENSE_RECORDS = 30
DENSE_SECONDS = 1.0
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


def nice_at_most(n):
    """The largest of 1, 2, 5, 10, 20, 50, ... that is <= n (at least 1)."""
    value = nice_at_least(max(1, n))
    while value > n and value > 1:
        value = _nice_below(value)
    return value


def _nice_below(value):
    digits = 10 ** int(math.floor(math.log10(value)))
    lead = value // digits
    if lead == 1:
        return digits // 2 if digits >= 10 else 1
    return (2 if lead == 5 else 1) * digits


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

    The owner calls `epoch_started` when an epoch begins, `step_started`
    before each step, then, around its own work, `record_done` (with what
    the record and its probe cost) and `snapshot_done`. `next_record` is
    the next step to record; `period` the current spacing, which the
    gradient tap must follow.
    """

    def __init__(self, every_n_steps="auto", total_steps=None, start_step=0,
                 clock=time.perf_counter):
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
        self.max_gap = (max(self.floor, int(self.total_steps * MAX_GAP_FRACTION))
                        if self.auto and self.total_steps else None)
        self.period = self.floor
        self.next_record = -(-int(start_step) // self.period) * self.period
        self.dense_left = DENSE_RECORDS if self.auto else 0
        self.dense_spent = 0.0
        self.records = 0
        self.record_costs = []
        self.probe_costs = []
        self.last_probe_step = None
        self.last_probe_cost = 0.0
        # Time accounting since the budget began (the end of the dense
        # start): training time is wall time less what we spent.
        self.budget_started = None
        self.probe_spent = 0.0
        self._pending_cost = 0.0
        self._epoch_clock = None  # (time, step, spent) at the epoch's 2nd step

    # -- what the owner tells ---------------------------------------------

    def epoch_started(self):
        """Timing restarts after each epoch's first step (which may trace)."""
        self._epoch_clock = None

    def step_started(self, completed):
        """Before the step that follows `completed` finished steps."""
        if self._epoch_clock is None:
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
        if probe_cost is not None:
            self.last_probe_step = step
            self.last_probe_cost = probe_cost
            self.probe_costs.append(probe_cost)
            if self.budget_started is not None:
                self.probe_spent += probe_cost
        norms_cost = cost - (probe_cost or 0.0) + self._pending_cost
        self._pending_cost = 0.0
        self.record_costs.append(norms_cost)
        self.next_record = (step // self.period + 1) * self.period
        if not self.auto:
            return False
        if self.dense_left > 0:
            self.dense_left -= 1
            if self.records > 1:
                self.dense_spent += cost  # the first record traces
            if self.dense_left > 0 and self.dense_spent <= DENSE_SECONDS:
                return False
            self.dense_left = 0
            self.budget_started = self.clock()
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
        period = max(self.floor, self.period)
        if period > self.max_gap:
            period = max(self.floor, nice_at_most(self.max_gap))
        if period == self.period:
            return False
        last = self.next_record - self.period  # the last record's period slot
        self.period = period
        self.next_record = (max(last, -1) // period + 1) * period
        return True

    # -- what the owner asks ----------------------------------------------

    def is_due(self, step):
        """Whether `step` (just finished) is recorded."""
        return step >= self.next_record

    def probe_due(self, step):
        """Whether the record of `step` runs the activation probe."""
        if not self.auto or self.dense_left > 0 or self.budget_started is None:
            return True
        if (self.max_gap is not None and self.last_probe_step is not None
                and step + self.period - self.last_probe_step > self.max_gap):
            # Coverage: the next record would leave more than a tenth of
            # the fit without a probe.
            return True
        elapsed = self.clock() - self.budget_started
        estimate = _median(self.probe_costs[-_COST_WINDOW:])
        return self.probe_spent + estimate <= PROBE_BUDGET * elapsed

    # -- inside -----------------------------------------------------------

    def _spend(self, cost):
        if self._epoch_clock is not None:
            self._epoch_clock[2] += cost

    def _adapt(self, step):
        """Spreads records out until they cost about RECORD_BUDGET."""
        if len(self.record_costs) <= _WARMUP_RECORDS or self._epoch_clock is None:
            return False
        started, start_step, spent = self._epoch_clock
        steps = step + 1 - start_step
        training = self.clock() - started - spent
        if steps < 2 or training <= 0:
            return False
        cost = _median(self.record_costs[-_COST_WINDOW:])
        needed = cost / (RECORD_BUDGET * training / steps)
        period = max(self.floor, nice_at_least(needed))
        if self.max_gap is not None and period > self.max_gap:
            period = max(self.floor, nice_at_most(self.max_gap))
        if period == self.period:
            return False
        self.period = period
        self.next_record = (step // period + 1) * period
        return True


def _median(values):
    if not values:
        return 0.0
    ordered = sorted(values)
    mid = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[mid]
    return 0.5 * (ordered[mid - 1] + ordered[mid])
