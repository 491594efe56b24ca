"""Fixtures of the reliability suite: a fresh demo server per test, all log levels captured.

The plain helpers are in ``demo_assets.py`` (names, fast clients, definitions,
materialization) and ``snapshots.py`` (stored outputs before and after a fault).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from wb_dagster.testing import LocalWandbServer

from .demo_assets import KEY_ENV


@pytest.fixture
def wb(monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalWandbServer]:
    """A fresh demo server; its key is in ``KEY_ENV`` (resources read it as an EnvVar)."""
    with LocalWandbServer(seed="demo") as srv:
        monkeypatch.setenv(KEY_ENV, srv.api_key)
        yield srv


@pytest.fixture
def caplog_all(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)
    return caplog
