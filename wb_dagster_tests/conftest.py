"""Shared fixtures: local W&B servers and an isolated environment for the official SDK.

* ``demo_server`` (session): a :class:`LocalWandbServer` with the ``demo`` seed; read-only use.
* ``server`` (function): a fresh server with the ``demo`` seed; mutate freely.
* ``empty_server`` (function): a fresh server without data.
* ``sdk_env`` (function): fresh HOME / WANDB_CACHE_DIR / WANDB_DIR / WANDB_CONFIG_DIR, no
  inherited ``WANDB_*`` variables, error reporting off (monkeypatched, undone after the test).
* ``sdk_api`` (function): a ``wandb.Api`` against ``server`` (needs ``sdk_env``; included).
* ``demo_sdk_api`` (function): a ``wandb.Api`` against ``demo_server``.
* :func:`make_sdk_api` builds a ``wandb.Api`` against any server (call it inside ``sdk_env``).
* ``client`` (function): our ``WandbClient`` against ``server``; :func:`make_client` builds one
  against any server, with a short retry backoff so fault tests stay fast.
* ``instance`` (function): a persistent sqlite Dagster instance in a temp dir.

Example::

    def test_config(demo_sdk_api):
        run = demo_sdk_api.run("wb-demo/cifar/cifar000")
        assert run.config["lr"] == DEMO_RUNS_BY_ID["cifar000"].lr
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from wb_dagster.client import WandbClient
from wb_dagster.testing import LocalWandbServer

if TYPE_CHECKING:
    import dagster as dg


@dataclass(frozen=True)
class SdkEnv:
    """The isolated directories the official SDK uses in one test."""

    home: Path
    cache_dir: Path
    wandb_dir: Path
    config_dir: Path


@pytest.fixture(scope="session")
def demo_server() -> Iterator[LocalWandbServer]:
    """A session-wide server with the demo seed. Do not mutate it (use ``server``)."""
    with LocalWandbServer(seed="demo") as srv:
        yield srv


@pytest.fixture
def server() -> Iterator[LocalWandbServer]:
    """A fresh server with the demo seed, for tests that change data, faults or latency."""
    with LocalWandbServer(seed="demo") as srv:
        yield srv


@pytest.fixture
def empty_server() -> Iterator[LocalWandbServer]:
    """A fresh server without any seed."""
    with LocalWandbServer(seed=None) as srv:
        yield srv


@pytest.fixture
def sdk_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SdkEnv:
    """Isolate the official SDK: fresh dirs per test, no inherited WANDB_* settings."""
    for key in list(os.environ):
        if key.startswith("WANDB_"):
            monkeypatch.delenv(key)
    env = SdkEnv(
        home=tmp_path / "home",
        cache_dir=tmp_path / "wandb-cache",
        wandb_dir=tmp_path / "wandb-dir",
        config_dir=tmp_path / "wandb-config",
    )
    for path in (env.home, env.cache_dir, env.wandb_dir, env.config_dir):
        path.mkdir()
    monkeypatch.setenv("HOME", str(env.home))
    monkeypatch.setenv("WANDB_CACHE_DIR", str(env.cache_dir))
    monkeypatch.setenv("WANDB_DIR", str(env.wandb_dir))
    monkeypatch.setenv("WANDB_CONFIG_DIR", str(env.config_dir))
    monkeypatch.setenv("WANDB_DATA_DIR", str(env.cache_dir / "data"))
    monkeypatch.setenv("WANDB_ERROR_REPORTING", "false")
    monkeypatch.setenv("WANDB_SILENT", "true")
    _scan_history_without_cache(monkeypatch)
    return env


def _scan_history_without_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    """The SDK's history cache lives in its one ``wandb-core`` process per Python process and
    is keyed by entity/project/run only: a test that rewinds ``wb-demo/cifar/cifar004`` on its
    own server would otherwise feed those rows to a later test reading the demo server's run.
    The referee therefore always reads fresh (``use_cache=False`` still writes the cache)."""
    from wandb.apis.public.runs import Run

    scan = Run.scan_history

    def fresh_scan(self: Any, *args: Any, use_cache: bool = False, **kwargs: Any) -> Any:
        return scan(self, *args, **{**kwargs, "use_cache": use_cache})

    monkeypatch.setattr(Run, "scan_history", fresh_scan)


def make_sdk_api(server: LocalWandbServer, **kwargs: Any) -> Any:
    """A ``wandb.Api`` talking to ``server`` (use inside the ``sdk_env`` fixture).

    The entity is given, not left to the SDK: its process-wide settings keep the entity an
    earlier test's environment named (``WANDB_ENTITY``), which would then name this one's.
    """
    import wandb

    overrides = {"base_url": server.base_url, "entity": server.entity}
    return wandb.Api(api_key=server.api_key, overrides=overrides, **kwargs)


@pytest.fixture
def sdk_api(server: LocalWandbServer, sdk_env: SdkEnv) -> Any:
    """A ``wandb.Api`` against the function-scoped ``server``."""
    return make_sdk_api(server)


@pytest.fixture
def demo_sdk_api(demo_server: LocalWandbServer, sdk_env: SdkEnv) -> Any:
    """A ``wandb.Api`` against the session-scoped ``demo_server`` (read-only tests)."""
    return make_sdk_api(demo_server)


def make_client(server: LocalWandbServer, **kwargs: Any) -> WandbClient:
    """Our client against ``server`` (short retry backoff so fault tests stay fast)."""
    kwargs.setdefault("backoff_factor", 0.05)
    kwargs.setdefault("retry_budget_s", 20.0)
    return WandbClient(api_key=server.api_key, base_url=server.base_url, **kwargs)


@pytest.fixture
def client(server: LocalWandbServer) -> Iterator[WandbClient]:
    """Our client against the function-scoped ``server``."""
    with make_client(server) as c:
        yield c


@pytest.fixture
def instance(tmp_path: Path) -> Iterator[dg.DagsterInstance]:
    """A persistent sqlite Dagster instance in a temp dir."""
    import dagster as dg  # only the Dagster-layer tests pay for importing it

    home = tmp_path / "dagster_home"
    home.mkdir()
    with dg.instance_for_test(temp_dir=str(home)) as inst:
        yield inst


def kill_mid_write(argv: list[str], dest: Path) -> None:
    """Run ``python *argv`` until it prints ``MID-WRITE``, check that a half-written temporary
    sibling of ``dest`` exists, then SIGKILL it (the crash-safety tests' common harness)."""
    proc = subprocess.Popen(
        [sys.executable, *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "DAGSTER_HOME": ""},
    )
    try:
        deadline = time.monotonic() + 90
        line = ""
        while time.monotonic() < deadline:
            line = proc.stdout.readline()  # type: ignore[union-attr]
            if not line or "MID-WRITE" in line:
                break
        assert "MID-WRITE" in line, "the writer never reached the middle of its write"
        partial = [p for p in dest.parent.iterdir() if p.name.startswith(f".{dest.name}.tmp-")]
        assert partial and partial[0].stat().st_size > 0  # a half-written temporary file exists
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
