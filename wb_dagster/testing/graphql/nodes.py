"""Read resolvers: the GraphQL objects ``User``, ``Entity``, ``Project``, ``Run``, ``File`` and
``Sweep`` shaped from store rows.

Objects are plain dicts shaped like the GraphQL types; fields that take arguments or cost a
query are callables ``(info, **args)``, which graphql-core's default resolver calls.

Example:
    >>> import tempfile, pathlib
    >>> from wb_dagster.testing.store.backend import Backend
    >>> backend = Backend.open(pathlib.Path(tempfile.mkdtemp()), api_key="k" * 40)
    >>> viewer_node(Ctx(backend, "http://h"))["entity"]
    'local-user'
    >>> backend.close()
"""

from __future__ import annotations

import json
import math
from typing import Any
from urllib.parse import quote

import yaml
from graphql import GraphQLError

from wb_dagster.testing.graphql.connections import connection, offset_page
from wb_dagster.testing.graphql.context import Ctx
from wb_dagster.testing.graphql.ids import encode_id
from wb_dagster.testing.hostility import wire_time
from wb_dagster.testing.store.churn import apply_churn
from wb_dagster.testing.store.file_stream import events_tail, history_tail
from wb_dagster.testing.store.history import sample_positions
from wb_dagster.testing.store.sweep_filters import compile_sweep_filters


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
