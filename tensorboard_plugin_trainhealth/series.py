"""The recorded history of one run, as plain numpy: what diagnosis reads.

`RunSeries` is filled two ways, from the same schema: live by the callback
while it writes, and afterwards by `reader.py` from TensorBoard's data
provider. Diagnosis, the plugin and the CLI only ever see this structure, so
none of them depends on Keras or on how the data was stored.
"""

import dataclasses
from typing import Dict, List

import numpy as np


@dataclasses.dataclass
class Series:
    """A scalar over steps (or epochs)."""

    steps: np.ndarray  # int64, ascending
    values: np.ndarray  # float64, same length; NaN/Inf kept as recorded

    @classmethod
    def empty(cls):
        return cls(np.zeros(0, np.int64), np.zeros(0, np.float64))

    def __len__(self):
        return len(self.steps)

    def append(self, step, value):
        self.steps = np.append(self.steps, np.int64(step))
        self.values = np.append(self.values, np.float64(value))


@dataclasses.dataclass
class Matrix:
    """A per-layer (or per-variable) signal: `values[t, i]` is column i at steps[t]."""

    columns: List[dict]  # each has at least "name"; see metadata.py
    steps: np.ndarray  # int64 [T]
    values: np.ndarray  # float64 [T, len(columns)]

    @classmethod
    def empty(cls, columns):
        return cls(
            list(columns),
            np.zeros(0, np.int64),
            np.zeros((0, len(columns)), np.float64),
        )

    @property
    def names(self):
        return [c["name"] for c in self.columns]

    def append(self, step, row):
        row = np.asarray(row, np.float64).reshape(1, -1)
        if row.shape[1] != len(self.columns):
            raise ValueError("row has %d entries for %d columns"
                             % (row.shape[1], len(self.columns)))
        self.steps = np.append(self.steps, np.int64(step))
        self.values = np.concatenate([self.values, row], axis=0)


@dataclasses.dataclass
class RunSeries:
    """Everything recorded for one run.

    Keys of `step_scalars` and `matrices` are the schema's tags (metadata.py);
    keys of `epochs` are Keras log keys ("loss", "val_loss", "accuracy", ...)
    with the epoch index as step.
    """

    step_scalars: Dict[str, Series] = dataclasses.field(default_factory=dict)
    epochs: Dict[str, Series] = dataclasses.field(default_factory=dict)
    epoch_end_step: Series = dataclasses.field(default_factory=Series.empty)
    matrices: Dict[str, Matrix] = dataclasses.field(default_factory=dict)
    facts: dict = dataclasses.field(default_factory=dict)
    # The alerts the callback raised while training, as (step, alert dict)
    # in the order raised (RUN_ALERTS); empty for runs read without them.
    live_alerts: List[tuple] = dataclasses.field(default_factory=list)
    # Per-tag problems met while reading (unreadable, newer version, ...).
    problems: List[str] = dataclasses.field(default_factory=list)
    # False when only a sample of the records was read (`reader.read_run`
    # with `max_records`).
    complete: bool = True

    def scalar(self, tag):
        return self.step_scalars.get(tag) or Series.empty()

    def epoch(self, key):
        return self.epochs.get(key) or Series.empty()

    def step_of_epoch(self, epoch):
        """The global step at which `epoch` ended, or None if unknown."""
        hits = np.nonzero(self.epoch_end_step.steps == epoch)[0]
        if len(hits) == 0:
            return None
        return int(self.epoch_end_step.values[hits[-1]])
