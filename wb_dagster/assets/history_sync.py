"""Keep one run's stored history parquet in step with W&B, with bounded memory.

* no file yet: full export;
* the run grew and its stored part is provably unchanged: only the steps after the stored last
  step are exported and appended (a streamed merge into a new file, then an atomic replace);
* anything else (last step went down, rows rewritten under the same steps, no way to prove the
  stored part unchanged): full export, then an atomic replace;
* nothing new and the stored part unchanged: the file is left untouched.

"Provably unchanged" is the tail probe: the server's row at the stored last step must carry the
same ``_timestamp`` as the stored one. Every row W&B's SDK logs has a ``_timestamp`` (wall
clock at logging), so a run that was rewound and re-logged up to (or past) that step has a new
one there, even when its last step and row count happen to equal what was stored. Rows without
``_timestamp`` cannot be proven unchanged and are always re-exported in full. The run's
``historyLineCount`` is checked too: stored rows plus appended rows must equal it.

Every write goes to a scratch file first: a failed or killed sync keeps the previous file.
Appends are keyed by step (the new steps replace any stored rows of the same steps), so two
syncs of one run at once -- two materializations of one partition -- store each step once;
the later replace wins, and a shorter copy is brought up to date by the next sync. Columns
whose type changes between the stored part and the new steps (a run resumed logging ``x`` as
text after a list) follow the value model's merge rule (``wb_dagster.client.values``).

Example:
    >>> import tempfile
    >>> from upath import UPath
    >>> run = client.run("wb-demo/cifar/cifar000")
    >>> dest = UPath(tempfile.mkdtemp()) / "cifar000.parquet"
    >>> sync_history(run, dest).mode, sync_history(run, dest).mode
    ('full', 'unchanged')
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import pyarrow.compute as pc
import pyarrow.parquet as pq
from upath import UPath

from wb_dagster.storage import (
    ParquetSummary,
    local_scratch,
    put_local_file_atomic,
    summarize_parquet,
    upsert_steps_atomic,
)

SyncMode = Literal["full", "append", "rewrite", "unchanged"]


@dataclass(frozen=True)
class HistorySync:
    """Outcome of :func:`sync_history`: what was done and what the stored file now holds."""

    mode: SyncMode
    fetched_rows: int
    source: str
    stored: ParquetSummary


def _finite(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and math.isfinite(value) else None


def _stored_timestamp(dest: UPath, step: int) -> float | None:
    with dest.open("rb") as fh:
        pf = pq.ParquetFile(fh)
        if "_timestamp" not in pf.schema_arrow.names:
            return None
        tail = pf.read_row_group(pf.metadata.num_row_groups - 1, columns=["_step", "_timestamp"])
    values = tail.filter(pc.equal(tail["_step"], step))["_timestamp"].to_pylist()
    return _finite(values[-1]) if values else None


def _stored_part_unchanged(run: Any, dest: UPath, last_step: int) -> bool:
    """Tail probe: the row at ``last_step`` on the server is the one stored (same timestamp).

    One live page of one step, so a run whose history is exported is not downloaded to check.
    """
    stored = _stored_timestamp(dest, last_step)
    if stored is None:
        return False
    served = [r.get("_timestamp") for r in run.history_rows(last_step, last_step + 1)]
    return len(served) == 1 and _finite(served[0]) == stored


def _plan(run: Any, dest: UPath, existing: ParquetSummary | None) -> SyncMode:
    if existing is None:
        return "full"
    last = int(getattr(run, "last_history_step", -1))
    lines = int(getattr(run, "history_line_count", 0) or 0)
    if existing.max_step is None or last < existing.max_step:
        return "rewrite"
    if not _stored_part_unchanged(run, dest, existing.max_step):
        return "rewrite"
    if last == existing.max_step:
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
    mode = _plan(run, dest, existing)
    if mode in ("full", "rewrite"):
        return _full(run, dest, mode)
    assert existing is not None and existing.max_step is not None
    if mode == "unchanged":
        return HistorySync("unchanged", 0, "stored", existing)
    lines = int(getattr(run, "history_line_count", 0) or 0)
    with local_scratch() as scratch:
        part = scratch / "new_steps.parquet"
        export = run.write_history_parquet(part, min_step=existing.max_step + 1)
        if lines and existing.rows + int(export.rows) != lines:
            # rows changed below the stored last step: only a full export is trustworthy
            return _full(run, dest, "rewrite")
        stored = upsert_steps_atomic(dest, part)
    return HistorySync("append", int(export.rows), str(export.source), stored)
