#!/usr/bin/env bash
# The README's test command: sets up everything on a fresh machine that has
# Python 3.11 (and apt, for the real Fashion-MNIST files), then runs the tests.
#   bash scripts/test.sh [pytest args...]
# Tests that read real Fashion-MNIST skip when its files are absent.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
exec "$VENV/bin/python" -m pytest -q "$@" tests
