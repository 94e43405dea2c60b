"""The broken-trainings suite on plain PyTorch loops, and its healthy controls.

The scenarios of `tests/broken_trainings.py` (the Keras suite), written as
people write them in PyTorch: an `nn.Sequential` or small module with the
framework's default initialisation, a hand-written loop over shuffled
mini-batches, the validation loss computed at each epoch's end, and
`TrainHealthMonitor` with its two calls. Binary heads are logits with
`BCEWithLogitsLoss`, as PyTorch users write them, except where the head is
the bug. Each broken one names the kinds that name its root cause (as the
Keras suite's `@broken` does): its first alert at warning or above must be
one of them, its consequences folded inside it; healthy trainings must
raise nothing at warning or above.

    python -m tests.broken_trainings_torch   # detection rate and false alarms

The same scenarios run under pytest in tests/test_detection_suite_torch.py.
Nothing here imports Keras or TensorFlow.
"""

import os
import sys
import tempfile
import time

import numpy as np
import torch
from torch import nn

from tensorboard_plugin_trainhealth import diagnosis
from tensorboard_plugin_trainhealth.torch import TrainHealthMonitor


def _tabular(n=384, d=8, seed=0, scale=1.0, noise=0.0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)).astype("float32")
    y = (x[:, : d // 2].sum(axis=1) > 0).astype("float32")
    if noise:
        flip = rng.uniform(size=n) < noise
        y = np.where(flip, 1 - y, y).astype("float32")
    return torch.tensor(x * scale), torch.tensor(y[:, None])


def _mlp(activation=nn.ReLU, width=32, depth=2, head=None, units=1, d=8,
         seed=0, init=None):
    """`depth` hidden Linear+activation blocks, then Linear(units) and the
    head module, if any."""
    torch.manual_seed(seed)
    layers, width_in = [], d
    for _ in range(depth):
        layers += [nn.Linear(width_in, width), activation()]
        width_in = width
    layers.append(nn.Linear(width_in, units))
    if head is not None:
        layers.append(head)
    model = nn.Sequential(*layers)
    if init is not None:
        for module in model:
            if isinstance(module, nn.Linear):
                init(module.weight)
                nn.init.zeros_(module.bias)
    return model


def _accuracy(output, y):
    if output.shape[-1] > 1:
        labels = y.argmax(-1) if y.dim() > 1 else y
        return float((output.argmax(-1) == labels).float().mean())
    threshold = 0.5 if float(output.min()) >= 0 and float(output.max()) <= 1 \
        else 0.0
    return float(((output > threshold).float() == y).float().mean())


def _train(model, optimizer, loss_fn, x, y, log_dir, epochs=8, batch_size=32,
           validation=0.25, validation_data=None, accuracy=False):
    """A plain loop: the last `validation` of the data held out (as Keras's
    validation_split), shuffled mini-batches, epoch metrics at each end."""
    if validation_data is None:
        split = int(len(x) * (1 - validation))
        x, y, xv, yv = x[:split], y[:split], x[split:], y[split:]
    else:
        xv, yv = validation_data
    generator = torch.Generator().manual_seed(0)
    steps = -(-len(x) // batch_size)
    monitor = TrainHealthMonitor(
        model, optimizer, log_dir=log_dir, probe_data=(x[:256], y[:256]),
        loss_fn=loss_fn, steps_per_epoch=steps, epochs=epochs, verbose=0)
    with monitor:
        for _ in range(epochs):
            model.train()
            order = torch.randperm(len(x), generator=generator)
            total = 0.0
            for i in range(0, len(x), batch_size):
                batch = order[i:i + batch_size]
                optimizer.zero_grad()
                loss = loss_fn(model(x[batch]), y[batch])
                loss.backward()
                optimizer.step()
                monitor.step(loss)
                total += loss.item() * len(batch)
            model.eval()
            with torch.no_grad():
                logs = {"loss": total / len(x),
                        "val_loss": float(loss_fn(model(xv), yv))}
                if accuracy:
                    logs["accuracy"] = _accuracy(model(x), y)
                    logs["val_accuracy"] = _accuracy(model(xv), yv)
            monitor.epoch_end(logs)
    return monitor.series


# -- broken ------------------------------------------------------------------


def non_finite(log_dir):
    x, y = _tabular()
    model = _mlp()
    return _train(model, torch.optim.SGD(model.parameters(), lr=50.0),
                  nn.MSELoss(), x * 10, y * 1000, log_dir, epochs=3)


def exploding_gradients(log_dir):
    # Plain SGD past its stability limit on a linear chain: every step
    # overshoots further; the gradient norm grows 10,000-fold within a few
    # steps and then overflows. (PyTorch's default initialisation is
    # smaller than Keras's Glorot: the limit is higher than the Keras
    # suite's 0.52.)
    x, y = _tabular()
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 8), nn.Linear(8, 1))
    return _train(model, torch.optim.SGD(model.parameters(), lr=0.8),
                  nn.MSELoss(), x, y, log_dir, epochs=4)


def vanishing_gradients(log_dir):
    x, y = _tabular()
    model = _mlp(activation=nn.Sigmoid, width=16, depth=10,
                 init=lambda w: nn.init.normal_(w, std=0.1))
    return _train(model, torch.optim.SGD(model.parameters(), lr=0.01),
                  nn.BCEWithLogitsLoss(), x, y, log_dir, epochs=3)


def dead_relu(log_dir):
    x, y = _tabular()
    model = _mlp(width=32, depth=3, seed=3)
    return _train(model, torch.optim.Adam(model.parameters(), lr=1.0),
                  nn.BCEWithLogitsLoss(), x, y, log_dir, epochs=4)


def saturation(log_dir):
    x, y = _tabular()
    model = _mlp(activation=nn.Sigmoid, depth=2)
    with torch.no_grad():  # unit-scale inputs, but huge first-layer weights
        model[0].weight.mul_(200.0)
    return _train(model, torch.optim.Adam(model.parameters(), lr=1e-3),
                  nn.BCEWithLogitsLoss(), x, y, log_dir, epochs=4)


def overfitting(log_dir):
    x, y = _tabular(n=96, noise=0.2)
    validation = _tabular(n=256, seed=9)
    model = _mlp(width=256, depth=3)
    return _train(model, torch.optim.Adam(model.parameters(), lr=3e-3),
                  nn.BCEWithLogitsLoss(), x, y, log_dir, epochs=30,
                  validation_data=validation)


def stalled_loss(log_dir):
    x, y = _tabular()
    model = _mlp()
    return _train(model, torch.optim.SGD(model.parameters(), lr=1e-7),
                  nn.BCEWithLogitsLoss(), x, y, log_dir, epochs=8)


def unscaled_inputs(log_dir):
    x, y = _tabular(scale=5000.0)
    model = _mlp()
    return _train(model, torch.optim.Adam(model.parameters(), lr=1e-3),
                  nn.BCEWithLogitsLoss(), x.abs(), y, log_dir, epochs=2)


def learning_rate(log_dir):
    # SGD at 3.0: each step moves the weights by a large share of their
    # norm; the run never diverges, it just thrashes.
    x, y = _tabular()
    model = _mlp(activation=nn.Tanh)
    return _train(model, torch.optim.SGD(model.parameters(), lr=3.0),
                  nn.BCEWithLogitsLoss(), x, y, log_dir, epochs=3)


def loss_activation_mismatch(log_dir):
    # Two softmax outputs scored one by one with binary cross-entropy.
    x, y = _tabular()
    model = _mlp(head=nn.Softmax(dim=1), units=2)
    one_hot = torch.cat([1 - y, y], dim=1)
    return _train(model, torch.optim.Adam(model.parameters(), lr=1e-3),
                  nn.BCELoss(), x, one_hot, log_dir, epochs=2)


def logits_mismatch(log_dir):
    # A sigmoid head under BCEWithLogitsLoss: squashed twice.
    x, y = _tabular()
    model = _mlp(head=nn.Sigmoid())
    return _train(model, torch.optim.Adam(model.parameters(), lr=1e-3),
                  nn.BCEWithLogitsLoss(), x, y, log_dir, epochs=2)


def softmax_before_cross_entropy(log_dir):
    # PyTorch's own classic: nn.CrossEntropyLoss takes logits, and the
    # model already ends in nn.Softmax.
    x, y = _tabular()
    model = _mlp(head=nn.Softmax(dim=1), units=2)
    return _train(model, torch.optim.Adam(model.parameters(), lr=1e-3),
                  nn.CrossEntropyLoss(), x, y[:, 0].long(), log_dir, epochs=2)


# -- healthy -----------------------------------------------------------------


def healthy_mlp(log_dir):
    x, y = _tabular()
    model = _mlp()
    return _train(model, torch.optim.Adam(model.parameters(), lr=1e-3),
                  nn.BCEWithLogitsLoss(), x, y, log_dir, epochs=8,
                  accuracy=True)


def healthy_cnn(log_dir):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(256, 1, 12, 12)).astype("float32")
    y = (x[:, :, :6].mean(axis=(1, 2, 3)) > x[:, :, 6:].mean(axis=(1, 2, 3)))
    torch.manual_seed(1)
    model = nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        # Flattened, not globally pooled: the label is where the signal
        # is (left or right half), which a global average would erase.
        nn.Flatten(), nn.Linear(8 * 3 * 3, 2))
    for module in model:
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
    return _train(model, torch.optim.Adam(model.parameters(), lr=3e-3),
                  nn.CrossEntropyLoss(), torch.tensor(x),
                  torch.tensor(y.astype("int64")), log_dir, epochs=6,
                  accuracy=True)


def healthy_regression(log_dir):
    rng = np.random.default_rng(2)
    x = rng.normal(size=(384, 8)).astype("float32")
    y = (x @ rng.normal(size=(8, 1)) + 0.1 * rng.normal(size=(384, 1))).astype(
        "float32")
    model = _mlp()
    return _train(model, torch.optim.Adam(model.parameters(), lr=3e-3),
                  nn.MSELoss(), torch.tensor(x), torch.tensor(y), log_dir,
                  epochs=8)


def healthy_noisy(log_dir):
    # 30% label noise: a train/validation gap from the first epoch, and a
    # loss that stays high, without anything being wrong with the training.
    x, y = _tabular(noise=0.3, n=512)
    model = _mlp(width=16)
    return _train(model, torch.optim.Adam(model.parameters(), lr=1e-3),
                  nn.BCEWithLogitsLoss(), x, y, log_dir, epochs=8)


def healthy_confident(log_dir):
    # Separable data: the predictions sit at 0 and 1, which is health.
    x, y = _tabular()
    x = x + torch.where(y > 0, 3.0, -3.0)
    model = _mlp(head=nn.Sigmoid())
    return _train(model, torch.optim.Adam(model.parameters(), lr=1e-2),
                  nn.BCELoss(), x, y, log_dir, epochs=8)


def healthy_slow_start(log_dir):
    x, y = _tabular()
    model = _mlp(width=16)
    return _train(model, torch.optim.Adam(model.parameters(), lr=2e-4),
                  nn.BCEWithLogitsLoss(), x, y, log_dir, epochs=8)


BROKEN = {
    "non_finite": non_finite,
    "exploding_gradients": exploding_gradients,
    "vanishing_gradients": vanishing_gradients,
    "dead_relu": dead_relu,
    "saturation": saturation,
    "overfitting": overfitting,
    "stalled_loss": stalled_loss,
    "unscaled_inputs": unscaled_inputs,
    "loss_activation_mismatch": loss_activation_mismatch,
    "logits_mismatch": logits_mismatch,
    "softmax_before_cross_entropy": softmax_before_cross_entropy,
}
# The kinds that name each broken training's root cause: NaN from inputs
# x10 and targets x1000 under SGD(50) is the scale or the rate; gradients
# blown up, ReLUs killed, or a loss stalled by a rate are the rate.
ROOTS = {name: (name,) for name in BROKEN}
ROOTS.update({
    "non_finite": ("non_finite", "unscaled_inputs", "learning_rate"),
    "exploding_gradients": ("exploding_gradients", "learning_rate"),
    "dead_relu": ("dead_relu", "learning_rate"),
    "stalled_loss": ("stalled_loss", "learning_rate"),
    "logits_mismatch": ("loss_activation_mismatch",),
    "softmax_before_cross_entropy": ("loss_activation_mismatch",),
})

# SGD at 3.0 thrashes at first, then learns (validation loss 2.7 -> 0.19
# in three epochs): the high update ratio is information, not a warning.
HEALTHY = {
    "learning_rate_that_still_learns": learning_rate,
    "healthy_mlp": healthy_mlp,
    "healthy_cnn": healthy_cnn,
    "healthy_regression": healthy_regression,
    "healthy_noisy": healthy_noisy,
    "healthy_confident": healthy_confident,
    "healthy_slow_start": healthy_slow_start,
}


def serious(alerts):
    warning = diagnosis.severity_rank("warning")
    return [a for a in alerts if diagnosis.severity_rank(a.severity) >= warning]


def run_scenario(scenario, log_dir):
    return serious(diagnosis.diagnose(scenario(log_dir)))


def main():
    detected, false_alarms = 0, 0
    with tempfile.TemporaryDirectory() as root:
        print("%-32s %-44s %s" % ("scenario", "root cause", "primary "
                                  "[its consequences], others (>= warning)"))
        for name, scenario in list(BROKEN.items()) + list(HEALTHY.items()):
            started = time.time()
            alerts = run_scenario(scenario, os.path.join(root, name))
            roots = ROOTS.get(name)
            if roots is not None:
                ok = bool(alerts) and alerts[0].kind in roots
                detected += ok
            else:
                ok = not alerts
                false_alarms += len(alerts)
            shown = ", ".join("%s[%s]" % (a.kind, ",".join(
                c.kind for c in a.consequences)) for a in alerts)
            print("%-32s %-44s %s%s  (%.1fs)" % (
                name, "/".join(roots) if roots else "(healthy)",
                shown or "-", "" if ok else "   <-- MISS",
                time.time() - started))
    print("\nroot cause first: %d/%d broken trainings; "
          "false alarms: %d alerts >= warning on %d healthy trainings"
          % (detected, len(BROKEN), false_alarms, len(HEALTHY)))
    return 0 if detected == len(BROKEN) and not false_alarms else 1


if __name__ == "__main__":
    sys.exit(main())
