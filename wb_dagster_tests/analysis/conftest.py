"""Fixtures of the analysis-run tests: our client and a temp Dagster instance (see ../conftest.py
for the local servers and the official SDK's isolated environment)."""

from __future__ import annotations

from collections.abc import Iterator

import dagster as dg
import pytest

from wb_dagster.client import WandbClient
from wb_dagster.testing import LocalWandbServer


def make_client(server: LocalWandbServer, **kwargs: object) -> WandbClient:
    """Our client against ``server`` (short backoff and retry budget so fault tests stay fast)."""
    kwargs.setdefault("backoff_factor", 0.05)
    kwargs.setdefault("retry_budget_s", 2.0)
    return WandbClient(api_key=server.api_key, base_url=server.base_url, **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def client(server: LocalWandbServer) -> Iterator[WandbClient]:
    with make_client(server) as c:
        yield c


@pytest.fixture
def instance(tmp_path) -> Iterator[dg.DagsterInstance]:
    """A persistent sqlite Dagster instance in a temp dir."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    with dg.instance_for_test(temp_dir=str(home)) as inst:
        yield inst
