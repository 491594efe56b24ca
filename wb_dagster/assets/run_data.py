"""The per-run assets of one W&B project: ``run_history`` + ``run_system_metrics`` (and the
optional ``run_console_logs`` and ``run_tables``) as one multi-asset, partitioned by run id.

Each step streams its batch of runs straight into the storage root (bounded memory, atomic,
see :mod:`wb_dagster.assets.run_export`); no value passes through memory. Launched by the run
sensor (:mod:`wb_dagster.sensors.runs`); no automation condition.

Example:
    >>> from wb_dagster.project import WandbProjectAssetsSpec
    >>> p = WandbProjectAssetsSpec.build(entity="wb-demo", project="cifar")
    >>> sorted(k.to_user_string() for k in build_wandb_run_assets(p).keys)
    ['wandb/wb-demo/cifar/run_history', 'wandb/wb-demo/cifar/run_system_metrics']
"""

from collections.abc import Iterator, Sequence
from typing import Any

import dagster as dg

from wb_dagster.assets.checks import HISTORY_CONSISTENT_CHECK
from wb_dagster.assets.factory_defaults import (
    DEFAULT_POOL,
    DEFAULT_RETRY,
    asset_spec,
    parquet_storage,
)
from wb_dagster.assets.run_export import (
    DEFAULT_EXPORT_THREADS,
    RunAssetKeys,
    export_batch,
    stored_by_this_run,
)
from wb_dagster.failures import wandb_failures
from wb_dagster.io_manager import FILES_STORAGE, STORAGE_KIND_KEY
from wb_dagster.project import WandbProjectAssetsSpec
from wb_dagster.resource import resource_from
from wb_dagster.sensors.batches import DEFAULT_BATCH_SIZE
from wb_dagster.translator import AssetKind

# the per-run assets, in the order a step stores them (one partition per W&B run)
RUN_KINDS: tuple[AssetKind, ...] = (
    "run_history",
    "run_system_metrics",
    "run_console_logs",
    "run_tables",
)


def build_wandb_run_assets(
    p: WandbProjectAssetsSpec,
    *,
    resource_key: str = "wandb",
    io_manager_key: str = "wandb_io_manager",
    pool: str | None = DEFAULT_POOL,
    retry_policy: dg.RetryPolicy | None = DEFAULT_RETRY,
    batch_size: int = DEFAULT_BATCH_SIZE,
    export_threads: int = DEFAULT_EXPORT_THREADS,
    kinds: Sequence[AssetKind] = ("run_history", "run_system_metrics"),
) -> dg.AssetsDefinition:
    """The per-run assets of ``p`` (``kinds``, a subset of :data:`RUN_KINDS`): one partition
    per run id. ``run_console_logs`` and ``run_tables`` are optional extras (see
    :mod:`wb_dagster.assets.console_logs`, :mod:`wb_dagster.assets.tables`).

    One step stores a batch of runs (a partition key range, up to ``batch_size``; the same
    limit applies to backfills launched from the UI), ``export_threads`` runs at a time, and
    records each run's materializations and check under its own partition. History is written
    with bounded memory: only new steps are fetched when a run grew, the whole history when it
    was rewound. Launched by the run sensor; no automation condition.

    Example:
        >>> from wb_dagster.project import WandbProjectAssetsSpec
        >>> a = build_wandb_run_assets(WandbProjectAssetsSpec.build(entity="t", project="p"))
        >>> a.partitions_def.name, a.backfill_policy.max_partitions_per_run
        ('wandb_runs__t__p', 100)
    """
    unknown = [k for k in kinds if k not in RUN_KINDS]
    if unknown or not kinds:
        raise dg.DagsterInvalidDefinitionError(
            f"build_wandb_run_assets(kinds=...) got {list(kinds)}; choose from {RUN_KINDS}."
        )
    history_key, system_key = p.key("run_history"), p.key("run_system_metrics")
    files = {STORAGE_KIND_KEY: FILES_STORAGE}
    specs = [
        asset_spec(
            p,
            kind,
            io_manager_key,
            partition_expr="run_id",
            **(files if kind == "run_tables" else {}),
        ).replace_attributes(partitions_def=p.runs_partitions)
        for kind in RUN_KINDS
        if kind in kinds
    ]
    check_specs = [
        dg.AssetCheckSpec(
            HISTORY_CONSISTENT_CHECK,
            asset=history_key,
            partitions_def=p.runs_partitions,
            description="Stored rows and last step agree with the run's historyLineCount "
            "and last step.",
        )
    ]

    @dg.multi_asset(
        name=f"wandb_{p.name}__run_assets",
        specs=specs,
        check_specs=check_specs if "run_history" in kinds else [],
        can_subset=True,
        required_resource_keys={resource_key, io_manager_key},
        pool=pool,
        retry_policy=retry_policy,
        backfill_policy=dg.BackfillPolicy.multi_run(max_partitions_per_run=batch_size),
    )
    def _run_assets(context: dg.AssetExecutionContext) -> Iterator[Any]:
        run_ids = list(context.partition_keys)
        check_key = dg.AssetCheckKey(history_key, HISTORY_CONSISTENT_CHECK)
        keys = RunAssetKeys(
            history_key,
            system_key,
            frozenset(context.selected_asset_keys),
            check=check_key in context.selected_asset_check_keys,
            console_logs=p.key("run_console_logs") if "run_console_logs" in kinds else None,
            tables=p.key("run_tables") if "run_tables" in kinds else None,
        )
        if context.retry_number > 0:
            done = stored_by_this_run(context.instance, keys, context.run_id)
            if done:
                context.log.info(f"retry: {len(done)} runs already stored by this run, skipped")
            run_ids = [r for r in run_ids if r not in done]
            if not run_ids:
                return
        one = len(run_ids) == 1
        what = f"run {p.path}/{run_ids[0]}" if one else f"{len(run_ids)} runs of {p.path}"
        with wandb_failures(f"exporting {what}"):
            yield from export_batch(
                client=resource_from(context.resources, resource_key).get_client(),
                storage=parquet_storage(context, io_manager_key),
                project_path=p.path,
                run_ids=run_ids,
                keys=keys,
                instance=context.instance,
                log=context.log.info,
                threads=export_threads,
            )

    return _run_assets
