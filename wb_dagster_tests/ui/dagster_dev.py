"""A ``dagster dev`` process for the browser test: what it shows, when it is ready, stopping it.

``dagster dev`` runs in its own process group; :func:`stop` sends SIGINT, then SIGKILLs the
group after a deadline and checks it is empty. Every wait is a bounded poll.

Example::

    proc = subprocess.Popen([*DAGSTER_DEV, "-w", str(WORKSPACE), "-p", str(port)],
                            start_new_session=True)
    try:
        poll("both code locations", lambda: locations_ready(url), STARTUP_TIMEOUT_S)
    finally:
        stop(proc)
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from wb_dagster.testing import LocalWandbServer
from wb_dagster_tests.support.polling import poll

REPO = Path(__file__).resolve().parents[2]
WORKSPACE = REPO / "workspace.yaml"
LOCATIONS = {"wandb", "ml_pipeline"}
DAGSTER_DEV = [sys.executable, "-m", "dagster", "dev"]
STARTUP_TIMEOUT_S = 180.0
STOP_TIMEOUT_S = 30.0
LOCATIONS_QUERY = """
{ workspaceOrError { __typename ... on Workspace { locationEntries {
    name loadStatus locationOrLoadError { __typename ... on PythonError { message } } } } } }
"""


def free_port() -> int:
    """A TCP port free on loopback right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def locations_ready(url: str) -> dict[str, str] | None:
    """Load status by code location once both of ours loaded, else None; a load error fails."""
    try:
        resp = requests.post(f"{url}/graphql", json={"query": LOCATIONS_QUERY}, timeout=5)
        entries = resp.json()["data"]["workspaceOrError"]["locationEntries"]
    except (requests.RequestException, ValueError, KeyError, TypeError):
        return None
    for entry in entries:
        error = entry.get("locationOrLoadError") or {}
        if error.get("__typename") == "PythonError":
            pytest.fail(f"code location {entry['name']} failed to load: {error.get('message')}")
    loaded = {e["name"]: e["loadStatus"] for e in entries}
    ok = set(loaded) >= LOCATIONS and all(loaded[n] == "LOADED" for n in LOCATIONS)
    return loaded if ok else None


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop ``dagster dev`` and its whole process group (SIGINT, then SIGKILL past a deadline)."""
    pgid = proc.pid  # start_new_session: the group id is the leader's pid
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)  # dagster dev stops its webserver, daemon, code servers
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=STOP_TIMEOUT_S)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while _group_alive(pgid) and time.monotonic() < deadline:
        time.sleep(0.2)  # children finishing their shutdown, bounded
    if _group_alive(pgid):
        os.killpg(pgid, signal.SIGKILL)
        proc.wait(timeout=10)  # a zombie leader still counts in its group until reaped
        poll("dagster dev's processes to exit", lambda: not _group_alive(pgid), 10.0)
    if proc.poll() is None:
        proc.wait(timeout=10)


@dataclass(frozen=True)
class DagsterUI:
    """A running ``dagster dev`` and what it shows."""

    url: str
    storage: Path
    server: LocalWandbServer
