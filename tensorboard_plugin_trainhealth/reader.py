"""Reads trainhealth summaries back through a TensorBoard data provider.

Nothing here opens a file: the plugin passes TensorBoard's own
`context.data_provider` (Rust data server or Python multiplexer), and the CLI
builds a multiplexer-backed provider over a logdir with `open_logdir`. Either
way TensorBoard's file-system layer does the reading, so remote logdirs work
wherever TensorBoard's do.

Bad parts of a run cost only themselves: a tag, a document or a record
that cannot be understood is skipped (or cut, or made text) and described
in `RunSeries.problems`, and the rest of the run is read.
"""

import json
import math

import numpy as np
from tensorboard.data import provider as provider_lib

from tensorboard_plugin_trainhealth import jsonsafe
from tensorboard_plugin_trainhealth import metadata
from tensorboard_plugin_trainhealth import series as series_lib
from tensorboard_plugin_trainhealth import vector_columns

# Ask the provider for everything it kept; screen downsampling is the
# plugin's job, after diagnosis has seen the whole history.
_READ_ALL = 1 << 30
_JSON_TAGS = (metadata.RUN_FACTS, metadata.RUN_ALERTS)


def trainhealth_runs(data_provider, ctx, experiment_id):
    """Returns the sorted names of runs that hold trainhealth data."""
    runs = set()
    for lister in (data_provider.list_scalars, data_provider.list_tensors):
        runs.update(
            lister(ctx, experiment_id=experiment_id,
                   plugin_name=metadata.PLUGIN_NAME)
        )
    return sorted(runs)


def read_run(data_provider, ctx, experiment_id, run, max_records=None,
             listing=None, max_values=None):
    """Reads one run into a `RunSeries`.

    A tag that cannot be understood is skipped and described in
    `RunSeries.problems`; the rest of the run is still returned.
    Returns None when the run has no trainhealth data at all.

    With `max_records`, at most that many records of each tag are read
    (the data provider picks them across the run, the last one always
    among them), and with `max_values` at most that many values per
    vector tag (fewer records of a wide one); `RunSeries.complete` says
    whether that was all there was. `listing`, if given, is the run's
    (scalar tags, tensor tags) as the provider's `list_scalars` and
    `list_tensors` just gave them ({tag: time series}), and saves listing
    them again.
    """
    if listing is None:
        run_filter = provider_lib.RunTagFilter(runs=[run])
        listing = [
            lister(ctx, experiment_id=experiment_id,
                   plugin_name=metadata.PLUGIN_NAME,
                   run_tag_filter=run_filter).get(run, {})
            for lister in (data_provider.list_scalars,
                           data_provider.list_tensors)]
    scalar_meta, tensor_meta = listing
    if not scalar_meta and not tensor_meta:
        return None
    result = series_lib.RunSeries()
    contents = {}
    for tag, ts in list(scalar_meta.items()) + list(tensor_meta.items()):
        try:
            contents[tag] = metadata.parse_plugin_content(ts.plugin_content)
        except (metadata.MetadataError, RecursionError) as e:
            result.problems.append("%s: %s" % (tag, _reason(e)))

    def read(method, tags, downsample):
        data = method(
            ctx, experiment_id=experiment_id,
            plugin_name=metadata.PLUGIN_NAME, downsample=downsample,
            run_tag_filter=provider_lib.RunTagFilter([run], tags),
        ).get(run, {})
        if any(len(points) >= downsample for points in data.values()):
            result.complete = False
        return data

    scalar_tags = [t for t in scalar_meta if t in contents]
    if scalar_tags:
        _store_scalars(result, contents, read(
            data_provider.read_scalars, scalar_tags, max_records or _READ_ALL))

    # The JSON documents first: a vector record's columns are named by
    # the facts of its fit.
    tensor_tags = sorted((t for t in tensor_meta if t in contents),
                         key=lambda t: (t not in _JSON_TAGS, t))
    facts_documents = []
    for batch, downsample in _batches(tensor_tags, contents, max_records,
                                      max_values):
        data = read(data_provider.read_tensors, batch, downsample)
        for tag in batch:
            points = data.pop(tag, None)
            if points is None:
                continue
            try:
                _store_tensor(result, tag, contents[tag], points,
                              facts_documents)
            except (ValueError, TypeError, KeyError, RecursionError) as e:
                result.problems.append("%s: unreadable (%s)"
                                       % (tag, _reason(e)))
            del points
        del data
    return result


def _batches(tags, contents, max_records, max_values):
    """[(tags, downsample)]: the read calls of the tensor tags.

    A whole read takes one tag at a time: a big model's history is large,
    and only one tag's records (as the provider's objects) are then held
    at once. A bounded read asks for every tag of the same bound in one
    call, because each call to the data server is a round trip.
    """
    if max_records is None:
        return [([tag], _READ_ALL) for tag in tags]
    by_bound = {}
    for tag in tags:
        bound = max_records
        width = len(contents[tag].get("columns") or ())
        if max_values is not None and width:
            bound = max(1, min(max_records, max_values // width))
        by_bound.setdefault(bound, []).append(tag)
    return [(batch, bound) for bound, batch in sorted(by_bound.items(),
                                                       reverse=True)]


def _reason(error):
    if isinstance(error, RecursionError):
        return "nested too deeply to decode"
    return str(error)


def _to_series(points):
    points = sorted(points, key=lambda p: p.step)
    return series_lib.Series(
        np.array([p.step for p in points], np.int64),
        np.array([p.value for p in points], np.float64),
    )


def _store_scalars(result, contents, data):
    """Stores the scalar tags' records ({tag: points}); the writers'
    heartbeats only say whether two of them wrote at once."""
    writers = []
    for tag, points in data.items():
        if tag.startswith(metadata.WRITER_PREFIX):
            writers.append(_writer_track(contents[tag], points))
        else:
            _store_scalar(result, tag, points)
    problem = concurrent_writers(writers)
    if problem:
        result.problems.append(problem)


def _store_scalar(result, tag, points):
    values = _to_series(points)
    if tag.startswith(metadata.EPOCH_PREFIX):
        result.epochs[tag[len(metadata.EPOCH_PREFIX):]] = values
    elif tag == metadata.EPOCH_END_STEP:
        finite = np.isfinite(values.values)
        if not finite.all():
            result.problems.append(
                "%s: %d records with a non-finite step were skipped"
                % (tag, int((~finite).sum())))
        result.epoch_end_step = series_lib.Series(values.steps[finite],
                                                  values.values[finite])
    elif tag.startswith((metadata.GAP_PREFIX, metadata.GAP_RATIO_PREFIX)):
        # Derived from epoch/*; kept in the file for stock TensorBoard users.
        return
    else:
        result.step_scalars[tag] = values


def _store_tensor(result, tag, content, points, facts_documents):
    points = sorted(points, key=lambda p: p.step)
    kind = content.get("kind")
    if kind == metadata.KIND_VECTOR:
        columns = content.get("columns")
        if not isinstance(columns, list):
            raise ValueError("no column list in metadata")
        columns = vector_columns.normalized(columns, tag, result.problems)
        phases = vector_columns.phases_of(tag, facts_documents,
                                          result.problems)
        result.matrices[tag] = vector_columns.matrix(
            tag, columns, points, phases, result.problems)
    elif kind == metadata.KIND_JSON:
        documents = _documents(tag, points, result.problems)
        if tag == metadata.RUN_FACTS:
            for step, doc in documents:
                if isinstance(doc, dict):
                    facts_documents.append((step, doc))
                    result.facts.update(doc)
        elif tag == metadata.RUN_ALERTS:
            # The callback's live log. Diagnosis recomputes alerts from the
            # series; it reads this only to show what was raised live.
            for step, doc in documents:
                if isinstance(doc, list):
                    result.live_alerts.extend(
                        (int(step), a) for a in doc if isinstance(a, dict))
    else:
        raise ValueError("unknown content kind %r" % (kind,))


def _documents(tag, points, problems):
    """[(step, document)] of a JSON tag's records. A record that cannot be
    decoded is skipped, and parts nested deeper than jsonsafe.MAX_DEPTH
    are cut (jsonsafe.TOO_DEEP); both are reported."""
    documents = []
    for point in points:
        try:
            document = _decode_json(point.numpy)
        except (ValueError, TypeError, RecursionError) as e:
            problems.append("%s: the record at step %d is unreadable (%s)"
                            % (tag, point.step, _reason(e)))
            continue
        if _deeper_than(document, jsonsafe.MAX_DEPTH):
            problems.append("%s: the record at step %d is nested deeper than "
                            "%d levels; the deeper parts are left out"
                            % (tag, point.step, jsonsafe.MAX_DEPTH))
            document = jsonsafe.to_json(document)
        documents.append((point.step, document))
    return documents


def _deeper_than(value, limit):
    """Whether lists and dicts nest in `value` more than `limit` deep
    (without recursion: the value may be nested thousands deep)."""
    stack = [(value, 0)]
    while stack:
        value, depth = stack.pop()
        children = (value.values() if isinstance(value, dict)
                    else value if isinstance(value, list) else None)
        if children is None:
            continue
        if depth >= limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def _decode_json(array):
    value = np.asarray(array).reshape(()).item()
    if isinstance(value, bytes):
        value = value.decode("utf-8")
    return json.loads(value)


def _writer_track(content, points):
    """{"writer": identity, "first", "last" (wall times), "records"} of one
    writer's heartbeats (each holds the records written until then)."""
    identity = content.get("writer")
    walls = [p.wall_time for p in points if math.isfinite(p.wall_time)]
    counts = [p.value for p in points if math.isfinite(p.value)]
    return {"writer": identity if isinstance(identity, dict) else {},
            "first": min(walls, default=math.nan),
            "last": max(walls, default=math.nan),
            "records": int(max(counts, default=0))}


def concurrent_writers(tracks):
    """A problem naming the writers whose records interleave in time (two
    processes, or two callbacks, writing one run at once), or None.

    Every SummaryWriter leaves heartbeat records under its own tag
    (metadata.WRITER_PREFIX + its id), which neither data path mixes with
    another writer's; writers one after the other (two fits) never overlap.
    """
    tracks = sorted((t for t in tracks if math.isfinite(t["first"])),
                    key=lambda t: t["first"])
    overlapping = []
    latest = None  # the track ending last among those started so far
    for track in tracks:
        if latest is not None and track["first"] < latest["last"]:
            for t in (latest, track):
                if not any(t is o for o in overlapping):
                    overlapping.append(t)
        if latest is None or track["last"] > latest["last"]:
            latest = track
    if not overlapping:
        return None
    names = []
    for t in overlapping:
        w = t["writer"]
        names.append("pid %s on %s, %d records" % (
            w.get("pid", "?"), w.get("host", "?"), t["records"]))
    return ("%d writers wrote this run at the same time (%s): their records "
            "are mixed (TensorBoard's data server keeps only some of them, "
            "its Python reader every step twice), so its charts and verdict "
            "are not one training's; give each training its own log_dir"
            % (len(overlapping), "; ".join(names)))


def open_logdir(logdir):
    """A data provider over `logdir` that keeps every trainhealth record.

    For the CLI and tests: the same provider class TensorBoard uses with
    `--load_fast=false`, loaded once.
    """
    from tensorboard.backend.event_processing import data_provider
    from tensorboard.backend.event_processing import plugin_event_multiplexer
    from tensorboard.backend.event_processing import event_accumulator

    multiplexer = plugin_event_multiplexer.EventMultiplexer(
        size_guidance={
            event_accumulator.TENSORS: 0,
            event_accumulator.SCALARS: 0,
        },
        tensor_size_guidance={metadata.PLUGIN_NAME: 0},
    )
    multiplexer.AddRunsFromDirectory(logdir)
    multiplexer.Reload()
    return data_provider.MultiplexerDataProvider(multiplexer, logdir)
