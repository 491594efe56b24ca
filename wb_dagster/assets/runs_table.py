"""Incremental refresh of a project's run table (pure functions over pyarrow tables).

A refresh reads in full the runs whose heartbeat is in or after the stored table's newest
``heartbeat_at`` second (W&B serves whole seconds). At the same time it probes, cheaply (id,
state, heartbeat and history line count only), the runs
whose heartbeat is within a lookback of that newest one plus every stored run that was not yet
in a terminal state, and reads in full the probed runs that changed without moving past it (an
update that became visible late, a silent run marked crashed). The fresh rows are merged over
the stored ones (newer rows win, order by ``created_at``). A heartbeat moves whenever a run is
created, logs, ends or is resumed, so new, finished and resumed runs are all caught, while the
thousands of unchanged runs are neither re-read nor probed. A stored open run the probe (which
asks for each by name) no longer finds was deleted, and is dropped. Edits that do not touch the
heartbeat (tags, notes on a finished run) are what the scheduled full refresh is for. Both
listings are in created order, paged by a ``createdAt`` filter rather than W&B's offset cursors
(:mod:`wb_dagster.client.run_pages`), so runs created or deleted meanwhile shift nothing.

Example:
    >>> import datetime as dt
    >>> import pyarrow as pa
    >>> t = lambda h: dt.datetime(2026, 1, 2, h, tzinfo=dt.UTC)
    >>> old = pa.table({"id": ["a", "b"], "state": ["finished", "running"],
    ...                 "created_at": [t(0), t(1)], "heartbeat_at": [t(1), t(2)]})
    >>> open_run_ids(old), newest_timestamp(old, "heartbeat_at").isoformat()
    (['b'], '2026-01-02T02:00:00+00:00')
    >>> probe = pa.table({"id": ["a", "b"], "state": ["finished", "crashed"],
    ...                   "heartbeat_at": [t(1), t(2)]})
    >>> changed_run_ids(old, probe)
    ['b']
    >>> new = pa.table({"id": ["b"], "state": ["crashed"], "created_at": [t(1)]})
    >>> merge_runs(old, new).column("state").to_pylist()
    ['finished', 'crashed']
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from wb_dagster.client.flatten import concat_tables
from wb_dagster.client.timestamps import to_utc, wandb_time

if TYPE_CHECKING:
    from wb_dagster.client import WandbClient

# run ids per names-only listing when checking which stored runs W&B still has
CHUNK = 500

TERMINAL_STATES: frozenset[str] = frozenset({"finished", "crashed", "failed", "killed"})


def newest_timestamp(table: pa.Table, column_name: str) -> dt.datetime | None:
    """Newest value of a timestamp column of the stored table (``None`` when empty/absent)."""
    if table.num_rows == 0 or column_name not in table.column_names:
        return None
    column = table.column(column_name)
    if pa.types.is_timestamp(column.type):
        # the client's run tables: one vectorized max, not 10k Python datetimes (bench W6)
        return to_utc(pc.max(column).as_py())
    values = [to_utc(v) for v in column.to_pylist()]
    present = [v for v in values if v is not None]
    return max(present) if present else None


def open_run_ids(table: pa.Table) -> list[str]:
    """Ids of stored runs whose state is not terminal (they may still change)."""
    if table.num_rows == 0:
        return []
    ids = table.column("id").to_pylist()
    states = table.column("state").to_pylist()
    return [i for i, s in zip(ids, states, strict=True) if s not in TERMINAL_STATES]


def refresh_filters(
    watermark: dt.datetime, open_ids: list[str], *, inclusive: bool = False
) -> dict[str, Any]:
    """W&B ``filters`` selecting runs with a heartbeat after ``watermark``'s second (or in it,
    ``inclusive``), or in ``open_ids``; the time in W&B's own spelling (whole seconds, no zone).

    W&B serves whole seconds, so a run heartbeating later within the newest stored second has
    the same ``heartbeatAt``: the read of moved runs excludes that second (a quiet refresh reads
    nothing), the probe includes it (and compares state, heartbeat and line count).

    >>> refresh_filters(dt.datetime(2026, 1, 2, 3, 4, 5, 600000, tzinfo=dt.UTC), [])
    {'heartbeatAt': {'$gt': '2026-01-02T03:04:05'}}
    """
    moved = {"heartbeatAt": {"$gte" if inclusive else "$gt": wandb_time(watermark)}}
    if not open_ids:
        return moved
    return {"$or": [moved, {"name": {"$in": sorted(open_ids)}}]}


def changed_run_ids(stored: pa.Table, probe: pa.Table) -> list[str]:
    """Ids of probed runs that are not stored or whose state, heartbeat or history line count
    differ from the stored row (``probe`` as ``Runs.to_state_table``; the line count catches a
    run that logged within the second of its stored heartbeat)."""
    if probe.num_rows == 0:
        return []
    fields = ["id", "state", "heartbeat_at"]
    if "history_line_count" in stored.column_names and "history_line_count" in probe.column_names:
        fields.append("history_line_count")

    def key(r: dict[str, Any]) -> tuple[Any, ...]:
        return (r["state"], to_utc(r["heartbeat_at"]), *(r[f] for f in fields[3:]))

    known_rows = stored.filter(pc.is_in(stored.column("id"), value_set=probe.column("id")))
    known = {r["id"]: key(r) for r in known_rows.select(fields).to_pylist()}
    return sorted(r["id"] for r in probe.select(fields).to_pylist() if known.get(r["id"]) != key(r))


def drop_runs(table: pa.Table, run_ids: list[str]) -> pa.Table:
    """``table`` without the rows of ``run_ids`` (runs deleted in W&B).

    >>> drop_runs(pa.table({"id": ["a", "b"]}), ["a"]).column("id").to_pylist()
    ['b']
    """
    if not run_ids or table.num_rows == 0:
        return table
    return table.filter(pc.invert(pc.is_in(table.column("id"), value_set=pa.array(run_ids))))


def merge_runs(stored: pa.Table, fresh: pa.Table) -> pa.Table:
    """``stored`` with every run in ``fresh`` replaced or added, sorted by ``created_at``."""
    if stored.num_rows == 0:
        merged = fresh
    elif fresh.num_rows == 0:
        merged = stored
    else:
        keep = pc.invert(pc.is_in(stored.column("id"), value_set=fresh.column("id")))
        # the client's rule for conflicting types (numbers widen, others become JSON text):
        # a cast would fail on e.g. a list meeting a string and block every later refresh
        merged = concat_tables([stored.filter(keep), fresh])
    if merged.num_rows and "created_at" in merged.column_names:
        merged = merged.sort_by([("created_at", "ascending"), ("id", "ascending")])
    return merged


def duplicate_ids(table: pa.Table) -> list[str]:
    """Run ids that appear more than once."""
    if table.num_rows == 0:
        return []
    counts = pc.value_counts(table.column("id"))
    repeated = counts.filter(pc.greater(counts.field("counts"), 1))
    return sorted(repeated.field("values").to_pylist())


def chunks(ids: Sequence[str], size: int = CHUNK, start: int = 0) -> list[tuple[int, list[str]]]:
    """``(offset, ids)`` slices of ``ids`` from ``start`` on, ``size`` each.

    Example:
        >>> chunks(["a", "b", "c"], size=2, start=1)
        [(1, ['b', 'c'])]
    """
    return [(i, list(ids[i : i + size])) for i in range(start, len(ids), size)]


def present_ids(client: WandbClient, project_path: str, ids: Sequence[str]) -> set[str]:
    """Which of ``ids`` W&B still has (one names-only listing per ``CHUNK`` ids)."""
    found: set[str] = set()
    for _, part in chunks(ids):
        listing = client.runs(project_path, filters={"name": {"$in": part}}, per_page=len(part))
        found |= set(listing.to_state_table().column("id").to_pylist())
    return found


def gone_run_ids(client: WandbClient, project_path: str, ids: Sequence[str]) -> list[str]:
    """The ``ids`` W&B no longer has, each confirmed by a second, focused listing."""
    present = present_ids(client, project_path, ids)
    candidates = [i for i in ids if i not in present]
    if not candidates:
        return []
    again = present_ids(client, project_path, candidates)
    return [i for i in candidates if i not in again]
