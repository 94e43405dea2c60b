"""TrainHealthMonitor under DistributedDataParallel: two CPU processes
joined by gloo. Only rank 0 records and writes, and the gradient norms it
records are those of the all-reduced gradient (the full-batch analytic
gradient of a least-squares problem), not of its own half of the batch."""

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("torch")

from tests import test_distributed as keras_distributed  # noqa: E402

SCRIPT = os.path.join(keras_distributed.SCRIPTS, "torch_ddp.py")


def test_ddp_two_processes_rank_zero_records_the_reduced_gradients(tmp_path):
    with socket.socket() as s:
        s.bind(("localhost", 0))
        port = str(s.getsockname()[1])
    workers = [subprocess.Popen(
        [sys.executable, SCRIPT, str(tmp_path), str(rank), port],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=keras_distributed._env()) for rank in (0, 1)]
    results = []
    try:
        for worker in workers:
            out, err = worker.communicate(timeout=180)
            assert worker.returncode == 0, err[-3000:]
            results.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
    chief, other = sorted(results, key=lambda r: r["rank"])
    assert chief["columns"] == ["model/weight"]  # DDP's `module.` looked through
    assert chief["steps"] == [0, 1, 2]
    np.testing.assert_allclose(chief["norms"], chief["expected"], rtol=1e-4)
    # Each process's own half-batch gradient is not what was recorded.
    assert not np.allclose(chief["local"], chief["expected"], rtol=1e-2)
    assert chief["probed"]  # the probe ran on rank 0 without a collective
    assert other["norms"] == [] and not other["probed"]
    assert len(keras_distributed._event_files(tmp_path)) == 1
    steps, norms = keras_distributed._recorded_norms(tmp_path)
    assert steps == [0, 1, 2]
    np.testing.assert_allclose(norms, chief["expected"], rtol=1e-4)
