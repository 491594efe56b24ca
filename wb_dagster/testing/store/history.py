"""Run history on the server: exported parquet parts plus live (not yet exported) rows.

Design:

* Every history row is keyed by its ``_step`` (int, strictly increasing per run).
* A run's rows live in two places that never overlap: **exported parts** (parquet files, one
  flat column per key, ``_step`` int64 first; each written beside an uncompressed Arrow IPC copy
  that the server memory-maps to answer page queries) and **live rows** (one JSON text per step
  in SQLite table ``history_live``). Live steps are always greater than every exported step.
  ``finish`` exports the live rows as a new part; ``rewind`` truncates both.
* ``parquetHistory`` lists the parts' URLs and ``liveData`` the live steps.
* ``history(minStep, maxStep, samples)`` returns every row with ``minStep <= _step < maxStep``
  from both places, in step order (exported rows without their null columns, as W&B's JSON rows
  omit keys that were not logged).
* Down-sampling (``history``, ``sampledHistory``, ``events``) is deterministic: when ``n`` rows
  match and ``samples < n``, the rows at positions ``round(i * (n - 1) / (samples - 1))`` for
  ``i = 0 .. samples-1`` are kept, so the first and last rows are always included and rows are
  evenly spread. ``samples`` defaults to 500.
* ``sampledHistory`` spec: ``keys``, ``samples``, ``minStep``, ``maxStep`` (**inclusive**); only
  rows having a non-null value for every requested key are returned, projected to those keys.

Example:
    >>> import tempfile, pathlib
    >>> from wb_dagster.testing.store.database import Store
    >>> store = Store(pathlib.Path(tempfile.mkdtemp()))
    >>> with store.write() as c:
    ...     _ = c.execute("INSERT INTO runs(pk, project_pk, name, state, created_at, heartbeat_at)"
    ...                   " VALUES (1, 1, 'r', 'running', 't', 't')")
    >>> hist = HistoryStore(store)
    >>> hist.append_rows(1, [{"loss": 1.0}, {"loss": 0.5}])
    >>> hist.page(1, 0, 10, 500)
    ['{"_step": 0, "loss": 1.0}', '{"_step": 1, "loss": 0.5}']
    >>> _ = hist.export_live(1)
    >>> [p.rows for p in hist.parts(1)], hist.live_steps(1)
    ([2], [])
    >>> store.close()
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from wb_dagster.testing.store.database import Store
from wb_dagster.testing.store.history_keys import merge_key_info, rows_key_info, table_key_info
from wb_dagster.testing.store.history_rows import (
    dumps_row,
    json_safe,
    plain_numeric,
    rows_text_to_table,
    table_rows_json,
)

DEFAULT_SAMPLES = 500
# parquet row groups small enough for ranged column reads, big enough to compress well
ROW_GROUP_SIZE = 100_000


class HistoryError(ValueError):
    """Invalid history input (e.g. a step that does not increase)."""


def sample_positions(n: int, samples: int | None) -> np.ndarray:
    """Deterministic down-sampling: evenly spread positions, always the first and the last.

    >>> sample_positions(10, 4).tolist()
    [0, 3, 6, 9]
    >>> sample_positions(3, 500).tolist()
    [0, 1, 2]
    """
    if samples is None:
        samples = DEFAULT_SAMPLES
    if n <= samples:
        return np.arange(n, dtype=np.int64)
    if samples <= 0:
        return np.zeros(0, dtype=np.int64)
    if samples == 1:
        return np.array([n - 1], dtype=np.int64)
    return np.unique(np.round(np.linspace(0, n - 1, samples)).astype(np.int64))


@dataclass(frozen=True)
class HistoryPart:
    """One exported parquet file of a run's history."""

    run_pk: int
    part: int
    token: str
    min_step: int
    max_step: int
    rows: int
    parquet_path: Path
    ipc_path: Path

    @property
    def file_name(self) -> str:
        return f"{self.part:04d}-{self.token}.parquet"


class HistoryStore:
    """History rows of every run: live rows in SQLite, exported parts on disk."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._tables: dict[Path, pa.Table] = {}
        self._tables_lock = threading.Lock()

    # ----------------------------------------------------------------- reading parts
    def parts(self, run_pk: int) -> list[HistoryPart]:
        rows = (
            self.store.conn()
            .execute(
                "SELECT part, token, min_step, max_step, rows FROM history_exports "
                "WHERE run_pk = ? ORDER BY part",
                (run_pk,),
            )
            .fetchall()
        )
        return [self._part(run_pk, r[0], r[1], r[2], r[3], r[4]) for r in rows]

    def _part(self, run_pk: int, part: int, token: str, lo: int, hi: int, rows: int) -> HistoryPart:
        base = self.store.history_dir / str(run_pk)
        return HistoryPart(
            run_pk,
            part,
            token,
            lo,
            hi,
            rows,
            base / f"{part:04d}-{token}.parquet",
            base / f"{part:04d}-{token}.arrow",
        )

    def part_by_file(self, run_pk: int, file_name: str) -> HistoryPart | None:
        for part in self.parts(run_pk):
            if part.file_name == file_name:
                return part
        return None

    def _table(self, part: HistoryPart) -> pa.Table:
        with self._tables_lock:
            table = self._tables.get(part.ipc_path)
        if table is None:
            # memory-mapped: zero-copy, the OS page cache holds the data
            table = pa.ipc.open_file(pa.memory_map(str(part.ipc_path))).read_all()
            with self._tables_lock:
                self._tables[part.ipc_path] = table
        return table

    def _forget(self, parts: Iterable[HistoryPart]) -> None:
        with self._tables_lock:
            for part in parts:
                self._tables.pop(part.ipc_path, None)

    # ----------------------------------------------------------------- writing
    def _run_state(self, run_pk: int) -> tuple[int, dict[str, Any]]:
        row = (
            self.store.conn()
            .execute("SELECT last_step, history_keys FROM runs WHERE pk = ?", (run_pk,))
            .fetchone()
        )
        if row is None:
            raise HistoryError(f"run #{run_pk} does not exist")
        return int(row[0]), json.loads(row[1] or "{}")

    def append_rows(self, run_pk: int, rows: Sequence[dict[str, Any]]) -> None:
        """Append live rows; rows without ``_step`` get the next step."""
        with self.store.write() as conn:
            last_step, keys = self._run_state(run_pk)
            prepared: list[dict[str, Any]] = []
            for row in rows:
                row = dict(row)
                step = row.get("_step")
                if step is None:
                    step = last_step + 1
                step = int(step)
                if step <= last_step:
                    raise HistoryError(
                        f"history step {step} is not after the run's last step {last_step}; "
                        "steps must increase (rewind the run first to rewrite history)"
                    )
                row.pop("_step", None)
                last_step = step
                prepared.append({"_step": step, **row})
            if not prepared:
                return
            conn.executemany(
                "INSERT INTO history_live(run_pk, step, row) VALUES (?, ?, ?)",
                [(run_pk, r["_step"], dumps_row(r)) for r in prepared],
            )
            entries = keys.setdefault("keys", {})
            merge_key_info(entries, rows_key_info(prepared))
            keys["lastStep"] = last_step
            self._save_counters(conn, run_pk, keys, len(prepared))

    def append_table(self, run_pk: int, table: pa.Table, *, exported: bool) -> None:
        """Append a columnar block (``_step`` int64 column required, increasing) in one go.

        ``exported=True`` writes it as a new parquet part directly (fast path for big seeds);
        otherwise the rows are stored live.
        """
        if table.num_rows == 0:
            return
        steps = table.column("_step").to_numpy()
        with self.store.write() as conn:
            last_step, keys = self._run_state(run_pk)
            if steps[0] <= last_step or (len(steps) > 1 and np.any(np.diff(steps) <= 0)):
                raise HistoryError(f"history steps must increase and start after step {last_step}")
            if exported:
                if conn.execute(
                    "SELECT 1 FROM history_live WHERE run_pk = ? LIMIT 1", (run_pk,)
                ).fetchone():
                    raise HistoryError("export the run's live rows before adding exported rows")
                self._write_part(conn, run_pk, table)
            else:
                self._insert_live_table(conn, run_pk, table)
            merge_key_info(keys.setdefault("keys", {}), table_key_info(table))
            keys["lastStep"] = int(steps[-1])
            self._save_counters(conn, run_pk, keys, table.num_rows)

    def _insert_live_table(self, conn: Any, run_pk: int, table: pa.Table) -> None:
        names = table.column_names
        if plain_numeric(table):
            # fast path for big numeric seeds: one %-template per row, formatted in C
            # (%r of a float is its shortest round-trip repr, exactly what json.dumps writes)
            template = (
                "{"
                + ", ".join(
                    f"{json.dumps(n)}: %{'d' if pa.types.is_integer(table.column(n).type) else 'r'}"
                    for n in names
                )
                + "}"
            )
            step_idx = names.index("_step")
            for batch in table.to_batches(max_chunksize=100_000):
                columns = [batch.column(i).to_pylist() for i in range(batch.num_columns)]
                conn.executemany(
                    "INSERT INTO history_live(run_pk, step, row) VALUES (?, ?, ?)",
                    [(run_pk, v[step_idx], template % v) for v in zip(*columns, strict=True)],
                )
            return
        for batch in table.to_batches(max_chunksize=50_000):
            columns = [batch.column(i).to_pylist() for i in range(batch.num_columns)]
            step_idx = names.index("_step")
            payload = []
            for values in zip(*columns, strict=True):
                row = {k: v for k, v in zip(names, values, strict=True) if v is not None}
                payload.append((run_pk, values[step_idx], dumps_row(row)))
            conn.executemany(
                "INSERT INTO history_live(run_pk, step, row) VALUES (?, ?, ?)", payload
            )

    def _save_counters(self, conn: Any, run_pk: int, keys: dict[str, Any], added: int) -> None:
        conn.execute(
            "UPDATE runs SET history_keys = ?, last_step = ?, "
            "history_line_count = history_line_count + ? WHERE pk = ?",
            (json.dumps(json_safe(keys)), keys["lastStep"], added, run_pk),
        )

    def _write_part(self, conn: Any, run_pk: int, table: pa.Table) -> HistoryPart:
        row = conn.execute(
            "SELECT COALESCE(MAX(part), -1) + 1 FROM history_exports WHERE run_pk = ?", (run_pk,)
        ).fetchone()
        steps = table.column("_step")
        table = table.replace_schema_metadata({"wandb-compacted": "true"})
        part = self._part(
            run_pk,
            int(row[0]),
            secrets.token_hex(6),
            int(pc.min(steps).as_py()),
            int(pc.max(steps).as_py()),
            table.num_rows,
        )
        part.parquet_path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, part.parquet_path, row_group_size=ROW_GROUP_SIZE)
        with (
            pa.OSFile(str(part.ipc_path), "wb") as sink,
            pa.ipc.new_file(sink, table.schema) as writer,
        ):
            writer.write_table(table)
        conn.execute(
            "INSERT INTO history_exports(run_pk, part, token, min_step, max_step, rows) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (run_pk, part.part, part.token, part.min_step, part.max_step, part.rows),
        )
        return part

    def export_live(self, run_pk: int) -> HistoryPart | None:
        """Move all live rows of a run into a new exported parquet part."""
        with self.store.write() as conn:
            rows = conn.execute(
                "SELECT row FROM history_live WHERE run_pk = ? ORDER BY step", (run_pk,)
            ).fetchall()
            if not rows:
                return None
            table = rows_text_to_table([r[0] for r in rows])
            part = self._write_part(conn, run_pk, table)
            conn.execute("DELETE FROM history_live WHERE run_pk = ?", (run_pk,))
            return part

    def truncate(self, run_pk: int, step: int) -> None:
        """Drop every row with ``_step >= step`` (a rewind) and recompute the run's key info."""
        with self.store.write() as conn:
            conn.execute("DELETE FROM history_live WHERE run_pk = ? AND step >= ?", (run_pk, step))
            for part in self.parts(run_pk):
                if part.max_step < step:
                    continue
                table = self._table(part)
                self._forget([part])
                conn.execute(
                    "DELETE FROM history_exports WHERE run_pk = ? AND part = ?",
                    (run_pk, part.part),
                )
                if part.min_step < step:
                    kept = table.filter(pc.less(table.column("_step"), step))
                    self._write_part(conn, run_pk, kept.combine_chunks())
                del table
                self._unlink(part)
            self._recompute_keys(conn, run_pk)

    def _recompute_keys(self, conn: Any, run_pk: int) -> None:
        info: dict[str, dict[str, Any]] = {}
        count = 0
        last_step = -1
        for part in self.parts(run_pk):
            table = self._table(part)
            merge_key_info(info, table_key_info(table))
            count += table.num_rows
            last_step = max(last_step, part.max_step)
        live = [
            json.loads(r[0])
            for r in conn.execute(
                "SELECT row FROM history_live WHERE run_pk = ? ORDER BY step", (run_pk,)
            )
        ]
        merge_key_info(info, rows_key_info(live))
        count += len(live)
        if live:
            last_step = max(last_step, int(live[-1]["_step"]))
        keys = {"lastStep": last_step, "keys": info}
        conn.execute(
            "UPDATE runs SET history_keys = ?, last_step = ?, history_line_count = ? WHERE pk = ?",
            (json.dumps(json_safe(keys)), last_step, count, run_pk),
        )

    def _unlink(self, part: HistoryPart) -> None:
        for path in (part.parquet_path, part.ipc_path):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)

    def delete_run(self, run_pk: int) -> None:
        parts = self.parts(run_pk)
        with self.store.write() as conn:
            conn.execute("DELETE FROM history_live WHERE run_pk = ?", (run_pk,))
            conn.execute("DELETE FROM history_exports WHERE run_pk = ?", (run_pk,))
        self._forget(parts)
        for part in parts:
            self._unlink(part)

    # ----------------------------------------------------------------- queries
    def live_steps(self, run_pk: int) -> list[int]:
        cur = self.store.conn().execute(
            "SELECT step FROM history_live WHERE run_pk = ? ORDER BY step", (run_pk,)
        )
        return [r[0] for r in cur]

    def live_data(self, run_pk: int, keys: Sequence[str]) -> list[dict[str, Any]]:
        """``parquetHistory.liveData``: one object per live step with the requested keys."""
        wanted = set(keys) | {"_step"}
        if wanted == {"_step"}:
            return [{"_step": s} for s in self.live_steps(run_pk)]
        out = []
        for (text,) in self.store.conn().execute(
            "SELECT row FROM history_live WHERE run_pk = ? ORDER BY step", (run_pk,)
        ):
            row = json.loads(text)
            out.append(json_safe({k: v for k, v in row.items() if k in wanted}))
        return out

    def _exported_slices(self, run_pk: int, lo: int | None, hi: int | None) -> list[pa.Table]:
        slices = []
        for part in self.parts(run_pk):
            if (hi is not None and part.min_step >= hi) or (lo is not None and part.max_step < lo):
                continue
            table = self._table(part)
            steps = table.column("_step").to_numpy()
            a = 0 if lo is None else int(np.searchsorted(steps, lo, "left"))
            b = len(steps) if hi is None else int(np.searchsorted(steps, hi, "left"))
            if b > a:
                slices.append(table.slice(a, b - a))
        return slices

    def _live_range_sql(self, lo: int | None, hi: int | None) -> tuple[str, list[int]]:
        sql, params = "run_pk = ?", []
        if lo is not None:
            sql += " AND step >= ?"
            params.append(lo)
        if hi is not None:
            sql += " AND step < ?"
            params.append(hi)
        return sql, params

    def page(
        self, run_pk: int, min_step: int | None, max_step: int | None, samples: int | None
    ) -> list[str]:
        """``history(minStep, maxStep, samples)``: JSON rows with minStep <= _step < maxStep."""
        slices = self._exported_slices(run_pk, min_step, max_step)
        where, params = self._live_range_sql(min_step, max_step)
        conn = self.store.conn()
        n_live = conn.execute(
            f"SELECT count(*) FROM history_live WHERE {where}", [run_pk, *params]
        ).fetchone()[0]
        n_exported = sum(s.num_rows for s in slices)
        positions = sample_positions(n_exported + n_live, samples)
        out: list[str] = []
        exported_pos = positions[positions < n_exported]
        if len(exported_pos):
            # parts may differ in columns (a resumed run logs new keys): unify, null-filling
            combined = (
                pa.concat_tables(slices, promote_options="permissive")
                if len(slices) > 1
                else slices[0]
            )
            picked = combined if len(exported_pos) == n_exported else combined.take(exported_pos)
            out.extend(table_rows_json(picked))
        live_pos = positions[positions >= n_exported] - n_exported
        if len(live_pos):
            cur = conn.execute(
                f"SELECT row FROM history_live WHERE {where} ORDER BY step", [run_pk, *params]
            )
            if len(live_pos) == n_live:
                out.extend(r[0] for r in cur)
            else:
                texts = [r[0] for r in cur]
                out.extend(texts[i] for i in live_pos)
        return out

    def sampled(self, run_pk: int, spec: dict[str, Any]) -> list[dict[str, Any]]:
        """``sampledHistory`` for one spec (maxStep inclusive; rows must have every key)."""
        keys = list(dict.fromkeys(spec.get("keys") or []))
        lo = spec.get("minStep")
        hi = spec.get("maxStep")
        lo = None if lo is None else int(lo)
        hi_excl = None if hi is None else int(hi) + 1
        samples = spec.get("samples", DEFAULT_SAMPLES)
        rows: list[dict[str, Any]] = []
        for table in self._exported_slices(run_pk, lo, hi_excl):
            if keys:
                if any(k not in table.column_names for k in keys):
                    continue
                mask = None
                for k in keys:
                    valid = pc.is_valid(table.column(k))
                    mask = valid if mask is None else pc.and_(mask, valid)
                table = table.filter(mask).select(keys)
            rows.extend(table.to_pylist())
        where, params = self._live_range_sql(lo, hi_excl)
        for (text,) in self.store.conn().execute(
            f"SELECT row FROM history_live WHERE {where} ORDER BY step", [run_pk, *params]
        ):
            row = json.loads(text)
            if keys:
                if any(row.get(k) is None for k in keys):
                    continue
                row = {k: row[k] for k in keys}
            rows.append(row)
        if not keys:
            rows = [{k: v for k, v in r.items() if v is not None} for r in rows]
        return [json_safe(rows[i]) for i in sample_positions(len(rows), samples)]
