"""What the HTTP layer shares between requests: the backend, fault rules, stats, latency.

Example:
    >>> import tempfile, pathlib
    >>> from wb_dagster.testing.store.backend import Backend
    >>> state = ServerState(Backend.open(pathlib.Path(tempfile.mkdtemp()), api_key="k" * 40))
    >>> state.stats.record("POST", "/graphql", "Viewer")
    >>> state.stats.snapshot()["by_operation"]
    {'Viewer': 1}
    >>> state.backend.close()
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from wb_dagster.testing.faults import FaultSet
from wb_dagster.testing.store.backend import Backend


class RequestStats:
    """Counts of requests served, by GraphQL operation and by ``METHOD /first-segment``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._total = 0
        self._by_operation: Counter[str] = Counter()
        self._by_route: Counter[str] = Counter()

    def record(self, method: str, path: str, operation: str | None) -> None:
        segment = "/" + path.lstrip("/").split("/", 1)[0]
        with self._lock:
            self._total += 1
            self._by_route[f"{method} {segment}"] += 1
            if operation is not None:
                self._by_operation[operation or "<anonymous>"] += 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "requests": self._total,
                "by_operation": dict(self._by_operation),
                "by_route": dict(self._by_route),
            }

    def reset(self) -> None:
        with self._lock:
            self._total = 0
            self._by_operation.clear()
            self._by_route.clear()


@dataclass
class ServerState:
    """Shared by all routes of one server."""

    backend: Backend
    faults: FaultSet = field(default_factory=FaultSet)
    stats: RequestStats = field(default_factory=RequestStats)
    latency_ms: int = 0
