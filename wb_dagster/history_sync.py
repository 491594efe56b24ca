"""Keep one run's stored history parquet in step with W&B, with bounded memory.

Every sync that runs is a full export written to a scratch file, then moved into place
atomically (a failed or killed sync keeps the previous file). There is deliberately no
"append only the new steps" shortcut: a resumed run may have been rewound and re-logged, which
can leave its last step and its row count exactly as stored while the rows differ (the
reliability soak found this), and nothing W&B returns tells a rewound run from one that only
grew. The run sensor requests a materialization only when a run's fingerprint changed, so full
exports happen once per finished (or re-finished) run.

Example:
    >>> # client = WandbClient(...); run = client.run("wb-demo/cifar/abc123")
    >>> # sync_history(run, UPath("/data/wandb/cifar/run_history/abc123.parquet")).mode
    >>> # 'full'
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from upath import UPath

from wb_dagster.storage import (
    ParquetSummary,
    local_scratch,
    put_local_file_atomic,
    summarize_parquet,
)

SyncMode = Literal["full", "rewrite"]


@dataclass(frozen=True)
class HistorySync:
    """Outcome of :func:`sync_history`: what was done and what the stored file now holds."""

    mode: SyncMode
    fetched_rows: int
    source: str
    stored: ParquetSummary


def _full(run: Any, dest: UPath, mode: SyncMode) -> HistorySync:
    with local_scratch() as scratch:
        part = scratch / "history.parquet"
        export = run.write_history_parquet(part, min_step=0)
        put_local_file_atomic(part, dest)
    stored = summarize_parquet(dest)
    assert stored is not None
    return HistorySync(mode, int(export.rows), str(export.source), stored)


def sync_history(run: Any, dest: UPath) -> HistorySync:
    """Export ``run``'s full history to ``dest`` (``"full"`` the first time, else
    ``"rewrite"``); the previous file stays until the new one is complete."""
    existing = summarize_parquet(dest)
    return _full(run, dest, "full" if existing is None else "rewrite")
