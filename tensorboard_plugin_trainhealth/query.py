"""The routes' query parameters, parsed and checked.

Each function takes a request's `args` (any mapping of str to str) and
returns a small named tuple, or raises TensorBoard's
`errors.InvalidArgumentError` (400) for a bad or missing parameter and
`errors.NotFoundError` (404) for an unknown signal. docs/http_api.md lists
the parameters.
"""

import collections

from tensorboard import errors

from tensorboard_plugin_trainhealth import bodies
from tensorboard_plugin_trainhealth import signals

FORMATS = ("json", "f32")
# The largest page of /runs, and the longest search string.
MAX_RUNS_LIMIT = 10000
MAX_SEARCH_LENGTH = 1000

RunsQuery = collections.namedtuple("RunsQuery", "search offset limit")
RunQuery = collections.namedtuple("RunQuery", "run max_steps step_range")
HeatmapQuery = collections.namedtuple(
    "HeatmapQuery", "run signal max_steps step_range encoding")


def runs_query(args):
    return RunsQuery(
        search=_search(args),
        offset=_count(args, "offset", 0, 0),
        limit=_count(args, "limit", None, 1, MAX_RUNS_LIMIT))


def run_query(args):
    return RunQuery(run=_required(args, "run"), max_steps=_max_steps(args),
                    step_range=_step_range(args))


def heatmap_query(args):
    run = _required(args, "run")
    signal = _required(args, "signal")
    query = HeatmapQuery(run=run, signal=signal, max_steps=_max_steps(args),
                         step_range=_step_range(args),
                         encoding=_format(args))
    if signals.heatmap(signal) is None:
        raise errors.NotFoundError("unknown signal %r; known: %s" % (
            signal, ", ".join(sorted(h["signal"] for h in signals.HEATMAPS))))
    return query


def _required(args, name):
    value = args.get(name)
    if value is None or value == "":
        raise errors.InvalidArgumentError("missing query parameter %r" % name)
    return value


def _max_steps(args):
    raw = args.get("max_steps")
    if raw is None:
        return bodies.DEFAULT_MAX_STEPS
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if not 1 <= value <= bodies.MAX_MAX_STEPS:
        raise errors.InvalidArgumentError(
            "max_steps must be an integer from 1 to %d" % bodies.MAX_MAX_STEPS)
    return value


def _step_range(args):
    """(start, end) from start_step/end_step (either may be None), or None
    when neither is given."""
    bounds = []
    for name in ("start_step", "end_step"):
        raw = args.get(name)
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


def _count(args, name, default, low, high=None):
    """An integer parameter from `low` to `high` (None: no upper bound),
    written in decimal digits only; `default` when it is left out."""
    raw = args.get(name)
    if raw is None or raw == "":
        return default
    if (raw.isascii() and raw.isdigit() and len(raw) <= 12
            and low <= int(raw) and (high is None or int(raw) <= high)):
        return int(raw)
    raise errors.InvalidArgumentError(
        "%s must be an integer from %d%s" % (
            name, low, " up" if high is None else " to %d" % high))


def _search(args):
    value = args.get("search") or None
    if value is not None and len(value) > MAX_SEARCH_LENGTH:
        raise errors.InvalidArgumentError(
            "search must be at most %d characters" % MAX_SEARCH_LENGTH)
    return value


def _format(args):
    value = args.get("format") or "json"
    if value not in FORMATS:
        raise errors.InvalidArgumentError(
            "format must be one of %s" % ", ".join(FORMATS))
    return value
