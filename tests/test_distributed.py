"""The callback under the distribution engines Keras 3 itself supports.

Each case runs in its own process (device counts and jax.distributed are
fixed at start-up): tf.distribute.MirroredStrategy on two logical CPUs,
keras.distribution.DataParallel over two host devices in one process, and
over two processes joined by jax.distributed. In each, the recorded gradient
norms must be those of the *reduced* gradient (the full-batch analytic
gradient of a least-squares problem), and only one process writes.
"""

import importlib.util
import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest
from tensorboard import context

from tensorboard_plugin_trainhealth import reader

SCRIPTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "distributed")
needs_jax = pytest.mark.skipif(importlib.util.find_spec("jax") is None,
                               reason="jax is not installed")


def _env():
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    env.pop("XLA_FLAGS", None)
    env["PYTHONPATH"] = os.pathsep.join(
        [os.path.dirname(SCRIPTS), os.path.dirname(os.path.dirname(SCRIPTS)),
         env.get("PYTHONPATH", "")])
    return env


def _run(script, *args, timeout=240):
    done = subprocess.run([sys.executable, os.path.join(SCRIPTS, script), *args],
                          capture_output=True, text=True, timeout=timeout,
                          env=_env())
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _event_files(logdir):
    return [f for f in os.listdir(logdir) if ".trainhealth." in f]


def _recorded_norms(logdir):
    run = reader.read_run(reader.open_logdir(str(logdir)),
                          context.RequestContext(), "", ".")
    grad = run.matrices["variables/grad_norm"]
    return grad.steps.tolist(), grad.values[:, 0].tolist()


def test_tf_mirrored_strategy_records_reduced_gradients(tmp_path):
    result = _run("tf_mirrored.py", str(tmp_path))
    assert result["replicas"] == 2
    assert result["steps"] == [0, 1, 2]
    np.testing.assert_allclose(result["norms"], result["expected"], rtol=1e-4)
    assert len(_event_files(tmp_path)) == 1


@needs_jax
def test_jax_data_parallel_over_two_devices(tmp_path):
    result = _run("jax_data_parallel.py", str(tmp_path))
    assert result["devices"] == 2
    assert result["steps"] == [0, 1, 2]
    np.testing.assert_allclose(result["norms"], result["expected"], rtol=1e-4)
    assert len(_event_files(tmp_path)) == 1


@needs_jax
def test_jax_two_processes_only_process_zero_writes(tmp_path):
    with socket.socket() as s:
        s.bind(("localhost", 0))
        port = str(s.getsockname()[1])
    workers = [subprocess.Popen(
        [sys.executable, os.path.join(SCRIPTS, "jax_data_parallel.py"),
         str(tmp_path), str(pid), port],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env())
        for pid in (0, 1)]
    results = []
    try:
        for worker in workers:
            out, err = worker.communicate(timeout=240)
            assert worker.returncode == 0, err[-3000:]
            results.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
    chief, other = sorted(results, key=lambda r: r["process"])
    assert chief["devices"] == 2
    np.testing.assert_allclose(chief["norms"], chief["expected"], rtol=1e-4)
    assert other["norms"] == []  # process 1 computes and writes nothing
    assert len(_event_files(tmp_path)) == 1
    steps, norms = _recorded_norms(tmp_path)
    assert steps == [0, 1, 2]
    np.testing.assert_allclose(norms, chief["expected"], rtol=1e-4)
