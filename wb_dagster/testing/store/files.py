"""Run files on the server: metadata rows in SQLite, bytes as blobs on disk.

A file's bytes live at ``<data>/blobs/<file pk>``; its ``md5`` is base64 of the MD5 digest (as
W&B reports it). Uploads stream to a temporary blob and replace the old one atomically.

Example:
    >>> import tempfile, pathlib
    >>> from wb_dagster.testing.store.database import Store
    >>> store = Store(pathlib.Path(tempfile.mkdtemp()))
    >>> files = FileStore(store)
    >>> rec = files.put(7, "notes.txt", b"hello")
    >>> (rec.name, rec.size_bytes, rec.md5)
    ('notes.txt', 5, 'XUFAKrxLKna5cZ2REBfFkg==')
    >>> files.blob_path(rec.pk).read_bytes()
    b'hello'
    >>> store.close()
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import mimetypes
import os
import tempfile
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from wb_dagster.testing.store.database import Store

mimetypes.add_type("application/x-hdf5", ".h5")
mimetypes.add_type("text/yaml", ".yaml")
mimetypes.add_type("text/plain", ".log")


def md5_base64(data: bytes) -> str:
    """W&B's file checksum: base64 of the MD5 digest."""
    return base64.b64encode(hashlib.md5(data).digest()).decode()


async def spool_upload(chunks: AsyncIterator[bytes], directory: Path) -> tuple[Path, str, int]:
    """Write a request body stream to a new temporary file in ``directory`` (bounded memory);
    returns (the file, its base64 MD5, its size). The file is removed if the stream fails."""
    digest = hashlib.md5()
    size = 0
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".upload-")
    try:
        with os.fdopen(fd, "wb") as fh:
            async for chunk in chunks:
                digest.update(chunk)
                size += len(chunk)
                fh.write(chunk)
    except BaseException:
        os.unlink(tmp)
        raise
    return Path(tmp), base64.b64encode(digest.digest()).decode(), size


def guess_mimetype(name: str) -> str:
    """Mimetype from the file name (``application/octet-stream`` when unknown)."""
    return mimetypes.guess_type(name)[0] or "application/octet-stream"


@dataclass(frozen=True)
class FileRecord:
    """One run file's metadata."""

    pk: int
    run_pk: int
    name: str
    size_bytes: int
    md5: str
    mimetype: str
    updated_at: str


class FileStore:
    """Blobs and metadata of run files."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def blob_path(self, file_pk: int) -> Path:
        return self.store.blob_dir / str(file_pk)

    def _record(self, run_pk: int, name: str, size: int, md5: str, tmp: Path) -> FileRecord:
        updated = self.store.next_heartbeat()
        with self.store.write() as conn:
            conn.execute(
                "INSERT INTO files(run_pk, name, size_bytes, md5, mimetype, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(run_pk, name) DO UPDATE SET "
                "size_bytes = excluded.size_bytes, md5 = excluded.md5, "
                "mimetype = excluded.mimetype, updated_at = excluded.updated_at",
                (run_pk, name, size, md5, guess_mimetype(name), updated),
            )
            row = conn.execute(
                "SELECT * FROM files WHERE run_pk = ? AND name = ?", (run_pk, name)
            ).fetchone()
            os.replace(tmp, self.blob_path(row["pk"]))
        return _from_row(row)

    def put(self, run_pk: int, name: str, data: bytes) -> FileRecord:
        """Create or replace a file with these bytes."""
        fd, tmp = tempfile.mkstemp(dir=self.store.blob_dir, prefix=".upload-")
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        return self._record(run_pk, name, len(data), md5_base64(data), Path(tmp))

    async def put_stream(self, run_pk: int, name: str, chunks: AsyncIterator[bytes]) -> FileRecord:
        """Create or replace a file from a request body stream (bounded memory)."""
        tmp, md5, size = await spool_upload(chunks, self.store.blob_dir)
        return self._record(run_pk, name, size, md5, tmp)

    def get(self, run_pk: int, name: str) -> FileRecord | None:
        row = (
            self.store.conn()
            .execute("SELECT * FROM files WHERE run_pk = ? AND name = ?", (run_pk, name))
            .fetchone()
        )
        return None if row is None else _from_row(row)

    def get_by_pk(self, file_pk: int) -> FileRecord | None:
        row = self.store.conn().execute("SELECT * FROM files WHERE pk = ?", (file_pk,)).fetchone()
        return None if row is None else _from_row(row)

    def delete(self, file_pks: Sequence[int]) -> int:
        """Delete files by pk; returns how many existed."""
        with self.store.write() as conn:
            deleted = 0
            for pk in file_pks:
                deleted += conn.execute("DELETE FROM files WHERE pk = ?", (pk,)).rowcount
        for pk in file_pks:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.blob_path(pk))
        return deleted

    def delete_run(self, run_pk: int) -> None:
        pks = [
            r[0]
            for r in self.store.conn().execute("SELECT pk FROM files WHERE run_pk = ?", (run_pk,))
        ]
        self.delete(pks)


def _from_row(row: object) -> FileRecord:
    r = row  # sqlite3.Row
    return FileRecord(
        pk=r["pk"],  # type: ignore[index]
        run_pk=r["run_pk"],  # type: ignore[index]
        name=r["name"],  # type: ignore[index]
        size_bytes=r["size_bytes"],  # type: ignore[index]
        md5=r["md5"],  # type: ignore[index]
        mimetype=r["mimetype"] or "application/octet-stream",  # type: ignore[index]
        updated_at=r["updated_at"],  # type: ignore[index]
    )
