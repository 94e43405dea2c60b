"""The dashboard with a very wide model: layer merging, and /runs with a
100,000-variable run in the logdir.

    python benchmarks/wide_model.py [--logdir DIR] [--variables 100000]
        [--small-runs 20] [--load-fast true|false]

Prints:

* how long `shaping.merged_layers` takes for 1k to 50k layers (two
  variables each, every other layer a ReLU layer), and each size's time
  over the previous one's: about the ratio of the sizes when the merge is
  linear (it was quadratic: 10k layers 2.2 s, 20k 9.8 s);
* /runs over a logdir holding one run with `--variables` variables (three
  records, written with the writer directly, tests/logdir_fixtures.py)
  and `--small-runs` one-record runs, through the plugin served by
  TensorBoard's WSGI app on the chosen data path: each request's latency,
  polled every 0.5 s until every run has its status, and the seconds
  until the small runs and the wide one have theirs; then /run and a
  /heatmap of the wide run.

It asserts nothing: the figures are for reading (benchmarks/RESULTS.md).
"""

import argparse
import contextlib
import json
import os
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from tensorboard_plugin_trainhealth import metadata  # noqa: E402
from tensorboard_plugin_trainhealth import series as series_lib  # noqa: E402
from tensorboard_plugin_trainhealth import shaping  # noqa: E402
from tests import logdir_fixtures as fx  # noqa: E402

PREFIX = "/data/plugin/trainhealth"


def merge_times(sizes=(1000, 4000, 10000, 20000, 50000)):
    """[(layers, seconds)] of merged_layers (best of 3)."""
    out = []
    for n in sizes:
        layers = ["block_%05d/dense" % i for i in range(n)]
        series = series_lib.RunSeries()
        series.matrices[metadata.LAYER_DEAD_FRACTION] = \
            series_lib.Matrix.empty([{"name": name} for name in layers[::2]])
        series.matrices[metadata.VARIABLE_GRAD_NORM] = series_lib.Matrix.empty(
            [{"name": name + part, "layer": name} for name in layers
             for part in ("/kernel", "/bias")])
        best = None
        for _ in range(3):
            started = time.perf_counter()
            merged = shaping.merged_layers(series)
            elapsed = time.perf_counter() - started
            best = elapsed if best is None else min(best, elapsed)
        assert len(merged) == n
        out.append((n, best))
    return out


def ensure_logdir(args):
    logdir = args.logdir or tempfile.mkdtemp(prefix="trainhealth_wide_")
    marker = os.path.join(logdir, ".generated-%d-%d" % (args.variables,
                                                       args.small_runs))
    if not os.path.exists(marker):
        print("writing a %d-variable run and %d small runs into %s ..."
              % (args.variables, args.small_runs, logdir), flush=True)
        fx.write_huge_run(os.path.join(logdir, "wide"), args.variables)
        for i in range(args.small_runs):
            fx.write_run(os.path.join(logdir, "small_%02d" % i), steps=3)
        open(marker, "w").close()
    return logdir


def poll_runs(client, timeout=900):
    """[(seconds since the first request, request ms, pending runs)] until
    no run is pending."""
    started = time.perf_counter()
    polls = []
    while time.perf_counter() - started < timeout:
        asked = time.perf_counter()
        body = json.loads(client.get(PREFIX + "/runs").get_data())
        elapsed = time.perf_counter() - asked
        pending = {r["run"] for r in body["runs"]
                   if r["status"] == "pending"}
        polls.append((asked - started, 1000 * elapsed, pending))
        if not pending:
            break
        time.sleep(0.5)
    return polls


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logdir", help="reuse (or fill) this logdir")
    parser.add_argument("--variables", type=int, default=100000)
    parser.add_argument("--small-runs", type=int, default=20)
    parser.add_argument("--load-fast", default="true",
                        choices=["true", "false"])
    args = parser.parse_args(argv)

    print("merged_layers (best of 3):")
    previous = None
    for n, seconds in merge_times():
        ratio = "" if previous is None else "  x%.1f for x%.1f the layers" % (
            seconds / previous[1], n / previous[0])
        print("  %6d layers %8.1f ms%s" % (n, 1000 * seconds, ratio))
        previous = (n, seconds)

    from tensorboard_plugin_trainhealth import reader
    from tests import providers
    from tests import wsgi_client

    logdir = ensure_logdir(args)
    load_fast = args.load_fast == "true"
    opener = (providers.rust_provider(logdir, timeout=900) if load_fast
              else contextlib.nullcontext(reader.open_logdir(logdir)))
    with opener as provider:
        client, _ = wsgi_client.make_client(logdir, provider)
        polls = poll_runs(client)
        print("\n/runs polled every 0.5 s (%s), a %d-variable run and %d "
              "small runs:" % ("Rust data server" if load_fast
                               else "Python multiplexer", args.variables,
                               args.small_runs))
        print("  %d requests, slowest %.0f ms, median %.0f ms" % (
            len(polls), max(p[1] for p in polls),
            sorted(p[1] for p in polls)[len(polls) // 2]))
        small = next((p[0] + p[1] / 1000 for p in polls
                      if not any(r.startswith("small") for r in p[2])), None)
        print("  every small run's status after %.1f s, the wide run's "
              "after %.1f s" % (small, polls[-1][0] + polls[-1][1] / 1000))
        for path in ("/run?run=wide",
                     "/heatmap?run=wide&signal=grad_norm&format=f32"):
            started = time.perf_counter()
            response = client.get(PREFIX + path)
            print("  %-45s %7.0f ms, %d bytes" % (
                path, 1000 * (time.perf_counter() - started),
                len(response.get_data())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
