"""``POST /graphql``: the SDL schema in ``schema.graphql`` executed by graphql-core.

Objects are plain dicts shaped like the GraphQL types; fields that take arguments or cost a
query are callables ``(info, **args)``, which graphql-core's default resolver calls. Request
handling follows W&B: ``operationName: ""`` means "the only operation", undeclared variables
are ignored, errors come back as ``{"errors": [{"message", "locations", "path"}], "data"}``.

Example:
    >>> import tempfile, pathlib
    >>> from wb_dagster.testing.backend import Backend
    >>> backend = Backend.open(pathlib.Path(tempfile.mkdtemp()), api_key="k" * 40)
    >>> status, body = execute_request(
    ...     backend, "http://127.0.0.1:1", {"query": "{ viewer { entity } }", "operationName": ""})
    >>> status, body
    (200, {'data': {'viewer': {'entity': 'local-user'}}})
    >>> backend.close()
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any
from urllib.parse import quote

import yaml
from graphql import (
    GraphQLError,
    GraphQLScalarType,
    GraphQLSchema,
    build_schema,
    execute_sync,
    parse,
    validate,
)
from graphql.language import ast as gql_ast
from graphql.utilities import value_from_ast_untyped

from wb_dagster.testing.artifact_resolvers import artifact_sdl, install_artifact_resolvers
from wb_dagster.testing.backend import Backend
from wb_dagster.testing.churn import apply_churn
from wb_dagster.testing.file_stream import events_tail, history_tail
from wb_dagster.testing.history_store import sample_positions
from wb_dagster.testing.hostility import encode_offset, offset_window, wire_time
from wb_dagster.testing.server_compat import ServerCompat
from wb_dagster.testing.storage_ids import encode_id
from wb_dagster.testing.sweep_filters import compile_sweep_filters

# Features this server implements (the SDK treats unknown ones as disabled).
SERVER_FEATURES = ("MARK_RUN_FILES_UPLOADED", "FILESTREAM_GZIP", "SWEEPS_QUERY_FILTERING")


# ---------------------------------------------------------------------------- scalars
def _json_string_out(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _json_string_in(value: Any) -> Any:
    return value


def _literal(node: gql_ast.ValueNode, variables: dict[str, Any] | None = None) -> Any:
    return value_from_ast_untyped(node, variables)


def _int64_in(value: Any) -> int:
    if isinstance(value, bool):
        raise GraphQLError(f"Int64 cannot represent {value!r}")
    if isinstance(value, float):
        if not value.is_integer():
            raise GraphQLError(f"Int64 cannot represent non-integer {value!r}")
        return int(value)
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise GraphQLError(f"Int64 cannot represent {value!r}") from exc


def _int64_literal(node: gql_ast.ValueNode, variables: dict[str, Any] | None = None) -> int:
    return _int64_in(value_from_ast_untyped(node, variables))


def _configure_scalars(schema: GraphQLSchema) -> None:
    def setup(name: str, serialize: Any, parse_value: Any, parse_literal: Any) -> None:
        scalar = schema.type_map[name]
        assert isinstance(scalar, GraphQLScalarType)
        scalar.serialize = serialize  # type: ignore[method-assign]
        scalar.parse_value = parse_value  # type: ignore[method-assign]
        scalar.parse_literal = parse_literal  # type: ignore[method-assign]

    setup("JSONString", _json_string_out, _json_string_in, _literal)
    setup("JSON", lambda v: v, lambda v: v, _literal)
    setup("Int64", int, _int64_in, _int64_literal)
    setup("DateTime", str, str, _literal)
    setup("Duration", lambda v: v, lambda v: v, _literal)


@lru_cache(maxsize=8)
def load_schema(compat: ServerCompat = ServerCompat()) -> GraphQLSchema:  # noqa: B008
    """The server's schema (without what ``compat`` removes), built once per process."""
    sdl = resources.files("wb_dagster.testing").joinpath("schema.graphql").read_text()
    schema = build_schema(sdl + artifact_sdl())
    _configure_scalars(schema)
    install_artifact_resolvers(schema)
    return compat.strip(schema)


# ---------------------------------------------------------------------------- shaping
@dataclass(frozen=True)
class Ctx:
    """Per-request context: the backend and the public base URL for absolute file links."""

    backend: Backend
    base_url: str


def offset_page(ctx: Ctx, rows: list[Any], first: int | None, after: str | None) -> Any:
    """``rows[window]`` with W&B's offset cursors, and whether more rows follow."""
    try:
        window = offset_window(after, first, ctx.backend.store.hostility)
    except ValueError as exc:
        raise GraphQLError(str(exc)) from exc
    page = rows[window]
    edges = [(r, encode_offset(window.start + i)) for i, r in enumerate(page)]
    return edges, len(rows) > window.stop


def connection(edges: list[dict[str, Any]], more: bool) -> dict[str, Any]:
    return {
        "edges": edges,
        "pageInfo": {"endCursor": edges[-1]["cursor"] if edges else None, "hasNextPage": more},
    }


def _t(ctx: Ctx, stored: str | None) -> str | None:
    return wire_time(stored, ctx.backend.store.hostility)


def user_node(ctx: Ctx, username: str | None) -> dict[str, Any] | None:
    user = ctx.backend.runs.get_user(username)
    if user is None:
        return None
    return {
        "id": encode_id("User", user["username"]),
        "name": user.get("name"),
        "username": user["username"],
        "email": user.get("email"),
        "admin": False,
        "flags": "{}",
        "entity": user["username"],
        "deletedAt": None,
        "apiKeys": {"edges": []},
        "teams": {"edges": []},
    }


def viewer_node(ctx: Ctx) -> dict[str, Any]:
    node = user_node(ctx, ctx.backend.viewer_username) or {}
    entity = ctx.backend.default_entity
    node["entity"] = entity
    if entity != node.get("username"):
        node["teams"] = {"edges": [{"node": entity_node(ctx, entity)}]}
    return node


def entity_node(ctx: Ctx, name: str) -> dict[str, Any]:
    def projects(info: Any, first: int | None = None, after: str | None = None) -> Any:
        return project_connection(ctx, name, first, after)

    return {
        "id": encode_id("Entity", name),
        "name": name,
        "organization": None,
        "projects": projects,
    }


def project_connection(ctx: Ctx, entity: str, first: int | None, after: str | None) -> Any:
    page, more = offset_page(ctx, ctx.backend.runs.list_projects(entity), first, after)
    return connection([{"node": project_node(ctx, r), "cursor": c} for r, c in page], more)


def project_node(ctx: Ctx, row: dict[str, Any]) -> dict[str, Any]:
    runs_store = ctx.backend.runs
    pk = row["pk"]

    def run_count(info: Any, filters: str | None = None) -> int:
        return runs_store.count_runs(pk, filters)

    def runs(
        info: Any,
        filters: str | None = None,
        after: str | None = None,
        first: int | None = None,
        order: str | None = None,
    ) -> Any:
        return run_connection(ctx, pk, filters, order, first, after)

    def run(info: Any, name: str) -> Any:
        found = runs_store.get_run(row["entity"], row["name"], name)
        return None if found is None else run_node(ctx, found)

    def bucket(info: Any, name: str, missingOk: bool | None = None) -> Any:
        return run(info, name)

    def sweep(info: Any, sweepName: str) -> Any:
        found = runs_store.get_sweep(pk, sweepName)
        return None if found is None else sweep_node(ctx, found)

    def sweeps(
        info: Any, first: int | None = None, after: str | None = None, filters: Any = None
    ) -> Any:
        match = compile_sweep_filters(filters)
        # a project has few sweeps: filter in Python, then page by offset
        every, _ = runs_store.list_sweeps(pk, 1_000_000, None)
        page, more = offset_page(ctx, [s for s in every if match(s)], first, after)
        return connection([{"node": sweep_node(ctx, s), "cursor": c} for s, c in page], more)

    return {
        "id": encode_id("Project", row["name"], row["entity"]),
        "internalId": str(pk),
        "name": row["name"],
        "entityName": row["entity"],
        "readOnly": False,
        "isBenchmark": False,
        "user": lambda info: user_node(ctx, ctx.backend.viewer_username),  # the key creates all
        "createdAt": _t(ctx, row["created_at"]),
        "entity": entity_node(ctx, row["entity"]),
        "runCount": run_count,
        "runs": runs,
        "run": run,
        "bucket": bucket,
        "sweep": sweep,
        "sweeps": sweeps,
        "totalSweeps": lambda info: len(runs_store.list_sweeps(pk, 1_000_000, None)[0]),
    }


def run_connection(
    ctx: Ctx,
    project_pk: int,
    filters: Any,
    order: str | None,
    first: int | None,
    after: str | None,
) -> dict[str, Any]:
    edges, more = ctx.backend.runs.list_runs(project_pk, filters, order, first, after)
    apply_churn(ctx.backend, project_pk)  # a test's runs appear/vanish/move before the next page
    out = [{"node": run_node(ctx, r), "cursor": c} for r, c in edges]
    return {
        "edges": out,
        "pageInfo": {"endCursor": out[-1]["cursor"] if out else after, "hasNextPage": more},
        "totalCount": lambda info: ctx.backend.runs.count_runs(project_pk, filters),
    }


def _empty_history_keys(last_step: int) -> dict[str, Any]:
    return {"lastStep": last_step, "keys": {}}


def run_node(ctx: Ctx, r: dict[str, Any]) -> dict[str, Any]:
    backend = ctx.backend
    hostility = backend.store.hostility
    pk = r["pk"]
    entity, project, name = r["entity"], r["project"], r["name"]

    def history(
        info: Any,
        samples: int | None = None,
        minStep: int | None = None,
        maxStep: int | None = None,
    ) -> list[str]:
        cap = hostility.history_samples_cap
        return backend.history.page(pk, minStep, maxStep, hostility.capped_samples(samples, cap))

    def events(info: Any, samples: int | None = None) -> list[str]:
        rows = backend.runs.event_rows(pk)
        n = hostility.capped_samples(samples, hostility.events_samples_cap)
        return [rows[i] for i in sample_positions(len(rows), n)]

    def sampled_history(info: Any, specs: list[str]) -> list[Any]:
        out = []
        for spec in specs:
            try:
                parsed = json.loads(spec) if isinstance(spec, str) else spec
            except json.JSONDecodeError as exc:
                raise GraphQLError(f"sampledHistory spec is not valid JSON: {spec!r}") from exc
            cap = hostility.history_samples_cap
            samples = hostility.capped_samples(parsed.get("samples"), cap)
            out.append(backend.history.sampled(pk, {**parsed, "samples": samples}))
        return out

    def parquet_history(info: Any, liveKeys: list[str]) -> dict[str, Any]:
        base = f"{ctx.base_url}/_history/{quote(entity)}/{quote(project)}/{quote(name)}"
        return {
            "parquetUrls": [f"{base}/{p.file_name}" for p in backend.history.parts(pk)],
            "liveData": backend.history.live_data(pk, liveKeys),
        }

    def files(
        info: Any,
        names: list[str] | None = None,
        after: str | None = None,
        first: int | None = None,
        pattern: str | None = None,
    ) -> Any:
        return file_connection(ctx, r, names, after, first, pattern)

    def file_count(info: Any) -> int:
        return int(
            backend.store.conn()
            .execute("SELECT count(*) FROM files WHERE run_pk = ?", (pk,))
            .fetchone()[0]
        )

    def wandb_config(info: Any, keys: list[str] | None = None) -> str:
        wandb = json.loads(r["config"]).get("_wandb", {}).get("value", {})
        if not isinstance(wandb, dict):
            wandb = {}
        return json.dumps({k: wandb.get(k) for k in (keys or list(wandb))})

    def sweep(info: Any) -> Any:
        if not r["sweep_name"]:
            return None
        found = backend.runs.get_sweep(r["project_pk"], r["sweep_name"])
        return None if found is None else sweep_node(ctx, found)

    def project_obj(info: Any) -> Any:
        row = backend.runs.get_project_by_pk(r["project_pk"])
        return None if row is None else project_node(ctx, row)

    def log_lines(
        info: Any, first: Any = None, after: Any = None, last: Any = None, **_: Any
    ) -> Any:
        return backend.console.connection(pk, first, after, last)

    def history_keys(info: Any) -> Any:
        keys = json.loads(r["history_keys"] or "{}")
        return keys if "lastStep" in keys else _empty_history_keys(r["last_step"])

    return {
        "id": encode_id("Run", name, project, entity),
        "name": name,
        "displayName": r["display_name"],
        "projectId": r["project_pk"],
        "project": project_obj,
        "state": r["state"],
        "stopped": lambda info: backend.stops.is_stopped(pk),
        "tags": json.loads(r["tags"] or "[]"),
        "group": r["group_name"],
        "jobType": r["job_type"],
        "sweepName": r["sweep_name"],
        "sweep": sweep,
        "commit": r["commit_hash"],
        "host": r["host"],
        "readOnly": False,
        "createdAt": _t(ctx, r["created_at"]),
        "heartbeatAt": _t(ctx, r["heartbeat_at"]),
        "updatedAt": _t(ctx, r["heartbeat_at"]),
        "description": r["description"],
        "notes": r["notes"],
        "user": lambda info: user_node(ctx, r["username"]),
        "config": r["config"],
        "summaryMetrics": r["summary"],
        "systemMetrics": r["system_metrics"],
        "wandbConfig": wandb_config,
        "historyKeys": history_keys,
        "historyLineCount": r["history_line_count"],
        "logLineCount": lambda info: backend.console.line_count(pk),
        "logLines": log_lines,
        "eventsLineCount": r["events_line_count"],
        "historyTail": lambda info: history_tail(backend.history, pk, r["last_step"]),
        "eventsTail": lambda info: events_tail(backend.runs, pk),
        "history": history,
        "events": events,
        "sampledHistory": sampled_history,
        "parquetHistory": parquet_history,
        "fileCount": file_count,
        "files": files,
    }


def file_url(ctx: Ctx, entity: str, project: str, run: str, name: str) -> str:
    """Download URL of a run file (served without auth, like a pre-signed URL)."""
    return f"{ctx.base_url}/files/{quote(entity)}/{quote(project)}/{quote(run)}/{quote(name)}"


def upload_url(ctx: Ctx, entity: str, project: str, run: str, name: str) -> str:
    """Upload (PUT) URL of a run file."""
    return f"{ctx.base_url}/_upload/{quote(entity)}/{quote(project)}/{quote(run)}/{quote(name)}"


def file_connection(
    ctx: Ctx,
    run: dict[str, Any],
    names: list[str] | None,
    after: str | None,
    first: int | None,
    pattern: str | None,
) -> dict[str, Any]:
    sql = "SELECT * FROM files WHERE run_pk = ?"
    params: list[Any] = [run["pk"]]
    if names:
        sql += f" AND name IN ({', '.join('?' for _ in names)})"
        params.extend(names)
    if pattern:
        sql += " AND name LIKE ?"
        params.append(pattern)
    sql += " ORDER BY name"
    rows = ctx.backend.store.conn().execute(sql, params).fetchall()
    page, more = offset_page(ctx, rows, first, after)
    edges = []
    for f, cursor in page:
        url = file_url(ctx, run["entity"], run["project"], run["name"], f["name"])
        up = upload_url(ctx, run["entity"], run["project"], run["name"], f["name"])
        edges.append(
            {
                "node": {
                    "id": encode_id("File", f["pk"]),
                    "name": f["name"],
                    "url": (lambda info, upload=None, _u=url, _p=up: _p if upload else _u),
                    "directUrl": url,
                    "sizeBytes": f["size_bytes"],
                    "mimetype": f["mimetype"],
                    "updatedAt": _t(ctx, f["updated_at"]),
                    "md5": f["md5"],
                },
                "cursor": cursor,
            }
        )
    return connection(edges, more)


def sweep_metric(config_yaml: str) -> tuple[str | None, bool]:
    """(metric name, maximize?) from a sweep's YAML config."""
    try:
        config = yaml.safe_load(config_yaml) or {}
    except yaml.YAMLError:
        return None, False
    metric = config.get("metric") or {}
    return metric.get("name"), metric.get("goal") == "maximize"


def sweep_node(ctx: Ctx, s: dict[str, Any]) -> dict[str, Any]:
    runs_store = ctx.backend.runs
    project_pk = s["project_pk"]

    def best_loss(info: Any) -> float | None:
        metric, maximize = sweep_metric(s["config"])
        if not metric:
            return None
        value = runs_store.sweep_best_value(project_pk, s["name"], metric, maximize)
        return None if value is None or not math.isfinite(value) else value

    def runs(
        info: Any, first: int | None = None, after: str | None = None, order: str | None = None
    ) -> Any:
        return run_connection(ctx, project_pk, {"sweep": s["name"]}, order, first, after)

    def project_obj(info: Any) -> Any:
        row = runs_store.get_project_by_pk(project_pk)
        return None if row is None else project_node(ctx, row)

    return {
        "id": encode_id("Sweep", s["name"], s["project"], s["entity"]),
        "name": s["name"],
        "displayName": s["display_name"],
        "method": s["method"],
        "state": s["state"],
        "description": s["description"],
        "bestLoss": best_loss,
        "config": s["config"],
        "createdAt": _t(ctx, s["created_at"]),
        "updatedAt": _t(ctx, s["updated_at"]),
        "runCount": lambda info: runs_store.sweep_run_count(project_pk, s["name"]),
        "runCountExpected": s["run_count_expected"],
        "controllerRunName": None,  # W&B's hosted controller runs no controller run
        "project": project_obj,
        "runs": runs,
    }


# ---------------------------------------------------------------------------- root resolvers
def _project_lookup(ctx: Ctx, name: str | None, entity: str | None) -> Any:
    if not name:
        return None
    row = ctx.backend.runs.get_project(entity or ctx.backend.default_entity, name)
    return None if row is None else project_node(ctx, row)


def query_root(ctx: Ctx) -> dict[str, Any]:
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


def mutation_root(ctx: Ctx) -> dict[str, Any]:
    from wb_dagster.testing import mutations

    return mutations.mutation_root(ctx)


# ---------------------------------------------------------------------------- execution
def _error(message: str) -> dict[str, Any]:
    return {"errors": [{"message": message}], "data": None}


def operation_name_of(document: str) -> str | None:
    """The first operation's name in a GraphQL document (for stats and fault matching)."""
    import re

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
