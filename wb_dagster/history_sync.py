"""Keep one run's stored history parquet in step with W&B, with bounded memory.

* no file yet, or the run was rewound (its last step went down): full export, then atomic replace;
* the run grew: export only steps after the stored last step and append them (a streamed merge
  into a new file, then atomic replace); if the resulting row count would disagree with the
  run's ``historyLineCount`` (history rewritten under the same steps), fall back to a full export;
* nothing new: the file is left untouched.

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
    concat_parquet_atomic,
    local_scratch,
    put_local_file_atomic,
    summarize_parquet,
)

SyncMode = Literal["full", "append", "rewrite", "unchanged"]


@dataclass(frozen=True)
class HistorySync:
    """Outcome of :func:`sync_history`: what was done and what the stored file now holds."""

    mode: SyncMode
    fetched_rows: int
    source: str
    stored: ParquetSummary


def _plan(run: Any, existing: ParquetSummary | None) -> SyncMode:
    if existing is None:
        return "full"
    last = int(getattr(run, "last_history_step", -1))
    lines = int(getattr(run, "history_line_count", 0) or 0)
    if existing.max_step is None:
        return "rewrite" if last >= 0 else "unchanged"
    if last < existing.max_step:
        return "rewrite"
    if last == existing.max_step:
        # same last step: unchanged unless the line count says rows were rewritten
        return "unchanged" if lines in (0, existing.rows) else "rewrite"
    return "append"


def _full(run: Any, dest: UPath, mode: SyncMode) -> HistorySync:
    with local_scratch() as scratch:
        part = scratch / "history.parquet"
        export = run.write_history_parquet(part, min_step=0)
        put_local_file_atomic(part, dest)
    stored = summarize_parquet(dest)
    assert stored is not None
    return HistorySync(mode, int(export.rows), str(export.source), stored)


def sync_history(run: Any, dest: UPath) -> HistorySync:
    """Bring ``dest`` (parquet, one row per step) up to date with ``run``'s full history."""
    existing = summarize_parquet(dest)
    mode = _plan(run, existing)
    if mode in ("full", "rewrite"):
        return _full(run, dest, mode)
    assert existing is not None
    if mode == "unchanged":
        return HistorySync("unchanged", 0, "stored", existing)
    assert existing.max_step is not None
    lines = int(getattr(run, "history_line_count", 0) or 0)
    with local_scratch() as scratch:
        part = scratch / "new_steps.parquet"
        export = run.write_history_parquet(part, min_step=existing.max_step + 1)
        if lines and existing.rows + int(export.rows) != lines:
            # history changed below the stored last step: only a full export is trustworthy
            return _full(run, dest, "rewrite")
        if int(export.rows) == 0:
            return HistorySync("unchanged", 0, str(export.source), existing)
        stored = concat_parquet_atomic([dest, part], dest)
    return HistorySync("append", int(export.rows), str(export.source), stored)
