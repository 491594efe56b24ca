"""Full, unsampled run history as Arrow: exported parquet plus concurrent live pages.

Where the rows come from (the same sources the official SDK 0.31 reads, without its sidecar):

1. ``parquetHistory(liveKeys: ["_step"])`` lists the run's exported parquet files and the steps
   not exported yet (``liveData``); ``historyKeys.lastStep`` bounds the scan.
2. Each parquet URL is fetched with one GET and read by ``pyarrow.parquet`` (no per-row Python).
3. The unexported tail -- or everything, when nothing is exported -- is read from the live
   ``history(minStep, maxStep, samples)`` field (``maxStep`` exclusive), in step windows fetched
   concurrently; a window W&B capped is split and read again (:mod:`.history_windows`).
4. A live row whose step is also in an export is dropped (the server may return both), so there
   is exactly one row per logged step; rows are sorted by ``_step``.
5. Export URLs are signed and expire: a parquet URL answering 403 or 404 makes the reader ask for
   fresh URLs (step 1 again, at most ``URL_REFRESHES`` times) instead of failing the read.

Streaming the history through parquet files with bounded memory is in
:mod:`wb_dagster.client.history_export`; ``Run.scan_history`` iterates :meth:`HistoryReader.scan`.

Representation: see :mod:`wb_dagster.client.flatten` (dotted nested keys, typed values such as
histograms as their W&B JSON text, nulls where a key was not logged); ``_step`` is int64 and first.

Example (``client`` connected to the local server with the demo seed):
    >>> table = client.run("wb-demo/cifar/cifar000").history_table()
    >>> table.column_names[0], table.num_rows
    ('_step', 2000)
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json
import pyarrow.parquet as pq

from wb_dagster.client.encoding import last_step as history_last_step
from wb_dagster.client.errors import AuthenticationError, CommError, NotFoundError
from wb_dagster.client.export_files import fetch_export
from wb_dagster.client.flatten import (
    STEP,
    concat_tables,
    normalize_arrow_table,
    order_columns,
    rows_to_table,
)
from wb_dagster.client.history_windows import read_window, step_windows
from wb_dagster.client.paths import ObjectPath
from wb_dagster.client.queries import HISTORY_PAGE, RUN_PARQUET_HISTORY
from wb_dagster.client.transport import Transport

_MAX_GRAPHQL_INT = 2**31 - 1
URL_REFRESHES = 2  # times a read asks for fresh export URLs after one answered 403/404
_T = TypeVar("_T")


class ExportUrlExpired(CommError):
    """A signed history-export URL answered 403/404 (it expired, or the export was replaced)."""

    @classmethod
    def from_error(cls, exc: CommError) -> ExportUrlExpired:
        response = getattr(exc.exc, "response", None)
        status = getattr(response, "status_code", None) or "403/404"
        return cls(f"the export URL answered HTTP {status}", exc=exc.exc)


@dataclass
class HistoryPlan:
    """Which steps come from which source, for one read of one run."""

    min_step: int
    stop: int  # exclusive
    last_step: int
    line_count: int
    parquet_urls: list[str] = field(default_factory=list)
    live_from: int | None = None  # first step to read live; None = nothing live

    @property
    def source(self) -> str:
        if self.parquet_urls and self.live_from is not None:
            return "mixed"
        return "exported" if self.parquet_urls else "live"


def parse_history_lines(lines: Sequence[str]) -> list[dict[str, Any]]:
    """Parse the live ``history`` field (a list of JSON strings) in one C-level ``json.loads``.

    Example:
        >>> parse_history_lines(['{"_step": 0, "x": NaN}', '{"_step": 1}'])[1]
        {'_step': 1}
    """
    if not lines:
        return []
    try:
        rows = json.loads("[" + ",".join(lines) + "]")
    except ValueError:
        rows = [json.loads(line, strict=False) for line in lines]
    return [r for r in rows if isinstance(r, dict)]


def lines_to_table(lines: Sequence[str]) -> pa.Table:
    """A history page (JSON strings) as a flat table, parsed by Arrow's JSON reader.

    Falls back to ``json.loads`` + :func:`rows_to_table` when Arrow's reader cannot hold the
    page as is (a key changing type, timestamps it would re-type, huge integers).

    Example:
        >>> lines_to_table(['{"_step": 0, "a": {"b": 1}}', '{"_step": 1, "c": NaN}']).column_names
        ['_step', 'a.b', 'c']
    """
    if not lines:
        return rows_to_table([])
    data = "\n".join(lines).encode()
    try:
        table = pa_json.read_json(
            io.BytesIO(data),
            read_options=pa_json.ReadOptions(block_size=max(1 << 20, len(data) + 1)),
        )
        if not any(_retyped(f.type) for f in table.schema):
            return order_columns(normalize_arrow_table(table))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        pass
    # no JSON true/false token anywhere: no bool can hide among numbers
    bools = b"true" in data or b"false" in data
    return rows_to_table(parse_history_lines(lines), bools=bools)


def _retyped(typ: pa.DataType) -> bool:
    """Types Arrow's JSON reader infers from strings (W&B keeps them as text)."""
    if pa.types.is_timestamp(typ) or pa.types.is_date(typ) or pa.types.is_time(typ):
        return True
    if pa.types.is_struct(typ):
        return any(_retyped(typ.field(i).type) for i in range(typ.num_fields))
    if pa.types.is_list(typ) or pa.types.is_large_list(typ):
        return _retyped(typ.value_type)
    return False


class HistoryReader:
    """Reads one run's history; shared by ``history_table``, batches, parquet and scans."""

    def __init__(
        self,
        transport: Transport,
        path: ObjectPath,
        *,
        workers: int = 8,
        page_rows: int = 1_000,
    ) -> None:
        self.transport = transport
        self.path = path
        self.workers = max(1, workers)
        self.page_rows = page_rows

    # -- planning ------------------------------------------------------------------------------

    def _vars(self) -> dict[str, Any]:
        return {"entity": self.path.entity, "project": self.path.project}

    def plan(self, min_step: int = 0, max_step: int | None = None) -> HistoryPlan:
        data = self.transport.graphql(
            RUN_PARQUET_HISTORY,
            {**self._vars(), "runName": self.path.id, "liveKeys": [STEP]},
            what=f"listing history exports of run {self.path}",
        )
        run = (data.get("project") or {}).get("run")
        if run is None:
            raise NotFoundError(
                f"Could not find run {self.path}: check the entity, project and run id."
            )
        last_step = history_last_step(run.get("historyKeys"))
        parquet = run.get("parquetHistory") or {}
        urls = [u for u in parquet.get("parquetUrls") or [] if u]
        live_steps = [
            int(d[STEP]) for d in parquet.get("liveData") or [] if isinstance(d, dict) and STEP in d
        ]
        stop = last_step + 1 if max_step is None else min(max_step, last_step + 1)
        if not urls:
            live_from: int | None = min_step
        elif live_steps:
            live_from = max(min_step, min(live_steps))
        else:
            live_from = None
        if live_from is not None and live_from >= stop:
            live_from = None
        return HistoryPlan(
            min_step=min_step,
            stop=stop,
            last_step=last_step,
            line_count=int(run.get("historyLineCount") or 0) if "historyLineCount" in run else 0,
            parquet_urls=urls,
            live_from=live_from,
        )

    # -- sources -------------------------------------------------------------------------------

    def concurrently(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
        """``[fn(item) for item in items]``, on up to ``workers`` threads."""
        if len(items) <= 1:
            return [fn(i) for i in items]
        with ThreadPoolExecutor(max_workers=min(self.workers, len(items))) as pool:
            return list(pool.map(fn, items))

    def fetch_export(self, url: str) -> bytes:
        try:
            return fetch_export(self.transport, url, run=self.path)
        except (NotFoundError, AuthenticationError) as exc:
            raise ExportUrlExpired.from_error(exc) from exc

    def with_fresh_urls(
        self, min_step: int, max_step: int | None, work: Callable[[HistoryPlan], _T]
    ) -> _T:
        """``work(plan)``; when an export URL of the plan expired, plan again (fresh URLs)."""
        for attempt in range(URL_REFRESHES + 1):
            plan = self.plan(min_step, max_step)
            try:
                return work(plan)
            except ExportUrlExpired as exc:
                if attempt == URL_REFRESHES:
                    raise CommError(
                        f"reading the history of run {self.path}: its exported parquet URL kept "
                        f"failing after asking W&B for fresh URLs {URL_REFRESHES} times "
                        f"({exc.message}). The export may be being rewritten; try again later.",
                        exc=exc.exc,
                    ) from exc
        raise AssertionError("unreachable")

    def live_windows(self, plan: HistoryPlan) -> list[tuple[int, int]]:
        if plan.live_from is None:
            return []
        return step_windows(plan.live_from, plan.stop, plan.line_count, self.page_rows)

    def live_lines(self, window: tuple[int, int]) -> list[str]:
        return read_window(self._live_request, window[0], window[1], self.page_rows)

    def _live_request(self, lo: int, hi: int, samples: int) -> list[str]:
        data = self.transport.graphql(
            HISTORY_PAGE,
            {
                **self._vars(),
                "run": self.path.id,
                "minStep": lo,
                "maxStep": hi,
                "pageSize": min(samples, _MAX_GRAPHQL_INT),
            },
            what=f"reading history steps [{lo}, {hi}) of run {self.path}",
        )
        run = (data.get("project") or {}).get("run")
        if run is None:
            raise NotFoundError(f"Could not find run {self.path} while reading its history.")
        return run.get("history") or []

    def live_page(self, window: tuple[int, int]) -> list[dict[str, Any]]:
        return parse_history_lines(self.live_lines(window))

    def live_table(self, window: tuple[int, int]) -> pa.Table:
        return lines_to_table(self.live_lines(window))

    # -- the table -------------------------------------------------------------------------------

    def table(
        self, keys: Sequence[str] | None = None, min_step: int = 0, max_step: int | None = None
    ) -> pa.Table:
        return self.with_fresh_urls(min_step, max_step, lambda plan: self._table(plan, keys))

    def _table(self, plan: HistoryPlan, keys: Sequence[str] | None) -> pa.Table:
        min_step = plan.min_step
        if plan.stop <= min_step:
            return _select_keys(empty_history(), keys)
        windows = self.live_windows(plan)
        jobs: list[tuple[str, Any]] = [("export", u) for u in plan.parquet_urls]
        jobs += [("live", w) for w in windows]

        def run_job(job: tuple[str, Any]) -> pa.Table:
            kind, arg = job
            if kind == "export":
                return _read_export(self.fetch_export(arg), keys)
            return self.live_table(arg)

        tables = self.concurrently(run_job, jobs)
        exported = [in_range(t, plan) for t in tables[: len(plan.parquet_urls)]]
        live = [in_range(t, plan) for t in tables[len(plan.parquet_urls) :]]
        if exported and live:
            done = pa.chunked_array([t.column(STEP) for t in exported if t.num_rows])
            live = [drop_steps(t, done) for t in live]
        table = concat_tables(exported + live) if (exported or live) else empty_history()
        table = _finish(table)
        return _select_keys(table, keys)

    # -- SDK-style row scan ----------------------------------------------------------------------

    def scan(
        self, keys: Sequence[str] | None, page_size: int, min_step: int, max_step: int | None
    ) -> Iterator[dict[str, Any]]:
        """Rows like ``wandb``'s ``scan_history``: raw W&B rows, page by page, in step order."""

        def fetch_all(plan: HistoryPlan) -> tuple[HistoryPlan, list[bytes]]:
            return plan, self.concurrently(self.fetch_export, plan.parquet_urls)

        plan, blobs = self.with_fresh_urls(min_step, max_step, fetch_all)
        # each part read on its own (no merge): rows keep W&B's values, as the SDK yields them
        exported = [_with_int_steps(pq.ParquetFile(pa.BufferReader(b)).read()) for b in blobs]
        for lo in range(min_step, plan.stop, max(1, page_size)):
            hi = min(lo + page_size, plan.stop)
            rows: list[dict[str, Any]] = []
            for part in exported:
                steps = part.column(STEP)
                page = part.filter(pc.and_(pc.greater_equal(steps, lo), pc.less(steps, hi)))
                if keys:
                    # like wandb 0.31's parquet path: every step, requested columns that exist
                    page = page.select([STEP, *[k for k in keys if k in page.column_names]])
                rows += page.to_pylist()
            seen = {r[STEP] for r in rows}
            if plan.live_from is not None and hi > plan.live_from:
                live = self.live_page((max(lo, plan.live_from), hi))
                live = [r for r in live if int(r.get(STEP, -1)) not in seen]
                if keys:
                    # like W&B's live path (sampledHistory): only rows holding every key
                    live = [
                        {STEP: r.get(STEP), **{k: r[k] for k in keys}}
                        for r in live
                        if all(r.get(k) is not None for k in keys)
                    ]
                rows += live
            rows.sort(key=lambda r: r.get(STEP, 0))
            yield from rows


# -- table helpers -------------------------------------------------------------------------------


def _with_int_steps(table: pa.Table) -> pa.Table:
    if STEP not in table.column_names:
        raise CommError("a history export has no _step column; it cannot be aligned by step")
    return table.set_column(
        table.column_names.index(STEP), STEP, table.column(STEP).cast(pa.int64())
    )


def empty_history() -> pa.Table:
    """A history without rows: just the int64 ``_step`` column.

    Example:
        >>> empty_history().schema.names, empty_history().num_rows
        (['_step'], 0)
    """
    return pa.table({STEP: pa.array([], type=pa.int64())})


def _read_export(data: bytes, keys: Sequence[str] | None) -> pa.Table:
    # ParquetFile, not pq.read_table: no pyarrow.dataset import and discovery (bench W2)
    export = pq.ParquetFile(pa.BufferReader(data))
    columns = None
    if keys:
        names = set(export.schema_arrow.names)
        wanted = [STEP, *keys]
        if all(k in names for k in wanted if k != STEP or STEP in names):
            columns = [k for k in wanted if k in names]
    table = export.read(columns=columns)
    if STEP not in table.column_names:
        raise CommError("a history export has no _step column; it cannot be aligned by step")
    return normalize_arrow_table(table)


def in_range(table: pa.Table, plan: HistoryPlan) -> pa.Table:
    """The rows of ``table`` whose step the plan reads (``[min_step, stop)``), ``_step`` int64.

    Example:
        >>> plan = HistoryPlan(min_step=1, stop=3, last_step=9, line_count=10)
        >>> in_range(pa.table({"_step": [0, 1, 2, 3]}), plan).column("_step").to_pylist()
        [1, 2]
    """
    if STEP not in table.column_names:
        return empty_history() if not table.num_rows else table
    steps = table.column(STEP)
    if not pa.types.is_int64(steps.type):
        steps = steps.cast(pa.int64())
        table = table.set_column(table.column_names.index(STEP), STEP, steps)
    if not table.num_rows:
        return table
    lo, hi = pc.min(steps).as_py(), pc.max(steps).as_py()
    if lo >= plan.min_step and hi < plan.stop:
        return table
    mask = pc.and_(pc.greater_equal(steps, plan.min_step), pc.less(steps, plan.stop))
    return table.filter(mask)


def drop_steps(table: pa.Table, steps: pa.ChunkedArray | pa.Array) -> pa.Table:
    """The rows of ``table`` whose step is not in ``steps`` (e.g. steps already exported).

    Example:
        >>> drop_steps(pa.table({"_step": [0, 1, 2]}), pa.array([1])).column("_step").to_pylist()
        [0, 2]
    """
    if not table.num_rows or not len(steps):
        return table
    return table.filter(
        pc.invert(
            pc.is_in(
                table.column(STEP),
                value_set=pa.concat_arrays(
                    steps.chunks if isinstance(steps, pa.ChunkedArray) else [steps]
                ),
            )
        )
    )


def _finish(table: pa.Table) -> pa.Table:
    """Sort by step and keep exactly one row per step (the last one read)."""
    if STEP not in table.column_names:
        return empty_history()
    steps = table.column(STEP).to_numpy()
    if len(steps) > 1 and not (steps[1:] > steps[:-1]).all():
        indices = pc.sort_indices(table, sort_keys=[(STEP, "ascending")])
        table = table.take(indices)
        steps = table.column(STEP).to_numpy()
        if not (steps[1:] > steps[:-1]).all():
            import numpy as np

            keep = np.append(steps[1:] != steps[:-1], True)
            table = table.filter(pa.array(keep))
    return order_columns(table)


def _select_keys(table: pa.Table, keys: Sequence[str] | None) -> pa.Table:
    if not keys:
        return table
    present = [k for k in keys if k in table.column_names and k != STEP]
    out = table.select([STEP, *present])
    for k in keys:
        if k not in out.column_names:
            out = out.append_column(k, pa.nulls(out.num_rows))
    if present:
        mask = None
        for k in present:
            valid = pc.is_valid(out.column(k))
            mask = valid if mask is None else pc.or_(mask, valid)
        out = out.filter(mask)
    else:
        out = out.slice(0, 0)
    return out
