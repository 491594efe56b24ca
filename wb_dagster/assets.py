"""Asset factories for one W&B project: the run table, per-run data, and sweep best models.

* ``runs`` (unpartitioned): one row per run, refreshed incrementally; stored by the IO manager.
* ``run_history`` + ``run_system_metrics`` (one multi-asset, dynamic partitions = run ids):
  streamed straight into the storage root (bounded memory, atomic), no value in memory.
* ``sweep_best_model`` (dynamic partitions = sweep ids): files of the best finished run (or,
  when none matches, the files of the model artifact it logged).

All of them depend on the external ``project`` spec, never on each other, and carry no
automation condition: per-run work is launched by the run sensor (see ``sensors.py``).

Example:
    >>> from wb_dagster.project import WandbProjectAssetsSpec
    >>> p = WandbProjectAssetsSpec.build(entity="wb-demo", project="cifar")
    >>> sorted(k.to_user_string() for k in build_wandb_run_assets(p).keys)
    ['wandb/wb-demo/cifar/run_history', 'wandb/wb-demo/cifar/run_system_metrics']
"""

import datetime as dt
import fnmatch
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import dagster as dg
import pyarrow as pa
from pydantic import Field

from wb_dagster.artifact_assets import logged_model, store_artifact_files
from wb_dagster.batches import DEFAULT_BATCH_SIZE
from wb_dagster.checks import (
    BEST_MODEL_MD5_CHECK,
    HISTORY_CONSISTENT_CHECK,
    RUNS_UNIQUE_CHECK,
    file_md5,
)
from wb_dagster.client import WandbClient
from wb_dagster.client.files import md5_matches
from wb_dagster.failures import wandb_failures
from wb_dagster.io_manager import (
    FILES_STORAGE,
    STORAGE_KIND_KEY,
    WandbParquetIOManager,
    table_metadata,
)
from wb_dagster.project import WandbProjectAssetsSpec
from wb_dagster.resource import resource_from
from wb_dagster.run_export import (
    DEFAULT_EXPORT_THREADS,
    RunAssetKeys,
    export_batch,
    stored_by_this_run,
)
from wb_dagster.runs_table import (
    changed_run_ids,
    drop_runs,
    duplicate_ids,
    gone_run_ids,
    merge_runs,
    newest_timestamp,
    open_run_ids,
    refresh_filters,
)
from wb_dagster.storage import (
    local_scratch,
    put_local_file_atomic,
    read_table,
    summarize_parquet,
)
from wb_dagster.translator import AssetKind

DEFAULT_POOL = "wandb_api"
# the per-run assets, in the order a step stores them (one partition per W&B run)
RUN_KINDS: tuple[AssetKind, ...] = (
    "run_history",
    "run_system_metrics",
    "run_console_logs",
    "run_tables",
)
DEFAULT_RETRY = dg.RetryPolicy(
    max_retries=2, delay=5, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS
)


class RunsRefreshConfig(dg.Config):
    """Run config of the ``runs`` asset.

    Example (a full re-read instead of the incremental refresh):
        >>> op = "wandb_wb_demo__cifar__runs"
        >>> run_config = {"ops": {op: {"config": {"full_refresh": True}}}}
        >>> RunsRefreshConfig(**run_config["ops"][op]["config"]).lookback_seconds
        300.0
    """

    full_refresh: bool = Field(
        default=False, description="Re-read every run instead of only the runs that changed."
    )
    lookback_seconds: float = Field(
        default=300.0,
        ge=0,
        description="Also check runs whose heartbeat is up to this much older than the newest "
        "stored one, and re-read those that changed (updates that became visible late).",
    )


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


def _storage(context: Any, key: str) -> WandbParquetIOManager:
    io = getattr(context.resources, key)
    if not isinstance(io, WandbParquetIOManager):
        raise dg.DagsterInvariantViolationError(
            f"W&B per-run assets stream their files into a WandbParquetIOManager, but resource "
            f"{key!r} is {type(io).__name__}. Bind {key!r} to WandbParquetIOManager(base_dir=...)."
        )
    return io


def _spec(
    p: WandbProjectAssetsSpec, kind: Any, io_manager_key: str, **extra_meta: Any
) -> dg.AssetSpec:
    spec = p.specs[kind]
    return spec.replace_attributes(
        deps=[*spec.deps, p.key("project")] if kind != "project" else spec.deps,
        metadata={**spec.metadata, **extra_meta},
    ).with_io_manager_key(io_manager_key)


def _preview(table: pa.Table, rows: int = 10) -> dg.MetadataValue:
    cols = [c for c in ("id", "name", "state", "created_at", "sweep") if c in table.column_names]
    head = table.select(cols).slice(0, rows).to_pylist()
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(str(r[c]) for c in cols) + " |" for r in head]
    return dg.MetadataValue.md("\n".join(lines))


def build_wandb_runs_asset(
    p: WandbProjectAssetsSpec,
    *,
    resource_key: str = "wandb",
    io_manager_key: str = "wandb_io_manager",
    pool: str | None = DEFAULT_POOL,
    retry_policy: dg.RetryPolicy | None = DEFAULT_RETRY,
) -> dg.AssetsDefinition:
    """The ``runs`` table of ``p`` (incremental refresh; check ``unique_run_ids`` blocks).

    Example:
        >>> from wb_dagster.project import WandbProjectAssetsSpec
        >>> a = build_wandb_runs_asset(WandbProjectAssetsSpec.build(entity="t", project="p"))
        >>> a.key.to_user_string()
        'wandb/t/p/runs'
    """
    key = p.key("runs")

    @dg.multi_asset(
        name=f"wandb_{p.name}__runs",
        specs=[_spec(p, "runs", io_manager_key)],
        check_specs=[
            dg.AssetCheckSpec(
                RUNS_UNIQUE_CHECK,
                asset=key,
                blocking=True,
                description="Every run id appears once in the run table.",
            )
        ],
        required_resource_keys={resource_key, io_manager_key},
        pool=pool,
        retry_policy=retry_policy,
    )
    def _runs(context: dg.AssetExecutionContext, config: RunsRefreshConfig) -> dg.MaterializeResult:
        with wandb_failures(f"refreshing the run table of {p.path}"):
            return _refresh_runs(context, config)

    def _refresh_runs(
        context: dg.AssetExecutionContext, config: RunsRefreshConfig
    ) -> dg.MaterializeResult:
        client = resource_from(context.resources, resource_key).get_client()
        io = getattr(context.resources, io_manager_key)
        stored: pa.Table | None = None
        if isinstance(io, WandbParquetIOManager) and not config.full_refresh:
            path = io.path_for(key, instance=context.instance)
            if summarize_parquet(path) is not None:
                stored = read_table(path)
        newest = newest_timestamp(stored, "heartbeat_at") if stored is not None else None
        deleted: list[str] = []
        if stored is None or newest is None:
            mode = "full"
            fresh = client.runs(p.path, order="+created_at").to_table()
            table = merge_runs(fresh.slice(0, 0), fresh)
        else:
            mode = "incremental"
            lookback = dt.timedelta(seconds=config.lookback_seconds)
            fresh, gone = _changed_runs(client, p.path, stored, newest, lookback)
            table = merge_runs(drop_runs(stored, gone), fresh)
            deleted = gone
        dupes = duplicate_ids(table)
        states = table.column("state").to_pylist() if table.num_rows else []
        metadata: dict[str, Any] = {
            **table_metadata(table),
            "wandb/refresh_mode": mode,
            "wandb/deleted_runs": dg.MetadataValue.json(deleted[:50]),
            "wandb/fetched_rows": dg.MetadataValue.int(fresh.num_rows),
            "wandb/finished_runs": dg.MetadataValue.int(states.count("finished")),
            "wandb/running_runs": dg.MetadataValue.int(states.count("running")),
            "preview": _preview(table),
        }
        app_url = getattr(client, "app_url", None)
        if isinstance(app_url, str) and app_url:
            metadata["wandb/project_url"] = dg.MetadataValue.url(f"{app_url.rstrip('/')}/{p.path}")
        context.log.info(
            f"runs of {p.path}: {mode} refresh, {fresh.num_rows} fetched, {table.num_rows} stored"
        )
        return dg.MaterializeResult(
            asset_key=key,
            value=table,
            metadata=metadata,
            check_results=[
                dg.AssetCheckResult(
                    check_name=RUNS_UNIQUE_CHECK,
                    asset_key=key,
                    passed=not dupes,
                    metadata={"duplicates": dg.MetadataValue.json(dupes[:50])},
                )
            ],
        )

    return _runs


def _changed_runs(
    client: WandbClient, path: str, stored: pa.Table, newest: dt.datetime, lookback: dt.timedelta
) -> tuple[pa.Table, list[str]]:
    """The runs that changed since ``stored`` was written (see :mod:`wb_dagster.runs_table`),
    and the stored runs W&B no longer has: open ones the probe asked for by name and did not
    get; finished ones when W&B counts fewer runs than the table would hold (then the stored
    ids are checked by name, see :func:`~wb_dagster.runs_table.gone_run_ids`).

    The full read of moved runs and the probe run concurrently: one round trip of latency
    unless the probe finds a late change or a deletion, which cost more.
    """
    open_ids = open_run_ids(stored)
    probe_filters = refresh_filters(newest - lookback, open_ids, inclusive=True)

    def probe_states() -> tuple[pa.Table, int | None]:
        runs = client.runs(path, filters=probe_filters)
        return runs.to_state_table(), runs.project_run_count

    with ThreadPoolExecutor(max_workers=1) as pool:
        probe = pool.submit(probe_states)
        moved = refresh_filters(newest, [])
        fresh = client.runs(path, filters=moved, order="+created_at").to_table()
        probed, project_runs = probe.result()
        changed = changed_run_ids(stored, probed)
    listed = set(fresh.column("id").to_pylist())
    gone = sorted(set(open_ids) - set(probed.column("id").to_pylist()) - listed)
    kept = [i for i in stored.column("id").to_pylist() if i not in gone and i not in listed]
    if project_runs is not None and len(kept) + len(listed) > project_runs:
        gone = sorted({*gone, *gone_run_ids(client, path, kept)})  # runs deleted in W&B
    late = sorted(set(changed) - listed - set(gone))
    if not late:
        return fresh, gone
    late_rows = client.runs(path, filters={"name": {"$in": late}}).to_table()
    return merge_runs(fresh, late_rows), gone


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
    :mod:`wb_dagster.console_log_export`, :mod:`wb_dagster.table_export`).

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
        _spec(
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
                storage=_storage(context, io_manager_key),
                project_path=p.path,
                run_ids=run_ids,
                keys=keys,
                instance=context.instance,
                log=context.log.info,
                threads=export_threads,
            )

    return _run_assets


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
    spec = _spec(p, "sweep_best_model", io_manager_key, **{STORAGE_KIND_KEY: FILES_STORAGE})
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
        storage = _storage(context, io_manager_key)
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
