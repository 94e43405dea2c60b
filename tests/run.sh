#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine: installs what it needs
# (Debian's chromium for the browser tests, the frontend's npm packages, a
# venv with the package and its test extras), runs the frontend's unit tests
# with node, then pytest. Usage: bash tests/run.sh [pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium
  else
    echo "note: /usr/bin/chromium missing and not root: browser tests will skip" >&2
  fi
fi

# The tab's charting library (uPlot) comes from npm: install it as locked
# and build frontend/dist (setup.py builds it too when it is missing), then
# run the frontend's own unit tests with node's test runner.
if command -v npm >/dev/null 2>&1; then
  (cd frontend && npm ci --no-audit --no-fund --loglevel=error \
    && npm run --silent build)
  echo "== frontend unit tests (node --test)"
  node --test frontend/test/
elif [ ! -f frontend/dist/uplot.js ]; then
  echo "error: npm (Node.js >= 18) is needed to build frontend/dist" >&2
  exit 1
else
  echo "note: npm missing: frontend unit tests skipped" >&2
fi

VENV=${TRAINHEALTH_VENV:-.venv}
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q -e ".[test]"
# The other Keras backends, for the per-backend callback runs below
# (torch 2.13.0 is a CPU build on these machines).
"$VENV/bin/python" -m pip install -q "torch==2.13.0" jax

export TF_CPP_MIN_LOG_LEVEL=2 PYTHONUNBUFFERED=1
# Everything on the TensorFlow backend (Keras's default)...
"$VENV/bin/python" -m pytest -q "$@"
# ...then the callback on the JAX and PyTorch backends.
for backend in jax torch; do
  echo "== callback tests on KERAS_BACKEND=$backend"
  KERAS_BACKEND=$backend "$VENV/bin/python" -m pytest -q tests/test_callback.py \
    tests/test_reliability.py tests/test_cadence.py "$@"
done
# And without TensorFlow installed at all (JAX backend): the package must
# import, record and read back with TensorBoard's own writer.
NOTF=${VENV}-without-tf
if [ ! -x "$NOTF/bin/python" ]; then
  python3 -m venv "$NOTF"
fi
"$NOTF/bin/python" -m pip install -q --upgrade pip
"$NOTF/bin/python" -m pip install -q -e . jax pytest hypothesis
echo "== callback tests without TensorFlow (KERAS_BACKEND=jax)"
# test_mlflow.py there: without MLflow installed, the callback must train
# as before and import nothing (its other tests skip).
KERAS_BACKEND=jax "$NOTF/bin/python" -m pytest -q tests/test_callback.py \
  tests/test_mlflow.py "$@"
