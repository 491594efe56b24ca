#!/usr/bin/env bash
# Sets up .venv from the project's own files and runs lint + the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[test]"
bash scripts/install_browser.sh  # Debian's chromium for the browser test (needs root or sudo)
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
# two workers: the suite mostly waits on the processes it starts (the SDK's wandb-core,
# dagster dev), so two at a time halve the wall time on a 2-core machine
# (a module stays on one worker: its fixtures, a dagster dev among them, start once)
.venv/bin/python -m pytest -q -p no:cacheprovider -n "${WB_TEST_WORKERS:-2}" --dist loadscope "$@"
