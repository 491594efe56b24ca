"""The ``sweep_best_model`` asset of one W&B project: per sweep, the best finished run's model.

The files matching a pattern (``model-best.*``), or else the model artifact the best run
logged, stored md5-checked under ``<root>/<asset key>/<sweep id>/``; partitioned by sweep id
and launched by the sweep sensor (:mod:`wb_dagster.sensors.sweeps`).

Example:
    >>> from wb_dagster.project import WandbProjectAssetsSpec
    >>> p = WandbProjectAssetsSpec.build(entity="wb-demo", project="cifar")
    >>> build_wandb_sweep_best_model_asset(p).key.to_user_string()
    'wandb/wb-demo/cifar/sweep_best_model'
"""

import fnmatch
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import Field

from wb_dagster.assets.artifacts import logged_model, store_artifact_files
from wb_dagster.assets.checks import BEST_MODEL_MD5_CHECK, file_md5
from wb_dagster.assets.factory_defaults import (
    DEFAULT_POOL,
    DEFAULT_RETRY,
    asset_spec,
    parquet_storage,
)
from wb_dagster.client.verified_download import md5_matches
from wb_dagster.failures import wandb_failures
from wb_dagster.io_manager import FILES_STORAGE, STORAGE_KIND_KEY
from wb_dagster.project import WandbProjectAssetsSpec
from wb_dagster.resource import resource_from
from wb_dagster.storage import local_scratch, put_local_file_atomic


class SweepBestModelConfig(dg.Config):
    """Run config of the ``sweep_best_model`` asset (defaults come from the sweep).

    Example (rank by the smallest validation loss instead of the sweep's own metric):
        >>> SweepBestModelConfig(metric="val_loss", goal="minimize").file_pattern is None
        True
    """

    metric: str | None = Field(default=None, description="Summary metric; default: the sweep's.")
    goal: str | None = Field(
        default=None,
        description="'minimize' or 'maximize'; default: the sweep's goal (else minimize).",
    )
    file_pattern: str | None = Field(
        default=None,
        description="Glob of the best run's files to download; default: the asset factory's "
        "file_pattern ('model-best.*' unless set).",
    )


def sweep_order(sweep_config: Mapping[str, Any], config: SweepBestModelConfig) -> tuple[str, str]:
    """(metric, goal) from the run config, else the sweep's ``metric`` section."""
    metric_cfg = sweep_config.get("metric") if isinstance(sweep_config, Mapping) else None
    metric_cfg = metric_cfg if isinstance(metric_cfg, Mapping) else {}
    metric = config.metric or metric_cfg.get("name")
    goal = str(config.goal or metric_cfg.get("goal") or "minimize").lower()
    if goal not in ("minimize", "maximize"):
        raise dg.Failure(f"sweep_best_model goal must be 'minimize' or 'maximize', got {goal!r}.")
    if not metric:
        raise dg.Failure(
            "The sweep declares no metric and none was configured: set "
            "SweepBestModelConfig(metric=..., goal=...) in the run config of sweep_best_model."
        )
    return str(metric), str(goal)


def build_wandb_sweep_best_model_asset(
    p: WandbProjectAssetsSpec,
    *,
    resource_key: str = "wandb",
    io_manager_key: str = "wandb_io_manager",
    pool: str | None = DEFAULT_POOL,
    file_pattern: str = "model-best.*",
    retry_policy: dg.RetryPolicy | None = DEFAULT_RETRY,
) -> dg.AssetsDefinition:
    """``sweep_best_model`` of ``p``: the best finished run's model files, md5-verified.

    Stored under ``<root>/<asset key>/<sweep id>/``; downstream assets receive that directory
    as a ``UPath``.

    Example:
        >>> from wb_dagster.project import WandbProjectAssetsSpec
        >>> p = WandbProjectAssetsSpec.build(entity="t", project="p")
        >>> a = build_wandb_sweep_best_model_asset(p)
        >>> a.partitions_def.name
        'wandb_sweeps__t__p'
    """
    key = p.key("sweep_best_model")
    spec = asset_spec(p, "sweep_best_model", io_manager_key, **{STORAGE_KIND_KEY: FILES_STORAGE})
    spec = spec.replace_attributes(partitions_def=p.sweeps_partitions)

    @dg.multi_asset(
        name=f"wandb_{p.name}__sweep_best_model",
        specs=[spec],
        check_specs=[
            dg.AssetCheckSpec(
                BEST_MODEL_MD5_CHECK,
                asset=key,
                blocking=True,
                description="Stored model files have the md5 W&B reports.",
            )
        ],
        required_resource_keys={resource_key, io_manager_key},
        pool=pool,
        retry_policy=retry_policy,
    )
    def _best_model(
        context: dg.AssetExecutionContext, config: SweepBestModelConfig
    ) -> dg.MaterializeResult:
        with wandb_failures(f"storing the best model of sweep {p.path}/{context.partition_key}"):
            return _store_best_model(context, config)

    def _store_best_model(
        context: dg.AssetExecutionContext, config: SweepBestModelConfig
    ) -> dg.MaterializeResult:
        client = resource_from(context.resources, resource_key).get_client()
        storage = parquet_storage(context, io_manager_key)
        sweep_id = context.partition_key
        client.flush()  # the process-wide client may hold this sweep from an earlier run
        sweep = client.sweep(f"{p.path}/{sweep_id}")
        metric, goal = sweep_order(sweep.config or {}, config)
        order = f"{'-' if goal == 'maximize' else '+'}summary_metrics.{metric}"
        filters = {"$and": [{"sweep": sweep_id}, {"state": "finished"}]}
        best = next(iter(client.runs(p.path, filters=filters, order=order, per_page=1)), None)
        if best is None:
            raise dg.Failure(
                f"Sweep {p.path}/{sweep_id} has no finished run yet; nothing to store. "
                "Re-run once a run of the sweep has finished."
            )
        pattern = config.file_pattern if config.file_pattern is not None else file_pattern
        files = [f for f in best.files() if fnmatch.fnmatch(f.name, pattern)]
        # no matching run file: the model artifact the best run logged, if any
        model = None if files else logged_model(best)
        if not files and model is None:
            raise dg.Failure(
                f"Best run {best.id} of sweep {sweep_id} has no file matching {pattern!r}; "
                "set file_pattern in the run config of sweep_best_model (the run logged no "
                "model artifact to fall back to either)."
            )
        target = storage.path_for(key, sweep_id, instance=context.instance, extension="")
        stored: list[dict[str, Any]] = []
        if model is not None:
            stored = [
                {**s, "path": str(target.joinpath(s["name"]))}
                for s in store_artifact_files(client, model, target)
            ]
        with local_scratch() as scratch:
            for f in files:
                with f.download(root=str(scratch), replace=True) as handle:
                    local_path = Path(handle.name)
                dest = target.joinpath(*f.name.split("/"))
                put_local_file_atomic(local_path, dest)
                digest = file_md5(dest)
                stored.append(
                    {
                        "name": f.name,
                        "size": int(f.size),
                        "md5": f.md5,
                        # a file without W&B's md5 cannot be verified: the check fails
                        "ok": bool(f.md5) and md5_matches(f.md5, digest),
                        "path": str(dest),
                    }
                )
        keep = {s["name"] for s in stored}
        if target.exists():
            for old in target.rglob("*"):
                if old.is_file() and old.relative_to(target).as_posix() not in keep:
                    old.unlink()
        summary: dict[str, Any] = dict(best.summary_metrics or {})
        value = summary.get(metric)
        meta: dict[str, Any] = {
            "wandb/sweep_id": sweep_id,
            "best_run": best.id,
            "metric": metric,
            "goal": goal,
            "path": dg.MetadataValue.path(str(target)),
            "size": dg.MetadataValue.int(sum(s["size"] for s in stored)),
            "files": dg.MetadataValue.json([s["name"] for s in stored]),
        }
        if isinstance(value, int | float) and not isinstance(value, bool):
            meta["value"] = dg.MetadataValue.float(float(value))
        if getattr(best, "url", None):
            meta["wandb/run_url"] = dg.MetadataValue.url(best.url)
        if model is not None:
            meta["wandb/artifact"] = model.qualified_name
        bad = [s["name"] for s in stored if not s["ok"]]
        return dg.MaterializeResult(
            asset_key=key,
            metadata=meta,
            check_results=[
                dg.AssetCheckResult(
                    check_name=BEST_MODEL_MD5_CHECK,
                    asset_key=key,
                    passed=not bad,
                    metadata={"mismatched": dg.MetadataValue.json(bad), "files": len(stored)},
                )
            ],
        )

    return _best_model
