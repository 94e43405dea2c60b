"""Reads trainhealth summaries back through a TensorBoard data provider.

Nothing here opens a file: the plugin passes TensorBoard's own
`context.data_provider` (Rust data server or Python multiplexer), and the CLI
builds a multiplexer-backed provider over a logdir with `open_logdir`. Either
way TensorBoard's file-system layer does the reading, so remote logdirs work
wherever TensorBoard's do.
"""

import json

import numpy as np
from tensorboard.data import provider as provider_lib

from tensorboard_plugin_trainhealth import metadata
from tensorboard_plugin_trainhealth import series as series_lib

# Ask the provider for everything it kept; screen downsampling is the
# plugin's job, after diagnosis has seen the whole history.
_READ_ALL = 1 << 30


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
             listing=None):
    """Reads one run into a `RunSeries`.

    A tag that cannot be understood is skipped and described in
    `RunSeries.problems`; the rest of the run is still returned.
    Returns None when the run has no trainhealth data at all.

    With `max_records`, at most that many records of each tag are read
    (the data provider picks them across the run, the last one always
    among them), and `RunSeries.complete` says whether that was all there
    was. `listing`, if given, is the run's (scalar tags, tensor tags) as
    the provider's `list_scalars` and `list_tensors` just gave them
    ({tag: time series}), and saves listing them again.
    """
    downsample = _READ_ALL if max_records is None else max_records
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
        except metadata.MetadataError as e:
            result.problems.append("%s: %s" % (tag, e))

    scalar_tags = [t for t in scalar_meta if t in contents]
    if scalar_tags:
        data = data_provider.read_scalars(
            ctx, experiment_id=experiment_id,
            plugin_name=metadata.PLUGIN_NAME, downsample=downsample,
            run_tag_filter=provider_lib.RunTagFilter([run], scalar_tags),
        ).get(run, {})
        for tag, points in data.items():
            if len(points) >= downsample:
                result.complete = False
            _store_scalar(result, tag, _to_series(points))

    # A whole read takes one tag at a time: a big model's history is large,
    # and only one tag's records (as the provider's objects) are then held
    # at once. A bounded read asks for every tag in one call, because each
    # call to the data server is a round trip.
    tensor_tags = sorted(t for t in tensor_meta if t in contents)
    batches = ([[t] for t in tensor_tags] if max_records is None
               else [tensor_tags] if tensor_tags else [])
    for batch in batches:
        data = data_provider.read_tensors(
            ctx, experiment_id=experiment_id,
            plugin_name=metadata.PLUGIN_NAME, downsample=downsample,
            run_tag_filter=provider_lib.RunTagFilter([run], batch),
        ).get(run, {})
        for tag in batch:
            points = data.pop(tag, None)
            if points is None:
                continue
            if len(points) >= downsample:
                result.complete = False
            try:
                _store_tensor(result, tag, contents[tag], points)
            except (ValueError, TypeError, KeyError) as e:
                result.problems.append("%s: unreadable (%s)" % (tag, e))
            del points
        del data
    return result


def _to_series(points):
    points = sorted(points, key=lambda p: p.step)
    return series_lib.Series(
        np.array([p.step for p in points], np.int64),
        np.array([p.value for p in points], np.float64),
    )


def _store_scalar(result, tag, values):
    if tag.startswith(metadata.EPOCH_PREFIX):
        result.epochs[tag[len(metadata.EPOCH_PREFIX):]] = values
    elif tag == metadata.EPOCH_END_STEP:
        result.epoch_end_step = values
    elif tag.startswith((metadata.GAP_PREFIX, metadata.GAP_RATIO_PREFIX)):
        # Derived from epoch/*; kept in the file for stock TensorBoard users.
        return
    else:
        result.step_scalars[tag] = values


def _store_tensor(result, tag, content, points):
    points = sorted(points, key=lambda p: p.step)
    kind = content.get("kind")
    if kind == metadata.KIND_VECTOR:
        columns = content.get("columns")
        if not isinstance(columns, list):
            raise ValueError("no column list in metadata")
        columns = [c if isinstance(c, dict) else {"name": str(c)}
                   for c in columns]
        # A record whose width disagrees with the metadata (a model changed
        # under the same log_dir) cannot be placed in the matrix; drop it.
        keep = [p for p in points
                if np.asarray(p.numpy).size == len(columns)]
        values = np.empty((len(keep), len(columns)), np.float64)
        for i, p in enumerate(keep):  # filled in place: no copy per row
            values[i] = np.asarray(p.numpy).reshape(-1)
        matrix = series_lib.Matrix(
            columns, np.array([p.step for p in keep], np.int64), values)
        if len(keep) < len(points):
            result.problems.append(
                "%s: %d records did not match the layer list and were skipped"
                % (tag, len(points) - len(keep)))
        result.matrices[tag] = matrix
    elif kind == metadata.KIND_JSON:
        documents = [(p.step, _decode_json(p.numpy)) for p in points]
        if tag == metadata.RUN_FACTS:
            for _, doc in documents:
                if isinstance(doc, dict):
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


def _decode_json(array):
    value = np.asarray(array).reshape(()).item()
    if isinstance(value, bytes):
        value = value.decode("utf-8")
    return json.loads(value)


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
