"""Plain PyTorch training loops with the monitor, and problems whose values
are known, shared by the torch and Lightning tests."""

import warnings

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from tensorboard_plugin_trainhealth.torch import TrainHealthMonitor
from tensorboard_plugin_trainhealth.torch import TrainHealthWarning


def train(model, optimizer, x, y, loss_fn, monitor, epochs=2, batch=32):
    """The plain loop people write, with the monitor's two calls."""
    for _ in range(epochs):
        total, count = 0.0, 0
        for i in range(0, len(x), batch):
            optimizer.zero_grad()
            loss = loss_fn(model(x[i:i + batch]), y[i:i + batch])
            loss.backward()
            optimizer.step()
            monitor.step(loss)
            total, count = total + float(loss) * len(x[i:i + batch]), \
                count + len(x[i:i + batch])
        monitor.epoch_end({"loss": total / count})


def monitored(model, optimizer, log_dir, x, y, loss_fn, epochs=2, batch=32,
              **kwargs):
    kwargs.setdefault("probe_data", (x[:256], y[:256]))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", TrainHealthWarning)
        with TrainHealthMonitor(model, optimizer, log_dir=str(log_dir),
                                loss_fn=loss_fn, verbose=0, **kwargs) as mon:
            train(model, optimizer, x, y, loss_fn, mon, epochs, batch)
    return mon, [str(w.message) for w in caught
                 if issubclass(w.category, TrainHealthWarning)]


def column(matrix, name):
    return matrix.values[:, matrix.names.index(name)]


class TwoBranches(nn.Module):
    """A dead branch and a live one, ReLU as a module and as a function."""

    def __init__(self):
        super().__init__()
        self.dead = nn.Linear(6, 8)
        self.alive = nn.Linear(6, 8)
        self.act = nn.ReLU()
        self.head = nn.Linear(16, 1)
        with torch.no_grad():
            self.dead.bias.fill_(-100.0)
            self.alive.bias.fill_(100.0)

    def forward(self, x):
        return self.head(torch.cat([self.act(self.dead(x)),
                                    F.relu(self.alive(x))], dim=1))


def least_squares(n=64, d=5, seed=3):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)).astype("float32")
    t = rng.normal(size=(n, 1)).astype("float32")
    return x, t


def analytic_sgd(x, t, lr, steps, micro_batches=1):
    """Gradients of mean((xw - t)^2) on the full batch, plain SGD from 0;
    with micro-batches, the sum of each micro-batch's mean-loss gradient."""
    w = np.zeros((x.shape[1], 1), np.float64)
    norms, ratios = [], []
    for _ in range(steps):
        g = sum(2.0 / len(xs) * xs.T.astype(np.float64) @ (xs @ w - ts)
                for xs, ts in zip(np.array_split(x, micro_batches),
                                  np.array_split(t, micro_batches)))
        new_w = w - lr * g
        norms.append(np.linalg.norm(g))
        ratios.append(np.linalg.norm(new_w - w) / np.linalg.norm(w)
                      if np.linalg.norm(w) else np.nan)
        w = new_w
    return np.array(norms), np.array(ratios)


def linear_model(d=5):
    model = nn.Linear(d, 1, bias=False)
    nn.init.zeros_(model.weight)
    return model
