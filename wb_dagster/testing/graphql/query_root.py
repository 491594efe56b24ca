"""The ``Query`` root: ``viewer``, ``serverInfo``, ``project``/``model``, ``entity``, ``projects``.

Example:
    >>> import tempfile, pathlib
    >>> from wb_dagster.testing.store.backend import Backend
    >>> backend = Backend.open(pathlib.Path(tempfile.mkdtemp()), api_key="k" * 40)
    >>> query_root(Ctx(backend, "http://h"))["serverInfo"]["features"][0]["name"]
    'MARK_RUN_FILES_UPLOADED'
    >>> backend.close()
"""

from __future__ import annotations

from typing import Any

from wb_dagster.testing.graphql.context import Ctx
from wb_dagster.testing.graphql.nodes import (
    entity_node,
    project_connection,
    project_node,
    viewer_node,
)

# Features this server implements (the SDK treats unknown ones as disabled).
SERVER_FEATURES = ("MARK_RUN_FILES_UPLOADED", "FILESTREAM_GZIP", "SWEEPS_QUERY_FILTERING")


def _project_lookup(ctx: Ctx, name: str | None, entity: str | None) -> Any:
    if not name:
        return None
    row = ctx.backend.runs.get_project(entity or ctx.backend.default_entity, name)
    return None if row is None else project_node(ctx, row)


def query_root(ctx: Ctx) -> dict[str, Any]:
    """The root object of a query, for one request."""

    def project(info: Any, name: str | None = None, entityName: str | None = None) -> Any:
        return _project_lookup(ctx, name, entityName)

    def entity(info: Any, name: str) -> Any:
        return entity_node(ctx, name) if ctx.backend.runs.entity_exists(name) else None

    def projects(
        info: Any,
        entityName: str | None = None,
        first: int | None = None,
        after: str | None = None,
        order: str | None = None,
    ) -> Any:
        return project_connection(ctx, entityName or ctx.backend.default_entity, first, after)

    return {
        "viewer": lambda info: viewer_node(ctx),
        "serverInfo": {
            "cliVersionInfo": {},
            "latestLocalVersionInfo": None,
            "features": ctx.backend.compat.features(SERVER_FEATURES),
        },
        "project": project,
        "model": project,
        "entity": entity,
        "projects": projects,
        "models": projects,
    }
