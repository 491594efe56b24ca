"""A run's history streamed through parquet files on disk, so memory stays bounded.

Exports and live pages are spooled into a temporary directory first, one page or file in memory
at a time, then read back under one unified schema: as record batches
(``Run.iter_history_batches``) or into one parquet file (``Run.write_history_parquet``).

Example (``client`` connected to the local server with the demo seed):
    >>> import io
    >>> export = client.run("wb-demo/cifar/cifar000").write_history_parquet(io.BytesIO())
    >>> export.rows, export.min_step, export.source
    (2000, 0, 'exported')
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from wb_dagster.client.errors import AuthenticationError, NotFoundError
from wb_dagster.client.export_files import download_export
from wb_dagster.client.flatten import STEP, normalize_arrow_table, unify_tables
from wb_dagster.client.history import (
    ExportUrlExpired,
    HistoryPlan,
    HistoryReader,
    drop_steps,
    empty_history,
    in_range,
)
from wb_dagster.client.values import conform_table


@dataclass(frozen=True)
class HistoryExport:
    """What :meth:`Run.write_history_parquet` wrote.

    ``min_step``/``max_step`` are the first and last step written (``max_step = min_step - 1``
    when no row was written); ``source`` is ``"exported"``, ``"live"`` or ``"mixed"``.

    Example:
        >>> HistoryExport(rows=0, min_step=0, max_step=-1, keys=[], source="live").rows
        0
    """

    rows: int
    min_step: int
    max_step: int
    keys: list[str]
    source: str


def spool(reader: HistoryReader, plan: HistoryPlan, workdir: str) -> list[tuple[str, str]]:
    """Download exports and live pages into parquet files under ``workdir``.

    Returns ``[(kind, path)]`` in step order; memory stays bounded by one page or file.
    """
    files: list[tuple[str, str]] = []

    def download(item: tuple[int, str]) -> tuple[str, str]:
        i, url = item
        dest = os.path.join(workdir, f"export-{i:05d}.parquet")
        with open(dest, "wb") as fh:
            try:
                download_export(reader.transport, url, fh, run=reader.path)
            except (NotFoundError, AuthenticationError) as exc:
                raise ExportUrlExpired.from_error(exc) from exc
        return ("export", dest)

    files += reader.concurrently(download, list(enumerate(plan.parquet_urls)))
    exported_steps = _exported_steps([p for _, p in files], plan)

    def live(item: tuple[int, tuple[int, int]]) -> tuple[str, str]:
        i, window = item
        table = in_range(reader.live_table(window), plan)
        if exported_steps is not None:
            table = drop_steps(table, exported_steps)
        dest = os.path.join(workdir, f"live-{i:07d}.parquet")
        pq.write_table(table, dest)
        return ("live", dest)

    windows = list(enumerate(reader.live_windows(plan)))
    # bounded lookahead: at most `workers` pages are held in memory at once
    for start in range(0, len(windows), reader.workers * 4):
        files += reader.concurrently(live, windows[start : start + reader.workers * 4])
    return files


def iter_batches(
    reader: HistoryReader, min_step: int = 0, max_step: int | None = None, batch_rows: int = 65_536
) -> Iterator[pa.RecordBatch]:
    """Record batches of the whole history under one unified schema (bounded memory)."""
    with tempfile.TemporaryDirectory(prefix="wb-history-") as workdir:
        plan, files = _spooled(reader, min_step, max_step, workdir)
        schema = _unified_schema([p for _, p in files])
        for kind, path in files:
            for batch in parquet_batches(path, batch_rows):
                table = pa.Table.from_batches([batch])
                if kind == "export":
                    table = in_range(normalize_arrow_table(table), plan)
                if table.num_rows:
                    yield from conform_table(table, schema).to_batches()


def _spooled(
    reader: HistoryReader, min_step: int, max_step: int | None, workdir: str
) -> tuple[HistoryPlan, list[tuple[str, str]]]:
    def fresh_spool(plan: HistoryPlan) -> tuple[HistoryPlan, list[tuple[str, str]]]:
        for leftover in os.listdir(workdir):  # from an attempt with expired URLs
            os.unlink(os.path.join(workdir, leftover))
        return plan, (spool(reader, plan, workdir) if plan.stop > min_step else [])

    return reader.with_fresh_urls(min_step, max_step, fresh_spool)


def write_parquet(reader: HistoryReader, dest: Any, min_step: int = 0) -> HistoryExport:
    rows = 0
    first: int | None = None
    last: int | None = None
    keys: list[str] = []
    with tempfile.TemporaryDirectory(prefix="wb-history-") as workdir:
        plan, files = _spooled(reader, min_step, None, workdir)
        schema = _unified_schema([p for _, p in files])
        keys = [n for n in schema.names if n != STEP]
        with _open_dest(dest) as sink, pq.ParquetWriter(sink, schema) as writer:
            for kind, path in files:
                for batch in parquet_batches(path, 65_536):
                    table = pa.Table.from_batches([batch])
                    if kind == "export":
                        table = in_range(normalize_arrow_table(table), plan)
                    if not table.num_rows:
                        continue
                    table = conform_table(table, schema)
                    writer.write_table(table)
                    steps = table.column(STEP)
                    lo, hi = pc.min(steps).as_py(), pc.max(steps).as_py()
                    first = lo if first is None else min(first, lo)
                    last = hi if last is None else max(last, hi)
                    rows += table.num_rows
    start = first if first is not None else min_step
    return HistoryExport(
        rows=rows,
        min_step=start,
        max_step=last if last is not None else start - 1,
        keys=keys,
        source=plan.source,
    )


def parquet_batches(path: str, batch_rows: int) -> Iterator[pa.RecordBatch]:
    """Record batches of a parquet file, holding one row group in memory at a time.

    Not ``ParquetFile.iter_batches``: with pyarrow 26 it buffered the whole file (1.1 GB of Arrow
    memory for a 1 GB, 50-row-group history; bench W8), reading row groups keeps it at ~40 MB.
    """
    pf = pq.ParquetFile(path)
    for i in range(pf.num_row_groups):
        yield from pf.read_row_group(i).to_batches(max_chunksize=batch_rows)


def _exported_steps(paths: Sequence[str], plan: HistoryPlan) -> pa.ChunkedArray | None:
    if not paths or plan.live_from is None:
        return None
    cols = [pq.read_table(p, columns=[STEP]).column(STEP).cast(pa.int64()) for p in paths]
    return pa.chunked_array([c for col in cols for c in col.chunks], type=pa.int64())


def _unified_schema(paths: Sequence[str]) -> pa.Schema:
    schemas = []
    for path in paths:
        schema = pq.read_schema(path)
        if any(pa.types.is_struct(f.type) for f in schema):
            schema = normalize_arrow_table(schema.empty_table()).schema
        schemas.append(schema)
    if not schemas:
        return empty_history().schema
    schema = unify_tables([s.empty_table() for s in schemas])[0].schema.remove_metadata()
    names = [STEP, *sorted(n for n in schema.names if n != STEP)]
    return pa.schema([pa.field(STEP, pa.int64()), *(schema.field(n) for n in names[1:])])


class _open_dest:
    """Open a local path, an fsspec/UPath-like object, or pass a writable file through."""

    def __init__(self, dest: Any) -> None:
        self.dest = dest
        self._fh: Any = None

    def __enter__(self) -> Any:
        if hasattr(self.dest, "write"):
            return self.dest
        if hasattr(self.dest, "open") and not isinstance(self.dest, str | bytes | os.PathLike):
            # UPath and friends (s3://, gs://, ...)
            parent = getattr(self.dest, "parent", None)
            if parent is not None and hasattr(parent, "mkdir"):
                parent.mkdir(parents=True, exist_ok=True)
            self._fh = self.dest.open("wb")
            return self._fh
        path = os.fspath(self.dest)
        parent = os.path.dirname(os.path.abspath(path))
        os.makedirs(parent, exist_ok=True)
        self._fh = open(path, "wb")
        return self._fh

    def __exit__(self, *exc: object) -> None:
        if self._fh is not None:
            self._fh.close()
