#!/usr/bin/env bash
# Sets up a venv, trains the demo runs into demo_logs/, then starts
# TensorBoard on them. Usage: bash demo/run.sh [--port N] [other tensorboard
# flags]
set -euo pipefail
cd "$(dirname "$0")/.."
PORT=6006
args=("$@")
for i in "${!args[@]}"; do
  case "${args[$i]}" in
    --port=*) PORT=${args[$i]#--port=} ;;
    --port) PORT=${args[$((i + 1))]:-$PORT} ;;
  esac
done
VENV=${TRAINHEALTH_VENV:-.venv}
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q ".[tf]"
export TF_CPP_MIN_LOG_LEVEL=2
rm -rf demo_logs
"$VENV/bin/python" demo/train_demo.py --logdir demo_logs
echo "Starting TensorBoard: open http://localhost:${PORT}/#trainhealth"
exec "$VENV/bin/tensorboard" --logdir demo_logs --port "$PORT" "$@"
