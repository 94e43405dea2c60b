"""Torch runs read back through TensorBoard's data providers, judged by the
plugin and the CLI like Keras runs, recorded without TensorFlow, and
continued by a second monitor."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

from tensorboard import context  # noqa: E402

from tensorboard_plugin_trainhealth import metadata as md  # noqa: E402
from tensorboard_plugin_trainhealth import reader  # noqa: E402

from tests import providers  # noqa: E402
from tests import wsgi_client  # noqa: E402
from tests.torch_loops import least_squares, linear_model, monitored  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_read_back_through_both_data_paths_equals_the_live_history(tmp_path):
    torch.manual_seed(4)
    x = torch.randn(192, 8)
    y = (x[:, :4].sum(1, keepdim=True) > 0).float()
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 1))
    optimizer = torch.optim.Adam(model.parameters(), 1e-3)
    mon, _ = monitored(model, optimizer, tmp_path / "run", x, y,
                       nn.BCEWithLogitsLoss(), epochs=2, every_n_steps=3)
    for data_provider in providers.both(tmp_path):
        run = reader.read_run(data_provider, context.RequestContext(), "", "run")
        assert run is not None and run.problems == []
        assert set(run.matrices) == set(mon.series.matrices)
        for tag, expected in mon.series.matrices.items():
            assert run.matrices[tag].columns == expected.columns
            np.testing.assert_array_equal(run.matrices[tag].steps,
                                          expected.steps)
            np.testing.assert_allclose(run.matrices[tag].values,
                                       expected.values, rtol=1e-6)
        for tag, expected in mon.series.step_scalars.items():
            np.testing.assert_allclose(run.step_scalars[tag].values,
                                       expected.values, rtol=1e-6)
        assert [(l["name"], l["from_logits"]) for l in run.facts["losses"]] \
            == [("binary_crossentropy", True)]
        assert run.facts["framework"] == "torch"


def dead_and_healthy_runs(root):
    torch.manual_seed(0)
    x = torch.randn(256, 8)
    y = (x[:, :4].sum(1, keepdim=True) > 0).float()
    for name, bias in (("dead", -50.0), ("healthy", None)):
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 1))
        if bias is not None:
            nn.init.constant_(model[0].bias, bias)
        optimizer = torch.optim.Adam(model.parameters(), 1e-3)
        monitored(model, optimizer, root / name, x, y, nn.BCEWithLogitsLoss(),
                  epochs=4)


def test_plugin_and_cli_judge_a_torch_run_like_a_keras_run(tmp_path):
    dead_and_healthy_runs(tmp_path)
    client, _ = wsgi_client.make_client(str(tmp_path))
    verdicts = {}
    for run in ("dead", "healthy"):
        response = client.get("/data/plugin/trainhealth/run?run=" + run)
        assert response.status_code == 200
        body = json.loads(response.get_data(as_text=True))
        verdicts[run] = (body["status"], {a["kind"] for a in body["alerts"]
                                          if a["severity"] != "info"})
    assert verdicts["dead"][0] == "critical"
    assert "dead_relu" in verdicts["dead"][1]
    assert verdicts["healthy"] == ("ok", set())
    report = subprocess.run(
        [sys.executable, "-m", "tensorboard_plugin_trainhealth", "report",
         str(tmp_path), "--json"], capture_output=True, text=True, cwd=REPO,
        env=dict(os.environ, PYTHONPATH=REPO), timeout=120)
    runs = json.loads(report.stdout)["runs"]
    assert runs["dead"]["status"] == "critical"
    assert any(a["kind"] == "dead_relu" and a["layer"] == "1"
               for a in runs["dead"]["alerts"])
    assert runs["healthy"]["status"] == "ok"


LOOP_WITHOUT_CLOSE = """
import sys, torch
from tensorboard_plugin_trainhealth.torch import TrainHealthMonitor
torch.manual_seed(0)
x, y = torch.randn(96, 4), torch.randn(96, 1)
model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(),
                            torch.nn.Linear(8, 1))
opt = torch.optim.Adam(model.parameters(), 1e-3)
monitor = TrainHealthMonitor(model, opt, log_dir=sys.argv[1], probe_data=x,
                             loss_fn=torch.nn.MSELoss(), every_n_steps=4,
                             verbose=0)
for i in range(0, 96, 16):
    opt.zero_grad()
    loss = torch.nn.functional.mse_loss(model(x[i:i + 16]), y[i:i + 16])
    loss.backward()
    opt.step()
    monitor.step(loss)
monitor.epoch_end({"loss": loss})
imported = [m for m in ("tensorflow", "keras") if m in sys.modules]
print("IMPORTED", imported)
"""


def test_torch_path_imports_no_tensorflow_and_finishes_at_exit(tmp_path):
    # No close(): the last record is written at interpreter exit.
    result = subprocess.run(
        [sys.executable, "-c", LOOP_WITHOUT_CLOSE, str(tmp_path / "run")],
        capture_output=True, text=True, cwd=REPO, timeout=120,
        env=dict(os.environ, PYTHONPATH=REPO))
    assert result.returncode == 0, result.stderr
    assert "IMPORTED []" in result.stdout, result.stdout
    data_provider = providers.python_provider(tmp_path)
    run = reader.read_run(data_provider, context.RequestContext(), "", "run")
    assert list(run.scalar(md.STEP_LOSS).steps) == [0, 4, 5]


def test_a_second_monitor_continues_the_step_and_epoch_axes(tmp_path):
    x, t = least_squares()
    model = linear_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    for _ in range(2):
        monitored(model, optimizer, tmp_path / "run", torch.tensor(x),
                  torch.tensor(t), nn.MSELoss(), epochs=2, batch=32,
                  every_n_steps=1)
    run = reader.read_run(providers.python_provider(tmp_path),
                          context.RequestContext(), "", "run")
    assert list(run.matrices[md.VARIABLE_WEIGHT_NORM].steps) == list(range(8))
    assert list(run.epoch("loss").steps) == [0, 1, 2, 3]
    np.testing.assert_array_equal(run.epoch_end_step.values, [2, 4, 6, 8])
