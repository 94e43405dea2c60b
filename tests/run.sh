#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine: installs what it needs
# (Debian's chromium for the browser tests, a venv with the package and its
# test extras), then runs pytest. Usage: bash tests/run.sh [pytest args]
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

VENV=${TRAINHEALTH_VENV:-.venv}
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q -e ".[test]"

export TF_CPP_MIN_LOG_LEVEL=2 PYTHONUNBUFFERED=1
"$VENV/bin/python" -m pytest -q "$@"
