"""Doctest support: the package's docstring examples run against a local W&B server.

Examples in ``wb_dagster`` that talk to W&B use a ``client`` name; here it is a
``WandbClient`` connected to a :class:`~wb_dagster.testing.LocalWandbServer` with the demo
seed, started once per session and only if a doctest needs it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from _pytest.doctest import DoctestItem

from wb_dagster.client import WandbClient
from wb_dagster.testing import LocalWandbServer


@pytest.fixture(scope="session")
def _doctest_server() -> Iterator[LocalWandbServer]:
    with LocalWandbServer(seed="demo") as srv:
        yield srv


@pytest.fixture(autouse=True)
def _doctest_client(request: pytest.FixtureRequest, doctest_namespace: dict) -> None:
    if isinstance(request.node, DoctestItem):
        srv = request.getfixturevalue("_doctest_server")
        doctest_namespace["client"] = WandbClient(api_key=srv.api_key, base_url=srv.base_url)
