"""Progress of a long export in the Dagster run log: requests done, their rate, then rows.

While an export runs, a background thread logs every ``interval_s`` how many HTTP requests the
client has made since the export began and at what rate, with the row count the run reports
(``historyLineCount``) as the target. When it ends, :meth:`ExportProgress.summary` gives rows,
requests, seconds and rows per second. Requests are counted on the client's transport, which
is per process: with the multiprocess executor each step has its own.

Example:
    >>> from types import SimpleNamespace
    >>> lines = []
    >>> transport = SimpleNamespace(stats={"requests": 3})
    >>> with ExportProgress(lines.append, "history of e/p/r", transport, expected_rows=10) as p:
    ...     transport.stats["requests"] += 2
    >>> p.summary(10).split(" in ")[0]
    'history of e/p/r: 10 rows, 2 requests'
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

PROGRESS_INTERVAL_S = 10.0


class ExportProgress:
    """Context manager logging an export's progress every ``interval_s`` seconds."""

    def __init__(
        self,
        log: Callable[[str], Any],
        label: str,
        transport: Any,
        *,
        expected_rows: int | None = None,
        interval_s: float | None = None,
    ) -> None:
        self.log = log
        self.label = label
        self.transport = transport
        self.expected_rows = expected_rows
        self.interval_s = PROGRESS_INTERVAL_S if interval_s is None else interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._start_requests = 0
        self._t0 = 0.0
        self._t1: float | None = None

    def _requests_now(self) -> int:
        stats = getattr(self.transport, "stats", None) or {}
        return int(stats.get("requests", 0))

    @property
    def requests(self) -> int:
        """Requests made since the export began."""
        return self._requests_now() - self._start_requests

    @property
    def elapsed_s(self) -> float:
        end = self._t1 if self._t1 is not None else time.monotonic()
        return max(end - self._t0, 1e-9)

    def line(self) -> str:
        """The periodic progress line."""
        target = f", {self.expected_rows:,} rows to fetch" if self.expected_rows else ""
        return (
            f"{self.label}: {self.requests} requests done "
            f"({self.requests / self.elapsed_s:.1f}/s), {self.elapsed_s:.0f}s elapsed{target}"
        )

    def summary(self, rows: int) -> str:
        """The closing line: rows, requests, duration and row rate."""
        return (
            f"{self.label}: {rows:,} rows, {self.requests} requests in {self.elapsed_s:.1f}s "
            f"({rows / self.elapsed_s:,.0f} rows/s)"
        )

    def _tick(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.log(self.line())

    def __enter__(self) -> ExportProgress:
        self._start_requests = self._requests_now()
        self._t0 = time.monotonic()
        if self.interval_s > 0:
            self._thread = threading.Thread(
                target=self._tick, name=f"progress {self.label}", daemon=True
            )
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._t1 = time.monotonic()
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
