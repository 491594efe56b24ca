"""The ``runs`` asset of one W&B project: one row per run, refreshed incrementally.

The refresh itself (which runs changed, how tables merge) is pure functions in
:mod:`wb_dagster.assets.runs_table`; this module asks W&B and records the result.

Example:
    >>> from wb_dagster.project import WandbProjectAssetsSpec
    >>> p = WandbProjectAssetsSpec.build(entity="wb-demo", project="cifar")
    >>> build_wandb_runs_asset(p).key.to_user_string()
    'wandb/wb-demo/cifar/runs'
"""

import datetime as dt
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import dagster as dg
import pyarrow as pa
from pydantic import Field

from wb_dagster.assets.checks import RUNS_UNIQUE_CHECK
from wb_dagster.assets.factory_defaults import DEFAULT_POOL, DEFAULT_RETRY, asset_spec
from wb_dagster.assets.runs_table import (
    changed_run_ids,
    drop_runs,
    duplicate_ids,
    gone_run_ids,
    merge_runs,
    newest_timestamp,
    open_run_ids,
    refresh_filters,
)
from wb_dagster.client import WandbClient
from wb_dagster.failures import wandb_failures
from wb_dagster.io_manager import WandbParquetIOManager, table_metadata
from wb_dagster.project import WandbProjectAssetsSpec
from wb_dagster.resource import resource_from
from wb_dagster.storage import read_table, summarize_parquet


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
        specs=[asset_spec(p, "runs", io_manager_key)],
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
    """The runs that changed since ``stored`` was written (see :mod:`wb_dagster.assets.runs_table`),
    and the stored runs W&B no longer has: open ones the probe asked for by name and did not
    get; finished ones when W&B counts fewer runs than the table would hold (then the stored
    ids are checked by name, see :func:`~wb_dagster.assets.runs_table.gone_run_ids`).

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
