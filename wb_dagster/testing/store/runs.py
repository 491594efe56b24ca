"""Entities, projects, runs, sweeps, users and system-metric events in the server's database.

This is the one place that writes those tables; the GraphQL mutations and the
:class:`~wb_dagster.testing.seeds.builder.SeedBuilder` both go through it. Every change to a run
bumps its ``heartbeatAt`` (strictly increasing), which is what sensors watch.

Example:
    >>> import tempfile, pathlib
    >>> from wb_dagster.testing.store.database import Store
    >>> runs = RunStore(Store(pathlib.Path(tempfile.mkdtemp())))
    >>> pk = runs.upsert_run("ent", "proj", "r1", {"state": "running", "config": {"lr": 0.1}})
    >>> runs.get_run("ent", "proj", "r1")["config"]
    '{"lr": {"value": 0.1, "desc": null}}'
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import Any

from wb_dagster.testing.hostility import encode_offset, offset_after
from wb_dagster.testing.store.database import Store, format_time, utc_now
from wb_dagster.testing.store.run_filters import (
    FilterError,
    SqlFragment,
    compile_filters,
    cursor_condition,
    encode_cursor,
    order_by_sql,
    parse_order,
)

RUN_STATES = (
    "running",
    "finished",
    "crashed",
    "failed",
    "killed",
    "preempting",
    "preempted",
    "pending",
)

# run input key -> column (values stored as given)
_PLAIN_FIELDS = {
    "display_name": "display_name",
    "state": "state",
    "group": "group_name",
    "job_type": "job_type",
    "sweep": "sweep_name",
    "commit": "commit_hash",
    "username": "username",
    "host": "host",
    "program": "program",
    "description": "description",
    "notes": "notes",
}

RUN_SELECT = (
    "SELECT r.*, p.entity AS entity, p.name AS project FROM runs r "
    "JOIN projects p ON p.pk = r.project_pk"
)


def wrap_config(config: dict[str, Any]) -> dict[str, Any]:
    """W&B's stored config form: every value wrapped as ``{"value": v, "desc": null}``.

    Values already wrapped (a dict with a ``value`` key) are kept as they are.

    >>> wrap_config({"lr": 0.1, "x": {"value": 1, "desc": "d"}})
    {'lr': {'value': 0.1, 'desc': None}, 'x': {'value': 1, 'desc': 'd'}}
    """
    out = {}
    for key, value in config.items():
        if isinstance(value, dict) and "value" in value:
            out[key] = value
        else:
            out[key] = {"value": value, "desc": None}
    return out


def _dump(value: Any) -> str:
    return json.dumps(value)


class RunStore:
    """Reads and writes of the run-level tables."""

    def __init__(self, store: Store) -> None:
        self.store = store

    # ------------------------------------------------------------ entities, projects, users
    def ensure_user(self, username: str, name: str | None = None, email: str | None = None) -> None:
        with self.store.write() as conn:
            conn.execute(
                "INSERT INTO users(username, name, email) VALUES (?, ?, ?) "
                "ON CONFLICT(username) DO UPDATE SET name = COALESCE(excluded.name, name), "
                "email = COALESCE(excluded.email, email)",
                (username, name, email),
            )
            conn.execute("INSERT OR IGNORE INTO entities(name) VALUES (?)", (username,))

    def get_user(self, username: str | None) -> dict[str, Any] | None:
        if not username:
            return None
        row = (
            self.store.conn()
            .execute("SELECT * FROM users WHERE username = ?", (username,))
            .fetchone()
        )
        return dict(row) if row else {"username": username, "name": username, "email": None}

    def ensure_project(self, entity: str, project: str, created_at: str | None = None) -> int:
        with self.store.write() as conn:
            conn.execute("INSERT OR IGNORE INTO entities(name) VALUES (?)", (entity,))
            conn.execute(
                "INSERT OR IGNORE INTO projects(entity, name, created_at) VALUES (?, ?, ?)",
                (entity, project, created_at or format_time(utc_now())),
            )
            row = conn.execute(
                "SELECT pk FROM projects WHERE entity = ? AND name = ?", (entity, project)
            ).fetchone()
            return int(row[0])

    def get_project(self, entity: str, project: str) -> dict[str, Any] | None:
        row = (
            self.store.conn()
            .execute("SELECT * FROM projects WHERE entity = ? AND name = ?", (entity, project))
            .fetchone()
        )
        return dict(row) if row else None

    def get_project_by_pk(self, pk: int) -> dict[str, Any] | None:
        row = self.store.conn().execute("SELECT * FROM projects WHERE pk = ?", (pk,)).fetchone()
        return dict(row) if row else None

    def entity_exists(self, name: str) -> bool:
        return (
            self.store.conn().execute("SELECT 1 FROM entities WHERE name = ?", (name,)).fetchone()
            is not None
        )

    def list_projects(self, entity: str) -> list[dict[str, Any]]:
        cur = self.store.conn().execute(
            "SELECT * FROM projects WHERE entity = ? ORDER BY pk", (entity,)
        )
        return [dict(r) for r in cur]

    def project_names(self) -> list[str]:
        return [
            f"{r[0]}/{r[1]}"
            for r in self.store.conn().execute("SELECT entity, name FROM projects ORDER BY pk")
        ]

    # ------------------------------------------------------------ runs
    def get_run(self, entity: str, project: str, name: str) -> dict[str, Any] | None:
        row = (
            self.store.conn()
            .execute(
                f"{RUN_SELECT} WHERE p.entity = ? AND p.name = ? AND r.name = ?",
                (entity, project, name),
            )
            .fetchone()
        )
        return dict(row) if row else None

    def get_run_by_pk(self, pk: int) -> dict[str, Any] | None:
        row = self.store.conn().execute(f"{RUN_SELECT} WHERE r.pk = ?", (pk,)).fetchone()
        return dict(row) if row else None

    def upsert_run(
        self,
        entity: str,
        project: str,
        name: str,
        fields: dict[str, Any],
        *,
        created_at: str | None = None,
    ) -> int:
        """Create the run or update the given fields; returns the run's pk.

        ``fields`` keys: ``config`` (dict, stored wrapped, replaces the old config), ``summary``
        (dict, replaces), ``system_metrics`` (dict), ``tags`` (list) and the plain fields
        ``display_name state group job_type sweep commit username host program description
        notes``. ``heartbeat_at`` may be given; otherwise it is bumped to now.
        """
        project_pk = self.ensure_project(entity, project)
        with self.store.write() as conn:
            row = conn.execute(
                "SELECT pk FROM runs WHERE project_pk = ? AND name = ?", (project_pk, name)
            ).fetchone()
            heartbeat = fields.get("heartbeat_at") or self.store.next_heartbeat()
            if row is None:
                created = created_at or heartbeat
                conn.execute(
                    "INSERT INTO runs(project_pk, name, state, created_at, heartbeat_at, "
                    "display_name) VALUES (?, ?, ?, ?, ?, ?)",
                    (project_pk, name, fields.get("state") or "running", created, heartbeat, name),
                )
                pk = int(conn.execute("SELECT last_insert_rowid()").fetchone()[0])
            else:
                pk = int(row[0])
            self._update(conn, pk, fields, heartbeat)
            return pk

    def _update(self, conn: sqlite3.Connection, pk: int, fields: dict[str, Any], hb: str) -> None:
        sets: list[str] = ["heartbeat_at = ?"]
        params: list[Any] = [hb]
        for key, column in _PLAIN_FIELDS.items():
            if key in fields and fields[key] is not None:
                sets.append(f"{column} = ?")
                params.append(fields[key])
        if fields.get("config") is not None:
            config = fields["config"]
            if isinstance(config, str):
                config = json.loads(config)
            sets.append("config = ?")
            params.append(_dump(wrap_config(config)))
        if fields.get("summary") is not None:
            summary = fields["summary"]
            sets.append("summary = ?")
            params.append(summary if isinstance(summary, str) else _dump(summary))
        if fields.get("system_metrics") is not None:
            sets.append("system_metrics = ?")
            params.append(_dump(fields["system_metrics"]))
        if fields.get("tags") is not None:
            sets.append("tags = ?")
            params.append(_dump(list(fields["tags"])))
        conn.execute(f"UPDATE runs SET {', '.join(sets)} WHERE pk = ?", [*params, pk])

    def update_run(self, pk: int, fields: dict[str, Any]) -> None:
        """Update fields of an existing run (bumps heartbeatAt)."""
        with self.store.write() as conn:
            self._update(
                conn, pk, fields, fields.get("heartbeat_at") or self.store.next_heartbeat()
            )

    def touch(self, pk: int) -> None:
        self.update_run(pk, {})

    def delete_run_rows(self, pk: int) -> None:
        with self.store.write() as conn:
            conn.execute("DELETE FROM runs WHERE pk = ?", (pk,))
            conn.execute("DELETE FROM events WHERE run_pk = ?", (pk,))

    # ------------------------------------------------------------ listing
    def _where(self, project_pk: int, filters: str | dict[str, Any] | None) -> SqlFragment:
        branches = _top_level_or(filters)
        secs = self.store.hostility.zone_less_times
        if branches:
            # the project condition goes inside each branch, so SQLite answers every branch
            # from its own index (a sensor's "recent heartbeat OR still open" query stays as
            # cheap on 10,000 runs as on 1,000) instead of scanning the whole project
            parts = [compile_filters(b, whole_seconds=secs) for b in branches]
            where = " OR ".join(f"(r.project_pk = ? AND {p.where})" for p in parts)
            return SqlFragment(f"({where})", [x for p in parts for x in (project_pk, *p.params)])
        sql = compile_filters(filters, whole_seconds=secs)
        return SqlFragment(f"r.project_pk = ? AND {sql.where}", [project_pk, *sql.params])

    def count_runs(self, project_pk: int, filters: str | dict[str, Any] | None = None) -> int:
        where = self._where(project_pk, filters)
        return int(
            self.store.conn()
            .execute(f"SELECT count(*) FROM runs r WHERE {where.where}", where.params)
            .fetchone()[0]
        )

    def list_runs(
        self,
        project_pk: int,
        filters: str | dict[str, Any] | None = None,
        order: str | None = None,
        first: int | None = 50,
        after: str | None = None,
    ) -> tuple[list[tuple[dict[str, Any], str]], bool]:
        """One page of runs as ``[(run, cursor)]`` plus whether more pages follow.

        Offset cursors (W&B's, the default) or keyset cursors (stable under edits; a test knob).
        """
        parsed = parse_order(order)
        where = self._where(project_pk, filters)
        hostility = self.store.hostility
        start = 0
        if after and hostility.offset_cursors:
            try:
                start = offset_after(after)
            except ValueError as exc:
                raise FilterError(str(exc)) from exc
        elif after:
            cond = cursor_condition(parsed, after)
            where = SqlFragment(f"{where.where} AND {cond.where}", where.params + cond.params)
        limit = hostility.page_size(first)
        sql = (
            f"SELECT r.*, p.entity AS entity, p.name AS project, ({parsed.expr}) AS _sort "
            f"FROM runs r JOIN projects p ON p.pk = r.project_pk WHERE {where.where} "
            f"ORDER BY {order_by_sql(parsed)} LIMIT ? OFFSET ?"
        )
        rows = self.store.conn().execute(sql, [*where.params, limit + 1, start]).fetchall()
        page = [dict(r) for r in rows[:limit]]
        if hostility.offset_cursors:
            for r in page:
                r.pop("_sort")
            edges = [(r, encode_offset(start + i)) for i, r in enumerate(page)]
        else:
            edges = [(r, encode_cursor(parsed, r.pop("_sort"), r["pk"])) for r in page]
        return edges, len(rows) > limit

    # ------------------------------------------------------------ sweeps
    def upsert_sweep(self, entity: str, project: str, name: str, fields: dict[str, Any]) -> int:
        project_pk = self.ensure_project(entity, project)
        now = fields.get("updated_at") or format_time(utc_now())
        with self.store.write() as conn:
            conn.execute(
                "INSERT INTO sweeps(project_pk, name, display_name, method, state, description, "
                "config, created_at, updated_at, run_count_expected) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(project_pk, name) DO UPDATE SET "
                "display_name = excluded.display_name, method = excluded.method, "
                "state = excluded.state, description = excluded.description, "
                "config = excluded.config, updated_at = excluded.updated_at, "
                "run_count_expected = excluded.run_count_expected",
                (
                    project_pk,
                    name,
                    fields.get("display_name"),
                    fields.get("method"),
                    fields.get("state") or "RUNNING",
                    fields.get("description"),
                    fields.get("config") or "",
                    fields.get("created_at") or now,
                    now,
                    fields.get("run_count_expected"),
                ),
            )
            row = conn.execute(
                "SELECT pk FROM sweeps WHERE project_pk = ? AND name = ?", (project_pk, name)
            ).fetchone()
            return int(row[0])

    def get_sweep(self, project_pk: int, name: str) -> dict[str, Any] | None:
        row = (
            self.store.conn()
            .execute(
                "SELECT s.*, p.entity AS entity, p.name AS project FROM sweeps s "
                "JOIN projects p ON p.pk = s.project_pk WHERE s.project_pk = ? AND s.name = ?",
                (project_pk, name),
            )
            .fetchone()
        )
        return dict(row) if row else None

    def list_sweeps(
        self, project_pk: int, first: int | None, after: str | None
    ) -> tuple[list[dict[str, Any]], bool]:
        start = int(after) if after and after.isdigit() else 0
        limit = 50 if first is None else max(0, int(first))
        rows = (
            self.store.conn()
            .execute(
                "SELECT s.*, p.entity AS entity, p.name AS project FROM sweeps s "
                "JOIN projects p ON p.pk = s.project_pk WHERE s.project_pk = ? AND s.pk > ? "
                "ORDER BY s.pk LIMIT ?",
                (project_pk, start, limit + 1),
            )
            .fetchall()
        )
        return [dict(r) for r in rows[:limit]], len(rows) > limit

    def sweep_run_count(self, project_pk: int, sweep_name: str) -> int:
        return int(
            self.store.conn()
            .execute(
                "SELECT count(*) FROM runs WHERE project_pk = ? AND sweep_name = ?",
                (project_pk, sweep_name),
            )
            .fetchone()[0]
        )

    def sweep_best_value(
        self, project_pk: int, sweep_name: str, metric: str, maximize: bool
    ) -> float | None:
        agg = "MAX" if maximize else "MIN"
        path = "$." + json.dumps(metric)
        row = (
            self.store.conn()
            .execute(
                f"SELECT {agg}(json_extract(summary, ?)) FROM runs "
                "WHERE project_pk = ? AND sweep_name = ?",
                (path, project_pk, sweep_name),
            )
            .fetchone()
        )
        return None if row is None or row[0] is None else float(row[0])

    def insert_runs_bulk(self, project_pk: int, runs: Sequence[dict[str, Any]]) -> None:
        """Insert many new runs in one transaction (scale seeding; no per-run upsert logic).

        Each dict has ``name state config summary tags created_at heartbeat_at`` (config and
        summary already as JSON text, config wrapped) and optionally the plain columns.
        """
        columns = (
            "name",
            "display_name",
            "state",
            "config",
            "summary",
            "tags",
            "group_name",
            "job_type",
            "sweep_name",
            "username",
            "created_at",
            "heartbeat_at",
        )
        with self.store.write() as conn:
            conn.executemany(
                f"INSERT INTO runs(project_pk, {', '.join(columns)}) "
                f"VALUES (?, {', '.join('?' for _ in columns)})",
                [(project_pk, *(r.get(c) for c in columns)) for r in runs],
            )

    # ------------------------------------------------------------ system-metric events
    def append_events(self, run_pk: int, rows: Sequence[dict[str, Any]]) -> None:
        """Append system-metric rows; ``systemMetrics`` becomes the last row's system.* values."""
        if not rows:
            return
        with self.store.write() as conn:
            start = conn.execute(
                "SELECT COALESCE(MAX(seq), -1) + 1 FROM events WHERE run_pk = ?", (run_pk,)
            ).fetchone()[0]
            conn.executemany(
                "INSERT INTO events(run_pk, seq, row) VALUES (?, ?, ?)",
                [(run_pk, start + i, json.dumps(r)) for i, r in enumerate(rows)],
            )
            latest = {k: v for k, v in rows[-1].items() if not k.startswith("_")}
            conn.execute(
                "UPDATE runs SET events_line_count = events_line_count + ?, system_metrics = ?, "
                "heartbeat_at = ? WHERE pk = ?",
                (len(rows), json.dumps(latest), self.store.next_heartbeat(), run_pk),
            )

    def event_rows(self, run_pk: int) -> list[str]:
        cur = self.store.conn().execute(
            "SELECT row FROM events WHERE run_pk = ? ORDER BY seq", (run_pk,)
        )
        return [r[0] for r in cur]


def _top_level_or(filters: str | dict[str, Any] | None) -> list[Any] | None:
    """The branches of a filter that is exactly ``{"$or": [...]}``, else ``None``."""
    if isinstance(filters, str):
        try:
            filters = json.loads(filters)
        except json.JSONDecodeError:
            return None  # compile_filters reports it
    if isinstance(filters, dict) and list(filters) == ["$or"] and isinstance(filters["$or"], list):
        return filters["$or"] or None
    return None
