"""The runs the data provider lists, and a fingerprint of each run's data.

A run's fingerprint is the set of (tag, last step, last wall time) its
tags are listed with: it changes whenever the run's data does, and costs
two listing calls for all runs (no data is read). Listings are trusted for
`ttl_s` (the data provider reloads every few seconds anyway); a fresh
listing of every run also answers for any one of them. The tags listed
are kept too, so that reading a run need not list it again.
"""

import collections
import threading
import time

from tensorboard.data import provider as provider_lib

from tensorboard_plugin_trainhealth import metadata

# How long a listing is trusted.
FINGERPRINT_TTL_S = 1.0

Listed = collections.namedtuple("Listed", "fingerprint tags listed_at")
Listed.__doc__ = """One run as listed: its fingerprint, its tags as
(scalar tags, tensor tags) ({tag: time series}, as `reader.read_run` takes
them), and the monotonic time of the listing."""


class RunListing:
    """Lists runs through `data_provider`, at most once per `ttl_s`."""

    def __init__(self, data_provider, clock=time.monotonic, ttl_s=None):
        self._provider = data_provider
        self._clock = clock
        self._ttl_s = ttl_s
        self._lock = threading.Lock()
        # (experiment, runs or None) -> (time, {run: Listed})
        self._cache = {}

    def runs(self, ctx, experiment, runs=None):
        """{run: Listed} of every run with trainhealth data (or of `runs`)."""
        now = self._clock()
        ttl = FINGERPRINT_TTL_S if self._ttl_s is None else self._ttl_s
        key = (experiment, tuple(runs) if runs is not None else None)
        with self._lock:
            for k in (key, (experiment, None)):
                cached = self._cache.get(k)
                if cached is None or now - cached[0] > ttl:
                    continue
                if k == key:
                    return cached[1]
                return {r: e for r, e in cached[1].items() if r in runs}
        run_filter = (provider_lib.RunTagFilter(runs=runs)
                      if runs is not None else None)
        # Both listings at once: each is a round trip to the data server
        # (a few ms once nudged, see prompt_provider; more when the server
        # is on another machine).
        scalars, tensors = _concurrently(
            lambda lister=lister: lister(
                ctx, experiment_id=experiment,
                plugin_name=metadata.PLUGIN_NAME, run_tag_filter=run_filter)
            for lister in (self._provider.list_scalars,
                           self._provider.list_tensors))
        listed = {}
        for run in set(scalars) | set(tensors):
            tags = (scalars.get(run, {}), tensors.get(run, {}))
            fingerprint = frozenset(
                (tag, ts.max_step, ts.max_wall_time)
                for listing in tags for tag, ts in listing.items())
            if fingerprint:
                listed[run] = Listed(fingerprint, tags, now)
        with self._lock:
            if len(self._cache) > 64:
                self._cache.clear()
            self._cache[key] = (now, listed)
        return listed

    def run(self, ctx, experiment, run):
        """The run's `Listed`, or None when it has no trainhealth data."""
        return self.runs(ctx, experiment, [run]).get(run)


def _concurrently(calls):
    """The results of `calls` (functions of no arguments), called in
    parallel threads; the first exception raised is raised here."""
    calls = list(calls)
    results = [None] * len(calls)
    raised = [None] * len(calls)

    def call(i):
        try:
            results[i] = calls[i]()
        except BaseException as e:  # pylint: disable=broad-except
            raised[i] = e

    threads = [threading.Thread(target=call, args=(i,), daemon=True)
               for i in range(1, len(calls))]
    for thread in threads:
        thread.start()
    call(0)
    for thread in threads:
        thread.join()
    for error in raised:
        if error is not None:
            raise error
    return results
