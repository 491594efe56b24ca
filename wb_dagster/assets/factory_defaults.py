"""What every W&B asset factory shares: default pool and retry policy, its spec, its storage.

Example:
    >>> DEFAULT_POOL, DEFAULT_RETRY.max_retries
    ('wandb_api', 2)
"""

from typing import Any

import dagster as dg

from wb_dagster.io_manager import WandbParquetIOManager
from wb_dagster.project import WandbProjectAssetsSpec

DEFAULT_POOL = "wandb_api"
DEFAULT_RETRY = dg.RetryPolicy(
    max_retries=2, delay=5, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS
)


def parquet_storage(context: Any, key: str) -> WandbParquetIOManager:
    """The IO manager bound to ``key``: assets that stream files need a WandbParquetIOManager."""
    io = getattr(context.resources, key)
    if not isinstance(io, WandbParquetIOManager):
        raise dg.DagsterInvariantViolationError(
            f"W&B per-run assets stream their files into a WandbParquetIOManager, but resource "
            f"{key!r} is {type(io).__name__}. Bind {key!r} to WandbParquetIOManager(base_dir=...)."
        )
    return io


def asset_spec(
    p: WandbProjectAssetsSpec, kind: Any, io_manager_key: str, **extra_meta: Any
) -> dg.AssetSpec:
    """The translator's spec of ``kind``, depending on the project, stored by ``io_manager_key``."""
    spec = p.specs[kind]
    return spec.replace_attributes(
        deps=[*spec.deps, p.key("project")] if kind != "project" else spec.deps,
        metadata={**spec.metadata, **extra_meta},
    ).with_io_manager_key(io_manager_key)
