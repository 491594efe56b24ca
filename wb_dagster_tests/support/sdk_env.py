"""The isolated environment the official SDK gets in one test (the ``sdk_env`` fixture's).

Fresh HOME / WANDB_CACHE_DIR / WANDB_DIR / WANDB_CONFIG_DIR, no inherited ``WANDB_*``
variables, error reporting off, history scans uncached; all through ``monkeypatch``, so undone
after the test.

Example::

    @pytest.fixture
    def sdk_env(tmp_path, monkeypatch) -> SdkEnv:
        return isolate_sdk(tmp_path, monkeypatch)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest


@dataclass(frozen=True)
class SdkEnv:
    """The isolated directories the official SDK uses in one test."""

    home: Path
    cache_dir: Path
    wandb_dir: Path
    config_dir: Path


def isolate_sdk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SdkEnv:
    """Point the official SDK at fresh directories under ``tmp_path``, without WANDB_* settings."""
    for key in list(os.environ):
        if key.startswith("WANDB_"):
            monkeypatch.delenv(key)
    env = SdkEnv(
        home=tmp_path / "home",
        cache_dir=tmp_path / "wandb-cache",
        wandb_dir=tmp_path / "wandb-dir",
        config_dir=tmp_path / "wandb-config",
    )
    for path in (env.home, env.cache_dir, env.wandb_dir, env.config_dir):
        path.mkdir()
    monkeypatch.setenv("HOME", str(env.home))
    monkeypatch.setenv("WANDB_CACHE_DIR", str(env.cache_dir))
    monkeypatch.setenv("WANDB_DIR", str(env.wandb_dir))
    monkeypatch.setenv("WANDB_CONFIG_DIR", str(env.config_dir))
    monkeypatch.setenv("WANDB_DATA_DIR", str(env.cache_dir / "data"))
    monkeypatch.setenv("WANDB_ERROR_REPORTING", "false")
    monkeypatch.setenv("WANDB_SILENT", "true")
    _scan_history_without_cache(monkeypatch)
    return env


def _scan_history_without_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    """The SDK's history cache lives in its one ``wandb-core`` process per Python process and
    is keyed by entity/project/run only: a test that rewinds ``wb-demo/cifar/cifar004`` on its
    own server would otherwise feed those rows to a later test reading the demo server's run.
    The referee therefore always reads fresh (``use_cache=False`` still writes the cache)."""
    from wandb.apis.public.runs import Run

    scan = Run.scan_history

    def fresh_scan(self: Any, *args: Any, use_cache: bool = False, **kwargs: Any) -> Any:
        return scan(self, *args, **{**kwargs, "use_cache": use_cache})

    monkeypatch.setattr(Run, "scan_history", fresh_scan)
