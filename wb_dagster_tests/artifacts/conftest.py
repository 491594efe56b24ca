"""The artifacts the official SDK logs once for this package (see ``logged_artifacts.py``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from wb_dagster.testing import LocalWandbServer
from wb_dagster_tests.artifacts.logged_artifacts import LoggedArtifacts, log_artifacts


@pytest.fixture(scope="package")
def logged(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoggedArtifacts]:
    with LocalWandbServer(seed=None) as srv:
        yield log_artifacts(srv, tmp_path_factory.mktemp("artifacts"))
