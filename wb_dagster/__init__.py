"""Weights & Biases experiment data as Dagster software-defined assets.

The package has three layers (see ``docs/architecture.md``):

* :mod:`wb_dagster.client`: a lean W&B public-API client (no Dagster import);
* :mod:`wb_dagster.testing`: a local W&B-compatible server for tests and demos;
* the Dagster layer (resource, assets, sensors, checks, IO manager, component).

Names are imported lazily so that ``import wb_dagster.client`` never pulls in Dagster.

Example:
    >>> from wb_dagster import WandbClient
    >>> WandbClient  # doctest: +ELLIPSIS
    <class 'wb_dagster.client...WandbClient'>
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    "WandbClient": "wb_dagster.client",
    "CommError": "wb_dagster.client",
    "AuthenticationError": "wb_dagster.client",
    "NotFoundError": "wb_dagster.client",
    "RateLimitError": "wb_dagster.client",
    "Run": "wb_dagster.client",
    "Runs": "wb_dagster.client",
    "File": "wb_dagster.client",
    "Sweep": "wb_dagster.client",
    "Summary": "wb_dagster.client",
    "HistoryExport": "wb_dagster.client",
    "RunUpdate": "wb_dagster.client",
    "histogram": "wb_dagster.client",
    "WandbResource": "wb_dagster.resource",
    "DagsterWandbTranslator": "wb_dagster.translator",
    "WandbAssetProps": "wb_dagster.translator",
    "WandbParquetIOManager": "wb_dagster.io_manager",
    "build_wandb_defs": "wb_dagster.defs",
    "build_wandb_runs_schedule": "wb_dagster.defs",
    "build_wandb_run_sensor": "wb_dagster.sensors.runs",
    "build_wandb_sweep_sensor": "wb_dagster.sensors.sweeps",
    "RunSensorCursor": "wb_dagster.sensors.runs",
    "build_wandb_runs_asset": "wb_dagster.assets.runs",
    "build_wandb_run_assets": "wb_dagster.assets.run_data",
    "build_wandb_sweep_best_model_asset": "wb_dagster.assets.sweep_best_model",
    "RunsRefreshConfig": "wb_dagster.assets.runs",
    "SweepBestModelConfig": "wb_dagster.assets.sweep_best_model",
    "WandbProjectAssetsSpec": "wb_dagster.project",
    "WandbProjectComponent": "wb_dagster.component",
    "WandbEntityComponent": "wb_dagster.entity_component",
    "read_run_tables": "wb_dagster.assets.tables",
    "publish_analysis_run": "wb_dagster.writeback.analysis_runs",
    "analysis_run_id": "wb_dagster.writeback.analysis_runs",
    "Artifact": "wb_dagster.client",
    "WandbArtifactSpec": "wb_dagster.assets.artifacts",
    "build_wandb_artifact_asset": "wb_dagster.assets.artifacts",
    "build_wandb_artifact_sensor": "wb_dagster.sensors.artifacts",
    "publish_artifact": "wb_dagster.writeback.artifact_publish",
    "PublishedArtifact": "wb_dagster.writeback.artifact_publish",
}

__all__ = [
    "Artifact",
    "AuthenticationError",
    "CommError",
    "DagsterWandbTranslator",
    "File",
    "HistoryExport",
    "NotFoundError",
    "PublishedArtifact",
    "RateLimitError",
    "Run",
    "RunSensorCursor",
    "RunUpdate",
    "Runs",
    "RunsRefreshConfig",
    "Summary",
    "Sweep",
    "SweepBestModelConfig",
    "WandbArtifactSpec",
    "WandbAssetProps",
    "WandbClient",
    "WandbEntityComponent",
    "WandbParquetIOManager",
    "WandbProjectAssetsSpec",
    "WandbProjectComponent",
    "WandbResource",
    "analysis_run_id",
    "build_wandb_artifact_asset",
    "build_wandb_artifact_sensor",
    "build_wandb_defs",
    "build_wandb_run_assets",
    "build_wandb_run_sensor",
    "build_wandb_runs_asset",
    "build_wandb_runs_schedule",
    "build_wandb_sweep_best_model_asset",
    "build_wandb_sweep_sensor",
    "histogram",
    "publish_analysis_run",
    "publish_artifact",
    "read_run_tables",
]

if TYPE_CHECKING:
    from wb_dagster.assets.artifacts import WandbArtifactSpec, build_wandb_artifact_asset
    from wb_dagster.assets.run_data import build_wandb_run_assets
    from wb_dagster.assets.runs import RunsRefreshConfig, build_wandb_runs_asset
    from wb_dagster.assets.sweep_best_model import (
        SweepBestModelConfig,
        build_wandb_sweep_best_model_asset,
    )
    from wb_dagster.assets.tables import read_run_tables
    from wb_dagster.client import (
        Artifact,
        AuthenticationError,
        CommError,
        File,
        HistoryExport,
        NotFoundError,
        RateLimitError,
        Run,
        Runs,
        RunUpdate,
        Summary,
        Sweep,
        WandbClient,
        histogram,
    )
    from wb_dagster.component import WandbProjectComponent
    from wb_dagster.defs import build_wandb_defs, build_wandb_runs_schedule
    from wb_dagster.entity_component import WandbEntityComponent
    from wb_dagster.io_manager import WandbParquetIOManager
    from wb_dagster.project import WandbProjectAssetsSpec
    from wb_dagster.resource import WandbResource
    from wb_dagster.sensors.artifacts import build_wandb_artifact_sensor
    from wb_dagster.sensors.runs import RunSensorCursor, build_wandb_run_sensor
    from wb_dagster.sensors.sweeps import build_wandb_sweep_sensor
    from wb_dagster.translator import DagsterWandbTranslator, WandbAssetProps
    from wb_dagster.writeback.analysis_runs import analysis_run_id, publish_analysis_run
    from wb_dagster.writeback.artifact_publish import PublishedArtifact, publish_artifact


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'wb_dagster' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
