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

import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from wb_dagster.dagster_process import DagsterProcess
from wb_dagster.testing import LocalWandbServer
from wb_dagster_tests.examples.pipeline_run import materialize_everything, wandb_and_pipeline_defs
from wb_dagster_tests.ui.dagster_dev import REPO, STARTUP_TIMEOUT_S, WORKSPACE, DagsterUI

EXAMPLES_DIR = REPO / "examples"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


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
        dagster = DagsterProcess.dev(
            home, ["-w", str(WORKSPACE)], env=env, log=artifacts_dir / "dagster_dev.log"
        )
        with dagster:
            dagster.wait_ready(STARTUP_TIMEOUT_S)
            assert dagster.url is not None
            yield DagsterUI(url=dagster.url, storage=storage, server=srv)


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
