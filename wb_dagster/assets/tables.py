"""The ``run_tables`` asset's work for one run: each logged ``wandb.Table`` key as parquet.

A run's partition is a directory ``<root>/<asset key>/<run id>/`` holding one
``<key>.parquet`` per Table key (the key percent-encoded, so ``eval/preds`` is
``eval%2Fpreds.parquet``): every step that logged the key, ``_step`` first (null for a Table set
on the summary only), in W&B's column types (see :mod:`wb_dagster.client.tables`). Files of keys
the run no longer has are removed.

Cost: the Table keys come from the run as the batch listing returned it (``historyKeys`` and
the summary), so a run without Tables costs no request. A run with Tables costs one history
read of those keys, one file listing and one download per logged Table.

Example:
    >>> table_file_name("eval/preds"), key_of_file("eval%2Fpreds.parquet")
    ('eval%2Fpreds.parquet', 'eval/preds')
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, unquote

import dagster as dg
import pyarrow as pa
from upath import UPath

from wb_dagster.client import tables
from wb_dagster.client.runs import Run
from wb_dagster.storage import read_table, write_table_atomic

SUFFIX = ".parquet"


def table_file_name(key: str) -> str:
    """The file name a Table key is stored under (no separators, no ``..``)."""
    return quote(key, safe=" -_") + SUFFIX


def key_of_file(name: str) -> str:
    """The Table key a stored file name holds (inverse of :func:`table_file_name`)."""
    return unquote(name[: -len(SUFFIX)])


def read_run_tables(directory: UPath | str) -> dict[str, pa.Table]:
    """Every stored Table of one run partition, by key (``{}`` when it logged none).

    Example (a downstream asset receives the partition's directory as a ``UPath``)::

        @dg.asset(ins={"tables": dg.AssetIn(["wandb", "wb-demo", "cifar", "run_tables"])},
                  partitions_def=runs_partitions)
        def predictions(tables: UPath) -> None:
            preds = read_run_tables(tables)["preds"].to_pandas()
    """
    path = UPath(directory)
    if not path.exists():
        return {}
    files = sorted(f for f in path.iterdir() if f.is_file() and f.name.endswith(SUFFIX))
    return {key_of_file(f.name): read_table(f) for f in files if not f.name.startswith(".")}


def logged_tables(run: Run) -> dict[str, pa.Table]:
    """Every Table key of ``run`` with all its logged steps (no request when there are none)."""
    keys = run.table_keys()
    if not keys:
        return {}
    history = run.history_table(keys=keys)  # one read for every key's steps
    steps = history.column(tables.STEP_COLUMN).to_pylist() if history.num_rows else []
    refs: dict[str, list[tables.TableRef]] = {}
    for key in keys:
        values = history.column(key).to_pylist() if key in history.column_names else []
        found = (tables.TableRef.from_value(key, s, v) for s, v in zip(steps, values, strict=True))
        logged = [r for r in found if r is not None]
        if not logged:  # set on the summary only
            summary_ref = tables.TableRef.from_value(key, None, run.summary_metrics.get(key))
            logged = [summary_ref] if summary_ref is not None else []
        if logged:
            refs[key] = logged
    flat = [r for key in refs for r in refs[key]]
    read = iter(tables.read_tables(run, flat))  # one file listing, downloads in parallel
    return {key: tables.concat_steps(rs, [next(read) for _ in rs]) for key, rs in refs.items()}


def store_tables(found: Mapping[str, pa.Table], directory: UPath) -> None:
    """Write each table atomically under ``directory``; drop files of keys not in ``found``."""
    keep = {table_file_name(k) for k in found}
    for key, table in found.items():
        write_table_atomic(table, directory / table_file_name(key))
    if directory.exists():
        for old in directory.iterdir():
            if old.is_file() and old.name.endswith(SUFFIX) and old.name not in keep:
                old.unlink()


def export_tables(
    run: Run, directory: UPath, key: dg.AssetKey, tags: dict[str, str]
) -> dg.AssetMaterialization:
    """Store ``run``'s logged Tables in its partition ``directory``; return the materialization."""
    run_id = str(run.id)
    found = logged_tables(run)
    store_tables(found, directory)
    meta: dict[str, Any] = {
        "tables": dg.MetadataValue.int(len(found)),
        "table_keys": dg.MetadataValue.json(sorted(found)),
        "rows": dg.MetadataValue.json({k: t.num_rows for k, t in sorted(found.items())}),
        "path": dg.MetadataValue.path(str(directory)),
        "wandb/run_id": run_id,
    }
    if run.url:
        meta["wandb/run_url"] = dg.MetadataValue.url(run.url)
    return dg.AssetMaterialization(asset_key=key, partition=run_id, metadata=meta, tags=tags)
