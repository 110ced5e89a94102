#!/usr/bin/env bash
# The README's test command: sets up everything on a fresh machine that has
# Python 3.11 (and apt, for the real Fashion-MNIST files), then runs the tests.
#   bash scripts/test.sh [pytest args...]
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}

if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q -r requirements.txt

# Real Fashion-MNIST (Debian's dataset-fashion-mnist) for the tests that read
# it; they skip when the files are absent and apt cannot install them.
FMNIST=/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz
if [ ! -f "$FMNIST" ] && command -v apt-get >/dev/null 2>&1; then
  SUDO=""
  if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null 2>&1; then
    SUDO="sudo -n"
  fi
  $SUDO apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1 \
    || { $SUDO apt-get update -q >/dev/null 2>&1 \
         && $SUDO apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1; } \
    || echo "note: could not install dataset-fashion-mnist; its tests skip"
fi

exec "$VENV/bin/python" -m pytest -q "$@" tests
