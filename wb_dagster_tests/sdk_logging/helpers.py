"""Helpers of the logging-path tests: run the official SDK in subprocesses against a server.

Every SDK process gets a fresh HOME / WANDB_DIR / cache / config directory, no inherited
``WANDB_*`` variables, ``WANDB_ERROR_REPORTING=false`` and ``WANDB_SILENT=true``; the API key
travels in its environment.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
from collections.abc import Mapping
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


def same(actual: Any, expected: Any) -> bool:
    """Deep equality where NaN equals NaN and 1 == 1.0 (wandb-core re-encodes whole floats)."""
    if isinstance(expected, float) and math.isnan(expected):
        return isinstance(actual, float) and math.isnan(actual)
    if isinstance(expected, dict):
        # wandb's summary sub-dicts are dict-like without being Mappings
        return (
            (isinstance(actual, Mapping) or hasattr(actual, "keys"))
            and set(actual.keys()) == set(expected)
            and all(same(actual[k], expected[k]) for k in expected)
        )
    if isinstance(expected, list):
        return (
            isinstance(actual, list)
            and len(actual) == len(expected)
            and all(same(a, e) for a, e in zip(actual, expected, strict=True))
        )
    return bool(actual == expected)


def logged_part(row: dict[str, Any]) -> dict[str, Any]:
    """A read-back history row without the SDK's own keys and without absent (None) keys."""
    return {k: v for k, v in row.items() if v is not None and k not in ("_runtime", "_timestamp")}


def wait_for(predicate: Any, what: str, deadline_s: float = 30.0, every_s: float = 0.2) -> Any:
    """Poll ``predicate()`` until it returns a truthy value (bounded)."""
    end = time.monotonic() + deadline_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {deadline_s} s waiting for {what}")
        time.sleep(every_s)


def make_api(server: LocalWandbServer) -> Any:
    """A ``wandb.Api`` against ``server`` (use inside the ``sdk_env`` fixture)."""
    import wandb

    return wandb.Api(api_key=server.api_key, overrides={"base_url": server.base_url})
