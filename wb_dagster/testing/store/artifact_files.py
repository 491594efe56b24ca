"""Artifact bytes on the server: file blobs stored once per MD5, and each version's manifest.

Blobs live at ``<data>/blobs/artifacts/<hex md5>`` (an upload is refused when its bytes do not
match the MD5 its URL names); manifests at ``<data>/blobs/artifact-manifests/<pk>.json``, kept
as uploaded, except that an ``INCREMENTAL`` / ``PATCH`` manifest (only the changes) is applied
to its base version's manifest first.

Example:
    >>> hex_md5("XUFAKrxLKna5cZ2REBfFkg==")
    '5d41402abc4b2a76b9719d911017c592'
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from wb_dagster.testing.store.database import Store
from wb_dagster.testing.store.files import spool_upload


class ArtifactError(ValueError):
    """A request the artifact store refuses (the message says what to do instead)."""


def hex_md5(b64_md5: str) -> str:
    """The hex form of W&B's base64 MD5 (blob and URL names use it)."""
    try:
        raw = base64.b64decode(b64_md5, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ArtifactError(f"{b64_md5!r} is not a base64 MD5 digest") from exc
    if len(raw) != 16:
        raise ArtifactError(f"{b64_md5!r} is not a base64 MD5 digest (16 bytes)")
    return raw.hex()


class ArtifactFilesMixin:
    """Blobs and manifests of artifact versions (mixed into ``ArtifactStore``)."""

    store: Store
    blob_dir: Path
    manifest_dir: Path

    def manifest_path(self, artifact_pk: int) -> Path:
        return self.manifest_dir / f"{artifact_pk}.json"

    def expect_manifest(self, artifact_pk: int, kind: str, base_pk: int | None) -> None:
        """Note how the coming manifest upload reads: ``FULL``, or ``INCREMENTAL`` / ``PATCH``
        (only the changes, applied to the base version's manifest)."""
        self.store.set_setting(f"artifact-manifest:{artifact_pk}", json.dumps([kind, base_pk]))

    def put_manifest(self, artifact_pk: int, data: bytes) -> None:
        try:
            parsed = json.loads(data)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ArtifactError(f"the artifact manifest is not JSON: {exc}") from exc
        if not isinstance(parsed, dict) or not isinstance(parsed.get("contents", {}), dict):
            raise ArtifactError('the artifact manifest must be an object with "contents"')
        kind, base_pk = json.loads(
            self.store.get_setting(f"artifact-manifest:{artifact_pk}") or '["FULL", null]'
        )
        if kind != "FULL" and base_pk is not None:
            contents = dict(self.manifest(int(base_pk)).get("contents") or {})
            for path, entry in parsed["contents"].items():
                # a patch removes a file with an entry without digest
                if isinstance(entry, dict) and entry.get("digest"):
                    contents[path] = entry
                else:
                    contents.pop(path, None)
            data = json.dumps({**parsed, "contents": contents}).encode()
        self._atomic_write(self.manifest_path(artifact_pk), data)

    def manifest(self, artifact_pk: int) -> dict[str, Any]:
        path = self.manifest_path(artifact_pk)
        if not path.exists():
            return {"version": 1, "contents": {}}
        parsed: dict[str, Any] = json.loads(path.read_bytes())
        return parsed

    def entries(self, artifact_pk: int) -> list[tuple[str, dict[str, Any]]]:
        """``(path, entry)`` of the version's manifest, sorted by path."""
        contents = self.manifest(artifact_pk).get("contents") or {}
        return sorted(contents.items())

    def blob_path(self, b64_md5: str) -> Path:
        return self.blob_dir / hex_md5(b64_md5)

    def has_blob(self, b64_md5: str) -> bool:
        return self.blob_path(b64_md5).exists()

    async def put_blob_stream(self, b64_md5: str, chunks: AsyncIterator[bytes]) -> int:
        """Store an upload under its MD5, refusing bytes whose MD5 differs; returns the size."""
        dest = self.blob_path(b64_md5)
        tmp, got, size = await spool_upload(chunks, self.blob_dir)
        try:
            if got != b64_md5:
                raise ArtifactError(f"uploaded bytes have MD5 {got}, the URL names {b64_md5}")
            os.replace(tmp, dest)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        return size

    def _atomic_write(self, dest: Path, data: bytes) -> None:
        fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=".upload-")
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, dest)

    def put_blob(self, data: bytes) -> str:
        """Store bytes (seeding); returns their base64 MD5."""
        b64 = base64.b64encode(hashlib.md5(data).digest()).decode()
        self._atomic_write(self.blob_path(b64), data)
        return b64
