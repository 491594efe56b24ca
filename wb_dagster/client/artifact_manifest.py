"""An artifact version's manifest: each entry's path, digest, size and, for a reference, its URI.

W&B keeps the manifest (``wandb_manifest.json``) beside each version. It is the only record
that tells a file W&B stores from a reference to one it does not (``Artifact.add_reference``:
``file://``, ``s3://``, ``gs://``, ``http(s)://``...), so ``Artifact.download`` reads it, as
the SDK's does. A ``file://`` reference is copied from its path and md5-checked against its
digest, an ``http(s)://`` one fetched and checked against the ``ETag`` logged as its digest;
any other (``s3://``, ``gs://``...) is left to the client of the store it names.

Example:
    >>> raw = b'''{"version": 1, "contents": {"a.txt": {"digest": "x", "size": 3},
    ...   "d/b.txt": {"digest": "y", "ref": "file:///mnt/data/b%20c.txt", "size": 5},
    ...   "e.csv": {"digest": "s3://bkt/e.csv", "ref": "s3://bkt/e.csv"}}}'''
    >>> entries = parse_manifest(raw, "reading t/p/c:v0")
    >>> [(e.path, e.ref is not None, e.local_path) for e in entries.values()]
    [('a.txt', False, None), ('d/b.txt', True, '/mnt/data/b c.txt'), ('e.csv', True, None)]
    >>> ManifestEntry("w.txt", "etag", 3, "https://example.com/w.txt").http_url
    'https://example.com/w.txt'
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import urlsplit
from urllib.request import url2pathname

from wb_dagster.client.errors import CommError


@dataclass(frozen=True)
class ManifestEntry:
    """One entry: ``ref`` is the URI of a reference (``None`` for a file W&B stores);
    ``digest`` is W&B's base64 md5 for stored and checksummed ``file://`` entries.

    Example:
        >>> ManifestEntry("a.txt", "x", 3).local_path is None
        True
        >>> ManifestEntry("e.csv", "s3://b/e.csv", 0, "s3://b/e.csv").fetchable
        False
    """

    path: str
    digest: str
    size: int
    ref: str | None = None

    @property
    def fetchable(self) -> bool:
        """Whether this client fetches it: a stored file, a ``file://`` or ``http(s)://`` one."""
        return self.ref is None or self.local_path is not None or self.http_url is not None

    @property
    def http_url(self) -> str | None:
        """The URL of an ``http(s)://`` reference (``None`` for anything else)."""
        scheme = urlsplit(self.ref).scheme.lower() if self.ref else ""
        return self.ref if scheme in ("http", "https") else None

    @property
    def local_path(self) -> str | None:
        """The path a ``file://`` reference points at (``None`` for anything else)."""
        if self.ref is None:
            return None
        parts = urlsplit(self.ref)
        if parts.scheme.lower() != "file" or parts.netloc not in ("", "localhost"):
            return None
        return url2pathname(parts.path)


def parse_manifest(raw: bytes, what: str) -> dict[str, ManifestEntry]:
    """The entries of a manifest file's bytes, by path; ``CommError`` if it is not one."""
    try:
        doc = json.loads(raw)
    except ValueError as exc:
        raise CommError(f"{what}: the manifest is not JSON ({exc}); try again.", exc=exc) from exc
    contents = doc.get("contents") if isinstance(doc, dict) else None
    if not isinstance(contents, dict):
        raise CommError(f"{what}: the manifest has no 'contents' object; try again.")
    return {
        path: ManifestEntry(
            path=path,
            digest=str(entry.get("digest") or ""),
            size=int(entry.get("size") or 0),
            ref=str(entry["ref"]) if entry.get("ref") else None,
        )
        for path, entry in contents.items()
        if isinstance(entry, dict)
    }
