"""Fixtures for the browser test: a real ``dagster dev`` over materialized demo data, and
headless Debian Chromium driven by the Python ``playwright`` package.

* The browser is ``/usr/bin/chromium`` (``scripts/install_browser.sh`` installs it), or the path
  in ``WB_DAGSTER_CHROMIUM``. Playwright only drives it (``executable_path``); its own browser
  download is never used. A missing browser fails the test (it is not skipped).
* Screenshots go to ``WB_DAGSTER_UI_ARTIFACTS`` or ``wb_dagster_tests/ui/artifacts/``, with
  the ``dagster dev`` log beside them.
* Every wait is a bounded poll; ``dagster dev`` runs in its own process group, which is stopped
  (SIGINT, then SIGKILL after a deadline) and checked empty at teardown.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import requests

from wb_dagster.testing import LocalWandbServer
from wb_dagster_tests.examples.pipeline_run import materialize_everything, wandb_and_pipeline_defs

REPO = Path(__file__).resolve().parents[2]
EXAMPLES_DIR = REPO / "examples"
WORKSPACE = REPO / "workspace.yaml"
LOCATIONS = {"wandb", "ml_pipeline"}
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DAGSTER_DEV = [sys.executable, "-m", "dagster", "dev"]
STARTUP_TIMEOUT_S = 180.0
STOP_TIMEOUT_S = 30.0
LOCATIONS_QUERY = """
{ workspaceOrError { __typename ... on Workspace { locationEntries {
    name loadStatus locationOrLoadError { __typename ... on PythonError { message } } } } } }
"""


def poll(what: str, check: Callable[[], Any], timeout_s: float, interval_s: float = 0.25) -> Any:
    """Call ``check`` until it returns something truthy; fail with ``what`` after the deadline."""
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval_s)  # poll interval, bounded by the deadline
    pytest.fail(f"timed out after {timeout_s:.0f}s waiting for {what} (last: {last!r})")


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    path = Path(os.environ.get("WB_DAGSTER_UI_ARTIFACTS") or REPO / "wb_dagster_tests/ui/artifacts")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = os.environ.get("WB_DAGSTER_CHROMIUM", "/usr/bin/chromium")
    if not os.access(path, os.X_OK):
        pytest.fail(
            f"Chromium not found at {path}: run `bash scripts/install_browser.sh` (Debian's "
            "chromium) or set WB_DAGSTER_CHROMIUM to a Chromium binary."
        )
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _locations_ready(url: str) -> dict[str, str] | None:
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


def _stop(proc: subprocess.Popen[bytes]) -> None:
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
        poll("dagster dev's processes to exit", lambda: not _group_alive(pgid), 10.0)
    if proc.poll() is None:
        proc.wait(timeout=10)


@dataclass(frozen=True)
class DagsterUI:
    """A running ``dagster dev`` and what it shows."""

    url: str
    storage: Path
    server: LocalWandbServer


@pytest.fixture(scope="module")
def dagster_ui(artifacts_dir: Path) -> Iterator[DagsterUI]:
    """Demo data materialized into a fresh DAGSTER_HOME, then ``dagster dev -w workspace.yaml``."""
    with tempfile.TemporaryDirectory(prefix="wb-ui-") as tmp, LocalWandbServer(seed="demo") as srv:
        home, storage = Path(tmp) / "dagster_home", Path(tmp) / "storage"
        home.mkdir()
        (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
        sys.path.insert(0, str(EXAMPLES_DIR))
        try:
            instance = dg.DagsterInstance.local_temp(str(home))
            try:
                materialize_everything(wandb_and_pipeline_defs(srv, str(storage)), instance)
            finally:
                instance.dispose()
        finally:
            sys.path.remove(str(EXAMPLES_DIR))

        env = {k: v for k, v in os.environ.items() if not k.startswith(("WANDB_", "DAGSTER_"))}
        env.update(
            DAGSTER_HOME=str(home),
            WANDB_API_KEY=srv.api_key,
            WANDB_BASE_URL=srv.base_url,
            WB_DAGSTER_STORAGE=str(storage),
        )
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        log = (artifacts_dir / "dagster_dev.log").open("wb")
        proc = subprocess.Popen(
            [*DAGSTER_DEV, "-w", str(WORKSPACE), "-h", "127.0.0.1", "-p", str(port)],
            cwd=tmp,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:

            def ready() -> Any:
                if proc.poll() is not None:
                    pytest.fail(f"dagster dev exited with {proc.returncode}; see {log.name}")
                return _locations_ready(url)

            poll("dagster dev to load both code locations", ready, STARTUP_TIMEOUT_S)
            yield DagsterUI(url=url, storage=storage, server=srv)
        finally:
            _stop(proc)
            log.close()


@pytest.fixture(scope="module")
def browser(chromium_path: str) -> Iterator[Any]:
    """A Chromium context (fresh profile) driven by Playwright; closed at the end."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("the browser test needs the `playwright` package: pip install -e '.[test]'")

    with tempfile.TemporaryDirectory(prefix="wb-chromium-") as profile, sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            profile,
            executable_path=chromium_path,
            headless=True,
            args=CHROMIUM_FLAGS,
            viewport={"width": 1600, "height": 1000},
        )
        context.set_default_timeout(30_000)
        # the UI's one-time "join the community" dialog would cover the page
        context.add_init_script("window.localStorage.setItem('communityNux', JSON.stringify('1'))")
        try:
            yield context
        finally:
            context.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    page = browser.new_page()
    try:
        yield page
    finally:
        page.close()
