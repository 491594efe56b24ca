"""Fixtures for the example pipeline (``examples/ml_pipeline``): importable as ``ml_pipeline``.

``examples/`` is not an installed package (``workspace.yaml`` loads it with
``working_directory: examples``), so tests put that directory on ``sys.path`` the same way.
"""

from __future__ import annotations

from pathlib import Path

import pytest

EXAMPLES_DIR = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture(autouse=True)
def _examples_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(EXAMPLES_DIR))
