"""SQLite storage of the local server: schema, per-thread connections, write transactions.

One database file under the server's data directory. Reads use one connection per thread (WAL
mode lets them run beside a writer); every write goes through :meth:`Store.write`, a single
``BEGIN IMMEDIATE`` transaction serialised by a process-wide lock, so concurrent requests never
see half-applied changes.

Example:
    >>> import tempfile, pathlib
    >>> store = Store(pathlib.Path(tempfile.mkdtemp()))
    >>> with store.write() as conn:
    ...     _ = conn.execute("INSERT INTO entities(name) VALUES ('e')")
    >>> store.conn().execute("SELECT count(*) FROM entities").fetchone()[0]
    1
    >>> store.close()
"""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

from wb_dagster.testing.hostility import ChurnSet, Hostility

# Timestamps are stored and served in one fixed-width UTC form, so string order == time order.
TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    username TEXT PRIMARY KEY, name TEXT, email TEXT);
CREATE TABLE IF NOT EXISTS entities (name TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS projects (
    pk INTEGER PRIMARY KEY AUTOINCREMENT,
    entity TEXT NOT NULL, name TEXT NOT NULL, created_at TEXT NOT NULL,
    UNIQUE (entity, name));
-- AUTOINCREMENT: a deleted run's pk is never reused, so cursors (which end in the pk) stay valid
CREATE TABLE IF NOT EXISTS runs (
    pk INTEGER PRIMARY KEY AUTOINCREMENT,
    project_pk INTEGER NOT NULL,
    name TEXT NOT NULL,
    display_name TEXT,
    state TEXT NOT NULL,
    config TEXT NOT NULL DEFAULT '{}',
    summary TEXT NOT NULL DEFAULT '{}',
    system_metrics TEXT NOT NULL DEFAULT '{}',
    tags TEXT NOT NULL DEFAULT '[]',
    group_name TEXT, job_type TEXT, sweep_name TEXT, commit_hash TEXT,
    username TEXT, host TEXT, program TEXT, description TEXT, notes TEXT,
    created_at TEXT NOT NULL,
    heartbeat_at TEXT NOT NULL,
    history_line_count INTEGER NOT NULL DEFAULT 0,
    last_step INTEGER NOT NULL DEFAULT -1,
    history_keys TEXT NOT NULL DEFAULT '{}',
    events_line_count INTEGER NOT NULL DEFAULT 0,
    UNIQUE (project_pk, name));
CREATE INDEX IF NOT EXISTS runs_by_created ON runs (project_pk, created_at, pk);
CREATE INDEX IF NOT EXISTS runs_by_heartbeat ON runs (project_pk, heartbeat_at, pk);
CREATE INDEX IF NOT EXISTS runs_by_state ON runs (project_pk, state);
CREATE INDEX IF NOT EXISTS runs_by_sweep ON runs (project_pk, sweep_name);
-- a rowid table: rows are large JSON texts, which WITHOUT ROWID b-trees store poorly
CREATE TABLE IF NOT EXISTS history_live (
    run_pk INTEGER NOT NULL, step INTEGER NOT NULL, row TEXT NOT NULL,
    PRIMARY KEY (run_pk, step));
CREATE TABLE IF NOT EXISTS history_exports (
    run_pk INTEGER NOT NULL, part INTEGER NOT NULL, token TEXT NOT NULL,
    min_step INTEGER NOT NULL, max_step INTEGER NOT NULL, rows INTEGER NOT NULL,
    PRIMARY KEY (run_pk, part));
CREATE TABLE IF NOT EXISTS events (
    run_pk INTEGER NOT NULL, seq INTEGER NOT NULL, row TEXT NOT NULL,
    PRIMARY KEY (run_pk, seq)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS files (
    pk INTEGER PRIMARY KEY AUTOINCREMENT,
    run_pk INTEGER NOT NULL, name TEXT NOT NULL,
    size_bytes INTEGER NOT NULL, md5 TEXT NOT NULL, mimetype TEXT, updated_at TEXT NOT NULL,
    UNIQUE (run_pk, name));
CREATE TABLE IF NOT EXISTS sweeps (
    pk INTEGER PRIMARY KEY AUTOINCREMENT,
    project_pk INTEGER NOT NULL, name TEXT NOT NULL, display_name TEXT,
    method TEXT, state TEXT NOT NULL, description TEXT, config TEXT NOT NULL,
    created_at TEXT NOT NULL, updated_at TEXT NOT NULL, run_count_expected INTEGER,
    UNIQUE (project_pk, name));
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


def format_time(value: datetime) -> str:
    """Format a datetime in the server's fixed-width UTC form (naive values are taken as UTC).

    >>> format_time(datetime(2024, 1, 2, 3, 4, 5))
    '2024-01-02T03:04:05.000000Z'
    """
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.strftime(TIME_FORMAT)


def parse_time(value: str | float | int | datetime) -> str:
    """Normalise an ISO-8601 string, epoch seconds or datetime to the stored form.

    >>> parse_time("2024-01-02T03:04:05Z")
    '2024-01-02T03:04:05.000000Z'
    >>> parse_time("2024-01-02T05:04:05+02:00")
    '2024-01-02T03:04:05.000000Z'
    """
    if isinstance(value, datetime):
        return format_time(value)
    if isinstance(value, bool):
        raise ValueError(f"expected an ISO-8601 time string, got {value!r}")
    if isinstance(value, int | float):
        return format_time(datetime.fromtimestamp(value, UTC))
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        return format_time(datetime.fromisoformat(text))
    except ValueError as exc:
        raise ValueError(
            f"{value!r} is not an ISO-8601 time; use e.g. '2024-01-31T12:00:00Z'"
        ) from exc


def utc_now() -> datetime:
    """The current UTC time (naive)."""
    return datetime.now(UTC).replace(tzinfo=None)


@lru_cache(maxsize=256)
def _compile(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _regexp(pattern: str | None, value: Any) -> int:
    if pattern is None or value is None:
        return 0
    return 1 if _compile(pattern).search(str(value)) else 0


class Store:
    """The server's SQLite database plus the directories holding file blobs and history parts."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.db_path = self.root / "wandb.sqlite3"
        self.blob_dir = self.root / "blobs"
        self.history_dir = self.root / "history"
        self.blob_dir.mkdir(exist_ok=True)
        self.history_dir.mkdir(exist_ok=True)
        self._local = threading.local()
        self._conns: list[sqlite3.Connection] = []
        self._conns_lock = threading.Lock()
        self._write_lock = threading.RLock()
        self._last_heartbeat = datetime.min
        self._clock_lock = threading.Lock()
        # per server process, never persisted: a restarted server is hostile again
        self.hostility = Hostility()
        self.churn = ChurnSet()
        conn = self.conn()
        conn.execute("PRAGMA journal_mode=WAL")
        conn.executescript(_SCHEMA)

    def conn(self) -> sqlite3.Connection:
        """This thread's connection (autocommit; use :meth:`write` for changes)."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(
                self.db_path, isolation_level=None, check_same_thread=False, timeout=60
            )
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=60000")
            conn.create_function("regexp", 2, _regexp, deterministic=True)
            self._local.conn = conn
            self._local.depth = 0
            with self._conns_lock:
                self._conns.append(conn)
        return conn

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (nested calls join the outer one)."""
        with self._write_lock:
            conn = self.conn()
            if self._local.depth:
                self._local.depth += 1
                try:
                    yield conn
                finally:
                    self._local.depth -= 1
                return
            conn.execute("BEGIN IMMEDIATE")
            self._local.depth = 1
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            else:
                conn.execute("COMMIT")
            finally:
                self._local.depth = 0

    def next_heartbeat(self) -> str:
        """A heartbeat time strictly later than every earlier one this process handed out."""
        with self._clock_lock:
            now = utc_now()
            if now <= self._last_heartbeat:
                now = self._last_heartbeat + timedelta(microseconds=1)
            self._last_heartbeat = now
            return format_time(now)

    def get_setting(self, key: str) -> str | None:
        row = self.conn().execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_setting(self, key: str, value: str) -> None:
        with self.write() as conn:
            conn.execute(
                "INSERT INTO settings(key, value) VALUES (?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    def close(self) -> None:
        """Close every connection this store opened (from any thread)."""
        with self._conns_lock:
            for conn in self._conns:
                with suppress(sqlite3.Error):
                    conn.close()
            self._conns.clear()
        self._local = threading.local()
