"""Training overhead of TrainHealthMonitor on plain PyTorch loops.

    python benchmarks/torch_overhead.py [--rounds N] [--epochs N] [--quick]
                                        [--models mlp,cnn] [--configs a,b]
                                        [--device cpu|cuda]

The method of `benchmarks/overhead.py` (the Keras callback's), on the same
two models written in PyTorch: a 6-layer MLP (256 -> 5 x Linear(512)+ReLU
-> Linear(10); 10240 samples, 160 steps per epoch) and a small CNN
(3x32x32 -> Conv(16) -> pool -> Conv(32) -> pool -> Conv(64) -> global
average pool -> Linear(64) -> Linear(10); 3x3 kernels, ReLU; 5120 samples,
80 steps per epoch), batch 64, Adam, cross-entropy, synthetic data, the
plain loop people write (`zero_grad`, forward, `backward`, `step`).

* Configurations: `bare` loop, `bare_again` (a second model: the noise
  floor), `histograms` (`torch.utils.tensorboard.SummaryWriter.add_histogram`
  of every parameter at every step, what `wandb.watch` does),
  `trainhealth_default` (`TrainHealthMonitor` at its defaults, told
  `steps_per_epoch` and `epochs` as `len(loader)` would), `trainhealth_
  detailed` (`every_n_steps=1, probe_samples=1024`), and `never_due` (a
  cadence no step reaches: the per-step cost alone).
* Each configuration has its own model and optimizer, built once. Every
  model is warmed up by a short run, then each round runs every
  configuration once, in an order rotated from round to round
  (interleaved rounds), with a fresh monitor (or writer) per run.
* Each run has `--epochs` epochs (2 by default); the first is not timed
  (it holds the monitor's setup: the probe's first runs, and the dense
  start), and "setup" is its extra time over the bare loop's.
* Reported per model and configuration, as ratios to the bare loop (the
  medians over rounds of per-round ratios): wall, with its range; quiet
  (epochs during which other processes used < QUIET_OTHERS of a core);
  best (fastest epoch over the bare loop's fastest); cpu (this process's
  CPU time, all threads); in-hook (epoch time over epoch time less the
  time spent inside the monitor's calls and hooks, or the histogram
  calls): the direct host cost, robust to other processes' load. Plus
  records per timed epoch and in-hook ms per record.
"""

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, REPO)

import overhead  # noqa: E402  (the Keras benchmark's framework-free parts)

CONFIGS = ["bare", "bare_again", "histograms", "trainhealth_default",
           "trainhealth_detailed", "never_due"]
LABELS = {
    "bare": "bare loop",
    "bare_again": "bare loop, a second model (the noise floor)",
    "histograms": "SummaryWriter.add_histogram(every parameter) every step",
    "trainhealth_default": "TrainHealthMonitor() (defaults)",
    "trainhealth_detailed":
        "TrainHealthMonitor(every_n_steps=1, probe_samples=1024)",
    "never_due": "every_n_steps=10**9 (per-step cost only: no step is due)",
}
MONITOR_KWARGS = {
    "trainhealth_default": {},
    "trainhealth_detailed": {"every_n_steps": 1, "probe_samples": 1024},
    "never_due": {"every_n_steps": 10**9},
}
SIZES = {"mlp": {"full": 10240, "quick": 4096},
         "cnn": {"full": 5120, "quick": 2048}}
BATCH = 64


def make_data(torch, name, quick, device):
    generator = torch.Generator().manual_seed(0)
    n = SIZES[name]["quick" if quick else "full"]
    shape = (n, 256) if name == "mlp" else (n, 3, 32, 32)
    x = torch.randn(shape, generator=generator)
    y = torch.randint(0, 10, (n,), generator=generator)
    return x.to(device), y.to(device)


def make_model(torch, name, device):
    nn = torch.nn
    torch.manual_seed(1)
    if name == "mlp":
        layers, width = [], 256
        for _ in range(5):
            layers += [nn.Linear(width, 512), nn.ReLU()]
            width = 512
        model = nn.Sequential(*layers, nn.Linear(512, 10))
    else:
        model = nn.Sequential(
            nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(),
            nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))
    model = model.to(device)
    return model, torch.optim.Adam(model.parameters(), 1e-3)


class Clock:
    """Seconds spent inside the measured tool's calls and hooks."""

    def __init__(self):
        self.inside = 0.0

    def timed(self, fn):
        def run(*args, **kwargs):
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.inside += time.perf_counter() - started
        return run


def timed_monitor_class(clock):
    from tensorboard_plugin_trainhealth.torch import TrainHealthMonitor

    class TimedMonitor(TrainHealthMonitor):
        """The monitor with every entry point timed (the optimizer hooks
        are these methods, registered when it starts)."""

        step = clock.timed(TrainHealthMonitor.step)
        epoch_end = clock.timed(TrainHealthMonitor.epoch_end)
        _before_step = clock.timed(TrainHealthMonitor._before_step)
        _after_step = clock.timed(TrainHealthMonitor._after_step)

    return TimedMonitor


def histogram_tool(model, log_dir, clock):
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(log_dir)
    step = [0]

    @clock.timed
    def after_step(loss):
        for name, parameter in model.named_parameters():
            writer.add_histogram(name, parameter, step[0])
        step[0] += 1

    return after_step, writer.close


def run_once(torch, model, optimizer, data, epochs, config, log_dir, device):
    """One run; per epoch: wall and CPU seconds, seconds inside the tool,
    and the other processes' load; and the records the monitor made."""
    x, y = data
    steps = -(-len(x) // BATCH)
    clock = Clock()
    monitor, after_step, finish = None, None, None
    if config in MONITOR_KWARGS:
        monitor = timed_monitor_class(clock)(
            model, optimizer, log_dir=log_dir, probe_data=(x[:4096], y[:4096]),
            loss_fn=torch.nn.functional.cross_entropy, steps_per_epoch=steps,
            epochs=epochs, verbose=0, **MONITOR_KWARGS[config])
        after_step, finish = monitor.step, monitor.close
    elif config == "histograms":
        after_step, finish = histogram_tool(model, log_dir, clock)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    result = {"epochs_s": [], "cpu_s": [], "hooks_s": [], "others": []}
    for epoch in range(epochs):
        sync()
        clock.inside = 0.0
        t0, c0, busy0 = (time.perf_counter(), time.process_time(),
                         overhead.machine_busy_s())
        for i in range(0, len(x), BATCH):
            optimizer.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(x[i:i + BATCH]),
                                                     y[i:i + BATCH])
            loss.backward()
            optimizer.step()
            if after_step is not None:
                after_step(loss)
        if monitor is not None:
            monitor.epoch_end({"loss": loss})
        sync()
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        busy = overhead.machine_busy_s()
        result["epochs_s"].append(wall)
        result["cpu_s"].append(cpu)
        result["hooks_s"].append(clock.inside)
        result["others"].append(None if busy is None or busy0 is None
                                else max(0.0, (busy - busy0 - cpu) / wall))
    if finish is not None:
        finish()
    records = []
    if monitor is not None:
        from tensorboard_plugin_trainhealth import metadata as md

        records = [int(s) for s in monitor.series.scalar(md.STEP_LOSS).steps]
    first_timed = monitor._offset + steps if monitor is not None else 0
    result.update(records=len(records),
                  timed_records=sum(1 for s in records if s >= first_timed),
                  every=None, steps_per_epoch=steps)
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=None,
                        help="interleaved rounds (default 5; 2 with --quick)")
    parser.add_argument("--epochs", type=int, default=2,
                        help="epochs per run; the first is not timed")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--models", default="mlp,cnn")
    parser.add_argument("--configs", default="",
                        help="these configurations (and the bare loop): "
                             + ", ".join(CONFIGS))
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    args = parser.parse_args(argv)
    args.rounds = args.rounds or (2 if args.quick else 5)
    if args.epochs < 2:
        parser.error("--epochs must be at least 2 (the first is not timed)")
    import torch

    configs = CONFIGS if not args.configs else ["bare"] + [
        c for c in args.configs.split(",") if c != "bare"]
    unknown = [c for c in configs if c not in LABELS]
    if unknown:
        parser.error("unknown configurations: %s" % ", ".join(unknown))
    models = args.models.split(",")
    root = tempfile.mkdtemp(prefix="trainhealth_torch_bench_")
    print("torch=%s device=%s threads=%d cpus=%d rounds=%d epochs=%d (first "
          "untimed) models=%s" % (torch.__version__, args.device,
                                  torch.get_num_threads(), os.cpu_count(),
                                  args.rounds, args.epochs, ",".join(models)),
          flush=True)
    data = {m: make_data(torch, m, args.quick, args.device) for m in models}
    state = {m: {c: make_model(torch, m, args.device) for c in configs}
             for m in models}
    index = 0
    started = time.perf_counter()
    for m in models:  # warm-up: allocator, kernels, first traces
        x, y = data[m]
        for c in configs:
            index += 1
            run_once(torch, *state[m][c], (x[:BATCH * 8], y[:BATCH * 8]), 2, c,
                     os.path.join(root, "warm%d" % index), args.device)
    print("warm-up: %.1f s" % (time.perf_counter() - started), flush=True)
    rounds = []
    for r in range(args.rounds):
        order = [(m, c) for m in models for c in configs]
        shift = r % len(order)
        result = {m: {} for m in models}
        for m, c in order[shift:] + order[:shift]:
            index += 1
            result[m][c] = run_once(torch, *state[m][c], data[m], args.epochs,
                                    c, os.path.join(root, "run%d" % index),
                                    args.device)
        rounds.append(result)
        print("round %d: " % (r + 1) + " | ".join(
            "%s bare %.2fs, %s" % (m, statistics.mean(
                result[m]["bare"]["epochs_s"][1:]), ", ".join(
                "%s %.3f" % (c, statistics.mean(result[m][c]["epochs_s"][1:])
                             / statistics.mean(result[m]["bare"]["epochs_s"][1:]))
                for c in configs[1:])) for m in models), flush=True)
    report(overhead.summarize(rounds, configs, models), rounds, configs,
           models, args.rounds)
    shutil.rmtree(root, ignore_errors=True)
    return 0


def report(summary, rounds, configs, models, n_rounds):
    print()
    print("Median over %d rounds of per-round ratios to the bare loop: wall "
          "[range]; quiet (epochs with other processes < %.2f of a core); "
          "best; CPU; in-hook. Records per timed epoch, in-hook ms per "
          "record; setup: extra wall time of a run's first epoch."
          % (n_rounds, overhead.QUIET_OTHERS))
    for m in models:
        print("  %s (bare: %.2f s/epoch, %d steps/epoch):" % (
            m, summary[m]["bare"]["epoch_s"],
            rounds[0][m]["bare"]["steps_per_epoch"]))
        for c in configs[1:]:
            s = summary[m][c]
            quiet = ("quiet %.3fx (%d/%d)" % (s["quiet_ratio"], s["quiet_epochs"],
                                              s["timed_epochs"])
                     if s["quiet_ratio"] is not None else "quiet n/a")
            records = ("  %5.1f rec/ep %6.2f ms/rec" % (
                s["records_per_epoch"], s["record_ms"])
                if s["record_ms"] is not None and c in MONITOR_KWARGS else "")
            print("    %-22s wall %.3fx [%.2f-%.2f] %s best %.3fx  cpu %.3fx  "
                  "in-hook %.3fx  setup %+.2fs%s" % (
                      c, s["ratio"], s["ratio_min"], s["ratio_max"], quiet,
                      s["best_ratio"], s["cpu_ratio"], s["hooks_ratio"],
                      s["setup_s"], records))


if __name__ == "__main__":
    sys.exit(main())
