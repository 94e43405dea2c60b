"""How long `trainhealth report` takes on a small logdir, and what it imports.

    python benchmarks/cli_start.py [--package-root DIR] [--repeat 5]

Writes two small runs (a healthy one and one with a dead layer) into a
temporary logdir, then runs `python -m tensorboard_plugin_trainhealth report
LOGDIR --json` `--repeat` times with the package imported from
`--package-root` (default: this checkout; pass an older checkout to compare;
the commands run in the logdir, so `-m` finds no package in the current
directory)
and prints the best and median wall time, and whether TensorFlow, Keras,
JAX or torch were imported (`python -X importtime`).
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--package-root", default=os.path.join(HERE, ".."))
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    from test_cli import write_run  # the CLI tests' own run writer

    root = os.path.abspath(args.package_root)
    env = dict(os.environ, PYTHONPATH=root, TF_CPP_MIN_LOG_LEVEL="3")
    with tempfile.TemporaryDirectory() as logdir:
        write_run(os.path.join(logdir, "dying"), dead_from=40)
        write_run(os.path.join(logdir, "healthy"))
        command = [sys.executable, "-m", "tensorboard_plugin_trainhealth",
                   "report", logdir, "--json"]
        times = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            subprocess.run(command, env=env, check=True, cwd=logdir,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            times.append(time.perf_counter() - start)
        traced = subprocess.run(
            [sys.executable, "-X", "importtime"] + command[1:], env=env,
            cwd=logdir,
            capture_output=True, text=True, check=True)
    imported = {line.rsplit("|", 1)[1].strip().split(".")[0]
                for line in traced.stderr.splitlines()
                if line.startswith("import time:") and "|" in line}
    heavy = sorted(imported & {"tensorflow", "keras", "jax", "torch"})
    print("package: %s" % root)
    print("trainhealth report (2 small runs), %d calls: best %.2f s, "
          "median %.2f s" % (len(times), min(times), statistics.median(times)))
    print("imports TensorFlow/Keras/JAX/torch: %s" % (", ".join(heavy) or "none"))


if __name__ == "__main__":
    main()
