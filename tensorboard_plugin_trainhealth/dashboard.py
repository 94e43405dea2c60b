"""The answers of /runs, /run and /heatmap, from the run store's records.

`Dashboard` is what the plugin's routes call: one method per route, each
taking the parsed query (query.py) and returning an `answers.Answer`. It
owns the run store (what is known of each run, run_store.py) and the cache
of encoded answers: a poll of a run whose data has not changed costs a
lookup, and the poll that finds it changed is answered from the previous
read's answer, marked stale, while the new read runs.
"""

import time

from tensorboard import errors

from tensorboard_plugin_trainhealth import answers
from tensorboard_plugin_trainhealth import bodies
from tensorboard_plugin_trainhealth import run_store

# Time one /runs request may spend waiting for runs to be diagnosed.
RUNS_BUDGET_S = 1.0
# Encoded answers kept, by run read and query: the page asks for the same
# run and heatmaps on every poll.
ANSWER_CACHE_SIZE = 48
ANSWER_CACHE_BYTES = 48 << 20


class Dashboard:
    """Answers for the runs of `data_provider` (None: no data at all)."""

    def __init__(self, data_provider, clock=time.monotonic):
        self._clock = clock
        self.store = (run_store.RunStore(data_provider, clock)
                      if data_provider is not None else None)
        self.answers = answers.AnswerCache(ANSWER_CACHE_SIZE,
                                           ANSWER_CACHE_BYTES)

    def runs(self, ctx, experiment, query, budget_s=None):
        """The /runs answer: the page of runs the query asks for, each
        with its status.

        Runs are sorted by name; `query.search` keeps those whose name
        contains it (case-insensitive), then `offset` and `limit` (None: no
        limit) pick a page. The status of a run diagnosed since its data
        last changed is known; the others in the page are read and
        diagnosed in the background, in order, and waited for at most
        `budget_s` (default RUNS_BUDGET_S) in all; a read an earlier
        request asked for is not waited for again, so that one slow run
        never holds up the others. With no budget, the first run is still
        waited for (up to run_store.FIRST_READ_WAIT_S). The rest are
        answered from their previous diagnosis ("stale") or "pending".
        """
        body = {"runs": [], "problems": [], "total": 0,
                "offset": query.offset, "limit": query.limit, "pending": 0}
        if self.store is None:
            body["problems"].append("no data provider")
            return answers.json_answer(body)
        try:
            listed = self.store.listing.runs(ctx, experiment)
        except errors.PublicError:
            raise
        except Exception as e:  # pylint: disable=broad-except
            body["problems"].append("cannot list runs: %s" % e)
            return answers.json_answer(body)
        names = sorted(listed)
        if query.search:
            needle = query.search.lower()
            names = [run for run in names if needle in run.lower()]
        body["total"] = len(names)
        end = None if query.limit is None else query.offset + query.limit
        budget_s = RUNS_BUDGET_S if budget_s is None else budget_s
        started = self._clock()
        deadline = started + budget_s
        asked = False
        for run in names[query.offset:end]:
            known = self.store.known_diagnosis(experiment, run, listed[run])
            if known is None:
                left = deadline - self._clock()
                if left > 0 or not asked:
                    # With no time left, the first run is still waited for,
                    # so that requests make progress whatever the budget.
                    wait = left if left > 0 else run_store.FIRST_READ_WAIT_S
                    asked = True
                    known = self.store.listed_diagnosis(
                        ctx, experiment, run, listed[run], wait,
                        asked_since=started)
                else:
                    known = self.store.previous_diagnosis(experiment, run)
            body["runs"].append(_listed_run(run, known))
            body["pending"] += known is None
        self._forget_runs_except(experiment, set(listed))
        return answers.json_answer(body)

    def run(self, ctx, experiment, query):
        """The /run answer (everything about one run but the heatmaps).

        Raises:
          errors.NotFoundError: if the run has no trainhealth data.
        """
        return self._answer(
            ctx, experiment, query.run, ("run", query),
            lambda record: bodies.run_body(
                query.run, record and record.data,
                record and record.diagnosis,
                bool(record and record.preliminary),
                query.max_steps, query.step_range))

    def heatmap(self, ctx, experiment, query):
        """The /heatmap answer: one per-layer signal of one run.

        Raises:
          errors.NotFoundError: if the run has no trainhealth data.
        """
        return self._answer(
            ctx, experiment, query.run, ("heatmap", query),
            lambda record: bodies.heatmap_body(
                query.run, record and record.data, query.signal,
                bool(record and record.preliminary), query.max_steps,
                query.step_range, query.encoding))

    def _answer(self, ctx, experiment, run, query_key, make_body):
        """The answer `make_body(record)` gives for the record the run is
        served from, with its "stale" flag; reused while the same record
        would be served, stale or not."""
        if self.store is None:
            raise errors.NotFoundError("no data provider")
        served = self.store.serve(ctx, experiment, run)
        if served.record is not None:
            answer = self._cached(experiment, run, query_key, served)
            if answer is not None:
                return answer
            if served.record.data is None:  # dropped for memory: read again
                served = self.store.serve(ctx, experiment, run,
                                          need_data=True)
        if served.record is None:  # the first read is under way
            return answers.json_answer(make_body(None), stale=True)
        answer = self._cached(experiment, run, query_key, served)
        if answer is None:
            answer = answers.json_answer(make_body(served.record),
                                         stale=served.stale)
        return self.answers.put(
            (experiment, run, served.record.read_id, query_key,
             served.stale), answer)

    def _cached(self, experiment, run, query_key, served):
        """The kept answer for this read and query with this stale flag,
        made from the one with the other flag if need be (the poll that
        finds the run changed then costs no shaping), or None."""
        key = (experiment, run, served.record.read_id, query_key)
        answer = self.answers.get(key + (served.stale,))
        if answer is None:
            other = self.answers.get(key + (not served.stale,))
            if other is not None:
                answer = self.answers.put(key + (served.stale,),
                                          other.with_flags(stale=served.stale))
        return answer

    def _forget_runs_except(self, experiment, runs):
        self.store.forget_except(experiment, runs)
        self.answers.forget(lambda key: key[0] == experiment
                            and key[1] not in runs)


def _listed_run(run, known):
    """One entry of /runs' "runs" from (diagnosis, stale) or None."""
    if known is None:
        return {"run": run, "status": bodies.STATUS_PENDING, "stale": False,
                "alert_count": 0, "problems": []}
    diagnosis, stale = known
    return {"run": run, "status": diagnosis["status"], "stale": stale,
            "alert_count": len(diagnosis["alerts"]),
            "problems": diagnosis["problems"]}

