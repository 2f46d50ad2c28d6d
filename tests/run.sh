#!/usr/bin/env bash
# The README's test command: set up a virtual environment with the test tools, then run ruff and pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/pip install -q -r requirements-dev.txt
.venv/bin/ruff check .
.venv/bin/python -m pytest "$@"
