"""What the browser test's ``dagster dev`` serves: the workspace it loads and what it shows.

The process itself is :class:`wb_dagster.dagster_process.DagsterProcess` (started in its own
session, stopped with SIGINT, then SIGKILL of its group past a deadline).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from wb_dagster.testing import LocalWandbServer

REPO = Path(__file__).resolve().parents[2]
WORKSPACE = REPO / "workspace.yaml"
STARTUP_TIMEOUT_S = 180.0


@dataclass(frozen=True)
class DagsterUI:
    """A running ``dagster dev`` and what it shows."""

    url: str
    storage: Path
    server: LocalWandbServer
