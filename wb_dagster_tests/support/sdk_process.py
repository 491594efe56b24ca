"""The official SDK run in subprocesses against a local server, as a user's training script.

Every SDK process gets a fresh HOME / WANDB_DIR / cache / config directory, no inherited
``WANDB_*`` variables, ``WANDB_ERROR_REPORTING=false`` and ``WANDB_SILENT=true``; the API key
travels in its environment. :data:`LOGGER_SCRIPT` logs runs from a JSON spec.

Example::

    spec = {"project": "p", "entity": server.entity, "rows": [{"loss": 1.0}]}
    proc, run_id = log_spec(server, tmp_path / "sdk", spec)
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wb_dagster.demo.training import isolated_sdk_env
from wb_dagster.testing import LocalWandbServer

LOGGER_SCRIPT = Path(__file__).with_name("sdk_logger.py")


@dataclass
class SdkProcess:
    """One finished SDK subprocess."""

    returncode: int
    stdout: str
    stderr: str
    wall_s: float
    home: Path


def run_sdk(
    server: LocalWandbServer, home: Path, args: list[str], timeout_s: float = 90.0
) -> SdkProcess:
    """Run ``python <args>`` with an isolated SDK environment rooted at ``home``."""
    home.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, *args],
        env=isolated_sdk_env(server.base_url, server.api_key, home),
        cwd=home,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
    return SdkProcess(proc.returncode, proc.stdout, proc.stderr, time.monotonic() - started, home)


def log_spec(server: LocalWandbServer, home: Path, spec: dict[str, Any]) -> tuple[SdkProcess, str]:
    """Log one run described by ``spec`` (see sdk_logger.py); returns the process and run id."""
    home.mkdir(parents=True, exist_ok=True)
    spec = {**spec, "result_path": str(home / "result.json")}
    spec_path = home / "spec.json"
    spec_path.write_text(json.dumps(spec))
    proc = run_sdk(server, home, [str(LOGGER_SCRIPT), str(spec_path)])
    assert proc.returncode == 0, proc.stderr
    return proc, json.loads((home / "result.json").read_text())["run_id"]
