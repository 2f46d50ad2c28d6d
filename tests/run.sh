#!/usr/bin/env bash
# The README's test command: set up .venv with the test tools (Chromium and PostgreSQL for the tests),
# then run ruff and pytest. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
# Chromium for the browser tests; PostgreSQL 15 for the shared profile store (tests start a throw-away server).
if [ ! -x /usr/bin/chromium ] || ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    SUDO=$([ "$(id -u)" -eq 0 ] || echo sudo)
    $SUDO apt-get update -qq && $SUDO apt-get install -y -qq chromium postgresql >/dev/null
fi
python3 -m venv .venv
.venv/bin/pip install -q -r requirements-dev.txt
.venv/bin/ruff check .
.venv/bin/python -m pytest "$@"
