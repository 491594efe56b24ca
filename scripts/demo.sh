#!/usr/bin/env bash
# Sets up .venv from the project's own files and runs the main job (the demo on the local server).
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[demo]"
exec .venv/bin/wb-dagster demo "$@"
