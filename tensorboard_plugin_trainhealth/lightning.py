"""`TrainHealthCallback` for Lightning: Train Health with no code in the
LightningModule.

    from tensorboard_plugin_trainhealth.lightning import TrainHealthCallback
    trainer = lightning.pytorch.Trainer(callbacks=[TrainHealthCallback()])

A thin adapter over the PyTorch monitor (`torch/monitor.py`): it is made
when training starts, with the trainer's optimizer, rank and length, a
probe batch from the training dataloader, and the logger's directory as
the run; Lightning's hooks then feed it: `on_before_optimizer_step` (the
gradients, after the backward that Lightning runs inside the optimizer
step, unscaled under AMP), `on_train_batch_end` (the step's loss),
`on_validation_epoch_end` and `on_train_epoch_end` (the logged metrics),
`on_train_end` and `on_exception` (the last record).
"""

import math
from collections.abc import Mapping

import lightning.pytorch as pl
import torch

from tensorboard_plugin_trainhealth import cadence as cadence_lib
from tensorboard_plugin_trainhealth.torch import TrainHealthMonitor

_VAL_PREFIXES = ("val_", "val/", "valid_", "valid/", "validation_",
                 "validation/")
_TRAIN_PREFIXES = ("train_", "train/")


def metric_key(name):
    """A logged metric's name as a Keras log key ("loss", "val_loss",
    "accuracy", ...), or None for per-step values: `train_loss` and
    `train/loss_epoch` are "loss", `val/acc` is "val_acc"."""
    name = str(name)
    if name.endswith("_step"):
        return None
    if name.endswith("_epoch"):
        name = name[:-len("_epoch")]
    for prefix in _VAL_PREFIXES:
        if name.startswith(prefix):
            return "val_" + name[len(prefix):].replace("/", "_")
    for prefix in _TRAIN_PREFIXES:
        if name.startswith(prefix):
            name = name[len(prefix):]
            break
    return name.replace("/", "_")


def _scalar(value):
    try:
        return float(value)  # one host read per metric, once per epoch
    except (TypeError, ValueError, RuntimeError):
        return None


def logged_metrics(metrics, validation):
    """{Keras log key: float} of the metrics `trainer.callback_metrics`
    holds, validation ones (`val_...`) or the others."""
    logs = {}
    for name, value in metrics.items():
        key = metric_key(name)
        if key is None or key.startswith("val_") != validation or key in logs:
            continue
        value = _scalar(value)
        if value is not None:
            logs[key] = value
    return logs


class TrainHealthCallback(pl.Callback):
    """Records training-health signals of a Lightning `Trainer.fit` for
    TensorBoard's "Train Health" tab: the signals, schema and diagnosis of
    `tensorboard_plugin_trainhealth.torch.TrainHealthMonitor`.

    Example:

    ```python
    import lightning.pytorch as pl
    import torch
    from tensorboard_plugin_trainhealth.lightning import TrainHealthCallback

    class Classifier(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.net = torch.nn.Sequential(torch.nn.Linear(8, 16),
                                           torch.nn.ReLU(),
                                           torch.nn.Linear(16, 1))
            self.loss_fn = torch.nn.BCEWithLogitsLoss()

        def forward(self, x):
            return self.net(x)

        def training_step(self, batch, batch_idx):
            x, y = batch
            loss = self.loss_fn(self(x), y)
            self.log("train_loss", loss, on_epoch=True)
            return loss

        def configure_optimizers(self):
            return torch.optim.Adam(self.parameters(), 1e-3)

    x = torch.randn(512, 8)
    y = (x[:, :4].sum(1, keepdim=True) > 0).float()
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(x, y), batch_size=32)
    trainer = pl.Trainer(max_epochs=3, callbacks=[TrainHealthCallback()])
    trainer.fit(Classifier(), loader)
    # then: tensorboard --logdir lightning_logs
    ```

    Args:
        log_dir: the run's directory; by default the trainer's `log_dir`
            (the logger's version directory), beside its own event files.
        probe_data: inputs or `(x, y)` for the activation probe (see
            `TrainHealthMonitor`); by default the first batches of the
            training dataloader, read through a fresh iterator.
        loss_fn: the loss, if the LightningModule does not hold it as a
            loss module (`self.loss_fn = nn.CrossEntropyLoss()` is found).
        every_n_steps, probe_samples, activation_stats, gradient_norms,
        update_ratios, thresholds, verbose: as for `TrainHealthMonitor`.
        on_critical: `"warn"` or `"stop"` (sets `trainer.should_stop`).

    Logged metrics become epoch metrics under Keras's names (`train_loss`
    is `loss`, `val/acc` is `val_acc`), each against its `val_`
    counterpart; `*_step` values are left out.
    """

    def __init__(self, log_dir=None, probe_data=None, loss_fn=None,
                 every_n_steps="auto", probe_samples=256,
                 activation_stats=True, gradient_norms=True,
                 update_ratios=True, on_critical="warn", thresholds=None,
                 verbose=1):
        super().__init__()
        cadence_lib.Cadence(every_n_steps)  # raises for a bad value
        if on_critical not in ("warn", "stop"):
            raise ValueError(
                "on_critical must be 'warn' or 'stop', got %r" % (on_critical,))
        self.log_dir = log_dir
        self.probe_data = probe_data
        self.loss_fn = loss_fn
        self.options = dict(
            every_n_steps=every_n_steps, probe_samples=probe_samples,
            activation_stats=activation_stats, gradient_norms=gradient_norms,
            update_ratios=update_ratios, on_critical=on_critical,
            thresholds=thresholds, verbose=verbose)
        self.monitor = None
        self._validation_logs = {}

    @property
    def series(self):
        """The run's history so far (`series.RunSeries`)."""
        return self.monitor.series if self.monitor is not None else None

    # -- Lightning hooks -------------------------------------------------

    def on_train_start(self, trainer, pl_module):
        self._close()
        steps_per_epoch = _steps_per_epoch(trainer)
        epochs = trainer.max_epochs if (trainer.max_epochs or 0) > 0 else None
        self.monitor = TrainHealthMonitor(
            pl_module, trainer.optimizers[0] if trainer.optimizers else None,
            log_dir=self.log_dir or trainer.log_dir or trainer.default_root_dir,
            probe_data=self.probe_data if self.probe_data is not None
            else _training_loader(trainer),
            loss_fn=self.loss_fn, total_steps=_total_steps(trainer),
            steps_per_epoch=steps_per_epoch, epochs=epochs,
            rank=trainer.global_rank, **self.options)
        self.monitor.capture_in_step_hook = False
        self._validation_logs = {}

    def on_before_optimizer_step(self, trainer, pl_module, optimizer):
        # Only the monitored optimizer's step (LightningOptimizer wraps it).
        if self.monitor is not None and getattr(
                optimizer, "optimizer", optimizer) is self.monitor.optimizer:
            self.monitor.capture_before_step()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch,
                           batch_idx):
        if self.monitor is None:
            return
        loss = outputs.get("loss") if isinstance(outputs, Mapping) else outputs
        if isinstance(loss, torch.Tensor) and trainer.accumulate_grad_batches > 1:
            # Lightning hands over the loss divided for accumulation.
            loss = loss * trainer.accumulate_grad_batches
        self.monitor.step(loss if isinstance(loss, torch.Tensor) else None)

    def on_validation_epoch_end(self, trainer, pl_module):
        if self.monitor is not None and not trainer.sanity_checking:
            self._validation_logs = logged_metrics(trainer.callback_metrics,
                                                   validation=True)

    def on_train_epoch_end(self, trainer, pl_module):
        if self.monitor is None:
            return
        logs = logged_metrics(trainer.callback_metrics, validation=False)
        logs.update(self._validation_logs)
        self._validation_logs = {}
        self.monitor.epoch_end(logs, epoch=trainer.current_epoch)
        if self.monitor.should_stop:
            trainer.should_stop = True

    def on_train_end(self, trainer, pl_module):
        self._close()

    def on_exception(self, trainer, pl_module, exception):
        self._close()

    def _close(self):
        if self.monitor is not None:
            self.monitor.close()


def _finite_int(value):
    try:
        return int(value) if value is not None and math.isfinite(value) \
            and value > 0 else None
    except (TypeError, ValueError):
        return None


def _total_steps(trainer):
    try:
        return _finite_int(trainer.estimated_stepping_batches)
    except Exception:  # no estimate for this loader: planned as it runs
        return None


def _steps_per_epoch(trainer):
    batches = _finite_int(trainer.num_training_batches)
    if batches is None:
        return None
    return math.ceil(batches / max(1, trainer.accumulate_grad_batches))


def _training_loader(trainer):
    """The training DataLoader (read later through a fresh iterator), or
    None when there are several."""
    loader = trainer.train_dataloader
    if isinstance(loader, torch.utils.data.DataLoader):
        return loader
    return None
