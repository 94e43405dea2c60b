"""The package's one JSON cleaner."""

import json

import numpy as np

from tensorboard_plugin_trainhealth import jsonsafe


def test_numpy_and_nonfinite_values_become_plain_json():
    doc = {"a": float("nan"), "b": np.float32("inf"), "c": -np.inf,
           1: (np.int64(3), np.bool_(True)), "d": np.array([0.5, np.nan]),
           "e": b"bytes", "f": np.float64(2.5), "g": np.array(7)}
    assert jsonsafe.to_json(doc) == {
        "a": "NaN", "b": "Infinity", "c": "-Infinity", "1": [3, True],
        "d": [0.5, "NaN"], "e": "bytes", "f": 2.5, "g": 7}


def test_deep_nesting_is_cut_off_instead_of_overflowing():
    doc = current = {}
    for _ in range(1000):
        current["x"] = {}
        current = current["x"]
    cleaned = jsonsafe.to_json(doc)
    depth, node = 0, cleaned
    while isinstance(node, dict):
        node, depth = node["x"], depth + 1
    assert node == jsonsafe.TOO_DEEP
    assert depth == jsonsafe.MAX_DEPTH
    json.dumps(cleaned)  # and the result serializes
