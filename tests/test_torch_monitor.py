"""The PyTorch monitor on real (tiny) torch trainings, checked against known
values: dead units, saturation, gradient norms and update ratios against
their analytic values, the applied learning rate, gradient accumulation,
GradScaler, torch.compile, no host sync off-cadence, the never-break rule.
(Reading back, the plugin and the CLI: test_torch_readback.py.)"""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
nn = torch.nn
F = torch.nn.functional

from tensorboard_plugin_trainhealth import cadence as cadence_lib  # noqa: E402
from tensorboard_plugin_trainhealth import metadata as md  # noqa: E402
from tensorboard_plugin_trainhealth.torch import TrainHealthMonitor  # noqa: E402

from tests.torch_loops import (TwoBranches, analytic_sgd, column,  # noqa: E402
                               least_squares, linear_model, monitored)


def test_dead_layer_reads_fully_dead_and_live_layer_reads_alive(tmp_path):
    torch.manual_seed(1)
    x, y = torch.rand(256, 6), torch.rand(256, 1)
    model = TwoBranches()
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-6)
    mon, health_warnings = monitored(model, optimizer, tmp_path / "run", x, y,
                                     nn.MSELoss(), every_n_steps=2)
    assert health_warnings == []
    dead = mon.series.matrices[md.LAYER_DEAD_FRACTION]
    assert dead.names == ["act", "relu"]  # the module, the function in forward
    np.testing.assert_array_equal(column(dead, "act"), 1.0)
    np.testing.assert_array_equal(column(dead, "relu"), 0.0)
    # Every second step, and the run's last step (15).
    assert list(dead.steps) == [0, 2, 4, 6, 8, 10, 12, 14, 15]
    columns = {c["name"]: c for c in dead.columns}
    assert columns["act"]["after"] == "dead" and columns["act"]["units"] == 8
    grad = mon.series.matrices[md.VARIABLE_GRAD_NORM]
    assert grad.names == ["dead/weight", "dead/bias", "alive/weight",
                          "alive/bias", "head/weight", "head/bias"]
    assert {c["layer"] for c in grad.columns} == {"dead", "alive", "head"}
    # The dead branch passes no gradient to its weights.
    np.testing.assert_array_equal(column(grad, "dead/weight"), 0.0)
    assert (column(grad, "alive/weight") > 0).all()


def test_functional_activations_inside_modules_are_named_by_their_module(
        tmp_path):
    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 4)
            self.unused = nn.ReLU()

        def forward(self, x):
            return torch.sigmoid(self.fc(x)) * x.relu() + x.tanh().relu()

    net = nn.ModuleDict({"body": nn.Sequential(nn.Linear(3, 4), Block()),
                         "rnn": nn.LSTM(4, 4, batch_first=True)})

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = net
            self.head = nn.Linear(4, 3)

        def forward(self, x):
            h = self.net["body"](x)
            h, _ = self.net["rnn"](h[:, None, :])
            return F.softmax(self.head(h[:, 0]), dim=-1)

    x, y = torch.randn(64, 3), torch.randint(0, 3, (64,))
    model = Net()
    optimizer = torch.optim.Adam(model.parameters(), 1e-3)
    mon, _ = monitored(model, optimizer, tmp_path / "run", x, y,
                       lambda p, t: F.nll_loss(torch.log(p), t), epochs=1)
    facts = mon.series.facts
    assert facts["probe"]["inspected"] == [
        "net/body/1/sigmoid", "net/body/1/relu", "net/body/1/tanh",
        "net/body/1/relu#2", "softmax"]
    reasons = {s["layer"]: s["reason"] for s in facts["probe"]["not_inspected"]}
    assert "fused kernel" in reasons["net/rnn"]
    assert reasons["net/body/1/unused"] == "not called in the model's forward pass"
    saturation = mon.series.matrices[md.LAYER_SATURATION]
    flags = {c["name"]: c["is_output"] for c in saturation.columns}
    assert flags == {"net/body/1/sigmoid": False, "net/body/1/tanh": False,
                     "softmax": True}
    (head,) = facts["outputs"]
    assert (head["layer"], head["class"], head["activation"], head["units"]) \
        == ("head", "Linear", "softmax", 3)
    assert head["measured"]["rows_sum_to_one"] is True
    (loss,) = facts["losses"]
    assert (loss["name"], loss["from_logits"]) == (
        "sparse_categorical_crossentropy", None)


def test_sigmoid_fed_huge_inputs_reads_saturated(tmp_path):
    torch.manual_seed(2)
    x = torch.rand(256, 4) * 4000 + 1000
    y = torch.randint(0, 2, (256, 1)).float()
    model = nn.Sequential(nn.Linear(4, 16), nn.Sigmoid(), nn.Linear(16, 1),
                          nn.Sigmoid())
    optimizer = torch.optim.Adam(model.parameters(), 1e-3)
    mon, _ = monitored(model, optimizer, tmp_path / "run", x, y, nn.BCELoss(),
                       epochs=1, every_n_steps=1)
    saturation = mon.series.matrices[md.LAYER_SATURATION]
    assert saturation.names == ["1", "3"]
    assert column(saturation, "1").min() > 0.95
    assert {c["name"]: c["is_output"] for c in saturation.columns} == {
        "1": False, "3": True}
    (inputs,) = mon.series.facts["inputs"]
    assert inputs["abs_max"] > 1000 and inputs["min"] >= 1000
    (loss,) = mon.series.facts["losses"]
    assert (loss["name"], loss["from_logits"]) == ("binary_crossentropy", False)
    assert mon.series.facts["outputs"][0]["activation"] == "sigmoid"


def test_gradient_norms_and_update_ratios_match_the_analytic_ones(tmp_path):
    x, t = least_squares()
    lr = 0.05
    model = linear_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    mon, _ = monitored(model, optimizer, tmp_path / "run", torch.tensor(x),
                       torch.tensor(t), nn.MSELoss(), epochs=4, batch=64,
                       every_n_steps=1)
    norms, ratios = analytic_sgd(x, t, lr, 4)
    grad = mon.series.matrices[md.VARIABLE_GRAD_NORM]
    assert grad.names == ["model/weight"]
    assert list(grad.steps) == [0, 1, 2, 3]
    np.testing.assert_allclose(grad.values[:, 0], norms, rtol=1e-4)
    np.testing.assert_allclose(mon.series.scalar(md.STEP_GRAD_NORM).values,
                               norms, rtol=1e-4)
    ratio = mon.series.matrices[md.VARIABLE_UPDATE_RATIO]
    np.testing.assert_allclose(ratio.values[1:, 0], ratios[1:], rtol=1e-3)
    assert np.isnan(ratio.values[0, 0])  # from all-zero weights: undefined
    np.testing.assert_allclose(mon.series.scalar(md.STEP_LEARNING_RATE).values,
                               lr, rtol=1e-6)


def test_the_learning_rate_is_the_one_the_step_applied(tmp_path):
    x, t = least_squares()
    model = linear_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer,
                                                 lambda e: 0.5 ** e)
    with TrainHealthMonitor(model, optimizer, log_dir=str(tmp_path / "run"),
                            every_n_steps=1, activation_stats=False,
                            verbose=0) as mon:
        for _ in range(4):
            optimizer.zero_grad()
            F.mse_loss(model(torch.tensor(x)), torch.tensor(t)).backward()
            optimizer.step()
            schedule.step()
            mon.step()
    np.testing.assert_allclose(mon.series.scalar(md.STEP_LEARNING_RATE).values,
                               [1.0, 0.5, 0.25, 0.125])


def test_gradient_accumulation_counts_optimizer_steps(tmp_path):
    x, t = least_squares()
    lr = 0.05
    model = linear_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    xt, tt = torch.tensor(x), torch.tensor(t)
    with TrainHealthMonitor(model, optimizer, log_dir=str(tmp_path / "run"),
                            every_n_steps=1, activation_stats=False,
                            verbose=0) as mon:
        for _ in range(3):
            for xs, ts in zip(xt.chunk(2), tt.chunk(2)):
                loss = F.mse_loss(model(xs), ts)
                loss.backward()
                mon.step(loss)  # every micro-batch: only steps count
            optimizer.step()
            optimizer.zero_grad()
            mon.step()
    norms, _ = analytic_sgd(x, t, lr, 3, micro_batches=2)
    grad = mon.series.matrices[md.VARIABLE_GRAD_NORM]
    assert list(grad.steps) == [0, 1, 2]
    np.testing.assert_allclose(grad.values[:, 0], norms, rtol=1e-4)


@pytest.mark.parametrize("fused", [False, True])
def test_grad_scaler_gradients_are_read_unscaled(tmp_path, fused):
    x, t = least_squares()
    lr = 0.05
    model = linear_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, fused=fused)
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0 ** 12)
    xt, tt = torch.tensor(x), torch.tensor(t)
    with TrainHealthMonitor(model, optimizer, log_dir=str(tmp_path / "run"),
                            every_n_steps=1, activation_stats=False,
                            verbose=0) as mon:
        for _ in range(3):
            optimizer.zero_grad()
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=False):
                loss = F.mse_loss(model(xt), tt)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            mon.step(loss)
    norms, _ = analytic_sgd(x, t, lr, 3)
    grad = mon.series.matrices[md.VARIABLE_GRAD_NORM]
    np.testing.assert_allclose(grad.values[:, 0], norms, rtol=1e-4)


class SyncCounter:
    """Counts the tensor methods that bring a value to the host."""

    METHODS = ("item", "__float__", "__int__", "__bool__", "tolist", "numpy",
               "cpu")

    def __init__(self, monkeypatch):
        self.calls = []
        for name in self.METHODS:
            original = getattr(torch.Tensor, name)

            def counted(tensor, *args, _name=name, _original=original, **kw):
                self.calls.append(_name)
                return _original(tensor, *args, **kw)

            monkeypatch.setattr(torch.Tensor, name, counted)


def test_no_host_sync_on_steps_that_are_not_due(tmp_path, monkeypatch):
    torch.manual_seed(0)
    x, y = torch.randn(320, 8), torch.randn(320, 1)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 1))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    mon = TrainHealthMonitor(model, optimizer, log_dir=str(tmp_path / "run"),
                             probe_data=(x, y), every_n_steps=5, verbose=0)
    counter = SyncCounter(monkeypatch)
    syncs = []
    for i in range(0, 320, 16):
        optimizer.zero_grad()
        loss = F.mse_loss(model(x[i:i + 16]), y[i:i + 16])
        loss.backward()
        optimizer.step()
        counter.calls.clear()
        mon.step(loss)
        syncs.append(len(counter.calls))
    monkeypatch.undo()
    mon.close()
    steps = np.arange(20)
    assert all(n == 0 for n in np.array(syncs)[steps % 5 != 0]), syncs
    # Due steps read the record in one transfer (plus the probe's).
    assert all(n >= 1 for n in np.array(syncs)[steps % 5 == 0]), syncs
    assert list(mon.series.matrices[md.VARIABLE_GRAD_NORM].steps) == \
        [0, 5, 10, 15]


def test_torch_compiled_model_records_like_the_plain_one(tmp_path):
    torch._dynamo.reset()
    from torch._dynamo.utils import counters

    torch.manual_seed(1)
    x, y = torch.rand(128, 6), torch.rand(128, 1)
    model = TwoBranches()
    compiled = torch.compile(model, backend="aot_eager")
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-6)
    mon, health_warnings = monitored(compiled, optimizer, tmp_path / "run", x,
                                     y, nn.MSELoss(), epochs=2,
                                     every_n_steps=1)
    assert health_warnings == []
    # The probe runs the module itself: nothing is compiled again.
    assert counters["stats"]["unique_graphs"] <= 2, dict(counters["stats"])
    dead = mon.series.matrices[md.LAYER_DEAD_FRACTION]
    assert dead.names == ["act", "relu"]
    np.testing.assert_array_equal(column(dead, "act"), 1.0)
    grad = mon.series.matrices[md.VARIABLE_GRAD_NORM]
    assert grad.names[0] == "dead/weight"  # no _orig_mod in the names
    assert len(grad.steps) == 8


def test_a_failing_signal_is_switched_off_with_one_warning(tmp_path):
    class FailsInEval(TwoBranches):
        def forward(self, x):
            if not self.training:
                raise RuntimeError("probe-only failure")
            return super().forward(x)

    torch.manual_seed(1)
    x, y = torch.rand(128, 6), torch.rand(128, 1)
    model = FailsInEval()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    mon, health_warnings = monitored(model, optimizer, tmp_path / "run", x, y,
                                     nn.MSELoss(), every_n_steps=1)
    assert len(health_warnings) == 1
    assert "activation_stats switched off" in health_warnings[0]
    assert md.LAYER_DEAD_FRACTION not in mon.series.matrices
    assert len(mon.series.matrices[md.VARIABLE_GRAD_NORM].steps) == 8


def test_critical_alert_with_on_critical_stop_sets_should_stop(tmp_path,
                                                               capsys):
    torch.manual_seed(0)
    x = torch.randn(128, 8)
    x[3, 2] = float("nan")
    y = torch.randn(128, 1)
    model = nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 1))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    mon = TrainHealthMonitor(model, optimizer, log_dir=str(tmp_path / "run"),
                             probe_data=x, on_critical="stop", verbose=1)
    assert mon.should_stop  # the NaN input is known before the first step
    mon.close()
    printed = capsys.readouterr().out.strip().splitlines()
    assert printed[0].startswith("Train Health [critical]")
    assert printed[-1].startswith("Train Health: stop training")


def test_bad_arguments_are_rejected_clearly(tmp_path):
    model = nn.Linear(2, 1)
    with pytest.raises(ValueError, match="every_n_steps"):
        TrainHealthMonitor(model, log_dir=str(tmp_path), every_n_steps=0)
    with pytest.raises(ValueError, match="log_dir"):
        TrainHealthMonitor(model, log_dir="")
    with pytest.raises(TypeError, match="torch.nn.Module"):
        TrainHealthMonitor(lambda x: x, log_dir=str(tmp_path))


def test_unknown_length_runs_are_replanned_to_cover_the_whole_run():
    # Planned for 300 steps at first (floor 1), a loop found to run 2000
    # steps is recorded at least every tenth of its length, with a fake
    # clock that makes every record cost 1% of a step.
    now = [0.0]
    cadence = cadence_lib.Cadence("auto", cadence_lib.RECORDS_PER_FIT, 0,
                                  lambda: now[0])
    recorded = []
    for step in range(2000):
        cadence.step_started(step)
        now[0] += 1.0
        if cadence.is_due(step):
            recorded.append(step)
            cadence.record_done(step, 0.01)
        if step + 1 == cadence.total_steps:
            cadence.replan(2 * (step + 1))
    gaps = np.diff(recorded)
    assert recorded[:30] == list(range(30))  # the dense start, kept
    assert gaps.max() <= 2000 // 10, gaps.max()


def test_without_an_optimizer_each_call_is_a_step(tmp_path):
    # A hand-written update: the gradients are still there at step().
    x, t = least_squares()
    lr = 0.05
    model = linear_model()
    xt, tt = torch.tensor(x), torch.tensor(t)
    with TrainHealthMonitor(model, log_dir=str(tmp_path / "run"),
                            every_n_steps=1, activation_stats=False,
                            verbose=0) as mon:
        for _ in range(3):
            model.zero_grad()
            loss = F.mse_loss(model(xt), tt)
            loss.backward()
            with torch.no_grad():
                model.weight -= lr * model.weight.grad
            mon.step(loss)
    norms, _ = analytic_sgd(x, t, lr, 3)
    grad = mon.series.matrices[md.VARIABLE_GRAD_NORM]
    assert list(grad.steps) == [0, 1, 2]
    np.testing.assert_allclose(grad.values[:, 0], norms, rtol=1e-4)
    assert len(mon.series.matrices[md.VARIABLE_UPDATE_RATIO].steps) == 0


def test_a_failing_record_keeps_the_step_axis(tmp_path, monkeypatch):
    from tensorboard_plugin_trainhealth.torch import reads as reads_lib

    def broken(tensors):
        raise RuntimeError("no norms today")

    monkeypatch.setattr(reads_lib, "norms", broken)
    x, t = least_squares()
    model = linear_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    mon, health_warnings = monitored(model, optimizer, tmp_path / "run",
                                     torch.tensor(x), torch.tensor(t),
                                     nn.MSELoss(), epochs=3, every_n_steps=1)
    assert len(health_warnings) == 1 and "record switched off" in \
        health_warnings[0]
    np.testing.assert_array_equal(mon.series.epoch_end_step.values, [2, 4, 6])
