"""A run's captured console output (stdout/stderr), as ``wandb.Api``'s ``run.console_logs()``.

W&B records what a run's process prints as numbered lines (``Run.logLines``); stderr lines have
level ``"error"``, a shared-mode writer's lines its ``label``. The whole log is read a page at a
time (``first``/``after``, 1,000 lines per page as the SDK reads it), the tail in one request
(``last``; W&B caps one answer at 1,000 lines, the newest). Times are W&B's zone-less UTC, read
as timezone-aware UTC datetimes (None when a line has none, e.g. an uploaded ``output.log``).

Example:
    >>> parse_timestamp("2026-12-02T01:37:26.2128")
    datetime.datetime(2026, 12, 2, 1, 37, 26, 212800, tzinfo=datetime.timezone.utc)
    >>> parse_timestamp("") is None, parse_timestamp("not a time") is None
    (True, True)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from wb_dagster.client.errors import NotFoundError
from wb_dagster.client.paging import LazyPages
from wb_dagster.client.queries import RUN_CONSOLE_LOG_PAGE, RUN_CONSOLE_LOG_TAIL

if TYPE_CHECKING:
    import pyarrow as pa

    from wb_dagster.client.session import RunRef

PAGE_LINES = 1000  # what the SDK asks per page, and W&B's cap per answer
_FRACTION = re.compile(r"\.(\d+)")


def parse_timestamp(value: str | None) -> datetime | None:
    """An ISO-8601 time as aware UTC (zone-less means UTC, as W&B writes it); None if unreadable."""
    if not value:
        return None
    text = value.strip().replace("Z", "+00:00").replace("z", "+00:00")
    # fromisoformat wants 0, 3 or 6 fraction digits on older Pythons: keep microseconds
    text = _FRACTION.sub(lambda m: "." + m.group(1)[:6].ljust(6, "0"), text, count=1)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)


@dataclass(frozen=True)
class ConsoleLogLine:
    """One console line: ``number`` from 0, ``timestamp`` (aware UTC or None), ``level``
    (``"error"`` for stderr, else ``""``), ``label`` (shared-mode writer, else ``""``),
    ``content``.

    Example:
        >>> line = ConsoleLogLine.from_node(
        ...     {"number": 3, "timestamp": "2026-12-02T01:37:26", "level": "error", "line": "oops"})
        >>> line.number, line.level, line.label, line.content, line.timestamp.isoformat()
        (3, 'error', '', 'oops', '2026-12-02T01:37:26+00:00')
    """

    number: int
    timestamp: datetime | None
    level: str
    label: str
    content: str

    @classmethod
    def from_node(cls, node: dict[str, Any]) -> ConsoleLogLine:
        """A ``LogLine`` node of W&B's GraphQL answer."""
        return cls(
            number=int(node.get("number") or 0),
            timestamp=parse_timestamp(node.get("timestamp")),
            level=str(node.get("level") or ""),
            label=str(node.get("label") or ""),
            content=str(node.get("line") or ""),
        )


class ConsoleLogs(LazyPages[ConsoleLogLine]):
    """The lines of one run's console log, oldest first, fetched lazily page by page.

    ``last=N``: only the newest ``N`` lines (one request; W&B returns at most 1,000).
    Iterating again replays the fetched lines; call ``run.console_logs()`` again for new ones.
    """

    def __init__(self, run: RunRef, per_page: int = PAGE_LINES, last: int | None = None) -> None:
        super().__init__()
        if last is not None and last < 1:  # wandb-core refuses it too ('last' must be positive)
            raise ValueError(f"console_logs(last={last}): last must be a positive line count")
        if per_page < 1:
            raise ValueError(f"console_logs(per_page={per_page}): per_page must be at least 1")
        self.run = run
        self.per_page = per_page
        self.last = last

    def __repr__(self) -> str:
        return f"<ConsoleLogs {self.run}>"

    def _load_page(self) -> None:
        run = self.run
        variables: dict[str, Any] = {
            "entity": run.entity,
            "project": run.project,
            "runName": run.id,
        }
        what = f"reading the console log of run {run}"
        if self.last is not None:
            document = RUN_CONSOLE_LOG_TAIL
            variables["last"] = self.last
        else:
            document = RUN_CONSOLE_LOG_PAGE
            variables |= {"first": self.per_page, "after": self._cursor}
        data = run.client.transport.graphql(document, variables, what=what)
        found = (data.get("project") or {}).get("run")
        if found is None:
            raise NotFoundError(f"Could not find run {run} (reading its console log).")
        connection = found.get("logLines") or {}
        nodes = [e["node"] for e in connection.get("edges") or [] if e.get("node")]
        self.objects.extend(ConsoleLogLine.from_node(n) for n in nodes)
        info = connection.get("pageInfo") or {}
        cursor = info.get("endCursor")
        # a page claiming more without saying where it ends would restart the log: stop
        self._more = self.last is None and bool(info.get("hasNextPage")) and bool(cursor)
        self._cursor = cursor or self._cursor
        if not self._more:
            self._count = len(self.objects)

    def __len__(self) -> int:
        while self._more:  # no total is served: the length is known once every page is read
            self._load_page()
        return len(self.objects)

    def to_table(self) -> pa.Table:
        """Every line as a ``pyarrow.Table``: ``number`` (int64), ``timestamp`` (UTC,
        microseconds), ``level``, ``label``, ``content``."""
        import pyarrow as pa

        lines = list(self)
        return pa.table(
            {
                "number": pa.array([x.number for x in lines], type=pa.int64()),
                "timestamp": pa.array(
                    [x.timestamp for x in lines], type=pa.timestamp("us", tz="UTC")
                ),
                "level": pa.array([x.level for x in lines], type=pa.string()),
                "label": pa.array([x.label for x in lines], type=pa.string()),
                "content": pa.array([x.content for x in lines], type=pa.string()),
            }
        )


__all__ = ["ConsoleLogLine", "ConsoleLogs", "parse_timestamp"]
