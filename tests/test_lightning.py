"""The Lightning callback on real `Trainer.fit` runs (CPU), with known
values: a dead branch reads 100 % dead, gradient norms match the analytic
ones (with accumulation and under 16-bit AMP), logged metrics become epoch
metrics with their gaps, and the run is judged like a Keras run."""

import os
import warnings

import numpy as np
import pytest

pl = pytest.importorskip("lightning.pytorch")
torch = pytest.importorskip("torch")
nn = torch.nn

from tensorboard import context  # noqa: E402

from tensorboard_plugin_trainhealth import diagnosis  # noqa: E402
from tensorboard_plugin_trainhealth import metadata as md  # noqa: E402
from tensorboard_plugin_trainhealth import reader  # noqa: E402
from tensorboard_plugin_trainhealth.lightning import TrainHealthCallback  # noqa: E402
from tensorboard_plugin_trainhealth.lightning import metric_key  # noqa: E402

from tests import providers  # noqa: E402
from tests.torch_loops import analytic_sgd, least_squares  # noqa: E402


class Classifier(pl.LightningModule):
    """A dead branch and a live one; the loss is a module the callback finds."""

    def __init__(self):
        super().__init__()
        self.dead = nn.Sequential(nn.Linear(8, 8), nn.ReLU())
        self.alive = nn.Sequential(nn.Linear(8, 8), nn.ReLU())
        self.head = nn.Linear(16, 1)
        self.loss_fn = nn.BCEWithLogitsLoss()
        nn.init.constant_(self.dead[0].bias, -100.0)

    def forward(self, x):
        return self.head(torch.cat([self.dead(x), self.alive(x)], dim=1))

    def training_step(self, batch, batch_idx):
        x, y = batch
        logits = self(x)
        loss = self.loss_fn(logits, y)
        self.log("train_loss", loss, on_step=True, on_epoch=True)
        self.log("train_acc", ((logits > 0).float() == y).float().mean(),
                 on_epoch=True, on_step=False)
        return loss

    def validation_step(self, batch, batch_idx):
        x, y = batch
        logits = self(x)
        self.log("val_loss", self.loss_fn(logits, y))
        self.log("val_acc", ((logits > 0).float() == y).float().mean())

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), 1e-3)


def loaders(n=256, seed=0):
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 8, generator=generator)
    y = (x[:, :4].sum(1, keepdim=True) > 0).float()
    dataset = torch.utils.data.TensorDataset
    return (torch.utils.data.DataLoader(dataset(x[:192], y[:192]),
                                        batch_size=32),
            torch.utils.data.DataLoader(dataset(x[192:], y[192:]),
                                        batch_size=64))


def trainer(root, callback, **kwargs):
    kwargs.setdefault("max_epochs", 3)
    return pl.Trainer(
        default_root_dir=str(root), callbacks=[callback],
        logger=pl.loggers.TensorBoardLogger(str(root), name="lightning_logs"),
        enable_progress_bar=False, enable_model_summary=False,
        enable_checkpointing=False, accelerator="cpu", devices=1,
        num_sanity_val_steps=0, **kwargs)


def fit(root, module, callback, train, val=None, **kwargs):
    t = trainer(root, callback, **kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Lightning's advice on workers
        t.fit(module, train, val)
    return t


def test_trainer_fit_records_dead_units_and_epoch_metrics_in_the_logger_dir(
        tmp_path):
    torch.manual_seed(0)
    callback = TrainHealthCallback(verbose=0)
    train, val = loaders()
    t = fit(tmp_path, Classifier(), callback, train, val)
    log_dir = t.log_dir
    assert log_dir == os.path.join(str(tmp_path), "lightning_logs", "version_0")
    assert any(name.endswith(".trainhealth.v1") for name in os.listdir(log_dir))
    series = callback.series
    dead = series.matrices[md.LAYER_DEAD_FRACTION]
    assert dead.names == ["dead/1", "alive/1"]
    np.testing.assert_array_equal(dead.values[:, 0], 1.0)
    assert dead.values[:, 1].max() < 1.0
    # Records reach the run's last optimizer step (3 epochs x 6 steps).
    assert series.scalar(md.STEP_LOSS).steps[-1] == 17
    assert sorted(series.epochs) == ["acc", "loss", "val_acc", "val_loss"]
    np.testing.assert_array_equal(series.epoch_end_step.values, [6, 12, 18])
    losses = series.facts["losses"]
    assert [(l["name"], l["from_logits"]) for l in losses] == [
        ("binary_crossentropy", True)]
    assert "loss_fn" not in series.facts["model"]["layers"]
    assert series.facts["steps_per_epoch"] == 6 and series.facts["epochs"] == 3
    assert series.facts["targets"][0]["classes"] is not None
    # The logger's metrics and ours, read back from the same directory.
    run = reader.read_run(providers.python_provider(tmp_path),
                          context.RequestContext(), "",
                          os.path.join("lightning_logs", "version_0"))
    gap = run.step_scalars.get(md.gap_tag("loss")) or run.epochs.get("loss")
    assert gap is not None
    np.testing.assert_allclose(run.epoch("val_loss").values
                               - run.epoch("loss").values,
                               series.epoch("val_loss").values
                               - series.epoch("loss").values, rtol=1e-6)
    kinds = {a.kind for a in diagnosis.diagnose(run)
             if diagnosis.severity_rank(a.severity)
             >= diagnosis.severity_rank("warning")}
    assert "dead_relu" in kinds


class LeastSquares(pl.LightningModule):
    def __init__(self, lr):
        super().__init__()
        self.linear = nn.Linear(5, 1, bias=False)
        nn.init.zeros_(self.linear.weight)
        self.lr = lr

    def training_step(self, batch, batch_idx):
        x, t = batch
        return nn.functional.mse_loss(self.linear(x), t)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.lr)


def amp_with_grad_scaler():
    """16-bit AMP with a GradScaler on the CPU (Lightning's "16-mixed"
    turns into bf16 without a scaler there)."""
    from lightning.pytorch.plugins.precision import MixedPrecision

    return MixedPrecision("16-mixed", "cpu",
                          torch.amp.GradScaler("cpu", init_scale=2.0 ** 12))


@pytest.mark.parametrize("precision", ["32-true", "16-mixed"])
def test_gradient_norms_match_the_analytic_ones_with_accumulation(tmp_path,
                                                                  precision):
    x, t = least_squares()
    lr = 0.05
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(torch.tensor(x), torch.tensor(t)),
        batch_size=32)
    callback = TrainHealthCallback(every_n_steps=1, activation_stats=False,
                                   verbose=0)
    amp = {} if precision == "32-true" else {"plugins": [amp_with_grad_scaler()]}
    fit(tmp_path, LeastSquares(lr), callback, loader, max_epochs=3,
        accumulate_grad_batches=2, **amp)
    norms, _ = analytic_sgd(x, t, lr, 3)
    grad = callback.series.matrices[md.VARIABLE_GRAD_NORM]
    assert grad.names == ["linear/weight"]
    assert list(grad.steps) == [0, 1, 2]  # optimizer steps, not batches
    # 16-bit autocast rounds the forward pass; the scale (4096) is gone.
    rtol = 1e-4 if precision == "32-true" else 2e-2
    np.testing.assert_allclose(grad.values[:, 0], norms, rtol=rtol)
    # The loss is the batches' own (Lightning divides it for accumulation).
    first_loss = float(np.mean([np.mean((xs @ np.zeros((5, 1)) - ts) ** 2)
                                for xs, ts in zip(np.split(x, 2),
                                                  np.split(t, 2))]))
    np.testing.assert_allclose(callback.series.scalar(md.STEP_LOSS).values[0],
                               first_loss, rtol=rtol)


def test_metric_names_become_keras_log_keys():
    assert metric_key("train_loss") == "loss"
    assert metric_key("train/loss_epoch") == "loss"
    assert metric_key("train_loss_step") is None
    assert metric_key("val/acc") == "val_acc"
    assert metric_key("valid_loss") == "val_loss"
    assert metric_key("accuracy") == "accuracy"
