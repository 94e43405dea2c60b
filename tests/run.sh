#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine: installs what it needs
# (Debian's chromium for the browser tests, the frontend's npm packages, a
# venv with the package and its test extras), runs the frontend's unit tests
# with node, then pytest on every Keras backend and without TensorFlow.
#
# Every stage runs even when an earlier one fails; the run ends with a
# summary of each stage (its pytest/node counts) and exits non-zero if any
# stage failed. Usage: bash tests/run.sh [pytest args]
set -uo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=tests/stages.sh
source tests/stages.sh

install_chromium() {
  if [ -x /usr/bin/chromium ]; then
    return 0
  fi
  if [ "$(id -u)" != 0 ]; then
    echo "note: /usr/bin/chromium missing and not root: browser tests will skip" >&2
    return 0
  fi
  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium
}

# The tab's charting library (uPlot) comes from npm: install it as locked
# and build frontend/dist (setup.py builds it too when it is missing), then
# run the frontend's own unit tests with node's test runner.
frontend() {
  if ! command -v npm >/dev/null 2>&1; then
    if [ -f frontend/dist/uplot.js ]; then
      echo "note: npm missing: frontend unit tests skipped" >&2
      return 0
    fi
    echo "error: npm (Node.js >= 18) is needed to build frontend/dist" >&2
    return 1
  fi
  (cd frontend && npm ci --no-audit --no-fund --loglevel=error \
    && npm run --silent build) && node --test frontend/test/
}

VENV=${TRAINHEALTH_VENV:-.venv}
NOTF=${VENV}-without-tf

install_venv() {
  if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV" || return 1
  fi
  # torch first, pinned (2.13.0 is a CPU build on these machines), so that
  # the test extras' torch and lightning requirements find it installed;
  # then the other Keras backend, for the per-backend callback runs below.
  "$VENV/bin/python" -m pip install -q --upgrade pip &&
    "$VENV/bin/python" -m pip install -q "torch==2.13.0" &&
    "$VENV/bin/python" -m pip install -q -e ".[test]" &&
    "$VENV/bin/python" -m pip install -q jax
}

# Without TensorFlow installed at all (JAX backend, and the PyTorch
# monitor): the package must import, record and read back with
# TensorBoard's own writer.
install_venv_without_tf() {
  if [ ! -x "$NOTF/bin/python" ]; then
    python3 -m venv "$NOTF" || return 1
  fi
  "$NOTF/bin/python" -m pip install -q --upgrade pip &&
    "$NOTF/bin/python" -m pip install -q "torch==2.13.0" &&
    "$NOTF/bin/python" -m pip install -q -e . jax pytest hypothesis
}

export TF_CPP_MIN_LOG_LEVEL=2 PYTHONUNBUFFERED=1
# The tests on the JAX and torch backends: the callback's own.
BACKEND_TESTS="tests/test_callback.py tests/test_callback_models.py tests/test_reliability.py tests/test_cadence.py"

stage "chromium (apt)" install_chromium
stage "frontend build and unit tests (node --test)" frontend
stage "venv with the package and its test extras" install_venv
# Names lost in a merge or a refactor (an undefined name in a branch no
# test reaches) fail here, before any test runs.
stage "pyflakes: package, benchmarks, demo, examples" \
  "$VENV/bin/python" -m pyflakes tensorboard_plugin_trainhealth benchmarks \
  demo examples
# Everything on the TensorFlow backend (Keras's default)...
stage "pytest, KERAS_BACKEND=tensorflow" "$VENV/bin/python" -m pytest -q "$@"
# ...then the callback on the JAX and PyTorch backends.
for backend in jax torch; do
  stage "pytest callback tests, KERAS_BACKEND=$backend" \
    env KERAS_BACKEND=$backend "$VENV/bin/python" -m pytest -q $BACKEND_TESTS "$@"
done
stage "venv without TensorFlow" install_venv_without_tf
# test_mlflow.py there too: without MLflow installed, the callback must train
# as before and import nothing (its other tests skip).
stage "pytest callback tests without TensorFlow (KERAS_BACKEND=jax)" \
  env KERAS_BACKEND=jax "$NOTF/bin/python" -m pytest -q tests/test_callback.py \
  tests/test_mlflow.py "$@"
# The PyTorch monitor where TensorFlow does not exist at all: it records
# and reads back through TensorBoard's own file layer.
stage "pytest torch monitor tests without TensorFlow" \
  "$NOTF/bin/python" -m pytest -q tests/test_torch_monitor.py \
  tests/test_torch_readback.py "$@"

finish_stages
