"""The Train Health TensorBoard plugin: HTTP routes over the recorded series.

All data comes from `context.data_provider` (through `reader.py`), so the
plugin works unchanged with the Rust data server (`--load_fast=true`) and
the Python multiplexer (`--load_fast=false`). Route handlers only parse the
query and format the response; the `*_impl` methods hold the logic and
return plain JSON-ready dicts, which keeps them testable without HTTP.

Routes (all under /data/plugin/trainhealth), GET:

  /runs[?search=S][&offset=N][&limit=M]
      {"runs": [{"run": str,
                 "status": "ok"|"warning"|"critical"|"unknown"|"pending",
                 "stale": bool,    (status of a preliminary or older read)
                 "alert_count": int, "problems": [str]}],
       "problems": [str],
       "total": int,          (runs whose name contains S; all runs without S)
       "offset": int, "limit": int | null,   (as asked; null: no limit)
       "pending": int}        (runs in "runs" not diagnosed yet)
  /run?run=R[&max_steps=N][&start_step=A][&end_step=B]
      {"run", "stale": bool, "preliminary": bool, "status", "max_steps",
       "downsampled": bool,
       "extent": [first step, last step] | null,   (of the whole run)
       "step_range": [A, B] | null,                 (as asked)
       "alerts": [{"kind", "severity", "layer", "first_step", "last_step",
                   "evidence", "advice", "message"}],
       "problems": [str], "facts": {...},
       "step_series": {"grad_norm_global"|"loss"|...:
                       {"steps": [int], "step_ends": [int], "values": [num],
                        "min": [num], "max": [num]  (only when downsampled)}},
       "epochs": {"loss"|"val_loss"|...: {"steps": [epoch], "values": [num]}},
       "gaps": {"loss"|...: {"steps": [epoch], "values": [val - train],
                             "ratio": [val / train]}},
       "epoch_end_step": {"steps": [epoch], "values": [global step]},
       "layers": [layer column dicts, model order, merged over signals],
       "variables": [variable column dicts],
       "signals": {signal: {"available": bool, "records": int,
                            "scale": "linear"|"log"}}}
  /heatmap?run=R&signal=S[&max_steps=N][&start_step=A][&end_step=B]
          [&format=json|f32]                       (S one of `SIGNALS`)
      {"run", "stale": bool, "preliminary": bool, "signal", "tag",
       "scale": "linear"|"log",
       "available": bool,
       "rows": [{"name", ...column, "variables": [...] when aggregated}],
       "steps": [int], "step_ends": [int],
       "values": [[num per step] per row]          (format=json, default)
       "values_f32": base64 str                    (format=f32, instead)
       "range": [min, max] | null, "total_steps": int, "downsampled": bool,
       "extent": [first step, last step] | null, "step_range": [A, B] | null,
       "problems": [str]}
  /index.js /model.js /views.js ... /uplot.js /uplot.css
      the frontend (see `frontend/`; uplot.* are built by npm, see setup.py).

"status" is diagnosis.run_status(), or "unknown" when the run could not be
read or diagnosed, or "pending" (with no alerts or problems yet) for a run
/runs has not diagnosed yet. /runs answers in bounded time however many runs
the logdir holds: every name comes from the data provider's listing (cheap),
the status of a run already diagnosed since its data last changed comes from
the cache, and the runs still unknown are diagnosed in the order answered
for at most `_RUNS_BUDGET_S` per request (at least one run, so that repeated
requests always make progress; a read under way when the budget runs out
finishes; a long run only listed is judged from a bounded sample of its
records, "stale": true, see Caching); the rest are "pending" until a later
request, or answered from their previous diagnosis with "stale": true. Runs are sorted by
name; `search` keeps those whose name contains it (case-insensitive), and
`offset`/`limit` page through what is left. Opening a run (/run) diagnoses
it at once. Step keys of `step_series` are the schema's step tags
without "step/". Per-layer gradient norms are aggregated from the
variables (see `_per_layer`).

JSON conventions:

* Non-finite floats are sent as the strings "NaN", "Infinity" and
  "-Infinity" (JSON has no literal for them and NaN is exactly what a
  training-health tool must show); the frontend's `model.js` turns them back
  into numbers.
* Recorded values were float32; they are sent rounded to 7 significant
  digits. With format=f32 a heatmap's matrix is sent as base64 of
  little-endian float32, row-major ([rows][columns]), NaN and Inf included
  as such: a 200-layer heatmap is then a fraction of the JSON's size and
  costs no number formatting.
* `start_step`/`end_step` (inclusive, either may be left out) restrict the
  step series and heatmaps to the records in that range before
  downsampling: the frontend asks for the zoomed range at full resolution.
  Epoch series are never restricted.
* Series longer than `max_steps` (default 2000) are averaged over equal
  buckets of consecutive records; `steps`/`step_ends` give each bucket's
  first and last step, and step series add each bucket's `min` and `max`,
  so a spike survives the averaging. A non-finite value makes its bucket
  non-finite, so a NaN never disappears in the averaging.
* Bad or missing query parameters answer 400, an unknown run or signal 404
  (plain text). A run that cannot be read answers 200 with the failure in
  `problems`, never 500.

Caching. A run is read and diagnosed once per change of its data: every
cache entry is keyed by the run's fingerprint (each tag's last step and
wall time, as the data provider lists them), and a changed fingerprint
means a fresh read. Every answer is quick however long the run:

* The first read of a run takes at most `_PRELIMINARY_RECORDS` records per
  tag, sampled across the run by the data provider. For most runs that is
  all of it. For longer ones the answer is "preliminary" (and "stale"):
  diagnosed and drawn from the sample while the full history is read in
  the background. (With `--load_fast=false` the provider converts every
  record before it samples: the first answer is still sooner, since only
  the sample is diagnosed and shaped, but the whole run is converted
  twice.)
* A run already served whose data changed (a live training, at every
  reload) keeps being served from its previous read, marked "stale",
  while the new read runs in the background, unless that read finishes
  within `_STALE_WAIT_S` (waited for only when the previous read took
  less than that).

Background reads are done by one thread, the run most recently asked for
first, one full read at a time, so the process's peak memory stays that of
one read plus the caches. The fingerprints themselves are listed at most
once a second (`_FINGERPRINT_TTL_S`; the data provider reloads every few
seconds anyway). What is kept of a run is not its raw series but what the
routes serve (step series, per-layer matrices as float32, the diagnosis),
within a byte budget; answers, stale ones included, are kept by the
fingerprint of the read they come from, so a poll costs a lookup. A kept
answer is sent as the same bytes every time (gzipped once, for clients
that accept gzip) with an `ETag` (a hash of its text): a request whose
`If-None-Match` names it gets 304 with no body. On TensorBoard's default
data path the provider's calls go through `prompt_provider`, which spares
them the data server's ~40 ms TCP stall.
"""

import base64
import collections
import gzip
import hashlib
import json
import math
import os
import threading
import time

import numpy as np
from werkzeug import wrappers

from tensorboard import errors
from tensorboard import plugin_util
from tensorboard.backend import http_util
from tensorboard.data import provider as provider_lib
from tensorboard.plugins import base_plugin

from tensorboard_plugin_trainhealth import jsonsafe
from tensorboard_plugin_trainhealth import metadata
from tensorboard_plugin_trainhealth import prompt_provider
from tensorboard_plugin_trainhealth import reader
from tensorboard_plugin_trainhealth import signals
from tensorboard_plugin_trainhealth.jsonsafe import to_json

DEFAULT_MAX_STEPS = 2000
MAX_MAX_STEPS = 100000

# signal -> (tag, colour scale). Variable signals are aggregated per layer.
SIGNALS = {
    "dead_fraction": (metadata.LAYER_DEAD_FRACTION, "linear"),
    "saturation": (metadata.LAYER_SATURATION, "linear"),
    "grad_norm": (metadata.VARIABLE_GRAD_NORM, "log"),
    "update_ratio": (metadata.VARIABLE_UPDATE_RATIO, "log"),
}

FORMATS = ("json", "f32")

# The only files served as the frontend. A fixed table, not a path lookup:
# nothing a request says ever reaches the file system.
ASSETS = {
    "index.js": "text/javascript",
    "prefetch.js": "text/javascript",
    "app.js": "text/javascript",
    "host.js": "text/javascript",
    "refresh.js": "text/javascript",
    "model.js": "text/javascript",
    "runview.js": "text/javascript",
    "rundata.js": "text/javascript",
    "catalogue.js": "text/javascript",
    "alerts.js": "text/javascript",
    "runlist.js": "text/javascript",
    "detail.js": "text/javascript",
    "compare.js": "text/javascript",
    "panels.js": "text/javascript",
    "facts.js": "text/javascript",
    "dom.js": "text/javascript",
    "charts.js": "text/javascript",
    "heatmap.js": "text/javascript",
    "heatmapdraw.js": "text/javascript",
    "chartdata.js": "text/javascript",
    "colors.js": "text/javascript",
    "format.js": "text/javascript",
    "layerfilter.js": "text/javascript",
    "urlstate.js": "text/javascript",
    "runfilter.js": "text/javascript",
    "style.css": "text/css",
    # Built from npm's uplot package (frontend/build.mjs).
    "uplot.js": "text/javascript",
    "uplot.css": "text/css",
}

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
_REPO_FRONTEND = os.path.join(os.path.dirname(_PACKAGE_DIR), "frontend")
# Built packages carry the frontend, the charting library included, in
# static/ (see setup.py); an editable install serves the repository's
# frontend/ and the library from frontend/dist/ (built by `npm run build`).
_STATIC_DIRS = (
    os.path.join(_PACKAGE_DIR, "static"),
    _REPO_FRONTEND,
    os.path.join(_REPO_FRONTEND, "dist"),
)

# Runs whose served data is kept in memory: at most this many, and at most
# this many bytes of arrays (the most recently used run is always kept).
_RUN_CACHE_SIZE = 4
_RUN_CACHE_BYTES = 256 << 20
# Finished response bodies, keyed by run fingerprint and query: the page
# asks for the same run and heatmaps on every poll.
_RESPONSE_CACHE_SIZE = 48
_RESPONSE_CACHE_BYTES = 48 << 20
# How long a listing of the runs' fingerprints is trusted.
_FINGERPRINT_TTL_S = 1.0
# Time one /runs request may spend diagnosing runs not diagnosed yet.
_RUNS_BUDGET_S = 1.0
# When a run already served has new data, /run and /heatmap wait this long
# for the new read, then answer from the previous one ("stale": true) while
# the read finishes in the background: reading a big run takes seconds, and
# a live training changes it at every reload.
_STALE_WAIT_S = 0.1
# A run not read before is first read at most this many records per tag,
# sampled across the run by the data provider: a preliminary answer in a
# fraction of a second however long the run, marked "preliminary" (and
# "stale"), while the full history is read in the background. A run with
# fewer records is read whole by that first read.
_PRELIMINARY_RECORDS = 500
_PRELIMINARY = "preliminary"  # marks the fingerprint of a preliminary read
# The largest page of /runs, and the longest search string.
MAX_RUNS_LIMIT = 10000
MAX_SEARCH_LENGTH = 1000

STATUS_UNKNOWN = "unknown"
STATUS_PENDING = "pending"


class TrainHealthPlugin(base_plugin.TBPlugin):
    """Serves training-health diagnosis and per-layer matrices."""

    plugin_name = metadata.PLUGIN_NAME

    def __init__(self, context):
        self._data_provider = prompt_provider.wrap(context.data_provider)
        self._lock = threading.Lock()
        # Held while a run is read, so that at most one read (the memory
        # peak) is under way and concurrent requests for a run share it.
        self._read_lock = threading.Lock()
        # (experiment, run) -> _RunData (with its fingerprint)
        self._run_cache = collections.OrderedDict()
        # (experiment, run) -> (fingerprint, diagnosis dict); small entries,
        # kept for every listed run so that /runs never re-reads.
        self._diagnosis_cache = {}
        # (experiment, runs or None) -> (monotonic time, {run: fingerprint})
        self._fingerprint_cache = {}
        # (experiment, run) -> (scalar tags, tensor tags) as last listed,
        # for `reader.read_run`.
        self._listings = {}
        # (experiment, run, fingerprint, route, params) -> JSON text
        self._response_cache = collections.OrderedDict()
        self._response_bytes = 0
        # Held while a run not read before gets its first, bounded read, so
        # that concurrent first requests for it share one read.
        self._first_read_lock = threading.Lock()
        # Background reads: (experiment, run) -> _Refresh, waiting for the
        # one reading thread, which takes the most recently asked first.
        self._refresh_queue = collections.OrderedDict()
        self._reading = None  # ((experiment, run), _Refresh) being read
        self._reader_thread = None

    def get_plugin_apps(self):
        apps = {
            "/runs": self._runs_route,
            "/run": self._run_route,
            "/heatmap": self._heatmap_route,
            "/catalogue": self._catalogue_route,
        }
        for name in ASSETS:
            apps["/" + name] = self._asset_app(name)
        return apps

    def is_active(self):
        # TensorBoard already marks the plugin active when the data
        # provider's list_plugins() names "trainhealth"; anything more here
        # would read data on every plugins listing.
        return False

    def frontend_metadata(self):
        return base_plugin.FrontendMetadata(
            es_module_path="/index.js", tab_name="Train Health"
        )

    # Route handlers: parse, call an *_impl, respond.

    @wrappers.Request.application
    def _runs_route(self, request):
        ctx, experiment = _request_context(request)

        def body():
            return self.runs_impl(
                ctx, experiment, search=_search_arg(request),
                offset=_count_arg(request, "offset", 0, 0),
                limit=_count_arg(request, "limit", None, 1, MAX_RUNS_LIMIT))

        return _respond_json(request, body)

    @wrappers.Request.application
    def _run_route(self, request):
        ctx, experiment = _request_context(request)

        def body():
            run = _required_arg(request, "run")
            max_steps = _max_steps_arg(request)
            step_range = _step_range_arg(request)
            return self._cached_response(
                ctx, experiment, run, ("run", max_steps, step_range),
                lambda served: self.run_impl(ctx, experiment, run, max_steps,
                                             step_range, served=served))

        return _respond_json(request, body)

    @wrappers.Request.application
    def _heatmap_route(self, request):
        ctx, experiment = _request_context(request)

        def body():
            run = _required_arg(request, "run")
            signal = _required_arg(request, "signal")
            max_steps = _max_steps_arg(request)
            step_range = _step_range_arg(request)
            encoding = _format_arg(request)
            if signal not in SIGNALS:
                raise _unknown_signal(signal)
            return self._cached_response(
                ctx, experiment, run,
                ("heatmap", signal, max_steps, step_range, encoding),
                lambda served: self.heatmap_impl(
                    ctx, experiment, run, signal, max_steps, step_range,
                    encoding, served=served))

        return _respond_json(request, body)

    @wrappers.Request.application
    def _catalogue_route(self, request):
        return _respond_json(request, lambda: to_json(signals.CATALOGUE))

    def _asset_app(self, name):
        @wrappers.Request.application
        def serve(request):
            try:
                content, content_type = self.asset_impl(name)
            except errors.PublicError as e:
                return _respond_error(request, e)
            return http_util.Respond(request, content, content_type)

        return serve

    # Logic.

    def runs_impl(self, ctx, experiment, search=None, offset=0, limit=None,
                  budget_s=None):
        """Lists the runs with trainhealth data and the status of each.

        Runs are sorted by name; `search` keeps those whose name contains
        it (case-insensitive), then `offset` and `limit` (None: no limit)
        pick a page. The status of a run diagnosed since its data last
        changed comes from the cache; the others in the page are diagnosed
        in order for at most `budget_s` seconds (default `_RUNS_BUDGET_S`;
        at least one run is diagnosed) and the rest answered as "pending".
        """
        result = {"runs": [], "problems": [], "total": 0, "offset": offset,
                  "limit": limit, "pending": 0}
        if self._data_provider is None:
            result["problems"].append("no data provider")
            return result
        try:
            fingerprints = self._fingerprints(ctx, experiment)
        except errors.PublicError:
            raise
        except Exception as e:  # pylint: disable=broad-except
            result["problems"].append("cannot list runs: %s" % e)
            return result
        names = sorted(fingerprints)
        if search:
            needle = search.lower()
            names = [run for run in names if needle in run.lower()]
        result["total"] = len(names)
        page = names[offset:] if limit is None else \
            names[offset:offset + limit]
        budget_s = _RUNS_BUDGET_S if budget_s is None else budget_s
        deadline = time.monotonic() + budget_s
        diagnosed_one = False
        for run in page:
            fingerprint = fingerprints[run]
            diagnosis = self._cached_diagnosis(experiment, run, fingerprint)
            stale = False
            if diagnosis is None:
                if time.monotonic() < deadline or not diagnosed_one:
                    diagnosed_one = True
                    diagnosis, stale = self._listed_diagnosis(
                        ctx, experiment, run, fingerprint)
                else:
                    with self._lock:
                        older = self._diagnosis_cache.get((experiment, run))
                    if older is not None:
                        diagnosis, stale = older[1], True
            if diagnosis is None:
                result["pending"] += 1
                result["runs"].append({"run": run, "status": STATUS_PENDING,
                                       "stale": False, "alert_count": 0,
                                       "problems": []})
                continue
            result["runs"].append({
                "run": run,
                "status": diagnosis["status"],
                "stale": stale,
                "alert_count": len(diagnosis["alerts"]),
                "problems": diagnosis["problems"],
            })
        self._forget_runs_except(experiment, set(fingerprints))
        return result

    def run_impl(self, ctx, experiment, run, max_steps=DEFAULT_MAX_STEPS,
                 step_range=None, served=None):
        """Everything the page shows about one run, except the heatmaps.

        `served` is what `_served_data` gave for the run, if already asked.

        Raises:
          errors.NotFoundError: if the run has no trainhealth data.
        """
        if served is None:
            served = self._served_data(
                ctx, experiment, run,
                self._run_fingerprint(ctx, experiment, run))
        data, diagnosis, stale = served
        result = {
            "run": run,
            "stale": stale,
            "preliminary": data.preliminary,
            "status": diagnosis["status"],
            "alerts": diagnosis["alerts"],
            "problems": list(data.problems),
            "facts": {},
            "max_steps": max_steps,
            "downsampled": False,
            "extent": None,
            "step_range": list(step_range) if step_range else None,
            "step_series": {},
            "epochs": {},
            "gaps": {},
            "epoch_end_step": {"steps": [], "values": []},
            "layers": [],
            "variables": [],
            "signals": {},
        }
        for problem in diagnosis["problems"]:
            if problem not in result["problems"]:
                result["problems"].append(problem)
        if data.described is None:
            return result
        result.update(data.described)
        result["extent"] = data.extent
        downsampled = False
        for key, (steps, values) in data.step_series.items():
            steps, values = _in_range(steps, values, step_range)
            entry = _series_json(steps, values, max_steps, with_bounds=True)
            downsampled = downsampled or entry.pop("downsampled")
            result["step_series"][key] = entry
        result["downsampled"] = downsampled
        return result

    def heatmap_impl(self, ctx, experiment, run, signal,
                     max_steps=DEFAULT_MAX_STEPS, step_range=None,
                     encoding="json", served=None):
        """One per-layer signal as a layer-by-step matrix.

        Rows are layers in model order; `values[i]` is row i over the
        (possibly bucketed) steps. `served` is what `_served_data` gave for
        the run, if already asked.

        Raises:
          errors.NotFoundError: for an unknown signal or run.
        """
        if signal not in SIGNALS:
            raise _unknown_signal(signal)
        tag, scale = SIGNALS[signal]
        if served is None:
            served = self._served_data(
                ctx, experiment, run,
                self._run_fingerprint(ctx, experiment, run))
        data, _, stale = served
        result = {
            "run": run,
            "stale": stale,
            "preliminary": data.preliminary,
            "signal": signal,
            "tag": tag,
            "scale": scale,
            "available": False,
            "rows": [],
            "steps": [],
            "step_ends": [],
            "values": [],
            "range": None,
            "total_steps": 0,
            "downsampled": False,
            "extent": data.extent,
            "step_range": list(step_range) if step_range else None,
            "problems": list(data.problems),
        }
        if encoding == "f32":
            result["encoding"] = "f32"
            del result["values"]
            result["values_f32"] = ""
        heatmap = data.heatmaps.get(signal)
        if heatmap is None:
            return result
        rows, steps, values, value_range = heatmap
        try:
            steps, values = _in_range(steps, values, step_range)
            first, last, means, downsampled = _bucket(steps, values,
                                                      max_steps)
            result.update({
                "available": True,
                "rows": rows,
                "steps": [int(s) for s in first],
                "step_ends": [int(s) for s in last],
                "range": value_range,
                "total_steps": int(len(steps)),
                "downsampled": downsampled,
            })
            if encoding == "f32":
                matrix = np.ascontiguousarray(means.T, dtype="<f4")
                result["values_f32"] = base64.b64encode(
                    matrix.tobytes()).decode("ascii")
            else:
                result["values"] = [_floats(means[:, i])
                                    for i in range(means.shape[1])]
        except Exception as e:  # pylint: disable=broad-except
            result["problems"].append("cannot build %s: %s" % (signal, e))
        return result

    def asset_impl(self, name):
        """Returns `(bytes, content_type)` of one frontend file.

        Raises:
          errors.NotFoundError: unless `name` is one of `ASSETS`.
        """
        content_type = ASSETS.get(name)
        if content_type is None:
            raise errors.NotFoundError("no such file")
        for directory in _STATIC_DIRS:
            path = os.path.join(directory, name)
            if os.path.isfile(path):
                with open(path, "rb") as f:
                    return f.read(), content_type
        raise errors.NotFoundError(
            "frontend file %s is not installed (a source checkout needs "
            "`npm ci && npm run build` in frontend/)" % name)

    # Reading, with caches keyed by what the provider lists.

    def _fingerprints(self, ctx, experiment, runs=None):
        """run -> a value that changes whenever the run's data changes.

        Listed at most once per `_FINGERPRINT_TTL_S` for the same runs; a
        fresh listing of all runs also answers for any one of them.
        """
        now = time.monotonic()
        key = (experiment, tuple(runs) if runs is not None else None)
        with self._lock:
            for k in (key, (experiment, None)):
                cached = self._fingerprint_cache.get(k)
                if cached is None or now - cached[0] > _FINGERPRINT_TTL_S:
                    continue
                if k == key:
                    return cached[1]
                return {r: f for r, f in cached[1].items() if r in runs}
        run_filter = (provider_lib.RunTagFilter(runs=runs)
                      if runs is not None else None)
        # Both listings at once: each is a round trip to the data server
        # (a few ms here once nudged, see prompt_provider; more when the
        # server is on another machine).
        listings = _concurrently(
            lambda lister=lister: lister(
                ctx, experiment_id=experiment,
                plugin_name=metadata.PLUGIN_NAME, run_tag_filter=run_filter)
            for lister in (self._data_provider.list_scalars,
                           self._data_provider.list_tensors))
        result = {}
        for listing in listings:
            for run, tags in listing.items():
                entries = result.setdefault(run, set())
                for tag, ts in tags.items():
                    entries.add((tag, ts.max_step, ts.max_wall_time))
        result = {run: frozenset(e) for run, e in result.items() if e}
        with self._lock:
            if len(self._fingerprint_cache) > 64:
                self._fingerprint_cache.clear()
            self._fingerprint_cache[key] = (now, result)
            # What a read of these runs would list again (one more round
            # trip to the data server each): kept for it.
            for run in result:
                self._listings[(experiment, run)] = (
                    listings[0].get(run, {}), listings[1].get(run, {}))
        return result

    def _run_fingerprint(self, ctx, experiment, run):
        if self._data_provider is None:
            raise errors.NotFoundError("no data provider")
        fingerprint = self._fingerprints(ctx, experiment, [run]).get(run)
        if fingerprint is None:
            raise errors.NotFoundError("no trainhealth data for run %r" % run)
        return fingerprint

    def _cached_response(self, ctx, experiment, run, query, make_body):
        """The JSON text of `make_body(served)`, where `served` is what
        `_served_data` gives; reused while the same data would be served.

        Stale answers are kept too (under the fingerprint of the read they
        come from), so that polls during a long read cost a lookup.
        """
        fingerprint = self._run_fingerprint(ctx, experiment, run)
        text = self._cached_text((experiment, run, fingerprint, False, query))
        if text is not None:
            return text
        served = self._served_data(ctx, experiment, run, fingerprint)
        data, _, stale = served
        key = (experiment, run, data.fingerprint, stale, query)
        text = self._cached_text(key)
        if text is not None:
            return text
        if stale:
            # The answer this read gave when it was current is the same but
            # for the flag: the poll that finds the run changed then costs
            # no shaping while the new read runs.
            fresh = self._cached_text(key[:3] + (False,) + key[4:])
            text = _marked_stale(fresh) if fresh is not None else None
        if text is None:
            text = _dumps(make_body(served))
        # Signed once here, outside the lock (and compressed once, when
        # first sent gzipped): every later request sends the same bytes.
        text = _JsonText(text)
        with self._lock:
            if key not in self._response_cache:
                self._response_cache[key] = text
                self._response_bytes += text.cost
            while self._response_cache and (
                    len(self._response_cache) > _RESPONSE_CACHE_SIZE
                    or self._response_bytes > _RESPONSE_CACHE_BYTES):
                _, old = self._response_cache.popitem(last=False)
                self._response_bytes -= old.cost
        return text

    def _cached_text(self, key):
        with self._lock:
            text = self._response_cache.get(key)
            if text is not None:
                self._response_cache.move_to_end(key)
            return text

    def _served_data(self, ctx, experiment, run, fingerprint):
        """(data, diagnosis, stale) for /run and /heatmap.

        A run never read gets a first read bounded by `_PRELIMINARY_RECORDS`
        per tag. When that was not all of it, or when a run read before has
        new data, the full read is queued in the background, and waited for
        at most `_STALE_WAIT_S` when an older whole read is there to serve
        meanwhile; if it is not done, the preliminary or previous read is
        served, with stale True.
        """
        key = (experiment, run)
        data = self._cached_run_data(key, fingerprint)
        if data is None:
            previous = self._previous_read(key)
            if previous is None:
                self._first_read(ctx, experiment, run, fingerprint)
                data = self._cached_run_data(key, fingerprint)
                if data is None:
                    previous = self._previous_read(key)
            if data is None and previous is not None:
                refresh = self._refresh_in_background(ctx, experiment, run,
                                                      fingerprint)
                # A run longer than the sample is not read whole in a
                # moment: only an older read is worth waiting to replace,
                # and for at most `_STALE_WAIT_S` after its read was asked
                # for (later polls do not wait again), and only when it
                # took less than that itself: a big run's next read will
                # not either.
                if (not previous[0].preliminary
                        and previous[0].read_seconds < _STALE_WAIT_S):
                    refresh.done.wait(max(0.0, refresh.asked + _STALE_WAIT_S
                                          - time.monotonic()))
                data = self._cached_run_data(key, fingerprint)
                if data is None:
                    return previous[0], previous[1], True
            if data is None:  # what was read was evicted meanwhile
                data = self._run_data(ctx, experiment, run, fingerprint)
        return data, self._diagnosis(ctx, experiment, run, fingerprint), False

    def _previous_read(self, key):
        """(data, diagnosis) of the run's last read, whatever its data was
        then (older, or a preliminary read), or None."""
        with self._lock:
            data = self._run_cache.get(key)
            diagnosis = self._diagnosis_cache.get(key)
        if (data is None or diagnosis is None
                or diagnosis[0] != data.fingerprint):
            return None
        return data, diagnosis[1]

    def _listed_diagnosis(self, ctx, experiment, run, fingerprint):
        """(diagnosis, stale) for /runs, where a sample of the run's current
        data is enough: a run read whole before (opened, or short enough
        for the sample to hold all of it) is read whole again, as /run
        would; a long run only listed costs a bounded read."""
        key = (experiment, run)
        with self._lock:
            cached = self._diagnosis_cache.get(key)
            data = self._run_cache.get(key)
        sampled = (_PRELIMINARY, fingerprint)
        if cached is not None and cached[0] in (fingerprint, sampled):
            return cached[1], cached[0] == sampled
        if data is not None and not data.preliminary:
            _, diagnosis, stale = self._served_data(ctx, experiment, run,
                                                    fingerprint)
            return diagnosis, stale
        self._first_read(ctx, experiment, run, fingerprint, listing=True)
        with self._lock:
            cached = self._diagnosis_cache.get(key)
        return cached[1], cached[0] == sampled

    def _first_read(self, ctx, experiment, run, fingerprint, listing=False):
        """Reads at most `_PRELIMINARY_RECORDS` records per tag of the run's
        current data: kept as the run's data when that was all of it, else
        as its preliminary read. A read for a `listing` is kept as the least
        recently used run, so that listing many runs never pushes the runs
        on screen out of the cache.
        """
        key = (experiment, run)
        with self._first_read_lock:
            # A concurrent request may have read it while this one waited.
            with self._lock:
                cached = self._run_cache.get(key)
                diagnosis = self._diagnosis_cache.get(key)
            if diagnosis is not None and diagnosis[0] in (
                    fingerprint, (_PRELIMINARY, fingerprint)) and (
                        listing or (cached is not None
                                    and cached.fingerprint == diagnosis[0])):
                return
            started = time.monotonic()
            series, problems = self._read(ctx, experiment, run,
                                          _PRELIMINARY_RECORDS)
            complete = series is None or series.complete
            data = _RunData(fingerprint if complete
                            else (_PRELIMINARY, fingerprint),
                            series, problems, preliminary=not complete)
            diagnosis = _diagnose(series, problems)
            data.read_seconds = time.monotonic() - started
            del series
            self._keep(key, data, diagnosis, least_recent=listing)

    def _refresh_in_background(self, ctx, experiment, run, fingerprint):
        """The `_Refresh` reading the run's data as `fingerprint` says.

        Reads are queued for one reading thread, which takes the most
        recently asked first: the run on screen before runs only listed.
        """
        key = (experiment, run)
        with self._lock:
            if (self._reading is not None and self._reading[0] == key
                    and self._reading[1].fingerprint == fingerprint):
                return self._reading[1]
            queued = self._refresh_queue.get(key)
            if queued is not None and queued.fingerprint == fingerprint:
                self._refresh_queue.move_to_end(key)
                return queued
            if queued is not None:
                queued.done.set()  # superseded: its waiters need not wait
            request = _Refresh(ctx, fingerprint)
            self._refresh_queue[key] = request
            if self._reader_thread is None:
                self._reader_thread = threading.Thread(
                    target=self._read_queued, daemon=True,
                    name="trainhealth-reader")
                self._reader_thread.start()
            return request

    def _read_queued(self):
        while True:
            with self._lock:
                if not self._refresh_queue:
                    self._reading = None
                    self._reader_thread = None
                    return
                key, request = self._refresh_queue.popitem(last=True)
                self._reading = (key, request)
            try:
                self._run_data(request.ctx, key[0], key[1],
                               request.fingerprint)
            except Exception:  # pylint: disable=broad-except
                pass  # the previous read is served meanwhile; asked again later
            finally:
                request.done.set()

    def _run_data(self, ctx, experiment, run, fingerprint):
        """The served data of a run (`_RunData`), read in full at most once
        per change of its data (one full read at a time)."""
        key = (experiment, run)
        cached = self._cached_run_data(key, fingerprint)
        if cached is not None:
            return cached
        with self._read_lock:
            # Another request may have read it while this one waited.
            cached = self._cached_run_data(key, fingerprint)
            if cached is not None:
                return cached
            started = time.monotonic()
            series, problems = self._read(ctx, experiment, run)
            data = _RunData(fingerprint, series, problems)
            diagnosis = _diagnose(series, problems)
            data.read_seconds = time.monotonic() - started
            del series  # only what the routes serve is kept
            _release_memory()
        self._keep(key, data, diagnosis)
        return data

    def _keep(self, key, data, diagnosis, least_recent=False):
        """Caches a read and its diagnosis, within the run cache's budget
        (the read as the most recently used run, or the least)."""
        with self._lock:
            self._diagnosis_cache[key] = (data.fingerprint, diagnosis)
            self._run_cache[key] = data
            self._run_cache.move_to_end(key, last=not least_recent)
            total = sum(d.nbytes for d in self._run_cache.values())
            while len(self._run_cache) > 1 and (
                    len(self._run_cache) > _RUN_CACHE_SIZE
                    or total > _RUN_CACHE_BYTES):
                _, old = self._run_cache.popitem(last=False)
                total -= old.nbytes

    def _cached_run_data(self, key, fingerprint):
        with self._lock:
            cached = self._run_cache.get(key)
            if cached is not None and cached.fingerprint == fingerprint:
                self._run_cache.move_to_end(key)
                return cached
        return None

    def _read(self, ctx, experiment, run, max_records=None):
        """(RunSeries or None, problems) read from the data provider."""
        problems = []
        with self._lock:
            listing = self._listings.get((experiment, run))
        try:
            series = reader.read_run(
                self._data_provider, ctx, experiment, run,
                max_records=max_records,
                listing=listing)
            if series is not None:
                problems.extend(series.problems)
        except errors.PublicError:
            raise
        except Exception as e:  # pylint: disable=broad-except
            series = None
            problems.append("cannot read run: %s: %s"
                            % (type(e).__name__, e))
        return series, problems

    def _cached_diagnosis(self, experiment, run, fingerprint):
        """The diagnosis of the run's data as `fingerprint` says, if known."""
        with self._lock:
            cached = self._diagnosis_cache.get((experiment, run))
        if cached is not None and cached[0] == fingerprint:
            return cached[1]
        return None

    def _diagnosis(self, ctx, experiment, run, fingerprint):
        """The run's diagnosis, reading the run if needed."""
        cached = self._cached_diagnosis(experiment, run, fingerprint)
        if cached is not None:
            return cached
        # Reading the run diagnoses it too (and caches the diagnosis).
        self._run_data(ctx, experiment, run, fingerprint)
        cached = self._cached_diagnosis(experiment, run, fingerprint)
        if cached is not None:
            return cached
        # The run's data was cached under this fingerprint but its
        # diagnosis was forgotten: diagnose a fresh read.
        series, problems = self._read(ctx, experiment, run)
        result = _diagnose(series, problems)
        with self._lock:
            self._diagnosis_cache[(experiment, run)] = (fingerprint, result)
        return result

    def _forget_runs_except(self, experiment, runs):
        with self._lock:
            for cache in (self._run_cache, self._diagnosis_cache,
                          self._listings):
                for key in [k for k in cache
                            if k[0] == experiment and k[1] not in runs]:
                    del cache[key]
            for key in [k for k in self._response_cache
                        if k[0] == experiment and k[1] not in runs]:
                self._response_bytes -= self._response_cache.pop(key).cost


def _concurrently(calls):
    """The results of `calls` (functions of no arguments), called in
    parallel threads; the first exception raised is raised here."""
    calls = list(calls)
    results = [None] * len(calls)
    errors_raised = [None] * len(calls)

    def call(i):
        try:
            results[i] = calls[i]()
        except BaseException as e:  # pylint: disable=broad-except
            errors_raised[i] = e

    threads = [threading.Thread(target=call, args=(i,), daemon=True)
               for i in range(1, len(calls))]
    for thread in threads:
        thread.start()
    call(0)
    for thread in threads:
        thread.join()
    for error in errors_raised:
        if error is not None:
            raise error
    return results


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


class _JsonText(str):
    """A response body already serialised (see `_respond_json`), with a
    signature of its content and, once a client that accepts gzip asked
    for it, its gzip encoding.

    Kept in the response cache: a heatmap's answer is most of a megabyte of
    base64 that gzip barely shrinks, and compressing it for every request
    (as `http_util.Respond` would) cost ~25 ms of each poll. The signature
    (sent as `ETag`) lets the browser revalidate an unchanged answer and
    the page tell it unchanged without hashing the text again.
    """

    def __new__(cls, text):
        self = super().__new__(cls, text)
        data = self.encode("utf-8")  # not kept: the text is
        self.etag = hashlib.blake2b(data, digest_size=12).hexdigest()
        self._gzipped = None
        # What the cache holds for it: the text and room for its gzip,
        # which is never much larger (deflate stores what it cannot shrink).
        self.cost = 2 * len(data) + 64
        return self

    def gzipped(self):
        if self._gzipped is None:
            # Two requests at once may both compress: same bytes, no harm.
            self._gzipped = gzip.compress(self.encode("utf-8"),
                                          compresslevel=3, mtime=0)
        return self._gzipped


def _dumps(body):
    # allow_nan=False: every non-finite value must already be one of our
    # strings.
    return json.dumps(body, allow_nan=False, separators=(",", ":"))


def _marked_stale(text):
    """A /run or /heatmap answer's JSON text with "stale" set to true.

    The flag is the body's second key, after "run" (a JSON string, in which
    a quote is always escaped), so its first occurrence is the flag.
    Returns None if the text is not laid out so.
    """
    head = '"stale":false,"preliminary":'
    at = text.find(head)
    if at < 0 or not text.startswith('{"run":"'):
        return None
    return text[:at] + '"stale":true' + text[at + len('"stale":false'):]


def _unknown_signal(signal):
    return errors.NotFoundError("unknown signal %r; known: %s"
                                % (signal, ", ".join(sorted(SIGNALS))))


class _Refresh:
    """A full read of a run waiting for (or under way in) the reading
    thread: the data it is for, when it was asked for, and an Event set
    when it is over (read, failed, or superseded by newer data)."""

    def __init__(self, ctx, fingerprint):
        self.ctx = ctx
        self.fingerprint = fingerprint
        self.asked = time.monotonic()
        self.done = threading.Event()


class _RunData:
    """What the routes serve about one run, built once per change of its
    data: JSON-ready descriptions, the step series, and one float32
    layer-by-step matrix per heatmap signal (variables already aggregated
    per layer). The raw `RunSeries` is not kept."""

    def __init__(self, fingerprint, series, problems, preliminary=False):
        self.fingerprint = fingerprint
        # Read from a sample of the records (see `_PRELIMINARY_RECORDS`).
        self.preliminary = preliminary
        # How long its read and diagnosis took (set where it is read).
        self.read_seconds = 0.0
        self.problems = list(problems)
        self.described = None
        self.extent = None
        self.step_series = {}
        self.heatmaps = {}  # signal -> (rows, steps, values [T, R], range)
        if series is None:
            self.nbytes = 0
            return
        try:
            self.described = _describe_run(series)
            for tag, s in sorted(series.step_scalars.items()):
                key = tag[len("step/"):] if tag.startswith("step/") else tag
                self.step_series[key] = (np.asarray(s.steps, np.int64),
                                         np.asarray(s.values, np.float64))
        except Exception as e:  # pylint: disable=broad-except
            self.described = None
            self.problems.append("cannot summarise run: %s" % e)
        for signal, (tag, scale) in SIGNALS.items():
            matrix = series.matrices.get(tag)
            if matrix is None:
                continue
            try:
                if tag in metadata.VARIABLE_TAGS:
                    rows, values = _per_layer(series, signal, matrix)
                else:
                    rows, values = [dict(c) for c in matrix.columns], \
                        matrix.values
                self.heatmaps[signal] = (
                    to_json(rows), np.asarray(matrix.steps, np.int64),
                    np.asarray(values, np.float32),
                    _value_range(values, scale))
            except Exception as e:  # pylint: disable=broad-except
                self.problems.append("cannot build %s: %s" % (signal, e))
        self.extent = _extent(
            [s for s, _ in self.step_series.values()]
            + [h[1] for h in self.heatmaps.values()])
        self.nbytes = sum(s.nbytes + v.nbytes
                          for s, v in self.step_series.values())
        self.nbytes += sum(h[1].nbytes + h[2].nbytes
                           for h in self.heatmaps.values())


def _extent(step_arrays):
    lows = [int(s[0]) for s in step_arrays if len(s)]
    highs = [int(s[-1]) for s in step_arrays if len(s)]
    if not lows:
        return None
    return [min(lows), max(highs)]


def _in_range(steps, values, step_range):
    """The records of (steps, values) with a step in `step_range`."""
    if step_range is None:
        return steps, values
    lo, hi = step_range
    i0 = 0 if lo is None else int(np.searchsorted(steps, lo, side="left"))
    i1 = (len(steps) if hi is None
          else int(np.searchsorted(steps, hi, side="right")))
    return steps[i0:i1], values[i0:i1]


def _diagnose(series, read_problems):
    """{"status", "alerts", "problems"} for a RunSeries (or None)."""
    if series is None:
        return {"status": STATUS_UNKNOWN, "alerts": [],
                "problems": list(read_problems)}
    try:
        # Imported late: diagnosis is the heaviest module and a bug in a
        # rule should cost the alerts, not the whole tab.
        from tensorboard_plugin_trainhealth import diagnosis

        alerts = diagnosis.diagnose(series)
        status = diagnosis.run_status(alerts)
        alert_dicts = []
        for alert in alerts:
            entry = dict(alert.to_dict())
            entry["message"] = alert.message
            alert_dicts.append(to_json(entry))
    except Exception as e:  # pylint: disable=broad-except
        return {"status": STATUS_UNKNOWN, "alerts": [],
                "problems": list(read_problems)
                + ["diagnosis failed: %s: %s" % (type(e).__name__, e)]}
    return {"status": status, "alerts": alert_dicts,
            "problems": list(read_problems)}


# Shaping the data.


def _describe_run(series):
    """The parts of /run that neither max_steps nor a step range change."""
    epochs = {}
    for key, s in sorted(series.epochs.items()):
        epochs[key] = {"steps": [int(x) for x in s.steps],
                       "values": _floats(s.values)}
    signals = {}
    for signal, (tag, scale) in SIGNALS.items():
        matrix = series.matrices.get(tag)
        signals[signal] = {
            "available": matrix is not None,
            "records": 0 if matrix is None else int(len(matrix.steps)),
            "scale": scale,
        }
    return {
        "facts": to_json(series.facts),
        "epochs": epochs,
        "gaps": _gaps(series),
        "epoch_end_step": {
            "steps": [int(s) for s in series.epoch_end_step.steps],
            "values": [int(v) if math.isfinite(v) else None
                       for v in series.epoch_end_step.values],
        },
        "layers": to_json(_merged_layers(series)),
        "variables": to_json(_variable_columns(series)),
        "signals": signals,
    }


def _gaps(series):
    """val_<m> - <m> (and the ratio) for each metric logged both ways."""
    gaps = {}
    for key, train in sorted(series.epochs.items()):
        val = series.epochs.get("val_" + key)
        if key.startswith("val_") or val is None:
            continue
        common, ti, vi = np.intersect1d(train.steps, val.steps,
                                        return_indices=True)
        with np.errstate(all="ignore"):
            difference = val.values[vi] - train.values[ti]
            ratio = val.values[vi] / train.values[ti]
        gaps[key] = {
            "steps": [int(s) for s in common],
            "values": _floats(difference),
            "ratio": _floats(ratio),
        }
    return gaps


def _variable_columns(series):
    for tag in metadata.VARIABLE_TAGS:
        if tag in series.matrices:
            return series.matrices[tag].columns
    return []


def _layer_of(column):
    layer = column.get("layer")
    if isinstance(layer, str) and layer:
        return layer
    return str(column.get("name", "")).rsplit("/", 1)[0]


def _merged_layers(series):
    """One ordered list of every layer any signal mentions.

    Each signal covers some layers (dead fraction only ReLU-like ones,
    gradients only layers with weights), each list in model order. Merging
    from the longest list and placing a missing layer right after its
    predecessor in its own list keeps model order.
    """
    sources = [series.matrices[t].columns for t in metadata.LAYER_TAGS
               if t in series.matrices]
    variables = _variable_columns(series)
    if variables:
        seen = []
        for column in variables:
            layer = _layer_of(column)
            if layer not in seen:
                seen.append(layer)
        sources.append([{"name": layer} for layer in seen])
    merged = []
    by_name = {}
    for columns in sorted(sources, key=len, reverse=True):
        previous = None
        for column in columns:
            name = column.get("name")
            if name in by_name:
                for k, v in column.items():
                    by_name[name].setdefault(k, v)
            else:
                entry = dict(column)
                by_name[name] = entry
                at = 0 if previous is None else merged.index(
                    by_name[previous]) + 1
                merged.insert(at, entry)
            previous = name
    return merged


def _per_layer(series, signal, matrix):
    """Aggregates a variable matrix to one row per layer, in model order.

    grad_norm: the layer's gradient norm, sqrt of the sum of its variables'
    squared norms. update_ratio: ||dW|| / ||W|| over the layer's variables
    when the weight norms were recorded at the same steps, else the largest
    of its variables' ratios; variables whose ratio is undefined (NaN) are
    left out.
    """
    groups = collections.OrderedDict()
    for i, column in enumerate(matrix.columns):
        groups.setdefault(_layer_of(column), []).append(i)
    weights = series.matrices.get(metadata.VARIABLE_WEIGHT_NORM)
    aligned = (weights is not None
               and [c.get("name") for c in weights.columns] == matrix.names
               and np.array_equal(weights.steps, matrix.steps))
    out = np.zeros((len(matrix.steps), len(groups)), np.float64)
    with np.errstate(all="ignore"):
        for j, indices in enumerate(groups.values()):
            v = matrix.values[:, indices]
            if signal == "grad_norm":
                out[:, j] = np.sqrt(np.sum(v * v, axis=1))
                continue
            # NaN ratios are undefined ones (a weight that was exactly zero,
            # like a fresh bias): leave them out rather than poison the row.
            undefined = np.isnan(v)
            largest = np.where(undefined.all(axis=1), np.nan,
                               np.max(np.where(undefined, -np.inf, v), axis=1))
            if aligned:
                w = np.where(undefined, 0.0, weights.values[:, indices])
                norm = np.sqrt(np.sum(w * w, axis=1))
                exact = np.sqrt(np.sum(np.where(undefined, 0.0, v * w) ** 2,
                                       axis=1)) / norm
                out[:, j] = np.where(norm > 0, exact, largest)
            else:
                out[:, j] = largest
    rows = [{"name": layer,
             "variables": [matrix.columns[i].get("name") for i in indices]}
            for layer, indices in groups.items()]
    return rows, out


def _value_range(values, scale):
    values = np.asarray(values, np.float64)
    finite = values[np.isfinite(values)]
    if scale == "log":
        finite = finite[finite > 0]
    if finite.size == 0:
        return None
    return [_round_sig(float(finite.min())), _round_sig(float(finite.max()))]


def _bucket(steps, values, max_points):
    """Averages consecutive records into at most `max_points` buckets.

    Returns (first_steps, last_steps, means, downsampled); `values` is [T]
    or [T, K]. Plain sums propagate NaN and Inf, so a bucket holding a
    non-finite record is itself non-finite.
    """
    steps = np.asarray(steps, np.int64)
    values = np.asarray(values)
    if values.dtype.kind != "f":
        values = values.astype(np.float64)
    count = len(steps)
    if max_points is None or count <= max_points:
        return steps, steps, values, False
    edges = np.linspace(0, count, max_points + 1).astype(np.int64)
    starts = edges[:-1]
    sizes = np.diff(edges).astype(np.float64)
    with np.errstate(all="ignore"):
        # Summed in float64 without a float64 copy of a float32 matrix.
        sums = np.add.reduceat(values, starts, axis=0, dtype=np.float64)
        means = sums / (sizes if values.ndim == 1 else sizes[:, None])
    return steps[starts], steps[edges[1:] - 1], means, True


def _series_json(steps, values, max_points, with_bounds=False):
    first, last, means, downsampled = _bucket(steps, values, max_points)
    entry = {
        "steps": [int(s) for s in first],
        "step_ends": [int(s) for s in last],
        "values": _floats(means),
        "downsampled": downsampled,
    }
    if downsampled and with_bounds:
        low, high = _bucket_bounds(values, len(first))
        entry["min"] = _floats(low)
        entry["max"] = _floats(high)
    return entry


def _bucket_bounds(values, max_points):
    """Each bucket's (min, max), buckets as in `_bucket`; a non-finite
    record makes both bounds of its bucket NaN, like the mean."""
    values = np.asarray(values, np.float64)
    edges = np.linspace(0, len(values), max_points + 1).astype(np.int64)
    starts = edges[:-1]
    finite = np.isfinite(values)
    bad = np.add.reduceat((~finite).astype(np.int64), starts) > 0
    low = np.minimum.reduceat(np.where(finite, values, np.inf), starts)
    high = np.maximum.reduceat(np.where(finite, values, -np.inf), starts)
    return np.where(bad, np.nan, low), np.where(bad, np.nan, high)


def _round_sig(x, digits=7):
    if not math.isfinite(x) or x == 0:
        return x
    return round(x, digits - 1 - int(math.floor(math.log10(abs(x)))))


def _floats(values, digits=7):
    """A float array as a JSON-ready list; non-finite values as strings."""
    values = np.asarray(values, np.float64).reshape(-1)
    finite = np.isfinite(values)
    with np.errstate(all="ignore"):
        nonzero = finite & (values != 0)
        exponent = np.floor(np.log10(np.abs(np.where(nonzero, values, 1.0))))
        scale = 10.0 ** (digits - 1 - exponent)
        rounded = np.where(nonzero, np.round(values * scale) / scale, values)
        # Rounding can overflow for values near the float64 limits.
        rounded = np.where(np.isfinite(rounded), rounded, values)
    out = rounded.tolist()
    for i in np.flatnonzero(~finite):
        out[i] = jsonsafe.nonfinite_name(out[i])
    return out


# HTTP helpers.


def _request_context(request):
    return (plugin_util.context(request.environ),
            plugin_util.experiment_id(request.environ))


def _required_arg(request, name):
    value = request.args.get(name)
    if value is None or value == "":
        raise errors.InvalidArgumentError("missing query parameter %r" % name)
    return value


def _max_steps_arg(request):
    raw = request.args.get("max_steps")
    if raw is None:
        return DEFAULT_MAX_STEPS
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if not 1 <= value <= MAX_MAX_STEPS:
        raise errors.InvalidArgumentError(
            "max_steps must be an integer from 1 to %d" % MAX_MAX_STEPS)
    return value


def _step_range_arg(request):
    """(start, end) from start_step/end_step (either may be None), or None
    when neither is given."""
    bounds = []
    for name in ("start_step", "end_step"):
        raw = request.args.get(name)
        if raw is None or raw == "":
            bounds.append(None)
            continue
        try:
            bounds.append(int(raw))
        except ValueError:
            raise errors.InvalidArgumentError(
                "%s must be an integer step" % name)
    if bounds == [None, None]:
        return None
    if None not in bounds and bounds[0] > bounds[1]:
        raise errors.InvalidArgumentError("start_step is after end_step")
    return tuple(bounds)


def _count_arg(request, name, default, low, high=None):
    """An integer parameter from `low` to `high` (None: no upper bound),
    written in decimal digits only; `default` when it is left out."""
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    if (raw.isascii() and raw.isdigit() and len(raw) <= 12
            and low <= int(raw) and (high is None or int(raw) <= high)):
        return int(raw)
    raise errors.InvalidArgumentError(
        "%s must be an integer from %d%s" % (
            name, low, " up" if high is None else " to %d" % high))


def _search_arg(request):
    value = request.args.get("search") or None
    if value is not None and len(value) > MAX_SEARCH_LENGTH:
        raise errors.InvalidArgumentError(
            "search must be at most %d characters" % MAX_SEARCH_LENGTH)
    return value


def _format_arg(request):
    value = request.args.get("format") or "json"
    if value not in FORMATS:
        raise errors.InvalidArgumentError(
            "format must be one of %s" % ", ".join(FORMATS))
    return value


def _respond_error(request, error):
    return http_util.Respond(request, str(error), "text/plain",
                             code=error.http_code)


def _respond_json(request, make_body):
    """Runs `make_body` and answers its dict as JSON, or its PublicError as
    plain text with the error's status."""
    try:
        body = make_body()
    except errors.PublicError as e:
        return _respond_error(request, e)
    # Serialised here (not by Respond) with allow_nan=False: every
    # non-finite value must already be one of our strings.
    if isinstance(body, _JsonText):
        headers = [("ETag", '"%s"' % body.etag)]
        if request.if_none_match.contains(body.etag):
            # The browser revalidates (the answers are no-cache) and has
            # this answer already: a poll of an unchanged run sends no body.
            return http_util.Respond(request, b"", "application/json",
                                     code=304, headers=headers)
        if request.accept_encodings["gzip"]:
            return http_util.Respond(request, body.gzipped(),
                                     "application/json",
                                     content_encoding="gzip", headers=headers)
        return http_util.Respond(request, str(body), "application/json",
                                 headers=headers)
    return http_util.Respond(request, _dumps(body), "application/json")
