"""What the programs of the suite share: the registry, and data made the way
people's data looks (tabular columns, class blobs, uint8 images, token ids,
user/item ids).

A program is a small script with one mistake in it, written the way people
post it when they ask why their model does not learn, or the corrected
version of such a script (a healthy control), or an ordinary healthy
program. It takes the `TrainHealthCallback` to pass to `fit` and trains a
tiny model for a few epochs:

    @broken("3 heads", "loss_activation_mismatch")
    def one_unit_softmax(cb):
        ...
        model.fit(x, y, epochs=8, callbacks=[cb], verbose=0)

`root` names the alert kinds that count as naming the root cause (more than
one where the script has more than one mistake); a healthy program must
raise nothing at warning or above that counts toward the run's status.
"""

import dataclasses
import os
from typing import Callable, Optional, Tuple

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402


@dataclasses.dataclass
class Program:
    name: str
    group: str  # the issue class it shows ("1 consequences", ...)
    run: Callable
    root: Tuple[str, ...] = ()  # empty: healthy
    fixes: Optional[str] = None  # a control: the broken program it fixes
    check: Optional[Callable] = None  # extra checks: (alerts) -> [problems]

    @property
    def healthy(self):
        return not self.root


PROGRAMS = {}


def _register(program):
    if program.name in PROGRAMS:
        raise ValueError("two programs named %s" % program.name)
    PROGRAMS[program.name] = program
    return program.run


def broken(group, *root, check=None):
    """Registers a program with a mistake; `root`: the kinds that name it."""
    def wrap(fn):
        return _register(Program(fn.__name__, group, fn, tuple(root),
                                 check=check))
    return wrap


def healthy(group, fixes=None, check=None):
    """Registers a correct program (the corrected version of `fixes`)."""
    def wrap(fn):
        return _register(Program(fn.__name__, group, fn, (), fixes, check))
    return wrap


def fit(model, x, y, cb, epochs=8, batch_size=32, validation_split=0.25,
        **kwargs):
    """model.fit as the scripts call it, quietly."""
    return model.fit(x, y, epochs=epochs, batch_size=batch_size,
                     validation_split=validation_split, callbacks=[cb],
                     verbose=0, **kwargs)


# -- data as people have it ---------------------------------------------------


def tabular(n=512, d=8, seed=0, noise=0.0, informative=None):
    """Standardized features and a 0/1 label that depends on some of them."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)).astype("float32")
    k = informative or d // 2
    y = (x[:, :k].sum(axis=1) + 0.3 * rng.normal(size=n) > 0)
    if noise:
        y = np.where(rng.uniform(size=n) < noise, ~y, y)
    return x, y.astype("float32")


def blobs(n=640, d=16, classes=4, seed=0, spread=0.35):
    """Class blobs within about +-1 (like scaled digits), integer labels."""
    rng = np.random.default_rng(seed)
    centers = rng.uniform(-0.6, 0.6, size=(classes, d))
    y = rng.integers(0, classes, size=n)
    x = centers[y] + spread * rng.normal(size=(n, d))
    return np.clip(x, -1, 1).astype("float32"), y.astype("int32")


def images(n=384, size=12, classes=3, seed=0):
    """uint8 images (0..255) whose class is a bright bar's position."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, size=n)
    x = rng.integers(0, 90, size=(n, size, size, 1))
    band = size // classes
    for i, c in enumerate(y):
        x[i, c * band:(c + 1) * band, :, 0] += 150
    return x.astype("uint8"), y.astype("int32")


def token_sequences(n=512, length=16, vocab=60, seed=0):
    """Token ids (0 pads) and a 0/1 label: does a "positive" token occur."""
    rng = np.random.default_rng(seed)
    x = rng.integers(3, vocab, size=(n, length))
    y = rng.integers(0, 2, size=n)
    positions = rng.integers(0, length, size=n)
    x[np.arange(n), positions] = np.where(y == 1, 1, 2)
    return x.astype("int32"), y.astype("float32")


def ratings(n=2560, users=60, items=40, seed=0, dim=3):
    """(user ids, item ids) and a 0/1 "liked" from hidden tastes."""
    rng = np.random.default_rng(seed)
    taste_u = rng.normal(size=(users, dim))
    taste_i = rng.normal(size=(items, dim))
    u = rng.integers(0, users, size=n)
    i = rng.integers(0, items, size=n)
    liked = (np.sum(taste_u[u] * taste_i[i], axis=1) > 0).astype("float32")
    return u.astype("int32"), i.astype("int32"), liked


def set_seed(seed=0):
    keras.utils.set_random_seed(seed)
