"""Shared fixtures: local W&B servers and an isolated environment for the official SDK.

* ``demo_server`` (session): a :class:`LocalWandbServer` with the ``demo`` seed; read-only use.
* ``server`` (function): a fresh server with the ``demo`` seed; mutate freely.
* ``empty_server`` (function): a fresh server without data.
* ``sdk_env`` (function): fresh HOME / WANDB_CACHE_DIR / WANDB_DIR / WANDB_CONFIG_DIR, no
  inherited ``WANDB_*`` variables, error reporting off (monkeypatched, undone after the test).
* ``sdk_api`` (function): a ``wandb.Api`` against ``server`` (needs ``sdk_env``; included).
* ``demo_sdk_api`` (function): a ``wandb.Api`` against ``demo_server``.
* ``client`` (function): our ``WandbClient`` against ``server``.
* ``instance`` (function): a persistent sqlite Dagster instance in a temp dir.

Plain helpers live in ``wb_dagster_tests/support/``: ``support.clients`` builds either client
against any server (``make_sdk_api`` inside ``sdk_env``; ``make_client`` with a short retry
backoff so fault tests stay fast).

Example::

    def test_config(demo_sdk_api):
        run = demo_sdk_api.run("wb-demo/cifar/cifar000")
        assert run.config["lr"] == DEMO_RUNS_BY_ID["cifar000"].lr
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from wb_dagster.client import WandbClient
from wb_dagster.testing import LocalWandbServer
from wb_dagster_tests.support.clients import make_client, make_sdk_api
from wb_dagster_tests.support.sdk_env import SdkEnv, isolate_sdk

if TYPE_CHECKING:
    import dagster as dg


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
    return isolate_sdk(tmp_path, monkeypatch)


@pytest.fixture
def sdk_api(server: LocalWandbServer, sdk_env: SdkEnv) -> Any:
    """A ``wandb.Api`` against the function-scoped ``server``."""
    return make_sdk_api(server)


@pytest.fixture
def demo_sdk_api(demo_server: LocalWandbServer, sdk_env: SdkEnv) -> Any:
    """A ``wandb.Api`` against the session-scoped ``demo_server`` (read-only tests)."""
    return make_sdk_api(demo_server)


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
