"""Overhead of TrainHealthCallback on the families of models people train.

    python benchmarks/overhead_families.py --out RESULTS.jsonl
        [--backend tensorflow,jax,torch] [--families convnet,gru,...]
        [--lengths short,long,repeat] [--rounds N] [--long-seconds S]
        [--repeat-fits K] [--package-root DIR]
    python benchmarks/overhead_families.py --table RESULTS.jsonl [...]

The families are in `families.py`. One child process per (backend,
family): each measures the lengths asked for and appends one JSON line per
length to `--out`, so that the matrix can be run in parts (a family, a
backend, a length at a time) and printed at the end with `--table`.
`--package-root` measures another checkout of the package (the code
before a change) with the same commands.

Lengths, each on fresh models built and compiled the same way (the first
fit of a model pays its own tracing, with or without the callback):

* `short`: a 3-epoch fit, timed whole (the callback's setup, its dense
  start and every record included): what a user's short fit costs.
* `long`: one fit of as many epochs as make the bare fit last
  `--long-seconds` (60 by default), timed whole; the budget (1.03x) is
  stated for these.
* `repeat`: `--repeat-fits` calls of `model.fit(..., epochs=1)` on the
  same model, as a training loop, fine-tuning or KerasTuner make them; the
  later fits are timed too, beside `keras.callbacks.TensorBoard(
  histogram_freq=1)` on its own model.

Configurations of one length run interleaved (round r rotates their order),
each on its own model. Reported, as ratios to bare fit in the same round
(median over rounds): CPU time of the process (all threads; the steady
figure on a shared machine), wall time, and in-hook time (fit time / (fit
time - time inside the callback's hooks), the callback's direct host cost).
Beside them: records and probes per fit, and what one record cost, split
into its parts: `norms` (the fused read of weight, update and gradient
norms, loss and learning rate), `snapshot` (the weight copy update ratios
are measured against), `probe` (the activation probe's forward pass and
reductions) and `host` (the rest of a record: history, event file);
`setup` is the callback's start of a fit (probe capture and build, facts),
traces the TensorFlow traces or JAX compilations in a fit's later epochs
(which must be 0).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)

import families as families_lib  # noqa: E402

LENGTHS = ("short", "long", "repeat")
CONFIGS = {
    "short": ("bare", "trainhealth"),
    "long": ("bare", "trainhealth"),
    "repeat": ("bare", "trainhealth", "tensorboard_hist"),
}
SHORT_EPOCHS = 3
PARTS = ("norms", "snapshot", "probe", "record", "setup")


# --------------------------------------------------------------------------
# Parent
# --------------------------------------------------------------------------

def parent(args):
    backends = args.backend.split(",")
    chosen = args.families.split(",") if args.families else list(
        families_lib.FAMILIES)
    failed = 0
    for backend in backends:
        for family in chosen:
            env = dict(os.environ, KERAS_BACKEND=backend,
                       TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="",
                       JAX_PLATFORMS="cpu")
            root = os.path.abspath(args.package_root or REPO)
            env["PYTHONPATH"] = os.pathsep.join(
                [root, HERE, env.get("PYTHONPATH", "")])
            cmd = [sys.executable, os.path.abspath(__file__), "--worker",
                   "--family", family, "--lengths", args.lengths,
                   "--rounds", str(args.rounds), "--out",
                   os.path.abspath(args.out),
                   "--long-seconds", str(args.long_seconds),
                   "--repeat-fits", str(args.repeat_fits),
                   "--extra-configs", args.extra_configs,
                   "--label", args.label or ("package at " + root)]
            print("$ KERAS_BACKEND=%s %s" % (backend, " ".join(cmd[1:])),
                  flush=True)
            if subprocess.run(cmd, env=env, check=False).returncode != 0:
                print("# %s/%s failed" % (backend, family), flush=True)
                failed += 1
    print(table(read_results(args.out)))
    return 1 if failed else 0


def read_results(path):
    results = []
    with open(path) as f:
        for line in f:
            if line.strip():
                results.append(json.loads(line))
    return results


def table(results, label=None):
    """Markdown tables, one per length: a row per family, a column per
    backend. Later lines for the same (label, backend, family, length)
    replace earlier ones."""
    latest = {}
    for r in results:
        if label is None or r["label"] == label:
            latest[(r["backend"], r["family"], r["length"])] = r
    backends = [b for b in ("tensorflow", "jax", "torch")
                if any(k[0] == b for k in latest)]
    out = []
    for length in LENGTHS:
        rows = [f for f in families_lib.FAMILIES
                if any((b, f, length) in latest for b in backends)]
        if not rows:
            continue
        out += ["", "%s: %s" % (length, _LENGTH_NOTES[length]), "",
                "| family | " + " | ".join(backends) + " |",
                "| --- |" + " --- |" * len(backends)]
        for family in rows:
            cells = [_cell(latest.get((b, family, length))) for b in backends]
            out.append("| %s | %s |" % (family, " | ".join(cells)))
    return "\n".join(out)


_LENGTH_NOTES = {
    "short": "a 3-epoch fit timed whole. Cell: CPU time ratio to bare fit "
             "(in-hook ratio); records / probes per fit; ms per record: "
             "norms + snapshot + probe + host; setup s",
    "long": "one fit of >= --long-seconds of bare fit, timed whole. Cell: "
            "CPU ratio (in-hook); epochs; records / probes; ms per record",
    "repeat": "model.fit(epochs=1) called repeatedly on one model; the "
              "later fits. Cell: CPU ratio (in-hook) of TrainHealthCallback "
              "vs TensorBoard(histogram_freq=1); records / probes per later "
              "fit; first fit's CPU ratio",
}


def _cell(r):
    if r is None:
        return ""
    s = r["summary"]
    th = s["trainhealth"]
    parts = th["parts_ms"]
    split = "%.1f+%.1f+%.1f+%.1f ms" % (parts["norms"], parts["snapshot"],
                                        parts["probe"], parts["host"])
    if r["length"] == "repeat":
        tb = s["tensorboard_hist"]
        return "%.3fx (%.3fx) vs TB %.3fx; %.1f / %.1f; first %.3fx" % (
            th["later_cpu_ratio"], th["later_hooks_ratio"],
            tb["later_cpu_ratio"], th["later_records"], th["later_probes"],
            th["first_cpu_ratio"])
    cell = "%.3fx (%.3fx); %d / %d; %s" % (
        th["cpu_ratio"], th["hooks_ratio"], round(th["records"]),
        round(th["probes"]), split)
    if r["length"] == "long":
        return "%s; %d ep" % (cell, r["epochs"])
    return "%s; setup %.2f s" % (cell, th["setup_s"])


# --------------------------------------------------------------------------
# Worker: one backend and family, in this process.
# --------------------------------------------------------------------------

class PartClock:
    """Time spent in the callback's parts, by wrapping them at class level
    (a part the measured package does not have is left out)."""

    def __init__(self):
        self.spent = dict.fromkeys(PARTS, 0.0)
        self.spent_cpu = dict.fromkeys(PARTS, 0.0)
        self.calls = dict.fromkeys(PARTS, 0)
        self._in_setup = False

    def reset(self):
        for name in PARTS:
            self.spent[name] = self.spent_cpu[name] = 0.0
            self.calls[name] = 0

    def wrap(self, owner, method, part):
        original = getattr(owner, method, None)
        if original is None:
            return
        clock = self

        def timed(*args, **kwargs):
            # What the callback's setup runs (the probe's first reading)
            # is setup, not a record's part.
            counted = part == "setup" or not clock._in_setup
            clock._in_setup |= part == "setup"
            started, cpu = time.perf_counter(), time.process_time()
            try:
                return original(*args, **kwargs)
            finally:
                if part == "setup":
                    clock._in_setup = False
                if counted:
                    clock.spent[part] += time.perf_counter() - started
                    clock.spent_cpu[part] += time.process_time() - cpu
                    clock.calls[part] += 1

        setattr(owner, method, timed)

    def install(self):
        from tensorboard_plugin_trainhealth import callback
        from tensorboard_plugin_trainhealth import probe

        try:
            from tensorboard_plugin_trainhealth import keras_reads
            reads = keras_reads.ModelReads
        except ImportError:  # older packages read inside the callback
            reads = None
        if reads is not None:
            self.wrap(reads, "read", "norms")
            self.wrap(reads, "snapshot_weights", "snapshot")
        self.wrap(probe.ActivationProbe, "__call__", "probe")
        self.wrap(callback.TrainHealthCallback, "_record", "record")
        self.wrap(callback.TrainHealthCallback, "_start", "setup")


# Variants that tell where the cost goes (`--extra-configs`).
VARIANTS = {
    "no_gradient_norms": {"gradient_norms": False},
    "no_activation_stats": {"activation_stats": False},
    "never_due": {"every_n_steps": 10**9},
    "probe_samples_64": {"probe_samples": 64},
}


def make_callbacks(config, log_root, tag):
    import keras

    if config == "bare":
        return []
    log_dir = os.path.join(log_root, tag)
    if config == "tensorboard_hist":
        return [keras.callbacks.TensorBoard(log_dir, histogram_freq=1)]
    from tensorboard_plugin_trainhealth import TrainHealthCallback

    return [TrainHealthCallback(log_dir, verbose=0,
                                **VARIANTS.get(config, {}))]


class FitTimer:
    """Per-epoch wall/CPU/in-hook time and traces of one fit."""

    def __init__(self, counter):
        import keras

        self.clock = {"hooks": 0.0, "hooks_cpu": 0.0}
        self.epochs = []
        timer = self

        class Start(keras.callbacks.Callback):
            def on_epoch_begin(self, epoch, logs=None):
                timer._begin = (time.perf_counter(), time.process_time(),
                                counter.total(), timer.clock["hooks"],
                                timer.clock["hooks_cpu"])

        class End(keras.callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None):
                wall0, cpu0, traces0, hooks0, hooks_cpu0 = timer._begin
                timer.epochs.append({
                    "wall": time.perf_counter() - wall0,
                    "cpu": time.process_time() - cpu0,
                    "hooks": timer.clock["hooks"] - hooks0,
                    "hooks_cpu": timer.clock["hooks_cpu"] - hooks_cpu0,
                    "traces": counter.total() - traces0})

        self.first, self.last = Start(), End()

    def fit(self, model, x, y, batch, epochs, extra):
        import overhead

        for cb in extra:
            overhead.time_hooks(cb, self.clock)
        wall0, cpu0 = time.perf_counter(), time.process_time()
        model.fit(x, y, batch_size=batch, epochs=epochs, verbose=0,
                  callbacks=[self.first] + extra + [self.last])
        return {"wall": time.perf_counter() - wall0,
                "cpu": time.process_time() - cpu0,
                "hooks": self.clock["hooks"],
                "hooks_cpu": self.clock["hooks_cpu"],
                "epochs": self.epochs}


def _counts(callbacks):
    """(records, probes) the TrainHealthCallback in `callbacks` made."""
    from tensorboard_plugin_trainhealth import metadata as md

    for cb in callbacks:
        series = getattr(cb, "series", None)
        if series is None:
            continue
        loss = series.step_scalars.get(md.STEP_LOSS)
        probes = series.matrices.get(md.LAYER_ACTIVATION_NONFINITE)
        return (0 if loss is None else len(loss.steps),
                0 if probes is None else len(probes.steps))
    return 0, 0


def one_fit(family, config, epochs, counter, parts, log_root, tag,
            model_and_data=None):
    """Fits a fresh model (or the given one) once; what it cost."""
    model, x, y, batch = model_and_data or families_lib.build(family)
    timer = FitTimer(counter)
    extra = make_callbacks(config, log_root, tag)
    parts.reset()
    result = timer.fit(model, x, y, batch, epochs, extra)
    result["records"], result["probes"] = _counts(extra)
    result["parts_s"] = dict(parts.spent)
    result["parts_cpu_s"] = dict(parts.spent_cpu)
    result["part_calls"] = dict(parts.calls)
    return result, (model, x, y, batch)


def warm_process(counter, parts, log_root):
    """Imports and process-wide first uses, outside every timed fit."""
    for config in ("bare", "trainhealth", "tensorboard_hist"):
        model, x, y, batch = families_lib.build("mlp", samples=256)
        one_fit("mlp", config, 1, counter, parts, log_root, "warm_" + config,
                (model, x, y, batch))


def measure_short(family, rounds, counter, parts, log_root, extra=()):
    runs = []
    configs = CONFIGS["short"] + tuple(extra)
    for r in range(rounds):
        order = configs[r % len(configs):] + configs[:r % len(configs)]
        runs.append({c: one_fit(family, c, SHORT_EPOCHS, counter, parts,
                                log_root, "short_%s_%d" % (c, r))[0]
                     for c in order})
        _progress(family, "short", r, runs[-1])
    return runs


def measure_long(family, rounds, seconds, epoch_s, counter, parts, log_root,
                 extra=()):
    epochs = max(SHORT_EPOCHS, int(-(-seconds // epoch_s)))
    runs = []
    configs = CONFIGS["long"] + tuple(extra)
    for r in range(rounds):
        order = configs[r % len(configs):] + configs[:r % len(configs)]
        runs.append({c: one_fit(family, c, epochs, counter, parts, log_root,
                                "long_%s_%d" % (c, r))[0] for c in order})
        _progress(family, "long", r, runs[-1])
    return runs, epochs


def measure_repeat(family, rounds, fits, counter, parts, log_root):
    """Each round: fresh models, then `fits` calls of fit(epochs=1), the
    configurations interleaved call by call."""
    configs = CONFIGS["repeat"]
    runs = []
    for r in range(rounds):
        models = {c: families_lib.build(family) for c in configs}
        per_config = {c: [] for c in configs}
        for i in range(fits):
            shift = (r + i) % len(configs)
            for c in configs[shift:] + configs[:shift]:
                result, _ = one_fit(family, c, 1, counter, parts, log_root,
                                    "repeat_%s_%d" % (c, r), models[c])
                per_config[c].append(result)
        runs.append(per_config)
        print("  %s repeat round %d: later fits cpu %s" % (family, r, ", ".join(
            "%s %.2fs" % (c, statistics.mean(f["cpu"] for f in v[1:]))
            for c, v in per_config.items())), flush=True)
    return runs


def _progress(family, length, r, run):
    bare = run["bare"]
    th = run["trainhealth"]
    print("  %s %s round %d: bare %.1fs wall %.1fs cpu; trainhealth %.3fx cpu "
          "%.3fx wall, %d records, %d probes" % (
              family, length, r, bare["wall"], bare["cpu"],
              th["cpu"] / bare["cpu"], th["wall"] / bare["wall"],
              th["records"], th["probes"]), flush=True)


def _record_parts_ms(fits):
    """Mean ms per record of each part, over the fits given."""
    records = sum(f["part_calls"]["record"] for f in fits)
    if not records:
        return dict.fromkeys(("norms", "snapshot", "probe", "host"), 0.0)
    total = {p: sum(f["parts_cpu_s"][p] for f in fits) for p in PARTS}
    host = total["record"] - total["norms"] - total["probe"]
    return {"norms": 1000 * total["norms"] / records,
            "snapshot": 1000 * total["snapshot"] / records,
            "probe": 1000 * total["probe"] / records,
            "host": 1000 * host / records}


def summarize_fits(runs):
    """short and long: per config, medians over rounds."""
    summary = {}
    for c in runs[0]:
        fits = [run[c] for run in runs]
        summary[c] = {
            "cpu_ratio": statistics.median(
                run[c]["cpu"] / run["bare"]["cpu"] for run in runs),
            "wall_ratio": statistics.median(
                run[c]["wall"] / run["bare"]["wall"] for run in runs),
            "hooks_ratio": statistics.median(
                f["cpu"] / (f["cpu"] - f["hooks_cpu"]) for f in fits),
            "hooks_wall_ratio": statistics.median(
                f["wall"] / (f["wall"] - f["hooks"]) for f in fits),
            "records": statistics.median(f["records"] for f in fits),
            "probes": statistics.median(f["probes"] for f in fits),
            "setup_s": statistics.median(f["parts_cpu_s"]["setup"]
                                         for f in fits),
            "parts_ms": _record_parts_ms(fits),
            "later_epoch_traces": sum(e["traces"] for f in fits
                                      for e in f["epochs"][1:]),
            "bare_cpu_s": statistics.median(run["bare"]["cpu"] for run in runs),
            "bare_wall_s": statistics.median(run["bare"]["wall"]
                                             for run in runs),
        }
    return summary


def summarize_repeat(runs):
    summary = {}
    for c in runs[0]:
        later_cpu, later_hooks, first_cpu = [], [], []
        for run in runs:
            bare, cur = run["bare"], run[c]
            later_cpu.append(sum(f["cpu"] for f in cur[1:])
                             / sum(f["cpu"] for f in bare[1:]))
            first_cpu.append(cur[0]["cpu"] / bare[0]["cpu"])
            later_hooks.append(statistics.median(
                f["cpu"] / (f["cpu"] - f["hooks_cpu"]) for f in cur[1:]))
        later = [f for run in runs for f in run[c][1:]]
        summary[c] = {
            "later_cpu_ratio": statistics.median(later_cpu),
            "later_hooks_ratio": statistics.median(later_hooks),
            "first_cpu_ratio": statistics.median(first_cpu),
            "later_records": statistics.mean(f["records"] for f in later),
            "later_probes": statistics.mean(f["probes"] for f in later),
            "parts_ms": _record_parts_ms(later),
            "later_epoch_traces": sum(f["epochs"][0]["traces"]
                                      for f in later),
        }
    return summary


def worker(args):
    import keras

    import overhead

    backend = keras.backend.backend()
    counter = overhead.install_trace_counter(backend)
    parts = PartClock()
    parts.install()
    log_root = tempfile.mkdtemp(prefix="trainhealth_families_")
    family = args.family
    lengths = args.lengths.split(",")
    extra = [c for c in args.extra_configs.split(",") if c]
    print("%s / %s: %s" % (backend, family,
                           families_lib.DESCRIPTIONS[family]), flush=True)
    warm_process(counter, parts, log_root)
    base = {"label": args.label, "backend": backend, "family": family,
            "keras": keras.__version__, "cpus": os.cpu_count(),
            "load": os.getloadavg()[0]}
    epoch_s = None
    out = []
    if "short" in lengths:
        runs = measure_short(family, args.rounds, counter, parts, log_root,
                             extra)
        summary = summarize_fits(runs)
        # A steady epoch of bare fit: the later epochs of its short fits.
        epoch_s = statistics.median(e["wall"] for run in runs
                                    for e in run["bare"]["epochs"][1:])
        out.append(dict(base, length="short", epochs=SHORT_EPOCHS,
                        summary=summary, raw=runs))
    if "long" in lengths:
        if epoch_s is None:
            probe = one_fit(family, "bare", 2, counter, parts, log_root,
                            "calibrate")[0]
            epoch_s = probe["epochs"][1]["wall"]
        runs, epochs = measure_long(
            family, max(1, args.rounds // 2), args.long_seconds, epoch_s,
            counter, parts, log_root, extra)
        out.append(dict(base, length="long", epochs=epochs,
                        summary=summarize_fits(runs), raw=runs))
    if "repeat" in lengths:
        runs = measure_repeat(family, max(1, args.rounds // 2),
                              args.repeat_fits, counter, parts, log_root)
        out.append(dict(base, length="repeat", epochs=1,
                        fits=args.repeat_fits,
                        summary=summarize_repeat(runs), raw=runs))
    with open(args.out, "a") as f:
        for line in out:
            f.write(json.dumps(line) + "\n")
    print(table(out), flush=True)
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", default="tensorflow,jax,torch")
    parser.add_argument("--families", default="",
                        help="comma list (default: all): "
                             + ", ".join(families_lib.FAMILIES))
    parser.add_argument("--lengths", default="short,long,repeat")
    parser.add_argument("--rounds", type=int, default=2,
                        help="short-fit rounds; long and repeat run half as "
                             "many (at least 1)")
    parser.add_argument("--long-seconds", type=float, default=60.0)
    parser.add_argument("--repeat-fits", type=int, default=4)
    parser.add_argument("--extra-configs", default="",
                        help="short and long fits, also: " + ", ".join(VARIANTS))
    parser.add_argument("--out", help="JSON lines file results are added to")
    parser.add_argument("--table", help="print the tables of this file")
    parser.add_argument("--label", default="",
                        help="names the measured package in the results")
    parser.add_argument("--package-root",
                        help="measure the package in this checkout")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--family", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.table:
        results = read_results(args.table)
        for label in sorted({r["label"] for r in results}):
            print("\n## %s" % label)
            print(table(results, label))
        return 0
    if not args.out:
        parser.error("--out is required (results are added to it)")
    if args.worker:
        return worker(args)
    return parent(args)


if __name__ == "__main__":
    sys.exit(main())
