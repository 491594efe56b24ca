"""Client fixtures: our client against the shared demo server (see ../conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from wb_dagster.client import WandbClient
from wb_dagster.testing import LocalWandbServer
from wb_dagster_tests.support.clients import make_client


@pytest.fixture
def demo_client(demo_server: LocalWandbServer) -> Iterator[WandbClient]:
    with make_client(demo_server) as client:
        yield client
