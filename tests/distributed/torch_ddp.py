"""TrainHealthMonitor under DistributedDataParallel, 2 CPU processes (gloo).

    python torch_ddp.py LOGDIR RANK PORT

Each process takes its half of the least-squares batch; DDP averages the
gradients, so the gradient each optimizer step applies is the full-batch
analytic one. The model holds a buffer, which DDP broadcasts from rank 0 in
every training forward: a probe that ran the DDP wrapper on rank 0 alone
would wait forever for rank 1. Prints one JSON line.
"""

import datetime
import json
import os
import sys

import torch
import torch.distributed as dist

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import linear_problem as lp  # noqa: E402

from tensorboard_plugin_trainhealth import metadata as md  # noqa: E402
from tensorboard_plugin_trainhealth.torch import TrainHealthMonitor  # noqa: E402

log_dir, rank, port = sys.argv[1], int(sys.argv[2]), sys.argv[3]
os.environ.update(MASTER_ADDR="localhost", MASTER_PORT=port)
dist.init_process_group("gloo", rank=rank, world_size=2,
                        timeout=datetime.timedelta(seconds=60))

model = torch.nn.Linear(lp.D, 1, bias=False)
torch.nn.init.zeros_(model.weight)
model.register_buffer("seen", torch.zeros(1))
ddp = torch.nn.parallel.DistributedDataParallel(model)
optimizer = torch.optim.SGD(ddp.parameters(), lr=lp.LR)
x, t = (torch.tensor(a) for a in lp.data())
half = lp.N // 2
mine = slice(rank * half, (rank + 1) * half)

monitor = TrainHealthMonitor(ddp, optimizer, log_dir=log_dir,
                             probe_data=(x, t), loss_fn=torch.nn.MSELoss(),
                             every_n_steps=1, verbose=0)
local_norms = []
for _ in range(lp.EPOCHS):
    optimizer.zero_grad()
    loss = torch.nn.functional.mse_loss(ddp(x[mine]), t[mine])
    loss.backward()
    optimizer.step()
    monitor.step(loss)
    with torch.no_grad():  # this process's own gradient, before averaging
        w = model.weight.detach().clone() + lp.LR * model.weight.grad
        residual = x[mine] @ w.T - t[mine]
        local_norms.append(float((2.0 / half * x[mine].T @ residual).norm()))
monitor.epoch_end({"loss": loss})
monitor.close()
grad = monitor.series.matrices.get(md.VARIABLE_GRAD_NORM)
print(json.dumps({
    "rank": rank,
    "steps": [] if grad is None else grad.steps.tolist(),
    "norms": [] if grad is None else grad.values[:, 0].tolist(),
    "local": local_norms,
    "expected": lp.expected_gradient_norms(),
    "columns": [] if grad is None else grad.names,
    "probed": md.LAYER_DEAD_FRACTION in monitor.series.matrices
    or md.OUTPUT_PREDICTION_STD in monitor.series.matrices,
}))
dist.destroy_process_group()
