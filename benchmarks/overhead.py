"""Training overhead of TrainHealthCallback against a bare `fit`.

    python benchmarks/overhead.py [--backend tensorflow|jax|torch|all]
                                  [--rounds N] [--epochs N] [--quick]
                                  [--options] [--configs a,b,...]
                                  [--models mlp,cnn] [--device cpu|gpu|auto]
                                  [--no-memory]

What it measures, in one process per backend (KERAS_BACKEND must be set
before Keras is imported, so each backend runs in a child process; with
`--device auto`, the default, it runs on the CPU and again on a GPU when
`nvidia-smi` finds one, with whichever backend sees it):

* Two models on synthetic data, batch size 64: a 6-layer MLP (256 inputs
  -> 5 x Dense(512, relu) -> Dense(10, softmax), 1.2M parameters, 10240
  samples, 160 steps per epoch) and a small CNN (32x32x3 -> Conv2D(16) ->
  max-pool -> Conv2D(32) -> max-pool -> Conv2D(64) -> global average pool
  -> Dense(64) -> Dense(10, softmax); 3x3 kernels, ReLU; 5120 samples, 80
  steps per epoch), sized so that an epoch takes about 1.5-2.5 s on a
  2-core CPU with TensorFlow. `--quick` shrinks both (a smoke run).
* Configurations: `bare` fit; `keras.callbacks.TensorBoard(histogram_freq=1)`;
  `TrainHealthCallback()` at its defaults; at its most detailed settings
  (`every_n_steps=1, probe_samples=1024`); with `--options`, one row per
  option (cadence 1/10/100; probe size 64/256/1024 and each signal switched
  off, these at every_n_steps=1 so that a record's cost shows clearly).
  `--configs` picks rows by name (bare fit always runs); `never_due` (a
  cadence no step reaches) isolates what the callback costs on every step.
* Each configuration has its own model, built and compiled once, so that a
  configuration never inherits another's state (the gradient tap stays on
  the optimizer it wrapped). Every model is warmed up by one short `fit`,
  then each round fits every configuration once, in an order rotated from
  round to round (interleaved rounds), with a fresh callback per `fit`.
* Epoch time: each `fit` runs `--epochs` epochs (2 by default); the first
  is not timed (it includes the callback's one-time setup: probe capture,
  tracing its functions), the fit's epoch time is the mean of the others.
  "setup" is the extra first-epoch time over bare fit's. Epochs are timed
  by two callbacks, one first in the list (`on_epoch_begin`) and one last
  (`on_epoch_end`), so that the span includes every callback's epoch hooks
  (TensorBoard writes its histograms in `on_epoch_end`). `verbose=0`: no
  progress bar (it would sync on every step in every configuration). Note
  that the "auto" cadence depends on the fit's length (steps x epochs):
  these are short fits, the hardest case for a per-fit record count.
* Reported per model and configuration, as ratios to bare fit:
  - wall: the median over rounds of the per-round ratio of epoch times
    (what the budget is stated in), with its range over rounds;
  - quiet: median wall time of the timed epochs during which the other
    processes on the machine used less than QUIET_OTHERS of a core (from
    /proc/stat), over bare fit's; "n/a" when no epoch was quiet;
  - best: fastest timed epoch over bare fit's fastest;
  - cpu: the same median with this process's CPU time (all threads):
    other processes disturb it much less, but it weighs single-threaded
    host work (most of the callback) less than wall time does;
  - in-hook: epoch time / (epoch time - time spent inside the callback's
    hooks), both from the same fit: the direct host cost, robust to load
    from other processes; it misses work added inside the compiled step
    (the gradient tap) and anything the callback leaves running.
  Plus records per timed epoch and the in-hook time of one record. A
  record's cost does not depend on the cadence, so the overhead of any
  cadence is about record_ms / (every_n_steps * step_ms).
* Tracing: on TensorFlow every trace of a `tf.function` is counted (by
  name), on JAX every XLA compilation (`jax.monitoring`'s compile
  events); printed for the timed rounds and for the epochs after the first
  of each fit (which must be 0: nothing retraced during training), with
  the number of "retracing" warnings TensorFlow logged.
* Memory, in a separate pass after the timed rounds (tracemalloc slows
  Python down, so it is never on while timing): for each configuration one
  `fit` of one epoch, with (a) tracemalloc's peak of Python-side
  allocations during the fit (numpy buffers included; TensorFlow, JAX and
  torch tensors not); and (b) the process's peak RSS during the fit (VmHWM
  from /proc, reset before each fit through /proc/self/clear_refs) over
  its RSS when the fit began. Both are printed as the difference to bare
  fit's; (b) is noisy (allocator caching), read it to the nearest 10 MB.

Timings on a shared machine are noisy: when other processes take a core,
an epoch takes up to twice as long. Use several rounds, compare ratios not
seconds, and read the quiet, cpu and in-hook columns beside wall.
"""

import argparse
import json
import logging
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)  # families.py, imported where Keras may be

MAIN_CONFIGS = ["bare", "bare_again", "noop_batch_hook", "tensorboard_hist",
                 "trainhealth_default", "trainhealth_detailed"]
# Options, one change at a time. Probe size and the signal switches are
# measured at every_n_steps=1 so that one record's cost shows clearly; the
# cadence rows use the default probe (256 samples) and every signal.
OPTION_CONFIGS = ["every_1", "every_10", "every_100",
                  "probe_64", "probe_256", "probe_1024",
                  "every_1_no_activation_stats", "every_1_no_gradient_norms",
                  "every_1_no_update_ratios"]

LABELS = {
    "bare": "bare fit",
    "bare_again": "bare fit, a second model (the noise floor)",
    "noop_batch_hook": "a callback whose on_train_batch_begin does nothing",
    "tensorboard_hist": "keras.callbacks.TensorBoard(histogram_freq=1)",
    "trainhealth_default": "TrainHealthCallback() (defaults)",
    "trainhealth_detailed":
        "TrainHealthCallback(every_n_steps=1, probe_samples=1024)",
    "every_1": "every_n_steps=1",
    "every_10": "every_n_steps=10",
    "every_100": "every_n_steps=100",
    "probe_64": "every_n_steps=1, probe_samples=64",
    "probe_256": "every_n_steps=1, probe_samples=256",
    "probe_1024": "every_n_steps=1, probe_samples=1024",
    "every_1_no_activation_stats": "every_n_steps=1, activation_stats=False",
    "every_1_no_gradient_norms": "every_n_steps=1, gradient_norms=False",
    "every_1_no_update_ratios": "every_n_steps=1, update_ratios=False",
    "never_due": "every_n_steps=10**9 (per-step cost only: no step is due)",
    "never_due_no_gradient_norms":
        "every_n_steps=10**9, gradient_norms=False",
}

TRAINHEALTH_KWARGS = {
    "trainhealth_default": {},
    "trainhealth_detailed": {"every_n_steps": 1, "probe_samples": 1024},
    "every_1": {"every_n_steps": 1},
    "every_10": {"every_n_steps": 10},
    "every_100": {"every_n_steps": 100},
    "probe_64": {"every_n_steps": 1, "probe_samples": 64},
    "probe_256": {"every_n_steps": 1, "probe_samples": 256},
    "probe_1024": {"every_n_steps": 1, "probe_samples": 1024},
    "every_1_no_activation_stats": {"every_n_steps": 1,
                                    "activation_stats": False},
    "every_1_no_gradient_norms": {"every_n_steps": 1, "gradient_norms": False},
    "every_1_no_update_ratios": {"every_n_steps": 1, "update_ratios": False},
    "never_due": {"every_n_steps": 10**9},
    "never_due_no_gradient_norms": {"every_n_steps": 10**9,
                                    "gradient_norms": False},
}

# Synthetic data sizes: (samples, batch size). Full sizes give a few
# seconds per epoch on 2 CPU cores with TensorFlow; --quick shrinks them.
SIZES = {
    "mlp": {"full": (10240, 64), "quick": (4096, 64)},
    "cnn": {"full": (5120, 64), "quick": (2048, 64)},
}


# --------------------------------------------------------------------------
# Parent: one child process per (backend, device).
# --------------------------------------------------------------------------

def _gpu_available():
    smi = shutil.which("nvidia-smi")
    if not smi:
        return False
    try:
        return subprocess.run([smi, "-L"], capture_output=True, timeout=30,
                              check=False).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def _backend_sees_gpu(backend):
    """Whether `backend` can use a GPU here (asked in a child process)."""
    code = {
        "tensorflow": "import tensorflow as tf; "
                      "print(bool(tf.config.list_physical_devices('GPU')))",
        "jax": "import jax; print(any(d.platform == 'gpu' for d in jax.devices()))",
        "torch": "import torch; print(torch.cuda.is_available())",
    }[backend]
    try:
        out = subprocess.run([sys.executable, "-c", code], capture_output=True,
                             text=True, timeout=300, check=False)
    except (OSError, subprocess.SubprocessError):
        return False
    return out.stdout.strip().endswith("True")


def parent(args):
    backends = (["tensorflow", "jax", "torch"] if args.backend == "all"
                else args.backend.split(","))
    devices = {"cpu": ["cpu"], "gpu": ["gpu"],
               "auto": ["cpu"] + (["gpu"] if _gpu_available() else [])}[args.device]
    runs = []
    for device in devices:
        device_backends = list(backends)
        if device == "gpu":
            usable = [b for b in device_backends if _backend_sees_gpu(b)]
            if not usable:
                # The GPU machine may have no GPU build of TensorFlow: fall
                # back to whichever backend sees the GPU.
                usable = [b for b in ("jax", "torch", "tensorflow")
                          if _backend_sees_gpu(b)][:1]
                if usable:
                    print("# no GPU for %s here; using %s on the GPU"
                          % (",".join(device_backends), usable[0]))
            device_backends = usable
            if not device_backends:
                print("# a GPU is present but no backend can use it; skipped")
                continue
        for backend in device_backends:
            runs.append((backend, device))

    results = []
    for backend, device in runs:
        env = dict(os.environ, KERAS_BACKEND=backend,
                   TF_CPP_MIN_LOG_LEVEL=os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2"))
        if device == "cpu":
            env["CUDA_VISIBLE_DEVICES"] = ""
            env["JAX_PLATFORMS"] = "cpu"
        with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
            result_path = f.name
        cmd = [sys.executable, os.path.abspath(__file__), "--worker",
               "--backend", backend, "--device", device, "--json", result_path,
               "--rounds", str(args.rounds), "--epochs", str(args.epochs),
               "--models", args.models]
        if args.quick:
            cmd.append("--quick")
        if args.options:
            cmd.append("--options")
        if args.no_main:
            cmd.append("--no-main")
        if args.no_memory:
            cmd.append("--no-memory")
        if args.configs:
            cmd += ["--configs", args.configs]
        print("$ KERAS_BACKEND=%s %s" % (backend, " ".join(cmd[1:])), flush=True)
        proc = subprocess.run(cmd, env=env, check=False)
        if proc.returncode != 0:
            print("# %s/%s failed with exit status %d"
                  % (backend, device, proc.returncode))
            continue
        with open(result_path) as f:
            results.append(json.load(f))
        os.unlink(result_path)
    if results:
        print()
        print(markdown_table(results))
    return 0 if len(results) == len(runs) else 1


def markdown_table(results):
    """One README table: a row per configuration, a column per run+model."""
    columns = []
    for r in results:
        for model in r["models"]:
            columns.append((r, model))
    configs = []
    for r in results:
        for c in r["configs"]:
            if c not in configs:
                configs.append(c)
    head = ["configuration"] + ["%s %s/%s" % (m, r["backend"], r["device"])
                                for r, m in columns]
    lines = ["Each cell: wall (median of per-round ratios) / wall (quiet "
             "epochs) / CPU time / in-hook, as ratios to bare fit; records "
             "per epoch and in-hook ms per record.", "",
             "| " + " | ".join(head) + " |",
             "| " + " | ".join(["---"] * len(head)) + " |"]
    for c in configs:
        row = [LABELS.get(c, c)]
        # (quiet epochs: other processes used < QUIET_OTHERS of a core)
        for r, m in columns:
            s = r["summary"].get(m, {}).get(c)
            if s is None:
                row.append("")
            elif c == "bare":
                row.append("1.00 (%.2f s/epoch)" % s["epoch_s"])
            else:
                cell = "%.2fx / %s / %.2fx / %.3fx" % (
                    s["ratio"], "%.2fx" % s["quiet_ratio"]
                    if s.get("quiet_ratio") is not None else "n/a",
                    s["cpu_ratio"], s["hooks_ratio"])
                if s.get("record_ms") is not None:
                    cell += " (%d rec/ep, %.1f ms/rec)" % (
                        round(s["records_per_epoch"]), s["record_ms"])
                row.append(cell)
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


# --------------------------------------------------------------------------
# Worker: one backend, in this process.
# --------------------------------------------------------------------------

class TraceCounter(logging.Handler):
    """Counts traces/compilations and TensorFlow's "retracing" warnings."""

    def __init__(self):
        super().__init__(level=logging.DEBUG)
        self.traces = 0
        self.by_name = {}
        self.retracing_warnings = 0
        self.jax_compiles = 0
        self.jax_by_name = {}

    def emit(self, record):
        try:
            message = record.getMessage()
        except Exception:  # a malformed record is not ours to judge
            return
        if "retracing" in message:
            self.retracing_warnings += 1

    def count_jax_compile(self, name):
        self.jax_compiles += 1
        self.jax_by_name[name] = self.jax_by_name.get(name, 0) + 1

    def count_tf_trace(self, function):
        self.traces += 1
        name = getattr(function, "__qualname__", None) or repr(function)
        self.by_name[name] = self.by_name.get(name, 0) + 1

    def total(self):
        return self.traces + self.jax_compiles

    def names(self):
        merged = dict(self.by_name)
        for k, v in self.jax_by_name.items():
            merged[k] = merged.get(k, 0) + v
        return merged


def install_trace_counter(backend):
    counter = TraceCounter()
    logging.getLogger("tensorflow").addHandler(counter)
    if backend == "tensorflow":
        from tensorflow.python.eager.polymorphic_function import \
            polymorphic_function as pf

        manager = pf._frequent_tracing_detector_manager

        class CountingManager:
            """Forwards to TensorFlow's detector, counting each trace."""

            def called_without_tracing(self, key):
                return manager.called_without_tracing(key)

            def called_with_tracing(self, key, function_name, omit_warning):
                counter.count_tf_trace(function_name)
                return manager.called_with_tracing(key, function_name,
                                                   omit_warning)

        pf._frequent_tracing_detector_manager = CountingManager()
    elif backend == "jax":
        import jax.monitoring

        # Not `jax_log_compiles`: that flag slows every jitted call (~12%
        # per epoch here, bare fit included).
        def on_duration(event, duration_secs, **kwargs):
            if event == "/jax/core/compile/backend_compile_duration":
                counter.count_jax_compile(kwargs.get("fun_name", "?"))

        jax.monitoring.register_event_duration_secs_listener(on_duration)
    return counter


def make_data(model_name, quick, seed=0):
    import numpy as np

    n, batch = SIZES[model_name]["quick" if quick else "full"]
    rng = np.random.default_rng(seed)
    if model_name == "mlp":
        x = rng.standard_normal((n, 256)).astype("float32")
    else:
        x = rng.random((n, 32, 32, 3)).astype("float32")
    y = rng.integers(0, 10, size=(n,)).astype("int32")
    return x, y, batch


def make_model(model_name, seed):
    """The MLP or CNN of `families.py` (the same two models), compiled."""
    import families

    model, _, _, _ = families.build(model_name, seed=seed, samples=1)
    return model


def make_callbacks(config, log_root, index):
    import keras

    if config in ("bare", "bare_again"):
        return [], None
    if config == "noop_batch_hook":
        # Only its presence: Keras then calls batch hooks on every step.
        class NoopBatchHook(keras.callbacks.Callback):
            def on_train_batch_begin(self, batch, logs=None):
                pass

        return [NoopBatchHook()], None
    log_dir = os.path.join(log_root, "%s_%d" % (config, index))
    if config == "tensorboard_hist":
        return [keras.callbacks.TensorBoard(log_dir, histogram_freq=1)], None
    from tensorboard_plugin_trainhealth import TrainHealthCallback

    cb = TrainHealthCallback(log_dir, verbose=0, **TRAINHEALTH_KWARGS[config])
    return [cb], cb


def records_of(cb):
    """(step, ...) of every record the callback made, from its series."""
    if cb is None:
        return []
    from tensorboard_plugin_trainhealth import metadata as md

    series = cb.series.step_scalars.get(md.STEP_LOSS)
    return [] if series is None else [int(s) for s in series.steps]


HOOKS = ("on_train_begin", "on_epoch_begin", "on_train_batch_begin",
         "on_train_batch_end", "on_epoch_end", "on_train_end")


def machine_busy_s():
    """CPU seconds all processes on the machine have spent so far (from
    /proc/stat), or None where that cannot be read."""
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()[1:]
    except OSError:
        return None
    ticks = [int(v) for v in fields]
    idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)
    return (sum(ticks[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def time_hooks(callback, clock):
    """Wraps the hooks `callback`'s class overrides, adding their wall time
    to clock["hooks"] (and their CPU time to clock["hooks_cpu"], if there). Hooks left at Keras's default stay unwrapped: Keras
    looks at them to decide whether it may dispatch batch-end work
    asynchronously."""
    for name in HOOKS:
        method = getattr(callback, name)
        if getattr(method, "_default", False):
            continue

        def timed(*args, _method=method, **kwargs):
            started, cpu = time.perf_counter(), time.process_time()
            try:
                return _method(*args, **kwargs)
            finally:
                clock["hooks"] += time.perf_counter() - started
                if "hooks_cpu" in clock:
                    clock["hooks_cpu"] += time.process_time() - cpu

        setattr(callback, name, timed)


def timed_fit(model, x, y, batch, epochs, config, log_root, index, counter):
    """One fit; per epoch: wall and CPU seconds, seconds spent inside the
    measured callback's hooks, traces; and the records the callback made."""
    import keras

    epochs_s, cpu_s, hooks_s, traces, others = [], [], [], [], []
    starts = []
    clock = {"hooks": 0.0}

    class Start(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            clock["hooks"] = 0.0
            starts.append((time.perf_counter(), time.process_time(),
                           dict(counter.names()), machine_busy_s()))

    class End(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            t0, c0, names0, busy0 = starts[-1]
            wall = time.perf_counter() - t0
            cpu = time.process_time() - c0
            busy = machine_busy_s()
            epochs_s.append(wall)
            cpu_s.append(cpu)
            # Cores other processes kept busy during this epoch, on average.
            others.append(None if busy is None or busy0 is None
                          else max(0.0, (busy - busy0 - cpu) / wall))
            hooks_s.append(clock["hooks"])
            names = counter.names()
            traces.append({k: v - names0.get(k, 0) for k, v in names.items()
                           if v - names0.get(k, 0)})

    extra, cb = make_callbacks(config, log_root, index)
    for callback in extra:
        time_hooks(callback, clock)
    steps_at_begin = int(keras.ops.convert_to_numpy(model.optimizer.iterations))
    model.fit(x, y, batch_size=batch, epochs=epochs, verbose=0, shuffle=True,
              callbacks=[Start()] + extra + [End()])
    steps_per_epoch = -(-len(x) // batch)
    first_timed_step = steps_at_begin + steps_per_epoch
    recs = records_of(cb)
    timed_records = sum(1 for s in recs if s >= first_timed_step)
    return {
        "epochs_s": epochs_s,
        "cpu_s": cpu_s,
        "hooks_s": hooks_s,
        "others": others,
        "traces_per_epoch": traces,
        "records": len(recs),
        "timed_records": timed_records,
        "every": getattr(cb, "_every", None),
        "steps_per_epoch": steps_per_epoch,
    }


def read_rss_kb(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return None


def reset_peak_rss():
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def memory_fit(model, x, y, batch, config, log_root, index):
    import tracemalloc

    can_reset = reset_peak_rss()
    rss0 = read_rss_kb("VmRSS")
    tracemalloc.reset_peak()
    traced0 = tracemalloc.get_traced_memory()[0]
    extra, cb = make_callbacks(config, log_root, index)
    model.fit(x, y, batch_size=batch, epochs=1, verbose=0, callbacks=extra)
    traced_peak = tracemalloc.get_traced_memory()[1] - traced0
    hwm = read_rss_kb("VmHWM")
    del cb, extra
    return {"tracemalloc_peak_mb": traced_peak / 2**20,
            "rss_peak_mb": (hwm - rss0) / 1024 if can_reset and hwm and rss0
            else None}


QUIET_OTHERS = 0.15  # cores other processes may use in a "quiet" epoch


def quiet_epochs(rounds, model, config):
    """Timed epochs (wall s) during which other processes used less than
    QUIET_OTHERS of a core on average."""
    kept = []
    for r in rounds:
        res = r[model][config]
        for wall, other in zip(res["epochs_s"][1:], res["others"][1:]):
            if other is not None and other < QUIET_OTHERS:
                kept.append(wall)
    return kept


def summarize(rounds, configs, models):
    """Per model and configuration, medians over rounds of per-round ratios.

    ratio: wall-clock epoch time / bare fit's, the same round.
    quiet_ratio: median wall time of the "quiet" timed epochs (other
        processes used < QUIET_OTHERS of a core, from /proc/stat) / the
        same for bare fit; None where no epoch was quiet.
    best_ratio: the fastest timed epoch over all rounds / bare fit's
        fastest (no median): robust where other processes sometimes take
        a core, which only ever adds time.
    cpu_ratio: the same with the process's CPU time (all threads), which
        other processes on the machine disturb less.
    hooks_ratio: epoch time / (epoch time - time inside the callback's
        hooks), both from the same fit: the direct cost of the hooks,
        robust to load from other processes; it misses work the callback
        adds inside the compiled training step (the gradient tap).
    record_ms: time inside the hooks per record (TrainHealthCallback).
    """
    def mean_timed(values):
        return statistics.mean(values[1:])

    summary = {}
    for m in models:
        summary[m] = {}
        for c in configs:
            ratios, cpu, direct, record_ms, rec_per_epoch = [], [], [], [], []
            setup, secs = [], []
            for r in rounds:
                bare, cur = r[m]["bare"], r[m][c]
                t_bare = mean_timed(bare["epochs_s"])
                t = mean_timed(cur["epochs_s"])
                hooks = mean_timed(cur["hooks_s"])
                secs.append(t)
                ratios.append(t / t_bare)
                cpu.append(mean_timed(cur["cpu_s"]) / mean_timed(bare["cpu_s"]))
                direct.append(t / (t - hooks))
                setup.append((cur["epochs_s"][0] - t)
                             - (bare["epochs_s"][0] - t_bare))
                per_epoch = cur["timed_records"] / (len(cur["epochs_s"]) - 1)
                rec_per_epoch.append(per_epoch)
                if per_epoch > 0:
                    record_ms.append(1000 * hooks / per_epoch)
            quiet, quiet_bare = quiet_epochs(rounds, m, c), quiet_epochs(
                rounds, m, "bare")
            quiet_ratio = (statistics.median(quiet) / statistics.median(quiet_bare)
                           if quiet and quiet_bare else None)
            best = min(min(r[m][c]["epochs_s"][1:]) for r in rounds)
            best_bare = min(min(r[m]["bare"]["epochs_s"][1:]) for r in rounds)
            summary[m][c] = {
                "ratio": statistics.median(ratios),
                "best_ratio": best / best_bare,
                "quiet_ratio": quiet_ratio,
                "quiet_epochs": len(quiet),
                "timed_epochs": sum(len(r[m][c]["epochs_s"]) - 1
                                    for r in rounds),
                "ratio_min": min(ratios), "ratio_max": max(ratios),
                "ratios": ratios,
                "cpu_ratio": statistics.median(cpu),
                "hooks_ratio": statistics.median(direct),
                "epoch_s": statistics.median(secs),
                "setup_s": statistics.median(setup),
                "records_per_epoch": statistics.median(rec_per_epoch),
                "record_ms": statistics.median(record_ms) if record_ms else None,
                "every_at_end": [r[m][c]["every"] for r in rounds],
            }
    return summary


def worker(args):
    backend = args.backend
    os.environ["KERAS_BACKEND"] = backend
    warnings_seen = []
    import warnings

    def showwarning(message, category, *rest, **kw):
        warnings_seen.append("%s: %s" % (category.__name__, message))

    warnings.showwarning = showwarning
    counter = install_trace_counter(backend)
    import keras

    assert keras.backend.backend() == backend, keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        tf.get_logger().setLevel(logging.WARNING)
        device_note = "GPU" if tf.config.list_physical_devices("GPU") else "CPU"
    elif backend == "jax":
        import jax

        device_note = jax.devices()[0].platform.upper()
    else:
        import torch

        device_note = "GPU" if torch.cuda.is_available() else "CPU"

    models = args.models.split(",")
    configs = (MAIN_CONFIGS if not args.no_main else ["bare"]) + (
        OPTION_CONFIGS if args.options else [])
    if args.configs:
        configs = ["bare"] + [c for c in args.configs.split(",") if c != "bare"]
        unknown = [c for c in configs if c not in LABELS]
        if unknown:
            raise SystemExit("unknown configurations: %s" % ", ".join(unknown))
    log_root = tempfile.mkdtemp(prefix="trainhealth_bench_")
    print("backend=%s device=%s (%s) keras=%s cpus=%d rounds=%d epochs=%d "
          "(first epoch of each fit untimed) models=%s" % (
              backend, args.device, device_note, keras.__version__,
              os.cpu_count(), args.rounds, args.epochs, ",".join(models)),
          flush=True)

    data, state = {}, {}
    for m in models:
        data[m] = make_data(m, args.quick)
        state[m] = {c: make_model(m, seed=1) for c in configs}
        x, y, batch = data[m]
        print("%s: %d samples, batch %d, %d steps/epoch, %d params" % (
            m, len(x), batch, -(-len(x) // batch),
            state[m][configs[0]].count_params()), flush=True)

    # Warm-up: trace every model's training step (and, on TF, the tap's
    # retrace) once, outside the timed rounds.
    t0 = time.perf_counter()
    index = 0
    for m in models:
        x, y, batch = data[m]
        for c in configs:
            index += 1
            timed_fit(state[m][c], x[:batch * 8], y[:batch * 8], batch, 1, c,
                      log_root, index, counter)
    print("warm-up: %.1f s" % (time.perf_counter() - t0), flush=True)

    traces_before = counter.total()
    retracing_before = counter.retracing_warnings
    rounds = []
    steady_traces = {}
    for r in range(args.rounds):
        t_round = time.perf_counter()
        result = {m: {} for m in models}
        order = [(m, c) for m in models for c in configs]
        shift = r % len(order)
        order = order[shift:] + order[:shift]
        for m, c in order:
            x, y, batch = data[m]
            index += 1
            res = timed_fit(state[m][c], x, y, batch, args.epochs, c,
                            log_root, index, counter)
            result[m][c] = res
            for per_epoch in res["traces_per_epoch"][1:]:
                for name, n in per_epoch.items():
                    key = "%s/%s: %s" % (m, c, name)
                    steady_traces[key] = steady_traces.get(key, 0) + n
        rounds.append(result)
        line = ["round %d (%.0f s):" % (r + 1, time.perf_counter() - t_round)]
        for m in models:
            tb = statistics.mean(result[m]["bare"]["epochs_s"][1:])
            parts = ["%s bare %.2fs" % (m, tb)]
            for c in configs[1:]:
                parts.append("%s %.3f" % (
                    c, statistics.mean(result[m][c]["epochs_s"][1:]) / tb))
            line.append(", ".join(parts))
        print(" | ".join(line), flush=True)
    timed_traces = counter.total() - traces_before
    timed_retracing = counter.retracing_warnings - retracing_before

    summary = summarize(rounds, configs, models)

    memory = {}
    if not args.no_memory:
        import tracemalloc

        tracemalloc.start()
        for m in models:
            x, y, batch = data[m]
            memory[m] = {}
            for c in configs:
                index += 1
                memory[m][c] = memory_fit(state[m][c], x, y, batch, c,
                                          log_root, index)
        tracemalloc.stop()

    print()
    print("Median over %d rounds of per-round ratios to bare fit: wall-clock "
          "epoch time [range over rounds]; quiet: median wall time of epochs "
          "during which other processes used < %.2f of a core over bare "
          "fit's (quiet epochs / timed epochs); best: fastest epoch over fastest "
          "bare epoch; CPU time; in-hook (epoch time over "
          "epoch time less the time inside the callback's hooks, same fit). "
          "Records per timed epoch and in-hook ms per record. Setup: extra "
          "wall time of a fit's first epoch. Memory: added peak over bare "
          "fit's." % (args.rounds, QUIET_OTHERS))
    for m in models:
        print("  %s (bare: %.2f s/epoch, %d steps/epoch):" % (
            m, summary[m]["bare"]["epoch_s"],
            rounds[0][m]["bare"]["steps_per_epoch"]))
        for c in configs[1:]:
            s = summary[m][c]
            rec = ""
            if s["record_ms"] is not None:
                rec = "  %5.1f rec/ep %6.2f ms/rec" % (
                    s["records_per_epoch"], s["record_ms"])
            mem = ""
            if memory:
                mm, mb = memory[m][c], memory[m]["bare"]
                mem = "  mem +%.1f MB tracemalloc" % (
                    mm["tracemalloc_peak_mb"] - mb["tracemalloc_peak_mb"])
                if mm["rss_peak_mb"] is not None and mb["rss_peak_mb"] is not None:
                    mem += ", %+.0f MB RSS" % (
                        mm["rss_peak_mb"] - mb["rss_peak_mb"])
            quiet = ("quiet %.3fx (%d/%d)" % (
                s["quiet_ratio"], s["quiet_epochs"], s["timed_epochs"])
                if s["quiet_ratio"] is not None else "quiet n/a")
            print("    %-28s wall %.3fx [%.2f-%.2f] %s best %.3fx  cpu %.3fx  "
                  "in-hook %.3fx  setup %+.2fs%s%s" % (
                      c, s["ratio"], s["ratio_min"], s["ratio_max"], quiet,
                      s["best_ratio"], s["cpu_ratio"], s["hooks_ratio"],
                      s["setup_s"], rec, mem))
    print()
    print("Traces/compilations during the timed rounds (all epochs): %d; in "
          "epochs after the first of each fit: %d; TensorFlow 'retracing' "
          "warnings: %d" % (timed_traces, sum(steady_traces.values()),
                            timed_retracing))
    for key in sorted(steady_traces):
        print("  steady-state trace: %s x%d" % (key, steady_traces[key]))
    th_warnings = sorted({w for w in warnings_seen if "TrainHealth" in w})
    for w in th_warnings:
        print("  warning: %s" % w[:300])
    shutil.rmtree(log_root, ignore_errors=True)

    if args.json:
        with open(args.json, "w") as f:
            json.dump({"backend": backend, "device": args.device,
                       "device_note": device_note, "models": models,
                       "configs": configs, "summary": summary,
                       "memory": memory, "rounds": args.rounds,
                       "timed_traces": timed_traces,
                       "steady_traces": steady_traces,
                       "retracing_warnings": timed_retracing,
                       "raw": rounds}, f)
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", default="tensorflow",
                        help="tensorflow, jax, torch, a comma list, or all")
    parser.add_argument("--rounds", type=int, default=None,
                        help="interleaved rounds (default 5; 2 with --quick)")
    parser.add_argument("--epochs", type=int, default=2,
                        help="epochs per fit; the first is not timed")
    parser.add_argument("--quick", action="store_true",
                        help="smaller data and fewer rounds (a smoke run)")
    parser.add_argument("--options", action="store_true",
                        help="also measure one row per option")
    parser.add_argument("--no-main", action="store_true",
                        help="with --options: skip TensorBoard and the "
                             "default/detailed rows (bare fit is kept)")
    parser.add_argument("--no-memory", action="store_true",
                        help="skip the memory pass")
    parser.add_argument("--models", default="mlp,cnn")
    parser.add_argument("--configs", default="",
                        help="run exactly these configurations (and bare "
                             "fit), comma-separated: " + ", ".join(LABELS))
    parser.add_argument("--device", default="auto", choices=["cpu", "gpu", "auto"])
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--json", help="write the results here (worker)")
    args = parser.parse_args(argv)
    if args.rounds is None:
        args.rounds = 2 if args.quick else 5
    if args.epochs < 2:
        parser.error("--epochs must be at least 2 (the first is not timed)")
    if args.worker:
        return worker(args)
    return parent(args)


if __name__ == "__main__":
    sys.exit(main())
