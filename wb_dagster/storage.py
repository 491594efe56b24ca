"""Atomic parquet files on any fsspec store (local directory, ``s3://``, ``gs://``).

Every write goes to a hidden temporary sibling first and is moved into place only once complete,
so a failed or killed materialization never leaves a half-written file and keeps the previous one
readable. A temporary file left by a killed writer is removed by a later successful write of the
same file once it is older than ``STALE_TEMP_S`` (local stores). On object stores the final
move is a server-side copy, which is atomic per object. Upserts of stored history re-check,
right before their replace, that the stored file is still the one they merged with
(:func:`upsert_steps_atomic`).

Example:
    >>> import pyarrow as pa, tempfile
    >>> from upath import UPath
    >>> root = UPath(tempfile.mkdtemp())
    >>> write_table_atomic(pa.table({"_step": [0, 1]}), root / "a" / "t.parquet")
    >>> read_table(root / "a" / "t.parquet").num_rows
    2
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import random
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from upath import UPath

from wb_dagster.client.values import conform_table, merged_schema

# rows per row group when re-writing: bounds memory while merging files
MERGE_BATCH_ROWS = 65_536

# advisory locks of concurrent stored-history upserts (one machine)
LOCK_DIR = Path(tempfile.gettempdir()) / "wb-dagster-locks"


def is_local(path: UPath) -> bool:
    """True when ``path`` lives on the local filesystem (os-level rename is available)."""
    return getattr(path, "protocol", "") in ("", "file", "local")


# a temporary sibling this old was left by a killed writer (a live one finishes much sooner)
STALE_TEMP_S = 600.0


def _temp_sibling(dest: UPath) -> UPath:
    return dest.parent / f".{dest.name}.tmp-{uuid.uuid4().hex[:12]}"


def _remove_stale_temps(dest: UPath) -> None:
    """Delete temporary siblings of ``dest`` left by writers that were killed (local only)."""
    cutoff = time.time() - STALE_TEMP_S
    for leftover in Path(dest.path).parent.glob(f".{dest.name}.tmp-*"):
        with contextlib.suppress(OSError):
            if leftover.stat().st_mtime < cutoff:
                leftover.unlink()


@contextlib.contextmanager
def atomic_destination(
    dest: UPath, before_replace: Callable[[], None] | None = None
) -> Iterator[UPath]:
    """Yield a temporary sibling of ``dest``; move it onto ``dest`` only if the block succeeds.

    ``before_replace`` is called right before the move; if it raises, nothing is replaced.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_sibling(dest)
    try:
        yield tmp
        if before_replace is not None:
            before_replace()
        if is_local(dest):
            os.replace(tmp.path, dest.path)
            _remove_stale_temps(dest)
        else:
            tmp.fs.mv(tmp.path, dest.path)
    except BaseException:
        with contextlib.suppress(Exception):
            if tmp.exists():
                tmp.unlink()
        raise


def write_table_atomic(table: pa.Table, dest: UPath) -> None:
    """Write ``table`` as parquet at ``dest`` atomically (readers see the old file or the new)."""
    with atomic_destination(dest) as tmp, tmp.open("wb") as fh:
        pq.write_table(table, fh)


def put_local_file_atomic(local: Path, dest: UPath) -> None:
    """Copy a finished local file to ``dest`` atomically (local rename, or upload then move)."""
    with atomic_destination(dest) as tmp:
        if is_local(dest):
            shutil.copyfile(local, tmp.path)
        else:
            tmp.fs.put_file(str(local), tmp.path)


def read_table(path: UPath) -> pa.Table:
    """Read a parquet file from any store."""
    # ParquetFile, not pq.read_table: the latter imports pyarrow.dataset (~15 ms per process)
    with path.open("rb") as fh:
        return pq.ParquetFile(fh).read()


@dataclass(frozen=True)
class ParquetSummary:
    """What a stored parquet file holds, read from its footer only (no data pages)."""

    rows: int
    columns: list[str]
    min_step: int | None
    max_step: int | None
    schema: pa.Schema


def summarize_parquet(path: UPath, step_column: str = "_step") -> ParquetSummary | None:
    """Footer summary of ``path``, or ``None`` when the file is missing or unreadable."""
    try:
        with path.open("rb") as fh:
            pf = pq.ParquetFile(fh)
            meta, schema = pf.metadata, pf.schema_arrow
    except (FileNotFoundError, OSError, pa.ArrowInvalid):
        return None
    lo: int | None = None
    hi: int | None = None
    if step_column in schema.names:
        idx = schema.names.index(step_column)
        for rg in range(meta.num_row_groups):
            col = meta.row_group(rg).column(idx)
            stats = col.statistics
            if stats is None or not stats.has_min_max:
                continue
            lo = int(stats.min) if lo is None else min(lo, int(stats.min))
            hi = int(stats.max) if hi is None else max(hi, int(stats.max))
    return ParquetSummary(meta.num_rows, list(schema.names), lo, hi, schema)


def _schema(path: UPath) -> pa.Schema:
    with path.open("rb") as fh:
        return pq.ParquetFile(fh).schema_arrow


def _batches(path: UPath) -> Iterator[pa.RecordBatch]:
    with path.open("rb") as fh:
        yield from pq.ParquetFile(fh).iter_batches(batch_size=MERGE_BATCH_ROWS)


def concat_parquet_atomic(parts: list[UPath | Path], dest: UPath) -> ParquetSummary:
    """Write the rows of ``parts`` (in order) into ``dest`` atomically with bounded memory.

    Parts may have different columns; the result has their union (missing values are null) and
    each column's type follows the value model's merge rule (``wb_dagster.client.values``).
    """
    files = [UPath(p) if isinstance(p, Path) else p for p in parts]
    schema = merged_schema([_schema(f) for f in files])
    with (
        atomic_destination(dest) as tmp,
        tmp.open("wb") as out,
        pq.ParquetWriter(out, schema) as writer,
    ):
        for f in files:
            for batch in _batches(f):
                writer.write_table(conform_table(batch, schema))
    summary = summarize_parquet(dest)
    assert summary is not None
    return summary


# how often an upsert merges again when other writers replaced the stored file under it
UPSERT_ATTEMPTS = 5
# fsspec ``info()`` fields that change when an object is replaced; each store gives some
# (S3 ETag, GCS generation, local mtime and inode, memory creation time)
_IDENTITY_FIELDS = (
    "ETag",
    "etag",
    "generation",
    "VersionId",
    "LastModified",
    "updated",
    "mtime",
    "ino",
    "created",
    "size",
)


class StoredFileChanged(RuntimeError):
    """Other writers replaced a stored file while an upsert was merging with it.

    Example:
        >>> issubclass(StoredFileChanged, RuntimeError)
        True
    """


def stored_identity(path: UPath) -> tuple[str, ...] | None:
    """What identifies the object stored at ``path`` now (``None``: there is none).

    Example:
        >>> import tempfile
        >>> p = UPath(tempfile.mkdtemp()) / "t.parquet"
        >>> stored_identity(p) is None
        True
        >>> write_table_atomic(pa.table({"_step": [0]}), p)
        >>> stored_identity(p) == stored_identity(p)
        True
    """
    path.fs.invalidate_cache(path.path)  # a cached listing would hide a replacement
    try:
        info = path.fs.info(path.path)
    except FileNotFoundError:
        return None
    return tuple(f"{name}={info[name]}" for name in _IDENTITY_FIELDS if name in info)


def _unchanged_since(stored: UPath, seen: tuple[str, ...] | None) -> Callable[[], None]:
    """A check raising :class:`StoredFileChanged` when ``stored`` is no longer ``seen``."""

    def check() -> None:
        if stored_identity(stored) != seen:
            raise StoredFileChanged(
                f"{stored} was replaced by another writer while this upsert merged with it, "
                f"{UPSERT_ATTEMPTS} times in a row; nothing was written by this one. Another "
                "materialization of the same partition is storing it: retry once it is done."
            )

    return check


def upsert_steps_atomic(
    stored: UPath, new: UPath | Path, step_column: str = "_step"
) -> ParquetSummary:
    """Replace ``stored`` (atomically) by its rows with the steps of ``new`` replaced by ``new``'s.

    Keyed by step, so writing the same new steps twice -- two materializations of one partition
    at once -- stores each step once. Both files must be sorted by step; so is the result.

    Concurrent upserts of one file never drop each other's steps, on any store: each remembers
    the stored object's identity (:func:`stored_identity`) before it reads it and checks it again
    right before its replace; if another writer replaced the object meanwhile, the merge is
    thrown away and done again with the current object (up to ``UPSERT_ATTEMPTS`` times, then
    :class:`StoredFileChanged`). What remains is the moment between that check and the replace
    (on object stores one server-side copy): a writer replacing the object just then is
    overwritten, and the next sync of the run restores its steps; closing it would need a
    conditional write, which fsspec does not offer. On a local root writers also take turns
    (an advisory lock, see :func:`_writers_take_turns`), which closes that moment too.

    Example:
        >>> import tempfile
        >>> root = UPath(tempfile.mkdtemp())
        >>> write_table_atomic(pa.table({"_step": [0, 1]}), root / "h.parquet")
        >>> write_table_atomic(pa.table({"_step": [1, 2]}), root / "new.parquet")
        >>> upsert_steps_atomic(root / "h.parquet", root / "new.parquet").rows
        3
        >>> upsert_steps_atomic(root / "h.parquet", root / "new.parquet").rows
        3
    """
    part = UPath(new) if isinstance(new, Path) else new
    with _writers_take_turns(stored):
        for attempt in range(1, UPSERT_ATTEMPTS + 1):
            seen = stored_identity(stored)
            try:
                return _upsert_steps(stored, part, step_column, _unchanged_since(stored, seen))
            except StoredFileChanged:
                if attempt == UPSERT_ATTEMPTS:
                    raise
                # writers that collided retry at different moments
                time.sleep(random.uniform(0.0, 0.05 * attempt))
    raise AssertionError("unreachable")  # the loop returns or raises


@contextlib.contextmanager
def _writers_take_turns(dest: UPath) -> Iterator[None]:
    """Hold an exclusive lock named after ``dest`` (local storage only).

    The lock file lives in the machine's temp directory, not beside ``dest``: the storage root
    holds only data, and a lock is only meaningful between processes of one machine anyway.
    """
    if not is_local(dest):
        yield
        return
    digest = hashlib.sha256(str(Path(dest.path).resolve()).encode()).hexdigest()[:32]
    lock = LOCK_DIR / f"{digest}.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    with lock.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)  # released when the file closes or its process dies
        yield


def _upsert_steps(
    stored: UPath, part: UPath, step_column: str, before_replace: Callable[[], None]
) -> ParquetSummary:
    added = summarize_parquet(part, step_column)
    kept = summarize_parquet(stored, step_column)
    if added is None or kept is None:
        raise FileNotFoundError(f"cannot merge history steps: {stored} or {part} is unreadable")
    if added.min_step is None or added.max_step is None:
        return kept
    lo, hi = added.min_step, added.max_step
    schema = merged_schema([kept.schema, added.schema])

    def stored_rows(keep: Any) -> Iterator[pa.Table]:
        for batch in _batches(stored):
            rows = batch.filter(keep(batch.column(step_column)))
            if rows.num_rows:
                yield conform_table(rows, schema)

    with (
        atomic_destination(stored, before_replace) as tmp,
        tmp.open("wb") as out,
        pq.ParquetWriter(out, schema) as writer,
    ):
        for table in stored_rows(lambda steps: pc.less(steps, lo)):
            writer.write_table(table)
        for batch in _batches(part):
            writer.write_table(conform_table(batch, schema))
        if kept.max_step is not None and kept.max_step > hi:
            # a concurrent writer stored more steps than this one read: keep them
            for table in stored_rows(lambda steps: pc.greater(steps, hi)):
                writer.write_table(table)
    summary = summarize_parquet(stored, step_column)
    assert summary is not None
    return summary


@contextlib.contextmanager
def local_scratch(prefix: str = "wb-dagster-") -> Iterator[Path]:
    """A private local directory removed afterwards (staging for downloads and exports)."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
