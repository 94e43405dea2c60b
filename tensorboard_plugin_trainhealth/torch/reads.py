"""How a record's parts are read from a PyTorch training.

Around a due optimizer step (the monitor's step hooks): just before it, the
norms of the gradients it is about to apply (`.grad`, after DDP's
all-reduce and GradScaler's `unscale_`) and the learning rate it applies,
and a copy of the weights; just after it, the weight norms and the update
norms against that copy, which is then dropped. All of that stays on the
device until the record is written, when everything goes to the host in
one transfer (`read`). Between records nothing here touches a tensor, except
that each step's loss is kept, detached, for the running mean.
"""

import numpy as np
import torch

from tensorboard_plugin_trainhealth.torch import modules as modules_lib
from tensorboard_plugin_trainhealth.torch import reading as reading_lib

# The kept step losses are folded into one sum beyond this many.
_MAX_LOSS_TERMS = 256


def norms(tensors):
    """float32 L2 norms of `tensors` as one device vector."""
    try:
        values = torch._foreach_norm(tensors, 2, dtype=torch.float32)
    except (RuntimeError, TypeError):  # sparse gradients, odd dtypes
        values = [_norm(t) for t in tensors]
    device = values[0].device
    return torch.stack([v.to(device) for v in values])


def _norm(tensor):
    if tensor.is_sparse:
        tensor = tensor.coalesce().values()
    return torch.linalg.vector_norm(tensor.float())


class TorchReads:
    """The device side of one monitor's records.

    Args:
        model: the unwrapped module being trained.
        optimizer: its optimizer, or None.
        gradient_norms, update_ratios: whether those signals are wanted.
        disabled: the owner's set of signals switched off (shared).
    """

    def __init__(self, model, optimizer, gradient_norms, update_ratios,
                 disabled):
        self.optimizer = optimizer
        self.parameters, self.columns = modules_lib.trainable_parameters(
            model, optimizer)
        self.gradient_norms = gradient_norms and bool(self.parameters)
        self.update_ratios = update_ratios and bool(self.parameters)
        self.disabled = disabled
        self.pending = {}  # device parts of the step being recorded
        self.learning_rate = None
        self._snapshot = None
        self._loss_terms = []
        self._loss_count = 0
        self._loss_reset = False

    # -- around a due step -----------------------------------------------

    def before_step(self):
        """Gradients, learning rate and weight copy of the coming step."""
        self.pending = {}
        optimizer = self.optimizer
        if optimizer is not None and optimizer.param_groups:
            self.learning_rate = optimizer.param_groups[0].get("lr")
        if self.gradient_norms and "gradient_norms" not in self.disabled:
            self.pending["grad_norm"] = self._gradient_norms()
            # A fused optimizer under GradScaler skips an overflowing step
            # inside its kernel: such a step applied no gradient.
            found_inf = getattr(optimizer, "found_inf", None)
            if isinstance(found_inf, torch.Tensor):
                self.pending["skipped"] = found_inf.detach().float().reshape(1)
        if self.update_ratios and "update_ratios" not in self.disabled:
            with torch.no_grad():
                self._snapshot = [p.detach().clone() for p in self.parameters]

    def _gradient_norms(self):
        grads = [p.grad for p in self.parameters]
        present = [i for i, g in enumerate(grads) if g is not None]
        if not present:
            return None
        values = norms([grads[i] for i in present])
        # A fused optimizer under GradScaler unscales inside its kernel:
        # its gradients are still scaled here.
        scale = getattr(self.optimizer, "grad_scale", None)
        if isinstance(scale, torch.Tensor):
            values = values / scale.to(values.device).float()
        full = torch.zeros(len(grads), dtype=torch.float32,
                           device=values.device)
        full[present] = values
        return full

    def after_step(self):
        """Weight and update norms of the step just taken."""
        if "weights" not in self.disabled and self.parameters:
            with torch.no_grad():
                self.pending["weight_norm"] = norms(
                    [p.detach() for p in self.parameters])
        snapshot, self._snapshot = self._snapshot, None
        if snapshot is not None and "update_ratios" not in self.disabled:
            with torch.no_grad():
                moved = torch._foreach_sub(
                    [p.detach() for p in self.parameters], snapshot)
                self.pending["update_norm"] = norms(moved)
                self.pending["snapshot_norm"] = norms(snapshot)

    # -- the loss --------------------------------------------------------

    def add_loss(self, loss):
        """Keeps one step's loss for the running mean (no host sync)."""
        if isinstance(loss, torch.Tensor):
            loss = loss.detach()
        if self._loss_reset:
            self._loss_terms, self._loss_count = [], 0
            self._loss_reset = False
        self._loss_terms.append(loss)
        self._loss_count += 1
        if len(self._loss_terms) > _MAX_LOSS_TERMS:
            self._loss_terms = [_summed(self._loss_terms)]

    def reset_loss(self):
        """A new epoch: the running mean starts again (as Keras's does) at
        the next loss; a record before it (the last) has the epoch's."""
        self._loss_reset = True

    # -- reading ---------------------------------------------------------

    def read(self):
        """{part name: host value} of the pending parts and the running
        loss, in one device-to-host transfer."""
        parts = {k: (v, None) for k, v in self.pending.items() if v is not None}
        self.pending = {}
        loss = None
        if self._loss_terms and "loss" not in self.disabled:
            loss = _summed(self._loss_terms)
            self._loss_terms = [loss]
            if isinstance(loss, torch.Tensor):
                parts["loss"] = (loss.reshape(1) / self._loss_count, None)
                loss = None
            else:
                loss = float(loss) / self._loss_count
        rate = self.learning_rate
        if isinstance(rate, torch.Tensor):
            parts["learning_rate"] = (rate.detach().reshape(1), None)
            rate = None
        host = {k: v for k, (v, _) in reading_lib.to_host(parts).items()}
        if host.pop("skipped", np.zeros(1))[0] > 0:
            for name in ("grad_norm", "update_norm", "snapshot_norm"):
                host.pop(name, None)
        if loss is not None:
            host["loss"] = np.array([loss])
        if rate is not None and "learning_rate" not in self.disabled:
            host["learning_rate"] = np.array([float(rate)])
        return host


def _summed(terms):
    tensors = [t.float().mean() for t in terms if isinstance(t, torch.Tensor)]
    numbers = [float(t) for t in terms if not isinstance(t, torch.Tensor)]
    if not tensors:
        return sum(numbers)
    device = tensors[0].device
    return torch.stack([t.to(device) for t in tensors]).sum() + sum(numbers)
