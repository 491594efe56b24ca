"""One batch of W&B runs exported in one Dagster step: each run its own partition's events.

The run sensor asks for up to ``batch_size`` runs per Dagster run (see
:mod:`wb_dagster.sensors.batches`). The step reads the batch's runs in one listing query, then syncs
each run's history and system metrics on a thread pool, and yields, as each run is stored, its
own ``AssetMaterialization`` per asset and its ``history_matches_run`` check evaluation, all
keyed by the run's partition. A run that fails does not stop the others: they are stored and
recorded, and the step fails at the end naming the failed runs. When Dagster retries the step,
the runs this Dagster run already stored are skipped, so only the failed ones are retried.

Example:
    >>> failure = batch_failure({"r1": NotFoundError("Could not find run t/p/r1.")}, "t/p", 1)
    >>> failure.description, failure.allow_retries
    ('exporting run t/p/r1: Could not find run t/p/r1.', False)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any

import dagster as dg
import pyarrow as pa

from wb_dagster.assets.checks import history_check
from wb_dagster.assets.console_logs import export_console_logs
from wb_dagster.assets.export_progress import ExportProgress
from wb_dagster.assets.history_sync import HistorySync, sync_history
from wb_dagster.assets.tables import export_tables
from wb_dagster.client import CommError, NotFoundError, WandbClient
from wb_dagster.client.runs import Run
from wb_dagster.client.system_metrics import events_line_count, is_complete
from wb_dagster.failures import is_permanent
from wb_dagster.io_manager import WandbParquetIOManager, schema_metadata, table_metadata
from wb_dagster.sensors.fingerprints import run_fingerprint
from wb_dagster.storage import write_table_atomic

MAX_SUMMARY_METADATA = 20
DEFAULT_EXPORT_THREADS = 8


@dataclass(frozen=True)
class RunAssetKeys:
    """The per-run asset keys of one project and which of them this step materializes."""

    history: dg.AssetKey
    system: dg.AssetKey
    selected: frozenset[dg.AssetKey]
    check: bool = True  # whether history_matches_run is selected too
    console_logs: dg.AssetKey | None = None  # None: the definitions have no such asset
    tables: dg.AssetKey | None = None


def batch_runs(client: WandbClient, project_path: str, run_ids: Sequence[str]) -> dict[str, Run]:
    """The batch's runs as the server has them now, in one listing query (by id).

    A run missing from the answer is left out; the caller reports it as not found.
    """
    listing = client.runs(
        project_path, filters={"name": {"$in": list(run_ids)}}, per_page=max(len(run_ids), 1)
    )
    wanted = set(run_ids)
    return {str(run.id): run for run in listing if str(run.id) in wanted}


def _numeric_metadata(prefix: str, values: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in sorted(values):
        value = values[key]
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        if isinstance(value, float) and not math.isfinite(value):
            continue
        out[f"{prefix}{key}"] = dg.MetadataValue.float(float(value))
        if len(out) >= MAX_SUMMARY_METADATA:
            break
    return out


def history_metadata(run: Run, sync: HistorySync, path: Any) -> dict[str, Any]:
    """Materialization metadata of one run's stored history."""
    stored = sync.stored
    meta: dict[str, Any] = {
        "dagster/row_count": dg.MetadataValue.int(stored.rows),
        "dagster/column_schema": schema_metadata(stored.schema),
        "rows": dg.MetadataValue.int(stored.rows),
        "fetched_rows": dg.MetadataValue.int(sync.fetched_rows),
        "keys": dg.MetadataValue.int(len([c for c in stored.columns if not c.startswith("_")])),
        "key_names": dg.MetadataValue.json(stored.columns[:200]),
        "mode": sync.mode,
        "source": sync.source,
        "path": dg.MetadataValue.path(str(path)),
        "wandb/run_id": run.id,
        "wandb/state": str(run.state),
    }
    if stored.min_step is not None:
        meta["min_step"] = dg.MetadataValue.int(stored.min_step)
    if stored.max_step is not None:
        meta["max_step"] = dg.MetadataValue.int(stored.max_step)
    if run.url:
        meta["wandb/run_url"] = dg.MetadataValue.url(run.url)
    summary = dict(run.summary or {})
    meta.update(
        _numeric_metadata("summary/", {k: v for k, v in summary.items() if not k.startswith("_")})
    )
    return meta


def system_metrics_completeness(table: pa.Table) -> dict[str, Any]:
    """Metadata saying whether W&B returned every system-metrics row (it caps them, wandb#6501).

    Example:
        >>> from wb_dagster.client.system_metrics import completeness
        >>> meta = system_metrics_completeness(completeness(pa.table({"a": [1]}), 5))
        >>> meta["wandb/system_metrics_complete"].value, meta["wandb/events_line_count"].value
        (False, 5)
    """
    count = events_line_count(table)
    complete = is_complete(table)
    meta: dict[str, Any] = {"wandb/system_metrics_complete": dg.MetadataValue.bool(complete)}
    if count is not None:
        meta["wandb/events_line_count"] = dg.MetadataValue.int(count)
    if not complete and count is not None:
        meta["wandb/system_metrics_note"] = dg.MetadataValue.text(
            f"W&B returned {table.num_rows} of the run's {count} system-metrics rows (it caps "
            "events(samples=...)): the table holds W&B's evenly sampled rows across the run"
        )
    return meta


def export_run(
    run: Run, storage: WandbParquetIOManager, keys: RunAssetKeys, instance: dg.DagsterInstance
) -> list[dg.AssetMaterialization | dg.AssetCheckEvaluation]:
    """Store one run's selected assets; return its events (materializations, then the check).

    Each materialization carries the run's fingerprint as its data version (a hand-made
    materialization gets none from Dagster), so downstream staleness follows the W&B run.
    """
    events: list[dg.AssetMaterialization | dg.AssetCheckEvaluation] = []
    run_id = str(run.id)
    version = {"dagster/data_version": run_fingerprint(run)}
    check: dg.AssetCheckEvaluation | None = None
    if keys.history in keys.selected:
        path = storage.path_for(keys.history, run_id, instance=instance)
        sync = sync_history(run, path)
        meta = history_metadata(run, sync, path)
        events.append(
            dg.AssetMaterialization(
                asset_key=keys.history, partition=run_id, metadata=meta, tags=version
            )
        )
        if keys.check:
            check = history_check(run, sync.stored, keys.history)
    if keys.system in keys.selected:
        path = storage.path_for(keys.system, run_id, instance=instance)
        table = run.system_metrics_table()
        write_table_atomic(table, path)
        system_meta: dict[str, Any] = {
            **table_metadata(table),
            "rows": dg.MetadataValue.int(table.num_rows),
            "path": dg.MetadataValue.path(str(path)),
            "wandb/run_id": run_id,
            **system_metrics_completeness(table),
        }
        if run.url:
            system_meta["wandb/run_url"] = dg.MetadataValue.url(run.url)
        events.append(
            dg.AssetMaterialization(
                asset_key=keys.system, partition=run_id, metadata=system_meta, tags=version
            )
        )
    if keys.console_logs is not None and keys.console_logs in keys.selected:
        events.append(export_console_logs(run, storage, keys.console_logs, instance, version))
    if keys.tables is not None and keys.tables in keys.selected:
        directory = storage.path_for(keys.tables, run_id, instance=instance, extension="")
        events.append(export_tables(run, directory, keys.tables, version))
    if check is not None:
        events.append(check)
    return events


def stored_by_this_run(
    instance: dg.DagsterInstance, keys: RunAssetKeys, dagster_run_id: str
) -> set[str]:
    """Run ids whose every selected asset this Dagster run already materialized (a retry)."""
    stored: dict[dg.AssetKey, set[str]] = {key: set() for key in keys.selected}
    cursor: str | None = None
    while True:  # bounded: one page per 1,000 of this run's materializations
        page = instance.get_records_for_run(
            dagster_run_id,
            cursor=cursor,
            of_type=dg.DagsterEventType.ASSET_MATERIALIZATION,
            limit=1000,
        )
        for record in page.records:
            event = record.event_log_entry.dagster_event
            mat = event.step_materialization_data.materialization if event else None
            if mat is not None and mat.asset_key in stored and mat.partition:
                stored[mat.asset_key].add(mat.partition)
        if not page.has_more:
            break
        cursor = page.cursor
    return set.intersection(*stored.values()) if stored else set()


def batch_failure(failed: Mapping[str, Exception], project_path: str, batch: int) -> dg.Failure:
    """The step's failure after every other run of the ``batch`` runs was stored.

    Retries stay allowed unless every failure is one a retry cannot fix.
    """
    lines = [
        f"exporting run {project_path}/{run_id}: {_message(exc)}"
        for run_id, exc in sorted(failed.items())
    ]
    if batch > 1:
        lines.insert(0, f"{len(failed)} of {batch} W&B runs could not be stored (the others were):")
    return dg.Failure(
        description="\n".join(lines[:51]),
        metadata={"failed_run_ids": dg.MetadataValue.json(sorted(failed))},
        allow_retries=not all(is_permanent(exc) for exc in failed.values()),
    )


def _message(exc: Exception) -> str:
    return exc.message if isinstance(exc, CommError) else f"{type(exc).__name__}: {exc}"


def export_batch(
    *,
    client: WandbClient,
    storage: WandbParquetIOManager,
    project_path: str,
    run_ids: Sequence[str],
    keys: RunAssetKeys,
    instance: dg.DagsterInstance,
    log: Callable[[str], Any],
    threads: int = DEFAULT_EXPORT_THREADS,
) -> Iterator[dg.AssetMaterialization | dg.AssetCheckEvaluation]:
    """Yield each run's events as it is stored; raise :func:`batch_failure` at the end."""
    runs = batch_runs(client, project_path, run_ids)
    failed: dict[str, Exception] = {
        run_id: NotFoundError(
            f"Could not find run {project_path}/{run_id}: it may have been deleted in W&B; "
            "delete the partition if so."
        )
        for run_id in run_ids
        if run_id not in runs
    }
    expected = sum(int(r.history_line_count or 0) for r in runs.values())
    label = (
        f"history of {project_path}/{next(iter(runs))}"
        if len(runs) == 1
        else f"history of {len(runs)} runs of {project_path}"
    )
    rows = 0
    pool = ThreadPoolExecutor(max_workers=max(1, min(threads, len(runs))))
    try:
        with ExportProgress(log, label, client.transport, expected_rows=expected) as progress:
            futures = {
                pool.submit(export_run, run, storage, keys, instance): run_id
                for run_id, run in runs.items()
            }
            for done, future in enumerate(as_completed(futures), start=1):
                run_id = futures[future]
                try:
                    events = future.result()
                except Exception as exc:  # one run's failure must not lose the others
                    failed[run_id] = exc
                    log(f"run {project_path}/{run_id} failed: {_message(exc)}")
                    continue
                for event in events:
                    if (
                        isinstance(event, dg.AssetMaterialization)
                        and event.asset_key == keys.history
                    ):
                        rows += int(event.metadata["rows"].value or 0)  # type: ignore[arg-type]
                    yield event
                if done % 25 == 0:
                    log(f"{label}: {done}/{len(futures)} stored")
    finally:
        # a terminated run (or a failed yield) must not wait for the rest of the batch
        pool.shutdown(wait=False, cancel_futures=True)
    log(progress.summary(rows))
    if failed:
        raise batch_failure(failed, project_path, len(run_ids))
