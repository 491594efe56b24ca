"""The artifacts the official SDK logs once for this package (see ``logged_artifacts.py``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from wb_dagster.testing import LocalWandbServer
from wb_dagster_tests.artifacts.logged_artifacts import LoggedArtifacts, log_artifacts, web_handler
from wb_dagster_tests.support.loopback_http import serving


@pytest.fixture(scope="package")
def logged(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoggedArtifacts]:
    home = tmp_path_factory.mktemp("artifacts")
    with (
        LocalWandbServer(seed=None) as srv,
        serving(web_handler(home / "external")) as web,
    ):
        yield log_artifacts(srv, home, web)
