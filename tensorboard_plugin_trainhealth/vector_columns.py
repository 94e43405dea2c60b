"""Which layer or variable each value of a vector record belongs to.

A vector tag's records are one value per column (layer, variable or
output). The columns of a record are those of the latest `fit` at or
before its step: each fit's facts document (RUN_FACTS) names the columns
it writes per tag (`facts["columns"]`), so a later fit into the same run
(fine-tuning after unfreezing, a changed model) may write other columns.
A record takes the column list of the latest facts document at or before
its step with as many columns as it has values, else the tag's metadata
columns (runs written before facts carried columns). The matrix of a tag
is built over the union of the columns of all its records, in the order
first seen, NaN where a column did not exist in a record's phase.
Column names that are not text are made text, and said so.
"""

import numpy as np

from tensorboard_plugin_trainhealth import series as series_lib


def normalized(columns, tag, problems):
    """`columns` as a list of dicts whose "name" (and "layer", if any) is
    text; what had to be changed is reported in `problems`."""
    out = []
    changed = 0
    for column in columns:
        if isinstance(column, dict):
            if isinstance(column.get("name"), str) and isinstance(
                    column.get("layer", ""), str):
                out.append(column)
                continue
            column = dict(column)
        else:
            column = {"name": column}
        for key in ("name", "layer"):
            value = column.get(key)
            if key in column and not isinstance(value, str):
                column[key] = str(value)
                changed += 1
        if "name" not in column:
            column["name"] = ""
            changed += 1
        out.append(column)
    if changed:
        problems.append("%s: %d column names were not text and are shown "
                        "as text" % (tag, changed))
    return out


def phases_of(tag, facts_documents, problems):
    """[(step, columns)] of the facts documents (as (step, document), in
    step order) that name columns for `tag`."""
    phases = []
    for step, document in facts_documents:
        if not isinstance(document, dict):
            continue
        columns = document.get("columns")
        if isinstance(columns, dict) and isinstance(columns.get(tag), list):
            phases.append((step, normalized(columns[tag], tag, problems)))
    return phases


def matrix(tag, metadata_columns, points, phases, problems):
    """The tag's `series.Matrix` from its records (sorted by step), each
    placed by its phase's columns (see the module docstring). Records no
    column list fits are skipped and counted in `problems`."""
    if not phases:  # a run written before facts named columns
        return _one_list_matrix(tag, metadata_columns, points, problems)
    placed = []  # (step, values, its column list) per record kept
    lists = {}  # id(column list) -> column list, in the order first seen
    for point in points:
        values = np.asarray(point.numpy).reshape(-1)
        own = _columns_at(point.step, len(values), phases, metadata_columns)
        if own is not None:
            lists.setdefault(id(own), own)
            placed.append((point.step, values, id(own)))
    if len(placed) < len(points):
        problems.append("%s: %d records matched no column list and were "
                        "skipped" % (tag, len(points) - len(placed)))
    if len(lists) <= 1:  # one phase, or all alike: no union to build
        columns = next(iter(lists.values()), metadata_columns)
        placements = {id(columns): np.arange(len(columns))}
    else:
        union = {}  # (name, occurrence in its list) -> index in `columns`
        columns = []
        placements = {key: _place(own, union, columns)
                      for key, own in lists.items()}
    whole = {key: np.array_equal(indices, np.arange(len(columns)))
             for key, indices in placements.items()}
    out = np.full((len(placed), len(columns)), np.nan, np.float64)
    for i, (_, values, key) in enumerate(placed):
        if whole[key]:
            out[i] = values  # filled in place: no copy per row
        else:
            out[i, placements[key]] = values
    steps = np.array([step for step, _, _ in placed], np.int64)
    return series_lib.Matrix(list(columns), steps, out)


def _one_list_matrix(tag, columns, points, problems):
    """The matrix of the records that have as many values as `columns`;
    the others are skipped and counted in `problems`."""
    keep = [p for p in points if np.asarray(p.numpy).size == len(columns)]
    if len(keep) < len(points):
        problems.append("%s: %d records matched no column list and were "
                        "skipped" % (tag, len(points) - len(keep)))
    values = np.empty((len(keep), len(columns)), np.float64)
    for i, p in enumerate(keep):  # filled in place: no copy per row
        values[i] = np.asarray(p.numpy).reshape(-1)
    return series_lib.Matrix(list(columns), np.array(
        [p.step for p in keep], np.int64), values)


def _columns_at(step, width, phases, metadata_columns):
    for phase_step, columns in reversed(phases):
        if phase_step <= step and len(columns) == width:
            return columns
    if len(metadata_columns) == width:
        return metadata_columns
    return None


def _place(own, union, columns):
    """The union indices of the column list `own`, adding its new
    columns to `union` and `columns`; a column seen before takes what it
    adds of its description."""
    indices = np.empty(len(own), np.int64)
    occurrences = {}
    for i, column in enumerate(own):
        name = column["name"]
        occurrences[name] = occurrences.get(name, -1) + 1
        key = (name, occurrences[name])
        at = union.get(key)
        if at is None:
            at = union[key] = len(columns)
            columns.append(dict(column))
        else:
            for k, v in column.items():
                columns[at].setdefault(k, v)
        indices[i] = at
    return indices
