"""Fixtures shared by the plugin's tests (tests/test_plugin*.py)."""

import math
import os

import pytest

from tensorboard_plugin_trainhealth import metadata
from tensorboard_plugin_trainhealth import reader
from tensorboard_plugin_trainhealth.writer import SummaryWriter

from tests import logdir_fixtures as fx
from tests import wsgi_client

MANY_RUNS = 1500


@pytest.fixture(scope="module")
def plugin_logdir(tmp_path_factory):
    """(root, {run: values written}): runs "mlp" and fx.HOSTILE_RUN from
    fx.write_logdir, and "broken" from fx.write_broken_run."""
    root = str(tmp_path_factory.mktemp("logs"))
    written = fx.write_logdir(root)
    fx.write_broken_run(os.path.join(root, "broken"))
    return root, written


@pytest.fixture(scope="module")
def plugin_client(plugin_logdir):
    """A werkzeug client of the plugin over `plugin_logdir`."""
    return wsgi_client.make_client(plugin_logdir[0])[0]


def write_tiny_run(root, name, loss=1.0, step=0):
    """One record of one tag: the cheapest run the plugin lists."""
    writer = SummaryWriter(os.path.join(root, *name.split("/")))
    try:
        writer.scalar(metadata.STEP_LOSS, step, loss)
    finally:
        writer.close()


@pytest.fixture(scope="module")
def many_runs(tmp_path_factory):
    """1,500 one-record runs in nested folders (sweep/lr/trial); every
    100th has a NaN loss (critical). Returns (root, sorted names, the NaN
    runs, a provider that has loaded them all)."""
    root = str(tmp_path_factory.mktemp("many_runs"))
    names, nan_runs = [], set()
    for i in range(MANY_RUNS):
        name = "sweep_%02d/lr_%d/trial_%04d" % (i // 100, i // 10 % 10, i)
        nan = i % 100 == 7
        write_tiny_run(root, name, math.nan if nan else 1.0)
        names.append(name)
        if nan:
            nan_runs.add(name)
    return root, sorted(names), nan_runs, reader.open_logdir(root)


@pytest.fixture
def counted_reads(monkeypatch):
    """The runs `reader.read_run` is called for, in order (whole and
    bounded reads alike)."""
    reads = []
    real = reader.read_run

    def counting(*args, **kwargs):
        reads.append(args[3])
        return real(*args, **kwargs)

    monkeypatch.setattr(reader, "read_run", counting)
    return reads
