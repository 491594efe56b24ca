"""Code location ``ml_pipeline`` (``workspace.yaml``): the example pipeline next to ``wandb``.

It reads the same settings as ``examples/wandb_defs.py`` (the ``wandb`` location), so both
point at the same W&B project and storage root:

* real W&B when ``WANDB_API_KEY``, ``WANDB_ENTITY`` and ``WANDB_PROJECT`` are set
  (``WANDB_BASE_URL`` for a dedicated instance);
* otherwise the local demo server (``wb-dagster server --seed demo --port 8765 --api-key ...``)
  and project ``wb-demo/cifar``;
* storage ``WB_DAGSTER_STORAGE`` (default ``./wb_dagster_storage``).

Loading makes no network call. To keep everything in one code location instead, merge:
``build_ml_pipeline_defs(..., wandb_defs=build_wandb_defs(...))``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import dagster as dg

# absolute: workspace.yaml loads this file by path with examples/ as working directory
from ml_pipeline.assets import build_ml_pipeline_assets
from wb_dagster import WandbParquetIOManager, WandbProjectAssetsSpec, WandbResource

LOCAL_SERVER_URL = "http://127.0.0.1:8765"


@dataclass(frozen=True)
class Target:
    """Which W&B project and storage root the example locations use."""

    entity: str
    project: str
    base_url: str | None
    storage_dir: str


def target_from_env() -> Target:
    """The same choice ``examples/wandb_defs.py`` makes (real W&B or the local demo server)."""
    entity, project = os.environ.get("WANDB_ENTITY"), os.environ.get("WANDB_PROJECT")
    real = bool(os.environ.get("WANDB_API_KEY") and entity and project)
    return Target(
        entity=entity if real and entity else "wb-demo",
        project=project if real and project else "cifar",
        base_url=os.environ.get("WANDB_BASE_URL") or (None if real else LOCAL_SERVER_URL),
        storage_dir=os.environ.get("WB_DAGSTER_STORAGE", "wb_dagster_storage"),
    )


def build_ml_pipeline_defs(
    *,
    entity: str,
    project: str,
    api_key: dg.EnvVar | None = None,
    base_url: str | None = None,
    storage_dir: str | None = None,
    wandb_defs: dg.Definitions | None = None,
) -> dg.Definitions:
    """The pipeline's assets; with ``wandb_defs``, merged with them into one location.

    Without ``wandb_defs`` the W&B assets are expected in another code location of the same
    Dagster instance (lineage still shows end to end in the UI), and this location gets its
    own ``wandb`` resource and IO manager on the same storage root.
    """
    p = WandbProjectAssetsSpec.build(entity=entity, project=project)
    assets = build_ml_pipeline_assets(p)
    if wandb_defs is not None:
        return dg.Definitions.merge(wandb_defs, dg.Definitions(assets=assets))
    key = api_key if api_key is not None else dg.EnvVar("WANDB_API_KEY")
    return dg.Definitions(
        assets=assets,
        resources={
            "wandb": WandbResource(api_key=key, base_url=base_url, entity=entity),
            "wandb_io_manager": WandbParquetIOManager(base_dir=storage_dir),
        },
    )


@dg.definitions
def defs() -> dg.Definitions:
    t = target_from_env()
    return build_ml_pipeline_defs(
        entity=t.entity, project=t.project, base_url=t.base_url, storage_dir=t.storage_dir
    )
