"""The runs the official SDK logs once for this package (see ``logged_values.py``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from wb_dagster.testing import LocalWandbServer

from .logged_values import Logged, log_values


@pytest.fixture(scope="package")
def logged(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Logged]:
    with LocalWandbServer(seed=None) as server:
        logged = log_values(server, tmp_path_factory.mktemp("values"))
        try:
            yield logged
        finally:
            logged.client.close()
