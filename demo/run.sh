#!/usr/bin/env bash
# Sets up a venv, trains the demo runs into demo_logs/, then starts
# TensorBoard on them. Usage: bash demo/run.sh [--port N]
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${TRAINHEALTH_VENV:-.venv}
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q ".[tf]"
export TF_CPP_MIN_LOG_LEVEL=2
rm -rf demo_logs
"$VENV/bin/python" demo/train_demo.py --logdir demo_logs
echo "Starting TensorBoard: open http://localhost:${PORT:-6006}/#trainhealth"
exec "$VENV/bin/tensorboard" --logdir demo_logs --port "${PORT:-6006}" "$@"
