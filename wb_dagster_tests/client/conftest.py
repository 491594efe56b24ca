"""Client fixtures: our client against the shared local servers (see ../conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from wb_dagster.client import WandbClient
from wb_dagster.testing import LocalWandbServer


def make_client(server: LocalWandbServer, **kwargs: object) -> WandbClient:
    """Our client against ``server`` (short retry backoff so fault tests stay fast)."""
    kwargs.setdefault("backoff_factor", 0.05)
    kwargs.setdefault("retry_budget_s", 20.0)
    return WandbClient(api_key=server.api_key, base_url=server.base_url, **kwargs)  # type: ignore[arg-type]


def make_sdk_api(server: LocalWandbServer) -> Any:
    """The official SDK against ``server`` (call inside the ``sdk_env`` fixture)."""
    import wandb

    return wandb.Api(api_key=server.api_key, overrides={"base_url": server.base_url})


@pytest.fixture
def demo_client(demo_server: LocalWandbServer) -> Iterator[WandbClient]:
    with make_client(demo_server) as client:
        yield client


@pytest.fixture
def client(server: LocalWandbServer) -> Iterator[WandbClient]:
    with make_client(server) as c:
        yield c
