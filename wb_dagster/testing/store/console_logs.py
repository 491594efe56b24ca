"""Console logs: the lines a live SDK run streams as ``output.log``, and ``Run.logLines``.

wandb-core captures stdout/stderr and streams it in file_stream requests under ``output.log``
(``offset`` = number of the first line; a later chunk may rewrite a line it sent before). Each
line has one of two forms, depending on whether the server advertises the
``STRUCTURED_CONSOLE_LOGS`` feature (this server does not, so the SDK sends the first):

* plain: ``[ERROR ]<ts> [[<label>] ]<content>``, e.g. ``ERROR 2026-12-02T01:37:26.212835 oops``
  (``ERROR`` marks stderr; ``ts`` is UTC without a zone designator);
* structured: ``{"level": "error", "ts": "...", "label": "...", "content": "..."}``.

They are stored one row per line number. ``run.console_logs()`` (SDK 0.31) reads them back with
``logLines(first:, after:, useImprovedPagination: true)`` or ``logLines(last:)``; each node has
``number timestamp level label line`` (``level`` ``"error"`` for stderr, else empty). A run
without streamed lines (an uploaded or seeded ``output.log`` only) serves that file's lines
without timestamps. One request returns at most :data:`LOG_LINES_CAP` lines (the SDK's
docstring says W&B caps it; the SDK reads 1,000 per page): a longer ``first`` gets a short
page with ``hasNextPage``, a longer ``last`` the newest lines.

Example:
    >>> line = parse_line("ERROR 2026-12-02T01:37:26.212835 [rank-1] disk full")
    >>> line.timestamp, line.level, line.label, line.content
    ('2026-12-02T01:37:26.212835', 'error', 'rank-1', 'disk full')
    >>> parse_line('{"ts": "2026-12-02T01:37:26", "content": "hi"}').content
    'hi'
    >>> parse_line("no timestamp here").content
    'no timestamp here'
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from typing import Any

from graphql import GraphQLError

from wb_dagster.testing.store.database import Store
from wb_dagster.testing.store.files import FileStore

OUTPUT_FILE = "output.log"
LOG_LINES_CAP = 1000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS console_lines (
    run_pk INTEGER NOT NULL, number INTEGER NOT NULL,
    timestamp TEXT, level TEXT NOT NULL, label TEXT NOT NULL, content TEXT NOT NULL,
    PRIMARY KEY (run_pk, number)) WITHOUT ROWID;
"""
_PLAIN = re.compile(
    r"^(?P<error>ERROR )?(?P<ts>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?)"
    r"(?: \[(?P<label>[^\]]*)\])? ?(?P<content>.*)$",
    re.DOTALL,
)
_CURSOR_PREFIX = "arrayconnection:"


@dataclass(frozen=True)
class ConsoleLine:
    """One captured console line."""

    timestamp: str | None
    level: str
    label: str
    content: str


def parse_line(text: str) -> ConsoleLine:
    """Read one streamed ``output.log`` line in either of wandb-core's formats."""
    if text.startswith("{"):
        try:
            obj = json.loads(text)
        except json.JSONDecodeError:
            obj = None
        if isinstance(obj, dict) and "content" in obj:
            return ConsoleLine(
                obj.get("ts") or None,
                str(obj.get("level") or ""),
                str(obj.get("label") or ""),
                str(obj["content"]),
            )
    match = _PLAIN.match(text)
    if match is None:
        return ConsoleLine(None, "", "", text)
    return ConsoleLine(
        match["ts"], "error" if match["error"] else "", match["label"] or "", match["content"]
    )


def encode_cursor(number: int) -> str:
    """The cursor after line ``number`` (an offset cursor, as W&B's connections use).

    >>> encode_cursor(4), decode_cursor(encode_cursor(4))
    ('YXJyYXljb25uZWN0aW9uOjQ=', 4)
    """
    return base64.b64encode(f"{_CURSOR_PREFIX}{number}".encode()).decode()


def decode_cursor(cursor: str) -> int:
    """The line number a cursor from :func:`encode_cursor` points after."""
    try:
        text = base64.b64decode(cursor.encode(), validate=True).decode()
        if not text.startswith(_CURSOR_PREFIX):
            raise ValueError(text)
        return int(text[len(_CURSOR_PREFIX) :])
    except (ValueError, UnicodeDecodeError) as exc:
        raise GraphQLError(
            f"invalid logLines cursor {cursor!r}; pass the endCursor of the previous page"
        ) from exc


class ConsoleLogStore:
    """Console lines per run, written by file_stream and read by ``logLines``."""

    def __init__(self, store: Store, files: FileStore) -> None:
        self.store = store
        self.files = files
        store.conn().executescript(_SCHEMA)

    def write(self, run_pk: int, offset: int, lines: list[str]) -> None:
        """Store ``lines`` as line numbers ``offset, offset + 1, ...`` (rewrites replace)."""
        rows = []
        for i, text in enumerate(lines):
            line = parse_line(text)
            rows.append((run_pk, offset + i, line.timestamp, line.level, line.label, line.content))
        with self.store.write() as conn:
            conn.executemany(
                "INSERT OR REPLACE INTO console_lines"
                "(run_pk, number, timestamp, level, label, content) VALUES (?, ?, ?, ?, ?, ?)",
                rows,
            )

    def delete_run(self, run_pk: int) -> None:
        with self.store.write() as conn:
            conn.execute("DELETE FROM console_lines WHERE run_pk = ?", (run_pk,))

    def _streamed_count(self, run_pk: int) -> int:
        row = (
            self.store.conn()
            .execute("SELECT max(number) FROM console_lines WHERE run_pk = ?", (run_pk,))
            .fetchone()
        )
        return 0 if row[0] is None else int(row[0]) + 1

    def _file_lines(self, run_pk: int) -> list[str]:
        record = self.files.get(run_pk, OUTPUT_FILE)
        if record is None:
            return []
        return self.files.blob_path(record.pk).read_text(errors="replace").splitlines()

    def line_count(self, run_pk: int) -> int:
        """``logLineCount``: where a resumed run's ``output.log`` continues."""
        return self._streamed_count(run_pk) or len(self._file_lines(run_pk))

    def lines(self, run_pk: int, start: int, stop: int) -> list[dict[str, Any]]:
        """Lines ``start <= number < stop`` as ``LogLine`` nodes."""
        if self._streamed_count(run_pk):
            cur = self.store.conn().execute(
                "SELECT number, timestamp, level, label, content FROM console_lines "
                "WHERE run_pk = ? AND number >= ? AND number < ? ORDER BY number",
                (run_pk, start, stop),
            )
            return [
                {"number": r[0], "timestamp": r[1], "level": r[2], "label": r[3], "line": r[4]}
                for r in cur
            ]
        texts = self._file_lines(run_pk)[start:stop]
        return [
            {"number": start + i, "timestamp": None, "level": "", "label": "", "line": text}
            for i, text in enumerate(texts)
        ]

    def connection(
        self, run_pk: int, first: int | None, after: str | None, last: int | None
    ) -> dict[str, Any]:
        """``Run.logLines``: a page from the start (``first``/``after``) or the tail (``last``)."""
        total = self.line_count(run_pk)
        if last is not None:
            if last < 0:
                raise GraphQLError(f"logLines(last: {last}) must not be negative")
            start, stop = max(0, total - min(last, LOG_LINES_CAP)), total
        else:
            if first is not None and first < 0:
                raise GraphQLError(f"logLines(first: {first}) must not be negative")
            start = 0 if after is None else decode_cursor(after) + 1
            size = LOG_LINES_CAP if first is None else min(first, LOG_LINES_CAP)
            stop = min(total, start + size)
        nodes = self.lines(run_pk, start, stop)
        edges = [{"node": n, "cursor": encode_cursor(n["number"])} for n in nodes]
        return {
            "edges": edges,
            "pageInfo": {
                "endCursor": edges[-1]["cursor"] if edges else after,
                "hasNextPage": last is None and stop < total,
            },
        }
