"""GraphQL shapes of artifacts: versions, collections, memberships, aliases, files, types.

Objects are dicts shaped like ``schema_artifacts.graphql``'s types (callables for fields that
take arguments or cost a query), built from :class:`~wb_dagster.testing.store.artifacts.
ArtifactStore` rows. New connections page with W&B's offset cursors,
``base64("arrayconnection:N")`` (see :func:`offset_cursor`), so a version logged between two
pages shifts the next page, as on W&B.

Example:
    >>> offset_cursor(49)
    'YXJyYXljb25uZWN0aW9uOjQ5'
    >>> cursor_offset(offset_cursor(49))
    50
"""

from __future__ import annotations

import base64
import binascii
import json
import posixpath
from collections.abc import Callable, Sequence
from typing import Any, Protocol
from urllib.parse import quote

from graphql import GraphQLError

from wb_dagster.testing.graphql.ids import BadIdError, decode_id, encode_id
from wb_dagster.testing.store.artifacts import hex_md5
from wb_dagster.testing.store.backend import Backend
from wb_dagster.testing.store.files import guess_mimetype

# W&B's "inherit the TTL policy" (the SDK requires an integer here)
TTL_INHERIT = -2
DIGEST_ALGORITHM = "MANIFEST_MD5"


class RequestContext(Protocol):
    """What a resolver needs from the request (``Ctx`` of :mod:`.context` provides it)."""

    @property
    def backend(self) -> Backend: ...

    @property
    def base_url(self) -> str: ...


# ---------------------------------------------------------------------------- cursors & ids
def offset_cursor(index: int) -> str:
    """W&B's cursor of the edge at ``index``: ``base64("arrayconnection:<index>")``."""
    return base64.b64encode(f"arrayconnection:{index}".encode()).decode()


def cursor_offset(cursor: str | None) -> int:
    """Where the page after ``cursor`` starts (0 without a cursor)."""
    if not cursor:
        return 0
    try:
        text = base64.b64decode(cursor.encode(), validate=True).decode()
        kind, _, number = text.partition(":")
        if kind != "arrayconnection":
            raise ValueError(kind)
        return int(number) + 1
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise GraphQLError(f"invalid cursor {cursor!r}; pass the last edge's cursor") from exc


def page(
    items: Sequence[Any],
    after: str | None,
    first: int | None,
    shape: Callable[[Any], dict[str, Any]],
    default: int = 50,
) -> dict[str, Any]:
    """One connection page over ``items`` with offset cursors and a total count."""
    start = cursor_offset(after)
    limit = default if first is None else max(0, int(first))
    chosen = items[start : start + limit]
    edges = [{**shape(item), "cursor": offset_cursor(start + i)} for i, item in enumerate(chosen)]
    return {
        "totalCount": len(items),
        "edges": edges,
        "pageInfo": {
            "endCursor": edges[-1]["cursor"] if edges else after,
            "hasNextPage": start + len(chosen) < len(items),
        },
    }


def artifact_pk(artifact_id: str) -> int:
    """The store key of an ``Artifact`` id (a clear error for anything else)."""
    try:
        return int(decode_id(artifact_id, "Artifact")[0])
    except (BadIdError, ValueError) as exc:
        raise GraphQLError(f"{exc}; use the `id` of an Artifact this server returned") from exc


def collection_pk(collection_id: str) -> int:
    try:
        return int(decode_id(collection_id, "ArtifactCollection")[0])
    except (BadIdError, ValueError) as exc:
        raise GraphQLError(f"{exc}; use the `id` of an ArtifactCollection") from exc


# ---------------------------------------------------------------------------- URLs
def file_download_url(ctx: RequestContext, b64_md5: str, path: str) -> str:
    """Where a version's file is fetched (no auth, like W&B's signed storage URLs)."""
    return f"{ctx.base_url}/_artifact_files/{hex_md5(b64_md5)}/{quote(posixpath.basename(path))}"


def file_upload_url(ctx: RequestContext, b64_md5: str) -> str:
    return f"{ctx.base_url}/_artifact_upload/{hex_md5(b64_md5)}"


def manifest_url(ctx: RequestContext, art_pk: int) -> str:
    return f"{ctx.base_url}/_artifact_manifest/{art_pk}"


# ---------------------------------------------------------------------------- nodes
def project_info(ctx: RequestContext, project_pk: int) -> dict[str, Any] | None:
    """A Project with the fields artifact queries read (more resolve through the schema)."""
    row = ctx.backend.runs.get_project_by_pk(project_pk)
    if row is None:
        return None
    return {
        "id": encode_id("Project", row["name"], row["entity"]),
        "internalId": str(project_pk),
        "name": row["name"],
        "entityName": row["entity"],
        "readOnly": False,
        "entity": {"id": encode_id("Entity", row["entity"]), "name": row["entity"]},
    }


def run_info(ctx: RequestContext, run_pk: int | None) -> dict[str, Any] | None:
    run = None if run_pk is None else ctx.backend.runs.get_run_by_pk(run_pk)
    if run is None:
        return None
    return {
        "__typename": "Run",
        "id": encode_id("Run", run["name"], run["project"], run["entity"]),
        "name": run["name"],
        "displayName": run["display_name"],
        "state": run["state"],
        "project": project_info(ctx, run["project_pk"]),
    }


def type_node(ctx: RequestContext, project_pk: int, name: str) -> dict[str, Any]:
    store = ctx.backend.artifacts

    def in_type(col_name: str) -> dict[str, Any] | None:
        found = store.collection(project_pk, col_name)
        return None if found is None or found["type"] != name else collection_node(ctx, found)

    def collections(info: Any, after: str | None = None, first: int | None = None, **_: Any) -> Any:
        rows = store.collections(project_pk, name)
        return page(rows, after, first, lambda c: {"node": collection_node(ctx, c)})

    return {
        "id": encode_id("ArtifactType", project_pk, name),
        "name": name,
        "description": None,
        "createdAt": None,
        "artifactCollection": lambda info, name: in_type(name),
        "artifactSequence": lambda info, name: (
            c if (c := in_type(name)) and c["__typename"] == "ArtifactSequence" else None
        ),
        "artifactCollections": collections,
    }


def collection_node(ctx: RequestContext, col: dict[str, Any]) -> dict[str, Any]:
    store = ctx.backend.artifacts
    pk = int(col["pk"])

    def artifacts(
        info: Any, after: str | None = None, first: int | None = None, **_: Any
    ) -> dict[str, Any]:
        start = cursor_offset(after)
        limit = 50 if first is None else max(0, int(first))
        rows, total = store.versions(pk, start, limit)
        edges = [
            {
                "version": f"v{m['version_index']}",
                "node": artifact_node(ctx, store.get(m["artifact_pk"]) or {}, m),
                "cursor": offset_cursor(start + i),
            }
            for i, m in enumerate(rows)
        ]
        return {
            "totalCount": total,
            "edges": edges,
            "pageInfo": {
                "endCursor": edges[-1]["cursor"] if edges else after,
                "hasNextPage": start + len(rows) < total,
            },
        }

    def membership(info: Any, aliasName: str) -> Any:
        found = store.resolve(pk, aliasName)
        return None if found is None else membership_node(ctx, found)

    def latest(info: Any) -> Any:
        found = store.resolve(pk, "latest")
        return None if found is None else artifact_node(ctx, store.get(found["artifact_pk"]) or {})

    def aliases(info: Any, after: str | None = None, first: int | None = None) -> Any:
        return page(
            store.alias_rows(pk),
            after,
            first,
            lambda a: {"node": alias_node(ctx, a["pk"], a["alias"], col)},
            default=1000,
        )

    return {
        "__typename": "ArtifactSequence" if col["kind"] == "sequence" else "ArtifactPortfolio",
        "id": encode_id("ArtifactCollection", pk),
        "name": col["name"],
        "description": col["description"],
        "createdAt": col["created_at"],
        "updatedAt": col["updated_at"],
        "project": lambda info: project_info(ctx, col["project_pk"]),
        "defaultArtifactType": lambda info: type_node(ctx, col["project_pk"], col["type"]),
        "tags": {"edges": []},
        "latestArtifact": latest,
        "artifacts": artifacts,
        "artifactMembership": membership,
        "aliases": aliases,
        "digestAlgorithm": DIGEST_ALGORITHM,
    }


def alias_node(ctx: RequestContext, pk: int, alias: str, col: dict[str, Any]) -> dict[str, Any]:
    return {
        "__typename": "ArtifactAlias",
        "id": encode_id("ArtifactAlias", pk),
        "alias": alias,
        "artifactCollection": lambda info: collection_node(ctx, col),
    }


def _aliases_in(ctx: RequestContext, art_pk: int, col_pk: int | None) -> list[dict[str, Any]]:
    store = ctx.backend.artifacts
    out = []
    for m in store.memberships_of(art_pk):
        if col_pk is not None and m["collection_pk"] != col_pk:
            continue
        col = store.collection_by_pk(m["collection_pk"]) or {}
        for a in store.alias_rows(m["collection_pk"]):
            if a["artifact_pk"] == art_pk:
                out.append(alias_node(ctx, a["pk"], a["alias"], col))
    return out


def membership_node(ctx: RequestContext, m: dict[str, Any]) -> dict[str, Any]:
    store = ctx.backend.artifacts
    art = store.get(m["artifact_pk"]) or {}
    col = store.collection_by_pk(m["collection_pk"]) or {}

    def files(
        info: Any,
        names: list[str] | None = None,
        after: str | None = None,
        first: int | None = None,
    ) -> Any:
        return file_connection(ctx, art, names, after, first)

    return {
        "__typename": "ArtifactCollectionMembership",
        "id": encode_id("ArtifactCollectionMembership", m["pk"]),
        "versionIndex": m["version_index"],
        "createdAt": m["created_at"],
        "aliases": lambda info: _aliases_in(ctx, art["pk"], col["pk"]),
        "artifactCollection": lambda info: collection_node(ctx, col),
        "artifact": lambda info: artifact_node(ctx, art),
        "files": files,
    }


def file_connection(
    ctx: RequestContext,
    art: dict[str, Any],
    names: list[str] | None,
    after: str | None,
    first: int | None,
) -> dict[str, Any]:
    """A version's files (from its manifest, by path), offset-paged."""
    entries = ctx.backend.artifacts.entries(art["pk"])
    if names:
        wanted = set(names)
        entries = [(p, e) for p, e in entries if p in wanted]
    return page(entries, after, first, lambda pe: {"node": file_node(ctx, art, pe[0], pe[1])})


def file_node(
    ctx: RequestContext, art: dict[str, Any], path: str, entry: dict[str, Any]
) -> dict[str, Any]:
    digest = str(entry.get("digest") or "")
    ref = entry.get("ref")
    url = ref if ref else file_download_url(ctx, digest, path)
    return {
        "__typename": "File",
        "id": encode_id("ArtifactFile", art["pk"], digest),
        "name": path,
        "displayName": path,
        "url": lambda info, upload=None: url,
        "directUrl": url,
        "sizeBytes": entry.get("size") or 0,
        "storagePath": f"wandb_artifacts/{hex_md5(digest)}" if not ref else None,
        "mimetype": guess_mimetype(path),
        "updatedAt": art.get("updated_at"),
        "digest": digest,
        "md5": digest,
    }


def _size_and_count(ctx: RequestContext, art_pk: int) -> tuple[int, int]:
    entries = ctx.backend.artifacts.entries(art_pk)
    return sum(int(e.get("size") or 0) for _, e in entries), len(entries)


def artifact_node(
    ctx: RequestContext, art: dict[str, Any], membership: dict[str, Any] | None = None
) -> dict[str, Any]:
    """One version; ``versionIndex`` is its index in its own sequence."""
    store = ctx.backend.artifacts
    pk = int(art["pk"])
    seq = store.collection_by_pk(art["sequence_pk"]) or {}
    own = store.membership(seq.get("pk", -1), pk)

    def size(info: Any) -> int:
        return _size_and_count(ctx, pk)[0]

    def file_count(info: Any) -> int:
        return _size_and_count(ctx, pk)[1]

    def files(
        info: Any,
        names: list[str] | None = None,
        after: str | None = None,
        first: int | None = None,
    ) -> Any:
        return file_connection(ctx, art, names, after, first)

    def by_entries(info: Any, entries: list[dict[str, Any]] | None = None, **_: Any) -> Any:
        names = [e["name"] for e in entries or []]
        return file_connection(ctx, art, names or None, None, max(1, len(names) or 10_000))

    def memberships(info: Any, after: str | None = None, first: int | None = None) -> Any:
        rows = store.memberships_of(pk)
        return page(rows, after, first, lambda m: {"node": membership_node(ctx, m)})

    def used_by(info: Any, after: str | None = None, first: int | None = None) -> Any:
        runs = [r for r in (run_info(ctx, p) for p in store.users_of(pk)) if r is not None]
        return page(runs, after, first, lambda r: {"node": r})

    return {
        "__typename": "Artifact",
        "id": encode_id("Artifact", pk),
        "artifactSequence": lambda info: collection_node(ctx, seq) if seq else None,
        "versionIndex": None if own is None else own["version_index"],
        "artifactType": lambda info: type_node(ctx, seq["project_pk"], seq["type"]),
        "description": art["description"],
        "metadata": art["metadata"] or "{}",
        "ttlDurationSeconds": TTL_INHERIT,
        "ttlIsInherited": True,
        "tags": [],
        "historyStep": art["history_step"],
        "state": art["state"],
        "size": size,
        "digest": art["digest"],
        "digestAlgorithm": DIGEST_ALGORITHM,
        "commitHash": None,
        "fileCount": file_count,
        "createdAt": art["created_at"],
        "updatedAt": art["updated_at"],
        "aliases": lambda info: _aliases_in(ctx, pk, None),
        "currentManifest": lambda info: manifest_node(ctx, pk),
        "artifactMemberships": memberships,
        "usedBy": used_by,
        "createdBy": lambda info: run_info(ctx, art["run_pk"]),
        "files": files,
        "filesByManifestEntries": by_entries,
    }


def manifest_node(ctx: RequestContext, art_pk: int, upload: bool = False) -> dict[str, Any]:
    url = manifest_url(ctx, art_pk)
    return {
        "id": encode_id("ArtifactManifest", art_pk),
        "file": {
            "id": encode_id("ArtifactManifestFile", art_pk),
            "name": "wandb_manifest.json",
            "directUrl": url,
            "url": lambda info, upload=None: url,
            "uploadUrl": url if upload else None,
            "uploadHeaders": [],
        },
    }


def parse_artifact_name(name: str) -> tuple[str, str]:
    """``"coll:alias"`` / ``"coll:v3"`` / ``"coll"`` (= ``latest``) as (collection, alias)."""
    collection, _, alias = name.partition(":")
    if not collection:
        raise GraphQLError(f"artifact name {name!r} has no collection; use 'name:alias'")
    return collection, alias or "latest"


def metadata_json(value: Any) -> str | None:
    """The metadata JSON text as stored (the SDK sends a JSON string)."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError as exc:
            raise GraphQLError(f"metadata is not valid JSON: {exc}") from exc
    else:
        parsed = value
    if not isinstance(parsed, dict):
        raise GraphQLError("metadata must be a JSON object")
    return json.dumps(parsed)
