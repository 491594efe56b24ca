"""``POST /graphql``: a request body executed against the schema by graphql-core.

Request handling follows W&B: ``operationName: ""`` means "the only operation", undeclared
variables are ignored, errors come back as ``{"errors": [{"message", "locations", "path"}],
"data"}``.

Example:
    >>> import tempfile, pathlib
    >>> from wb_dagster.testing.store.backend import Backend
    >>> backend = Backend.open(pathlib.Path(tempfile.mkdtemp()), api_key="k" * 40)
    >>> status, body = execute_request(
    ...     backend, "http://127.0.0.1:1", {"query": "{ viewer { entity } }", "operationName": ""})
    >>> status, body
    (200, {'data': {'viewer': {'entity': 'local-user'}}})
    >>> backend.close()
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from graphql import GraphQLError, execute_sync, parse, validate
from graphql.language import ast as gql_ast

from wb_dagster.testing.graphql.context import Ctx
from wb_dagster.testing.graphql.mutation_root import mutation_root
from wb_dagster.testing.graphql.query_root import query_root
from wb_dagster.testing.graphql.schema import load_schema
from wb_dagster.testing.server_compat import ServerCompat
from wb_dagster.testing.store.backend import Backend


def _error(message: str) -> dict[str, Any]:
    return {"errors": [{"message": message}], "data": None}


def operation_name_of(document: str) -> str | None:
    """The first operation's name in a GraphQL document (for stats and fault matching)."""
    match = re.search(r"\b(query|mutation|subscription)\s+([_A-Za-z][_0-9A-Za-z]*)", document)
    return match.group(2) if match else None


@lru_cache(maxsize=512)
def checked_document(
    query: str,
    compat: ServerCompat = ServerCompat(),  # noqa: B008
) -> tuple[gql_ast.DocumentNode | None, list[dict[str, Any]]]:
    """``query`` parsed and validated, once per distinct text: clients send the same few
    queries over and over, and parse + validate cost more than most resolvers (~25% of the
    server's CPU in the W4 benchmark). Returns ``(None, errors)`` for an invalid query.
    """
    try:
        document = parse(query)
    except GraphQLError as exc:
        return None, [dict(exc.formatted)]
    errors = validate(load_schema(compat), document)
    if errors:
        return None, [dict(e.formatted) for e in errors]
    return document, []


def execute_request(backend: Backend, base_url: str, body: Any) -> tuple[int, dict[str, Any]]:
    """Run one GraphQL request body; returns (HTTP status, JSON reply)."""
    if not isinstance(body, dict) or not isinstance(body.get("query"), str):
        return 400, _error('expected a JSON object {"query": "...", "variables": {...}}')
    variables = body.get("variables") or {}
    if not isinstance(variables, dict):
        return 400, _error("variables must be a JSON object")
    op_name = body.get("operationName") or None  # "" means "the only operation"
    schema = load_schema(backend.compat)
    document, errors = checked_document(body["query"], backend.compat)
    if document is None:
        return 400, {"errors": errors, "data": None}
    ctx = Ctx(backend, base_url.rstrip("/"))
    is_mutation = any(
        isinstance(d, gql_ast.OperationDefinitionNode)
        and d.operation == gql_ast.OperationType.MUTATION
        and (op_name is None or (d.name and d.name.value == op_name))
        for d in document.definitions
    )
    root = mutation_root(ctx) if is_mutation else query_root(ctx)
    # every resolver is synchronous, so graphql-core returns a result, never an awaitable
    result = execute_sync(schema, document, root, ctx, variables, op_name)  # root, context
    reply: dict[str, Any] = {"data": result.data}
    if result.errors:
        reply = {"errors": [e.formatted for e in result.errors], "data": result.data}
    return 200, reply
