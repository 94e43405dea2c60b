"""Hand-built RunSeries for the diagnosis unit tests (tests/test_diagnosis*).

`healthy()` is a run that learns: a confident classifier on noisy labels
(saturated output sigmoid, validation loss above training loss from epoch
0, a slow first 3 epochs, huge bias update ratios). The helpers turn it
into what a test needs: a stuck run, other facts, a changed column.
"""

import copy
import json

import numpy as np

from tensorboard_plugin_trainhealth import diagnosis
from tensorboard_plugin_trainhealth import metadata
from tensorboard_plugin_trainhealth.series import Matrix, RunSeries, Series

EVERY = 10
STEPS = np.arange(0, 600, EVERY)  # 60 records; 20 epochs of 30 steps
EPOCHS = 20
STEPS_PER_EPOCH = 30

LAYERS = [
    {"name": "dense", "class": "Dense", "activation": "relu",
     "is_output": False, "units": 64},
    {"name": "dense_1", "class": "Dense", "activation": "tanh",
     "is_output": False, "units": 32},
    {"name": "dense_2", "class": "Dense", "activation": "sigmoid",
     "is_output": True, "units": 1},
]
VARIABLES = [
    {"name": "dense/kernel", "layer": "dense", "shape": [20, 64]},
    {"name": "dense/bias", "layer": "dense", "shape": [64]},
    {"name": "dense_1/kernel", "layer": "dense_1", "shape": [64, 32]},
    {"name": "dense_1/bias", "layer": "dense_1", "shape": [32]},
    {"name": "dense_2/kernel", "layer": "dense_2", "shape": [32, 1]},
    {"name": "dense_2/bias", "layer": "dense_2", "shape": [1]},
]
FACTS = {
    "loss": {"name": "binary_crossentropy", "from_logits": False},
    "outputs": [{"layer": "dense_2", "class": "Dense",
                 "activation": "sigmoid", "units": 1}],
    "inputs": [{"name": "x", "abs_max": 4.1, "mean": 0.01, "std": 1.0,
                "min": -4.1, "max": 3.9, "nonfinite_fraction": 0.0,
                "max_feature_std": 1.02, "samples": 512,
                "dtype": "float32"}],
    "optimizer": {"class": "Adam", "learning_rate": 0.001},
    "every_n_steps": EVERY,
    "steps_per_epoch": STEPS_PER_EPOCH,
    "epochs": EPOCHS,
}


def healthy(seed=0):
    rng = np.random.default_rng(seed)
    n = len(STEPS)
    s = RunSeries(facts=json.loads(json.dumps(FACTS)))
    progress = np.clip((STEPS - 90) / 510, 0, 1)  # slow start: flat 3 epochs
    loss = 0.69 - 0.2 * progress + rng.normal(0, 0.01, n)
    s.step_scalars[metadata.STEP_LOSS] = Series(STEPS, loss)
    s.step_scalars[metadata.STEP_GRAD_NORM] = Series(
        STEPS, 0.5 * np.exp(rng.normal(0, 0.3, n)) * (1 + progress))
    s.step_scalars[metadata.STEP_LEARNING_RATE] = Series(
        STEPS, np.full(n, 1e-3))
    for tag in (metadata.STEP_NONFINITE_LOSS, metadata.STEP_NONFINITE_WEIGHTS,
                metadata.STEP_NONFINITE_GRADIENTS,
                metadata.STEP_NONFINITE_ACTIVATIONS):
        s.step_scalars[tag] = Series(STEPS, np.zeros(n))
    epochs = np.arange(EPOCHS)
    eprog = np.clip((epochs - 3) / 16, 0, 1)
    train = 0.69 - 0.2 * eprog + rng.normal(0, 0.003, EPOCHS)
    s.epochs["loss"] = Series(epochs, train)
    s.epochs["val_loss"] = Series(
        epochs, train + 0.15 + rng.normal(0, 0.01, EPOCHS))  # gap from 0
    s.epoch_end_step = Series(epochs, (epochs + 1.0) * STEPS_PER_EPOCH)
    dead = np.column_stack([0.1 + rng.uniform(0, 0.1, n), np.zeros(n),
                            np.zeros(n)])
    dead[7, 0] = 0.8  # one-record blip
    sat = np.column_stack([np.zeros(n), 0.05 + rng.uniform(0, 0.1, n),
                           np.full(n, 0.97)])  # confident output sigmoid
    for tag, values in ((metadata.LAYER_DEAD_FRACTION, dead),
                        (metadata.LAYER_SATURATION, sat),
                        (metadata.LAYER_ACTIVATION_NONFINITE,
                         np.zeros((n, 3)))):
        s.matrices[tag] = Matrix(copy.deepcopy(LAYERS), STEPS, values)
    grads = np.tile([0.05, 0.02, 0.1, 0.05, 0.3, 0.2], (n, 1))
    # Zero-initialized biases: infinite or huge update ratios.
    ratio = np.tile([1.5e-3, np.inf, 2e-3, 0.5, 3e-3, 0.9], (n, 1))
    ratio = ratio * np.exp(rng.normal(0, 0.2, (n, 6)))
    norms = np.tile([3.0, 0.0, 2.5, 0.1, 1.0, 0.01], (n, 1))
    for tag, values in ((metadata.VARIABLE_GRAD_NORM, grads),
                        (metadata.VARIABLE_UPDATE_RATIO, ratio),
                        (metadata.VARIABLE_WEIGHT_NORM, norms)):
        s.matrices[tag] = Matrix(copy.deepcopy(VARIABLES), STEPS, values)
    return s


def stuck(s, level=0.6935, epochs=EPOCHS):
    """The run's loss flat at `level` (chance for binary cross-entropy)."""
    e = np.arange(epochs)
    rng = np.random.default_rng(1)
    loss = level + rng.normal(0, 0.0005, epochs)
    s.epochs["loss"] = Series(e, loss)
    s.epochs["val_loss"] = Series(e, loss + 0.001)
    s.step_scalars[metadata.STEP_LOSS].values = np.full(len(STEPS), level)
    return s


def kinds(alerts, severity="info"):
    floor = diagnosis.severity_rank(severity)
    return [a.kind for a in alerts
            if diagnosis.severity_rank(a.severity) >= floor]


def every_kind(alerts):
    """Kinds of the alerts and of their consequences."""
    found = []
    for a in alerts:
        found.append(a.kind)
        found.extend(c.kind for c in a.consequences)
    return found


def only(alerts, kind):
    found = [a for a in alerts if a.kind == kind]
    assert len(found) == 1, [a.to_dict() for a in alerts]
    return found[0]


def find(alerts, kind):
    """The alert of `kind`, a primary one or a consequence (exactly one)."""
    found = [a for a in alerts if a.kind == kind]
    found += [c for a in alerts for c in a.consequences if c.kind == kind]
    assert len(found) == 1, [a.to_dict() for a in alerts]
    return found[0]


def set_column(s, tag, column, values):
    m = s.matrices[tag]
    m.values = m.values.copy()
    m.values[:, column] = values


def set_epochs(s, key, values):
    values = np.asarray(values, np.float64)
    s.epochs[key] = Series(np.arange(len(values)), values)


def output_matrix(s, tag, values, name="dense_2"):
    s.matrices[tag] = Matrix([{"name": name}], STEPS,
                             np.asarray(values, np.float64).reshape(-1, 1))


def binary_targets(rate=0.5, samples=256, name="dense_2"):
    ones = int(round(rate * samples))
    return {"output": name, "dtype": "float32", "shape": [],
            "integer_valued": True, "min": 0.0 if ones < samples else 1.0,
            "max": 1.0 if ones else 0.0, "mean": ones / samples,
            "std": float(np.sqrt(rate * (1 - rate))),
            "distinct": int(0 < ones) + int(ones < samples),
            "one_hot": False, "multi_hot": False,
            "classes": {k: v for k, v in (("0", samples - ones),
                                          ("1", ones)) if v}}
