"""Artifact fields on the server's existing types (Query, Project, Run, Entity) and the schema
hook that installs them with the artifact mutations.

The base resolvers build plain dicts; the artifact fields are attached to the schema's types
instead (``field.resolve``), reading the request context from ``info.context``, so the
artifact code stays in its own modules. The parent object gives what is needed: a Project's
``internalId``, a Run's ``id``, an Entity's ``name``.

Example:
    >>> import tempfile, pathlib
    >>> from wb_dagster.testing.store.backend import Backend
    >>> from wb_dagster.testing.graphql.executor import execute_request
    >>> backend = Backend.open(pathlib.Path(tempfile.mkdtemp()), api_key="k" * 40)
    >>> q = '{ project(name: "p") { artifactType(name: "model") { name } } }'
    >>> execute_request(backend, "http://h", {"query": q})[1]
    {'data': {'project': None}}
    >>> backend.close()
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources
from typing import Any

from graphql import GraphQLError, GraphQLObjectType, GraphQLSchema

from wb_dagster.testing.graphql.artifact_mutations import MUTATIONS
from wb_dagster.testing.graphql.artifact_nodes import (
    RequestContext,
    artifact_node,
    artifact_pk,
    collection_node,
    collection_pk,
    membership_node,
    page,
    parse_artifact_name,
    type_node,
)
from wb_dagster.testing.graphql.ids import BadIdError, decode_id


def _ctx(info: Any) -> RequestContext:
    ctx: RequestContext = info.context
    return ctx


def _project_pk(source: dict[str, Any]) -> int:
    return int(source["internalId"])


# ---------------------------------------------------------------------------- Query
def _query_artifact(source: Any, info: Any, id: str) -> Any:
    ctx = _ctx(info)
    art = ctx.backend.artifacts.get(artifact_pk(id))
    return None if art is None or art["state"] == "DELETED" else artifact_node(ctx, art)


def _query_collection(source: Any, info: Any, id: str) -> Any:
    ctx = _ctx(info)
    col = ctx.backend.artifacts.collection_by_pk(collection_pk(id))
    return None if col is None else collection_node(ctx, col)


def _query_organization(source: Any, info: Any, name: str) -> Any:
    return _organization(_ctx(info), name)


def _organization(ctx: RequestContext, entity: str) -> dict[str, Any]:
    # one organization per entity, whose org entity is the entity itself: registry
    # projects (``wandb-registry-<name>``) then live beside the entity's own projects
    return {"name": entity, "orgEntity": {"name": entity}, "coreWeaveOrganizationId": None}


# ---------------------------------------------------------------------------- Project
def _project_type(source: dict[str, Any], info: Any, name: str) -> Any:
    ctx = _ctx(info)
    pk = _project_pk(source)
    return type_node(ctx, pk, name) if name in ctx.backend.artifacts.types(pk) else None


def _project_types(
    source: dict[str, Any],
    info: Any,
    after: str | None = None,
    first: int | None = None,
    includeAll: bool | None = None,
) -> Any:
    ctx = _ctx(info)
    pk = _project_pk(source)
    names = ctx.backend.artifacts.types(pk)
    return page(names, after, first, lambda n: {"node": type_node(ctx, pk, n)})


def _project_collection(source: dict[str, Any], info: Any, name: str) -> Any:
    ctx = _ctx(info)
    col = ctx.backend.artifacts.collection(_project_pk(source), name)
    return None if col is None else collection_node(ctx, col)


def _membership_by_name(ctx: RequestContext, project_pk: int, name: str) -> Any:
    collection, alias = parse_artifact_name(name)
    store = ctx.backend.artifacts
    col = store.collection(project_pk, collection)
    found = None if col is None else store.resolve(col["pk"], alias)
    return found, col


def _project_membership(source: dict[str, Any], info: Any, name: str) -> Any:
    ctx = _ctx(info)
    found, _ = _membership_by_name(ctx, _project_pk(source), name)
    return None if found is None else membership_node(ctx, found)


def _project_artifact(source: dict[str, Any], info: Any, name: str) -> Any:
    ctx = _ctx(info)
    found, _ = _membership_by_name(ctx, _project_pk(source), name)
    if found is None:
        return None
    return artifact_node(ctx, ctx.backend.artifacts.get(found["artifact_pk"]) or {}, found)


# ---------------------------------------------------------------------------- Run
def _run_pk(ctx: RequestContext, source: dict[str, Any]) -> int:
    try:
        name, project, entity = decode_id(source["id"], "Run")[:3]
    except (BadIdError, ValueError) as exc:
        raise GraphQLError(str(exc)) from exc
    run = ctx.backend.runs.get_run(entity, project, name)
    if run is None:
        raise GraphQLError(f"run {entity}/{project}/{name} not found")
    return int(run["pk"])


def _run_artifacts(
    rows_of: Callable[[Any, int], list[dict[str, Any]]],
) -> Callable[..., Any]:
    def resolve(
        source: dict[str, Any], info: Any, after: str | None = None, first: int | None = None
    ) -> Any:
        ctx = _ctx(info)
        rows = rows_of(ctx.backend.artifacts, _run_pk(ctx, source))
        return page(rows, after, first, lambda a: {"node": artifact_node(ctx, a)})

    return resolve


# ---------------------------------------------------------------------------- install
_FIELDS: dict[str, dict[str, Callable[..., Any]]] = {
    "Query": {
        "artifact": _query_artifact,
        "artifactCollection": _query_collection,
        "organization": _query_organization,
    },
    "Project": {
        "artifactType": _project_type,
        "artifactTypes": _project_types,
        "artifactCollection": _project_collection,
        "artifactCollectionMembership": _project_membership,
        "artifact": _project_artifact,
    },
    "Run": {
        "outputArtifacts": _run_artifacts(lambda store, pk: store.output_of(pk)),
        "inputArtifacts": _run_artifacts(lambda store, pk: store.inputs_of(pk)),
    },
    "Entity": {
        "xxhashDigestsEnabled": lambda source, info: False,
        "organization": lambda source, info: _organization(_ctx(info), source["name"]),
    },
    "Mutation": MUTATIONS,
}


def artifact_sdl() -> str:
    """The artifact part of the schema (``schema_artifacts.graphql``: ``extend type`` blocks
    and the artifact types), appended to the base schema's SDL."""
    return (
        "\n"
        + resources.files("wb_dagster.testing.graphql")
        .joinpath("schema_artifacts.graphql")
        .read_text()
    )


def install_artifact_resolvers(schema: GraphQLSchema) -> None:
    """Attach the artifact resolvers to ``schema``'s types (fields a compat mode removed are
    skipped)."""
    for type_name, fields in _FIELDS.items():
        gql_type = schema.type_map.get(type_name)
        if not isinstance(gql_type, GraphQLObjectType):
            continue
        for field_name, resolver in fields.items():
            field = gql_type.fields.get(field_name)
            if field is not None:
                field.resolve = resolver
