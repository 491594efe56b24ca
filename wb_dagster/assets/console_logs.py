"""The ``run_console_logs`` asset's work for one run: its console log as one parquet file.

Columns ``number, timestamp, level, label, content`` (see
:meth:`wb_dagster.client.console_logs.ConsoleLogs.to_table`), one row per captured line; the
materialization shows the last lines (a crashed run's last words, next to its metrics).
Reading the log costs one request per 1,000 lines.

Example:
    >>> import pyarrow as pa
    >>> tail = pa.table({"number": [7], "level": ["error"], "content": ["CUDA error"]})
    >>> print(tail_markdown(tail))
    ```
    7 E CUDA error
    ```
"""

from __future__ import annotations

from typing import Any

import dagster as dg
import pyarrow as pa
import pyarrow.compute as pc

from wb_dagster.client.runs import Run
from wb_dagster.io_manager import WandbParquetIOManager, table_metadata
from wb_dagster.storage import write_table_atomic

TAIL_LINES = 20
TAIL_LINE_CHARS = 300
FENCE = "```"


def tail_markdown(table: pa.Table, lines: int = TAIL_LINES) -> str:
    """The last ``lines`` lines as a code block (``E`` marks stderr), each line shortened."""
    tail = table.slice(max(0, table.num_rows - lines))
    rows = zip(
        tail.column("number").to_pylist(),
        tail.column("level").to_pylist(),
        tail.column("content").to_pylist(),
        strict=True,
    )
    # a line holding three backticks would end the code block early
    body = [
        f"{n} {'E' if level == 'error' else ' '} {str(text)[:TAIL_LINE_CHARS]}".replace(
            FENCE, "'''"
        )
        for n, level, text in rows
    ]
    return "\n".join([FENCE, *body, FENCE])


def export_console_logs(
    run: Run,
    storage: WandbParquetIOManager,
    key: dg.AssetKey,
    instance: dg.DagsterInstance,
    tags: dict[str, str],
) -> dg.AssetMaterialization:
    """Store ``run``'s console log under ``key``'s partition; return its materialization."""
    run_id = str(run.id)
    path = storage.path_for(key, run_id, instance=instance)
    table = run.console_logs().to_table()
    write_table_atomic(table, path)
    errors = int(pc.sum(pc.equal(table.column("level"), "error")).as_py() or 0)
    meta: dict[str, Any] = {
        **table_metadata(table),
        "lines": dg.MetadataValue.int(table.num_rows),
        "error_lines": dg.MetadataValue.int(errors),
        "last_lines": dg.MetadataValue.md(tail_markdown(table)),
        "path": dg.MetadataValue.path(str(path)),
        "wandb/run_id": run_id,
        "wandb/state": str(run.state),
    }
    if run.url:
        meta["wandb/run_url"] = dg.MetadataValue.url(run.url)
    return dg.AssetMaterialization(asset_key=key, partition=run_id, metadata=meta, tags=tags)
