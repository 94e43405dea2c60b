"""The package's one JSON cleaner: any recorded value as plain JSON types.

Facts, alert evidence, columns and answers all pass through `to_json`
before they are written or served. numpy values become Python ones, tuples
and sets lists, keys strings, bytes text, and non-finite floats the strings
"NaN", "Infinity" and "-Infinity" (JSON has no literal for them, and NaN is
exactly what a training-health tool must show). Data nested deeper than
`MAX_DEPTH` is cut off with a marker instead of overflowing the stack: a
hostile or broken event file must not make a run unreadable.

Pure stdlib + numpy, importable by the diagnosis rules and the CLI.
"""

import math

import numpy as np

# Deeper than anything this package writes (facts are 4 levels deep);
# shallow enough to stay far from Python's recursion limit.
MAX_DEPTH = 64
TOO_DEEP = "(nested too deeply)"


def nonfinite_name(x):
    """"NaN", "Infinity" or "-Infinity" for a non-finite float."""
    if math.isnan(x):
        return "NaN"
    return "Infinity" if x > 0 else "-Infinity"


def to_json(value, max_depth=MAX_DEPTH):
    """`value` as JSON-ready Python types (see the module docstring)."""
    return _clean(value, max_depth)


def _clean(value, depth):
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        x = float(value)
        return x if math.isfinite(x) else nonfinite_name(x)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, np.ndarray):
        value = value.tolist()
        if not isinstance(value, list):  # a 0-d array
            return _clean(value, depth)
    if isinstance(value, dict):
        if depth <= 0:
            return TOO_DEEP
        return {str(k): _clean(v, depth - 1) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        if depth <= 0:
            return TOO_DEEP
        return [_clean(v, depth - 1) for v in value]
    return str(value)
