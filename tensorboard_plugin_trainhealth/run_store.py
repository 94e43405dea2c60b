"""What the dashboard knows of each run, and when each run is read.

One `RunRecord` per run: the fingerprint of the data its last read saw,
whether that read was a sample ("preliminary"), what the routes serve of
it (a `shaping.ShapedRun`, dropped when the memory budget needs the room),
its diagnosis, and when it was read. Reads are done in background
threads (`read_lane.ReadLane`): two for bounded samples (a run's first
read, and the reads that only judge a run for /runs), one for whole
reads, so that a long read never delays another run's first answer, and
the process's peak memory is that of one whole read and two samples.
Requests wait for a read for a bounded time only, then answer from what
is there (see docs/design.md).
"""

import collections
import dataclasses
import itertools
import threading
import time
from typing import Optional

from tensorboard import errors

from tensorboard_plugin_trainhealth import read_lane
from tensorboard_plugin_trainhealth import reader
from tensorboard_plugin_trainhealth import run_listing
from tensorboard_plugin_trainhealth import shaping

# Runs whose served data is kept in memory: at most this many, and at most
# this many bytes of arrays (the most recently used run is always kept).
RUN_CACHE_SIZE = 4
RUN_CACHE_BYTES = 256 << 20
# When a run already served has new data, /run and /heatmap wait this long
# for the new read, then answer from the previous one ("stale": true) while
# the read finishes in the background: reading a big run takes seconds, and
# a live training changes it at every reload.
STALE_WAIT_S = 0.1
# How long requests wait for a run's first read, counted from when it was
# asked for: a poll during a longer one answers at once ("pending").
FIRST_READ_WAIT_S = 5.0
# A run not read before is first read at most this many records per tag,
# and at most this many values per tag (a model with 100k variables gets
# 10 records per variable tag), sampled across the run by the data
# provider: a preliminary answer in a fraction of a second however long
# and wide the run, while the whole run is read in the background.
PRELIMINARY_RECORDS = 500
PRELIMINARY_VALUES = 1000000
# Threads reading samples: one slow read (a remote file system, a huge
# model) does not hold up the other runs' first reads.
SAMPLE_READERS = 2


@dataclasses.dataclass(frozen=True)
class RunRecord:
    """The last read of one run and what came of it."""

    fingerprint: frozenset  # of the data the read saw (run_listing)
    preliminary: bool  # read from a sample of the records
    data: Optional[shaping.ShapedRun]  # None once dropped for memory
    diagnosis: dict  # shaping.served_diagnosis
    read_id: int  # names this read (answer cache keys)
    listed_at: float  # when the listing the read followed was made
    read_seconds: float  # how long the read, diagnosis and shaping took


Served = dataclasses.make_dataclass("Served", ["record", "stale"])
Served.__doc__ = """What /run and /heatmap answer from: a record (None
while the run's first read is under way; one without data only when it
is current and whole, see `RunStore.serve`) and whether it is older than
the run's current data."""


class RunStore:
    """The records of the runs of one data provider (see the module
    docstring). Thread-safe; `clock` is injectable for tests."""

    def __init__(self, data_provider, clock=time.monotonic):
        self._provider = data_provider
        self._clock = clock
        self.listing = run_listing.RunListing(data_provider, clock)
        self._lock = threading.Lock()
        # (experiment, run) -> RunRecord, least recently served first.
        self._records = collections.OrderedDict()
        self._ids = itertools.count(1)
        self.samples = read_lane.ReadLane("trainhealth-sampler", self._read,
                                          clock, workers=SAMPLE_READERS)
        self.whole = read_lane.ReadLane("trainhealth-reader", self._read,
                                        clock)

    # For /run and /heatmap.

    def serve(self, ctx, experiment, run, need_data=False):
        """The `Served` of a run for /run and /heatmap.

        A run never read gets a bounded first read, waited for up to
        FIRST_READ_WAIT_S. When that was not all of it, or when a run read
        before has new data, the whole read is queued, and waited for up
        to STALE_WAIT_S when an older whole read that took less than that
        is there to serve meanwhile. A current whole read whose data was
        dropped for memory is served as it is (its answers may still be
        cached) unless `need_data`; then it is read again.

        Raises:
          errors.NotFoundError: if the run has no trainhealth data.
        """
        listed = self._listed(ctx, experiment, run)
        key = (experiment, run)
        record = self._touch(key)
        if (record is not None and record.data is None
                and self._is_current(record, listed)
                and not record.preliminary):
            if not need_data:
                return Served(record, False)
            self._wait(self.whole.ask(key, listed, ctx, whole=True),
                       FIRST_READ_WAIT_S)
            record = self._touch(key)
        if record is None or record.data is None:
            self._wait(self.samples.ask(key, listed, ctx), FIRST_READ_WAIT_S)
            record = self._touch(key)
            if record is None or record.data is None:
                return Served(None, True)
        return self._current_or_stale(ctx, key, listed, record)

    def _current_or_stale(self, ctx, key, listed, record, wait_s=None):
        if self._is_current(record, listed) and not record.preliminary:
            return Served(record, False)
        task = self.whole.ask(key, listed, ctx, whole=True)
        # Only an older whole read is worth waiting to replace, and only
        # when it took less than the wait itself: a big run's next read
        # will not be quicker. Counted from when the read was asked for,
        # so that later polls do not wait again.
        if (not self._is_current(record, listed) and not record.preliminary
                and record.read_seconds < STALE_WAIT_S):
            self._wait(task, STALE_WAIT_S if wait_s is None
                       else min(wait_s, STALE_WAIT_S))
            newer = self._holding_data(key)
            if (newer is not None and self._is_current(newer, listed)
                    and not newer.preliminary):
                return Served(newer, False)
        return Served(record, True)

    # For /runs.

    def known_diagnosis(self, experiment, run, listed):
        """(diagnosis, stale) of the run's current data if known (stale
        when judged from a sample), else None. Reads nothing."""
        with self._lock:
            record = self._records.get((experiment, run))
        if record is not None and self._is_current(record, listed):
            return record.diagnosis, record.preliminary
        return None

    def listed_diagnosis(self, ctx, experiment, run, listed, wait_s,
                         asked_since=None):
        """(diagnosis, stale) of the run's current data, reading it if
        need be and waiting at most `wait_s` (and no longer than
        FIRST_READ_WAIT_S after its read was asked for; not at all for a
        read asked before `asked_since`); the previous diagnosis (stale)
        or None when the read is not done by then.

        A run read whole before (opened, or short enough for the sample to
        hold all of it) is read whole again, as /run would; any other is
        judged from a bounded sample of its records.
        """
        key = (experiment, run)
        with self._lock:
            record = self._records.get(key)
        if record is not None and record.data is not None \
                and not record.preliminary:
            served = self._current_or_stale(ctx, key, listed, record, wait_s)
            return served.record.diagnosis, served.stale
        task = self.samples.ask(key, listed, ctx, for_listing=True)
        if asked_since is None or task.asked >= asked_since:
            task.done.wait(max(0.0, min(
                wait_s, task.asked + FIRST_READ_WAIT_S - self._clock())))
        known = self.known_diagnosis(experiment, run, listed)
        return known if known is not None else self.previous_diagnosis(
            experiment, run)

    def previous_diagnosis(self, experiment, run):
        """(diagnosis, True) of the run's last read, whatever its data was
        then, or None when it was never read."""
        with self._lock:
            record = self._records.get((experiment, run))
        return None if record is None else (record.diagnosis, True)

    def forget_except(self, experiment, runs):
        """Drops the records of the experiment's runs not in `runs`."""
        with self._lock:
            for key in [k for k in self._records
                        if k[0] == experiment and k[1] not in runs]:
                del self._records[key]

    def wait_until_idle(self, timeout=None):
        """Waits until no read is queued or under way (for tests and
        benchmarks); True unless `timeout` seconds passed first."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            tasks = [t for lane in (self.samples, self.whole)
                     for t in lane.under_way() + lane.queued()]
            if not tasks:
                return True
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return False
            if not tasks[0].done.wait(left):
                continue
            time.sleep(0.001)  # done: its thread takes it off the lane next

    def records(self):
        """{(experiment, run): RunRecord}, least recently served first."""
        with self._lock:
            return dict(self._records)

    # Reading.

    def _listed(self, ctx, experiment, run):
        if self._provider is None:
            raise errors.NotFoundError("no data provider")
        listed = self.listing.run(ctx, experiment, run)
        if listed is None:
            raise errors.NotFoundError("no trainhealth data for run %r" % run)
        return listed

    def _wait(self, task, bound_s):
        task.done.wait(max(0.0, task.asked + bound_s - self._clock()))

    @staticmethod
    def _is_current(record, listed):
        # A read may follow a newer listing than the request's.
        return (record.fingerprint == listed.fingerprint
                or record.listed_at > listed.listed_at)

    def _touch(self, key):
        """The run's record, or None; one holding data is now the most
        recently served."""
        with self._lock:
            record = self._records.get(key)
            if record is not None and record.data is not None:
                self._records.move_to_end(key)
            return record

    def _holding_data(self, key):
        """The run's record if it holds data, else None."""
        record = self._touch(key)
        return record if record is not None and record.data is not None \
            else None

    def _read(self, task):
        """Reads, diagnoses and shapes a run (in a lane's thread)."""
        started = self._clock()
        experiment, run = task.key
        try:
            series = reader.read_run(
                self._provider, task.ctx, experiment, run,
                max_records=None if task.whole else PRELIMINARY_RECORDS,
                max_values=None if task.whole else PRELIMINARY_VALUES,
                listing=task.listed.tags)
            problems = list(series.problems) if series is not None else []
        except Exception as e:  # pylint: disable=broad-except
            series = None
            problems = ["cannot read run: %s: %s" % (type(e).__name__, e)]
        data = shaping.ShapedRun(series, problems)
        diagnosis = shaping.served_diagnosis(series, problems)
        complete = series is None or series.complete
        del series  # only what the routes serve is kept
        if task.whole:
            _release_memory()
        self._keep(task.key, RunRecord(
            fingerprint=task.listed.fingerprint, preliminary=not complete,
            data=data, diagnosis=diagnosis, read_id=next(self._ids),
            listed_at=task.listed.listed_at,
            read_seconds=self._clock() - started),
            least_recent=task.for_listing)

    def _keep(self, key, record, least_recent=False):
        """Makes `record` the run's, unless the run's record is of newer
        data or is the whole read of the same data; then keeps the data of
        at most RUN_CACHE_SIZE runs and RUN_CACHE_BYTES (the record as the
        most recently served run, or the least)."""
        with self._lock:
            old = self._records.get(key)
            if old is not None and (
                    old.listed_at > record.listed_at
                    or (old.fingerprint == record.fingerprint
                        and record.preliminary and not old.preliminary
                        and old.data is not None)):
                return
            self._records[key] = record
            self._records.move_to_end(key, last=not least_recent)
            holding = [k for k, r in self._records.items()
                       if r.data is not None]
            total = sum(self._records[k].data.nbytes for k in holding)
            while len(holding) > 1 and (len(holding) > RUN_CACHE_SIZE
                                        or total > RUN_CACHE_BYTES):
                dropped = holding.pop(0)
                total -= self._records[dropped].data.nbytes
                self._records[dropped] = dataclasses.replace(
                    self._records[dropped], data=None)


def _release_memory():
    """Hands the memory freed after a read back to the system.

    A read allocates and frees a few hundred MB for a big model; glibc's
    allocator keeps much of it mapped unless asked to trim, which would
    make the process's footprint that of its largest read ever.
    """
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        libc.malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass
