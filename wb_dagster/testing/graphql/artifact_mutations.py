"""Artifact mutations, in the order wandb-core sends them when a run logs an artifact.

``createArtifact`` (a pending version, or the committed one with the same digest),
``createArtifactFiles`` (an upload URL per file whose bytes the server lacks: repeated files
upload nothing), ``createArtifactManifest`` (the manifest's upload URL), ``commitArtifact``
(version index, aliases, ``latest``); then ``useArtifact``, ``linkArtifact`` (registry /
portfolio links), ``updateArtifact``, ``addAliases`` / ``deleteAliases`` and
``deleteArtifact`` from the SDK's public API.

Example (a full log through the GraphQL layer):
    >>> import tempfile, pathlib
    >>> from wb_dagster.testing.store.backend import Backend
    >>> from wb_dagster.testing.graphql.executor import execute_request
    >>> backend = Backend.open(pathlib.Path(tempfile.mkdtemp()), api_key="k" * 40)
    >>> _ = backend.runs.ensure_project("local-user", "p")
    >>> q = ('mutation { createArtifact(input: {artifactTypeName: "model", '
    ...      'artifactCollectionName: "net", entityName: "local-user", projectName: "p", '
    ...      'digest: "abc"}) { artifact { state versionIndex } } }')
    >>> execute_request(backend, "http://h", {"query": q})[1]["data"]
    {'createArtifact': {'artifact': {'state': 'PENDING', 'versionIndex': None}}}
    >>> backend.close()
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from graphql import GraphQLError

from wb_dagster.testing.graphql.artifact_nodes import (
    RequestContext,
    artifact_node,
    artifact_pk,
    collection_pk,
    file_upload_url,
    manifest_node,
    membership_node,
    metadata_json,
    offset_cursor,
)
from wb_dagster.testing.graphql.ids import BadIdError, decode_id, encode_id
from wb_dagster.testing.store.artifacts import ArtifactError, hex_md5


def _ctx(info: Any) -> RequestContext:
    ctx: RequestContext = info.context
    return ctx


def _refused(exc: ArtifactError) -> GraphQLError:
    return GraphQLError(str(exc))


def _artifact(ctx: RequestContext, artifact_id: str) -> dict[str, Any]:
    art = ctx.backend.artifacts.get(artifact_pk(artifact_id))
    if art is None or art["state"] == "DELETED":
        raise GraphQLError(f"artifact {artifact_id} not found (it may have been deleted)")
    return art


def _project_pk(ctx: RequestContext, entity: str | None, project: str, create: bool) -> int:
    entity = entity or ctx.backend.default_entity
    row = ctx.backend.runs.get_project(entity, project)
    if row is not None:
        return int(row["pk"])
    if not create:
        raise GraphQLError(f"project {entity}/{project} not found")
    return ctx.backend.runs.ensure_project(entity, project)


def _alias_names(aliases: list[dict[str, Any]] | None, collection: str | None) -> list[str]:
    return [
        a["alias"]
        for a in aliases or []
        if collection is None or a.get("artifactCollectionName") in (None, collection)
    ]


# ---------------------------------------------------------------------------- logging path
def create_artifact(source: Any, info: Any, input: dict[str, Any]) -> Any:
    ctx = _ctx(info)
    name = input.get("artifactCollectionName") or (input.get("artifactCollectionNames") or [""])[0]
    if not name:
        raise GraphQLError("createArtifact needs artifactCollectionName (the artifact's name)")
    project_pk = _project_pk(ctx, input.get("entityName"), input["projectName"], create=True)
    run_pk = None
    if input.get("runName"):
        run = ctx.backend.runs.get_run(
            input.get("entityName") or ctx.backend.default_entity,
            input["projectName"],
            input["runName"],
        )
        run_pk = None if run is None else int(run["pk"])
    try:
        art = ctx.backend.artifacts.create(
            project_pk,
            input["artifactTypeName"],
            name,
            input["digest"],
            description=input.get("description"),
            metadata=metadata_json(input.get("metadata")),
            aliases=_alias_names(input.get("aliases"), name),
            run_pk=run_pk,
            history_step=input.get("historyStep"),
            client_id=input.get("clientID"),
        )
    except ArtifactError as exc:
        raise _refused(exc) from exc
    return {"artifact": artifact_node(ctx, art)}


def create_artifact_files(source: Any, info: Any, input: dict[str, Any]) -> Any:
    ctx = _ctx(info)
    store = ctx.backend.artifacts
    edges = []
    for i, spec in enumerate(input["artifactFiles"]):
        art = _artifact(ctx, spec["artifactID"])
        md5 = spec["md5"]
        try:
            hexed = hex_md5(md5)
        except ArtifactError as exc:
            raise _refused(exc) from exc
        node = {
            "id": encode_id("ArtifactFile", art["pk"], md5),
            "name": spec["name"],
            "displayName": spec["name"],
            "storagePath": f"wandb_artifacts/{hexed}",
            # bytes the server already holds are not uploaded again (W&B's dedup by digest)
            "uploadUrl": None if store.has_blob(md5) else file_upload_url(ctx, md5),
            "uploadHeaders": [],
            "uploadMultipartUrls": None,
            "artifact": {"id": encode_id("Artifact", art["pk"])},
        }
        edges.append({"node": node, "cursor": offset_cursor(i)})
    return {
        "files": {
            "edges": edges,
            "pageInfo": {"endCursor": edges[-1]["cursor"] if edges else None, "hasNextPage": False},
        }
    }


def create_artifact_manifest(source: Any, info: Any, input: dict[str, Any]) -> Any:
    ctx = _ctx(info)
    art = _artifact(ctx, input["artifactID"])
    base = input.get("baseArtifactID")
    ctx.backend.artifacts.expect_manifest(
        int(art["pk"]), input.get("type") or "FULL", artifact_pk(base) if base else None
    )
    return {"artifactManifest": manifest_node(ctx, int(art["pk"]), upload=True)}


def update_artifact_manifest(source: Any, info: Any, input: dict[str, Any]) -> Any:
    ctx = _ctx(info)
    try:
        pk = int(decode_id(input["artifactManifestID"], "ArtifactManifest")[0])
    except (BadIdError, ValueError) as exc:
        raise GraphQLError(f"{exc}; use the id createArtifactManifest returned") from exc
    return {"artifactManifest": manifest_node(ctx, pk, upload=True)}


def commit_artifact(source: Any, info: Any, input: dict[str, Any]) -> Any:
    ctx = _ctx(info)
    art = _artifact(ctx, input["artifactID"])
    try:
        ctx.backend.artifacts.commit(int(art["pk"]))
    except ArtifactError as exc:
        raise _refused(exc) from exc
    return {"artifact": artifact_node(ctx, ctx.backend.artifacts.get(int(art["pk"])) or {})}


def use_artifact(source: Any, info: Any, input: dict[str, Any]) -> Any:
    ctx = _ctx(info)
    art = _artifact(ctx, input["artifactID"])
    run = ctx.backend.runs.get_run(
        input.get("entityName") or ctx.backend.default_entity,
        input["projectName"],
        input["runName"],
    )
    if run is None:
        raise GraphQLError(
            f"run {input.get('entityName')}/{input['projectName']}/{input['runName']} not found"
        )
    ctx.backend.artifacts.use(int(run["pk"]), int(art["pk"]), input.get("usedAs"))
    return {"artifact": artifact_node(ctx, art)}


def link_artifact(source: Any, info: Any, input: dict[str, Any]) -> Any:
    ctx = _ctx(info)
    store = ctx.backend.artifacts
    if input.get("artifactID"):
        art = _artifact(ctx, input["artifactID"])
    elif input.get("clientID"):
        found = store.by_client_id(input["clientID"])
        if found is None:
            raise GraphQLError(f"no artifact logged with client id {input['clientID']!r}")
        art = found
    else:
        raise GraphQLError("linkArtifact needs artifactID or clientID")
    project_pk = _project_pk(ctx, input["entityName"], input["projectName"], create=True)
    portfolio = input["artifactPortfolioName"]
    try:
        index = store.link(project_pk, portfolio, int(art["pk"]))
        col = store.collection(project_pk, portfolio) or {}
        for alias in _alias_names(input.get("aliases"), portfolio):
            store.set_alias(col["pk"], alias, int(art["pk"]))
    except ArtifactError as exc:
        raise _refused(exc) from exc
    membership = store.membership(col["pk"], int(art["pk"])) or {}
    return {
        "versionIndex": index,
        "artifactMembership": lambda info: membership_node(ctx, membership),
    }


def unlink_artifact(source: Any, info: Any, input: dict[str, Any]) -> Any:
    ctx = _ctx(info)
    art = _artifact(ctx, input["artifactID"])
    ctx.backend.artifacts.unlink(collection_pk(input["artifactPortfolioID"]), int(art["pk"]))
    return {"artifactID": input["artifactID"], "success": True}


# ---------------------------------------------------------------------------- public API
def update_artifact(source: Any, info: Any, input: dict[str, Any]) -> Any:
    ctx = _ctx(info)
    art = _artifact(ctx, input["artifactID"])
    store = ctx.backend.artifacts
    store.update(
        int(art["pk"]),
        description=input.get("description"),
        metadata=metadata_json(input.get("metadata")),
    )
    if input.get("aliases") is not None:
        seq_pk = int(art["sequence_pk"])
        wanted = set(_alias_names(input["aliases"], None))
        current = {a["alias"] for a in store.alias_rows(seq_pk) if a["artifact_pk"] == art["pk"]}
        try:
            for alias in wanted - current:
                store.set_alias(seq_pk, alias, int(art["pk"]))
        except ArtifactError as exc:
            raise _refused(exc) from exc
        for alias in current - wanted - {"latest"}:
            store.drop_alias(seq_pk, alias, int(art["pk"]))
    return {"artifact": artifact_node(ctx, store.get(int(art["pk"])) or {})}


def _alias_targets(ctx: RequestContext, art: dict[str, Any], aliases: list[dict[str, Any]]) -> Any:
    """(collection pk, alias) per input; the collection defaults to the version's sequence."""
    store = ctx.backend.artifacts
    for a in aliases:
        col_pk = int(art["sequence_pk"])
        if a.get("artifactCollectionName"):
            project_pk = (
                _project_pk(ctx, a.get("entityName"), a.get("projectName") or "", create=False)
                if a.get("projectName")
                else int((store.collection_by_pk(col_pk) or {})["project_pk"])
            )
            col = store.collection(project_pk, a["artifactCollectionName"])
            if col is None:
                raise GraphQLError(f"artifact collection {a['artifactCollectionName']!r} not found")
            col_pk = int(col["pk"])
        if a["alias"] == "latest":
            raise GraphQLError("'latest' is managed by the server; it cannot be set or removed")
        yield col_pk, a["alias"]


def add_aliases(source: Any, info: Any, input: dict[str, Any]) -> Any:
    ctx = _ctx(info)
    art = _artifact(ctx, input["artifactID"])
    try:
        for col_pk, alias in _alias_targets(ctx, art, input["aliases"]):
            if ctx.backend.artifacts.membership(col_pk, int(art["pk"])) is None:
                raise GraphQLError("the artifact is not a version of that collection")
            ctx.backend.artifacts.set_alias(col_pk, alias, int(art["pk"]))
    except ArtifactError as exc:
        raise _refused(exc) from exc
    return {"success": True}


def delete_aliases(source: Any, info: Any, input: dict[str, Any]) -> Any:
    ctx = _ctx(info)
    art = _artifact(ctx, input["artifactID"])
    for col_pk, alias in _alias_targets(ctx, art, input["aliases"]):
        ctx.backend.artifacts.drop_alias(col_pk, alias, int(art["pk"]))
    return {"success": True}


def delete_artifact(source: Any, info: Any, input: dict[str, Any]) -> Any:
    ctx = _ctx(info)
    art = _artifact(ctx, input["artifactID"])
    try:
        ctx.backend.artifacts.delete(int(art["pk"]), bool(input.get("deleteAliases")))
    except ArtifactError as exc:
        raise _refused(exc) from exc
    return {"artifact": {"id": input["artifactID"]}}


MUTATIONS: dict[str, Callable[..., Any]] = {
    "createArtifact": create_artifact,
    "createArtifactFiles": create_artifact_files,
    "createArtifactManifest": create_artifact_manifest,
    "updateArtifactManifest": update_artifact_manifest,
    "commitArtifact": commit_artifact,
    "useArtifact": use_artifact,
    "linkArtifact": link_artifact,
    "unlinkArtifact": unlink_artifact,
    "updateArtifact": update_artifact,
    "addAliases": add_aliases,
    "deleteAliases": delete_aliases,
    "deleteArtifact": delete_artifact,
}
