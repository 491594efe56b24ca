"""Log an artifact version from local files, with the mutations wandb-core sends.

``createArtifact`` (with the manifest digest: W&B answers with the committed version when
the same contents were logged before, so logging is idempotent by content), then, for a new
version, ``createArtifactManifest``, ``createArtifactFiles`` (upload URLs only for bytes the
server lacks), the file PUTs, the manifest PUT and ``commitArtifact``. The digest is W&B's
``MANIFEST_MD5``: MD5 over ``wandb-artifact-manifest-v1\\n`` and one ``path:md5\\n`` line per
file, sorted by path, so a version we log dedups against one the SDK logged.

Example:
    >>> manifest_digest({"b.txt": "XUFAKrxLKna5cZ2REBfFkg==", "a.txt": "XUFAKrxLKna5cZ2REBfFkg=="})
    '40c83f37f65716894d7aceb69a99a7d2'
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import posixpath
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wb_dagster.client.errors import CommError

if TYPE_CHECKING:
    from wb_dagster.client.session import WandbSession

_HEADER = b"wandb-artifact-manifest-v1\n"

CREATE_ARTIFACT = """
mutation WbCreateArtifact($input: CreateArtifactInput!) {
  createArtifact(input: $input) { artifact { id state versionIndex } }
}
"""
CREATE_MANIFEST = """
mutation WbCreateArtifactManifest($artifactID: ID!, $name: String!, $digest: String!,
    $entityName: String!, $projectName: String!, $runName: String!) {
  createArtifactManifest(input: {artifactID: $artifactID, name: $name, digest: $digest,
      entityName: $entityName, projectName: $projectName, runName: $runName, type: FULL}) {
    artifactManifest { id file { id uploadUrl uploadHeaders } }
  }
}
"""
CREATE_FILES = """
mutation WbCreateArtifactFiles($input: CreateArtifactFilesInput!) {
  createArtifactFiles(input: $input) {
    files { edges { node { name uploadUrl uploadHeaders } } }
  }
}
"""
COMMIT = """
mutation WbCommitArtifact($artifactID: ID!) {
  commitArtifact(input: {artifactID: $artifactID}) { artifact { id versionIndex } }
}
"""


def manifest_digest(md5_by_path: Mapping[str, str]) -> str:
    """W&B's ``MANIFEST_MD5`` digest of a version's contents (hex)."""
    hasher = hashlib.md5(_HEADER, usedforsecurity=False)
    for path in sorted(md5_by_path):
        hasher.update(f"{path}:{md5_by_path[path]}\n".encode())
    return hasher.hexdigest()


@dataclass(frozen=True)
class LocalEntry:
    """One file to log: its path in the artifact, the local file, base64 MD5 and size."""

    name: str
    local: Path
    md5: str
    size: int


def _md5_file(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return base64.b64encode(digest.digest()).decode()


def _check_name(name: str) -> str:
    clean = posixpath.normpath(name.replace("\\", "/"))
    if not name or clean.startswith(("/", "../")) or clean in (".", ".."):
        raise ValueError(f"artifact file name {name!r} must be a relative path inside it")
    return clean


def collect_entries(
    files: Mapping[str, str | os.PathLike[str]] | str | os.PathLike[str],
) -> list[LocalEntry]:
    """The entries of a directory (names relative to it), one file, or ``{name: path}``."""
    if isinstance(files, Mapping):
        pairs = [(_check_name(n), Path(p)) for n, p in files.items()]
    else:
        root = Path(files)
        if root.is_dir():
            pairs = [
                (p.relative_to(root).as_posix(), p) for p in sorted(root.rglob("*")) if p.is_file()
            ]
        elif root.is_file():
            pairs = [(root.name, root)]
        else:
            raise ValueError(f"{root} is neither a file nor a directory: nothing to log")
    if not pairs:
        raise ValueError("an artifact needs at least one file")
    for name, path in pairs:
        if not path.is_file():
            raise ValueError(f"artifact file {name!r}: {path} is not a file")
    return [LocalEntry(n, p, _md5_file(p), p.stat().st_size) for n, p in pairs]


@dataclass(frozen=True)
class LoggedVersion:
    """What logging produced: the version index and whether it is new (False: dedup)."""

    artifact_id: str
    version_index: int
    created: bool
    digest: str


def log_artifact(
    client: WandbSession,
    *,
    entity: str,
    project: str,
    run_id: str,
    name: str,
    type: str,
    entries: Iterable[LocalEntry],
    metadata: Mapping[str, Any] | None = None,
    aliases: Iterable[str] = (),
    description: str | None = None,
) -> LoggedVersion:
    """Log one version of ``entity/project/name`` as run ``run_id``'s output."""
    items = sorted(entries, key=lambda e: e.name)
    digest = manifest_digest({e.name: e.md5 for e in items})
    where = f"artifact {entity}/{project}/{name}"
    t = client.transport
    created = t.graphql(
        CREATE_ARTIFACT,
        {
            "input": {
                "entityName": entity,
                "projectName": project,
                "runName": run_id,
                "artifactTypeName": type,
                "artifactCollectionName": name,
                "digest": digest,
                "digestAlgorithm": "MANIFEST_MD5",
                "description": description,
                "metadata": json.dumps(dict(metadata or {})),
                "aliases": [
                    {"artifactCollectionName": name, "alias": a}
                    for a in dict.fromkeys(["latest", *aliases])
                ],
                "enableDigestDeduplication": True,
            }
        },
        what=f"creating {where}",
        idempotent=False,
    )
    art = (created.get("createArtifact") or {}).get("artifact") or {}
    if not art.get("id"):
        raise CommError(f"creating {where}: the server returned no artifact")
    if art.get("state") == "COMMITTED":  # the same contents were logged before
        return LoggedVersion(art["id"], int(art.get("versionIndex") or 0), False, digest)
    manifest_vars = {
        "artifactID": art["id"],
        "name": "wandb_manifest.json",
        "digest": "",
        "entityName": entity,
        "projectName": project,
        "runName": run_id,
    }
    first = t.graphql(CREATE_MANIFEST, manifest_vars, what=f"creating the manifest of {where}")
    manifest_id = first["createArtifactManifest"]["artifactManifest"]["id"]
    specs = [
        {"artifactID": art["id"], "artifactManifestID": manifest_id, "name": e.name, "md5": e.md5}
        for e in items
    ]
    reply = t.graphql(
        CREATE_FILES,
        {"input": {"artifactFiles": specs, "storageLayout": "V2"}},
        what=f"asking upload URLs for {where}",
    )
    nodes = [e["node"] for e in reply["createArtifactFiles"]["files"]["edges"]]
    for entry, node in zip(items, nodes, strict=True):
        if node.get("uploadUrl"):  # None: the server already holds these bytes
            t.put_file(
                node["uploadUrl"],
                str(entry.local),
                _headers(node.get("uploadHeaders")),
                what=f"uploading {entry.name} of {where}",
            )
    manifest = {
        "version": 1,
        "storagePolicy": "wandb-storage-policy-v1",
        "storagePolicyConfig": {"storageLayout": "V2"},
        "contents": {
            e.name: {"digest": e.md5, "size": e.size, "birthArtifactID": art["id"]} for e in items
        },
    }
    body = json.dumps(manifest).encode()
    manifest_vars["digest"] = base64.b64encode(hashlib.md5(body).digest()).decode()
    second = t.graphql(CREATE_MANIFEST, manifest_vars, what=f"uploading the manifest of {where}")
    upload = second["createArtifactManifest"]["artifactManifest"]["file"]
    _put_bytes(client, upload["uploadUrl"], body, _headers(upload.get("uploadHeaders")), where)
    done = t.graphql(COMMIT, {"artifactID": art["id"]}, what=f"committing {where}")
    committed = (done.get("commitArtifact") or {}).get("artifact") or {}
    return LoggedVersion(art["id"], int(committed.get("versionIndex") or 0), True, digest)


def _headers(raw: Any) -> dict[str, str]:
    """W&B's ``uploadHeaders`` (``"Name:value"`` strings) as a dict."""
    out = {}
    for item in raw or []:
        key, _, value = str(item).partition(":")
        if key:
            out[key.strip()] = value.strip()
    return out


def _put_bytes(
    client: WandbSession, url: str, body: bytes, headers: dict[str, str], where: str
) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".wb-manifest-")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(body)
        client.transport.put_file(url, tmp, headers, what=f"uploading the manifest of {where}")
    finally:
        os.unlink(tmp)
