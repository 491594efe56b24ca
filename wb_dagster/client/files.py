"""Run files: listing (``Files``), ``File.download`` (md5-verified, path-safe) and ``delete``.

``File.download`` never writes outside ``root``: names that are absolute, carry a drive letter
or UNC prefix, or climb with ``..`` are refused, and the final path is checked after resolving
symlinks. The bytes go to a temporary file next to the target and are moved into place only
when their md5 matches the one W&B reports.

Example:
    >>> safe_join("/tmp/out", "media/images/a.png")
    '/tmp/out/media/images/a.png'
    >>> safe_join("/tmp/out", "../etc/passwd")
    Traceback (most recent call last):
    ...
    ValueError: refusing to download '../etc/passwd': it would be written outside '/tmp/out'
"""

from __future__ import annotations

import os
import re
from typing import IO, TYPE_CHECKING, Any

from wb_dagster.client.errors import CommError, NotFoundError
from wb_dagster.client.paging import LazyPages
from wb_dagster.client.queries import (
    CREATE_RUN_FILES,
    DELETE_FILES,
    MARK_RUN_FILES_UPLOADED,
    RUN_FILES,
)
from wb_dagster.client.verified_download import download_verified, verified_bytes

if TYPE_CHECKING:
    from wb_dagster.client.session import RunRef

_DRIVE = re.compile(r"^[A-Za-z]:")


def safe_join(root: str | os.PathLike[str], name: str) -> str:
    """``root/name`` if it stays inside ``root``; ``ValueError`` otherwise."""
    root_s = os.fspath(root)
    refuse = ValueError(f"refusing to download {name!r}: it would be written outside {root_s!r}")
    if not name or "\x00" in name:
        raise refuse
    if name.startswith(("/", "\\")) or _DRIVE.match(name):
        raise refuse
    parts = re.split(r"[\\/]+", name)
    if any(p == ".." for p in parts):
        raise refuse
    target = os.path.join(root_s, *[p for p in parts if p not in ("", ".")])
    real_root = os.path.realpath(root_s)
    real_target = os.path.realpath(target)
    if os.path.commonpath([real_root, real_target]) != real_root or real_target == real_root:
        raise refuse
    return target


class File:
    """A file saved to a run (``name`` is relative to the run root, may contain ``/``).

    Example (``client`` connected to the local server with the demo seed):
        >>> import tempfile
        >>> f = client.run("wb-demo/cifar/cifar001").file("output.log")
        >>> f.size
        129
        >>> with tempfile.TemporaryDirectory() as root, f.download(root=root) as fh:
        ...     len(fh.read()) == f.size
        True
    """

    def __init__(self, run: RunRef, attrs: dict[str, Any]) -> None:
        self.run = run
        self._attrs = attrs

    id = property(lambda self: self._attrs.get("id"))
    name = property(lambda self: self._attrs.get("name"))
    url = property(lambda self: self._attrs.get("url"))
    direct_url = property(lambda self: self._attrs.get("directUrl"))
    md5 = property(lambda self: self._attrs.get("md5"))
    mimetype = property(lambda self: self._attrs.get("mimetype"))
    updated_at = property(lambda self: self._attrs.get("updatedAt"))

    @property
    def size(self) -> int:
        """Size in bytes (0 when unknown)."""
        return int(self._attrs.get("sizeBytes") or 0)

    def __repr__(self) -> str:
        return f"<File {self.name} ({self.mimetype}) {self.size} B>"

    def read_bytes(self) -> bytes:
        """The file's bytes, md5-verified (for small files such as metadata)."""
        what = f"downloading {self.name} of run {self.run}"
        return verified_bytes(self.run.client.transport, self.url, self.md5, what=what)

    def download(
        self, root: str | os.PathLike[str] = ".", replace: bool = False, exist_ok: bool = False
    ) -> IO[str]:
        """Download into ``root/<name>`` and return it opened for reading (like ``wandb``).

        Raises ``ValueError`` if the file exists and neither ``replace`` nor ``exist_ok`` is set,
        or if the name would escape ``root``; ``CommError`` if the md5 does not match.
        """
        path = safe_join(root, self.name)
        if os.path.exists(path) and not replace:
            if exist_ok:
                return open(path)
            raise ValueError(
                f"{path} already exists: pass replace=True to overwrite it or exist_ok=True to "
                "keep it."
            )
        directory = os.path.dirname(path) or "."
        os.makedirs(directory, exist_ok=True)
        what = f"downloading {self.name} of run {self.run}"
        download_verified(
            self.run.client.transport, self.url, path, self.md5, size=self.size or None, what=what
        )
        return open(path)

    def delete(self) -> None:
        """Delete the file from the run (not retried automatically on server errors)."""
        self.run.client.transport.graphql(
            DELETE_FILES,
            {"files": [self.id], "projectId": self.run.project_internal_id},
            what=f"deleting {self.name} of run {self.run}",
            idempotent=False,
        )


class Files(LazyPages[File]):
    """The files of a run, fetched lazily in pages; ``len()`` is the server's ``fileCount``.

    Example (``client`` connected to the local server with the demo seed):
        >>> files = client.run("wb-demo/cifar/cifar001").files(pattern="media/%")
        >>> [f.name for f in files]
        ['media/images/sample_0.png', 'media/images/sample_1.png']
    """

    def __init__(
        self,
        run: RunRef,
        names: list[str] | None = None,
        pattern: str | None = None,
        per_page: int = 50,
    ) -> None:
        if names and pattern:
            raise ValueError("pass either names or pattern to files(), not both")
        super().__init__()
        self.run = run
        self.names = list(names or [])
        self.pattern = pattern
        self.per_page = per_page

    def _load_page(self) -> None:
        data = self.run.client.transport.graphql(
            RUN_FILES,
            {
                "entity": self.run.entity,
                "project": self.run.project,
                "name": self.run.id,
                "fileNames": self.names,
                "upload": False,
                "pattern": self.pattern,
                "fileCursor": self._cursor,
                "fileLimit": self.per_page,
            },
            what=f"listing files of run {self.run}",
        )
        run = (data.get("project") or {}).get("run")
        if run is None:
            raise NotFoundError(f"Could not find run {self.run} while listing its files.")
        self._count = int(run.get("fileCount") or 0)
        conn = run.get("files") or {}
        edges = conn.get("edges") or []
        # W&B's cursors are offsets: a file added before the cursor repeats one on the next page
        known = {f.name for f in self.objects}
        nodes = [e["node"] for e in edges if e.get("node")]
        self.objects.extend(File(self.run, n) for n in nodes if n.get("name") not in known)
        if edges:
            self._cursor = edges[-1].get("cursor")
        self._more = bool((conn.get("pageInfo") or {}).get("hasNextPage")) and bool(edges)

    def __repr__(self) -> str:
        return f"<Files {self.run} ({len(self)})>"


def upload_file(run: RunRef, path: str, root: str = ".") -> str:
    """Upload local file ``path`` to ``run`` under its path relative to ``root``; returns that
    name (``Run.upload_file`` then lists it).

    Example (``client`` connected to the local server with the demo seed):
        >>> upload_file(client.run("wb-demo/cifar/cifar002"), "/etc/hosts", root="/tmp")
        Traceback (most recent call last):
        ...
        ValueError: '/etc/hosts' is not inside root '/tmp'; pass a root that contains it
    """
    root_abs = os.path.abspath(root)
    name = os.path.relpath(os.path.abspath(path), root_abs).replace(os.sep, "/")
    if name.startswith("../") or name == "..":
        raise ValueError(f"{path!r} is not inside root {root!r}; pass a root that contains it")
    transport = run.client.transport
    what = f"uploading {name} to run {run}"
    names = {"entity": run.entity, "project": run.project, "run": run.id, "files": [name]}
    data = transport.graphql(CREATE_RUN_FILES, names, what=what)
    result = data.get("createRunFiles") or {}
    if not result.get("runID"):
        raise CommError(
            f"Error uploading files to {run}. Check that this project exists and you have "
            "access to this entity and project."
        )
    (info,) = result.get("files") or [{}]
    headers = dict(
        (h.split(":", 1)[0].strip(), h.split(":", 1)[1].strip())
        for h in result.get("uploadHeaders") or []
        if ":" in h
    )
    transport.put_file(info["uploadUrl"], os.path.join(root_abs, name), headers, what=what)
    if run.client.server_feature("MARK_RUN_FILES_UPLOADED"):
        transport.graphql(MARK_RUN_FILES_UPLOADED, names, what=what)
    return name
