"""Paging a run listing so that runs created, deleted or moved between pages are neither lost
nor repeated.

W&B's run cursors are offsets (``base64("arrayconnection:N")``, wandb#6614): when a run before
the cursor is deleted the next page skips one run, when one is created or moves before it the
next page repeats one (#7666). So a listing in created order (the default, as in the SDK) does
not follow the cursor: each page asks for the runs created at or after the last run of the
previous page (``createdAt`` never changes), in W&B's own timestamp spelling, and drops the ids
it already returned. A second holding more runs than a page is paged by cursor within that
second only. Other orders follow the cursor like the SDK and drop repeated ids; a run moving
across the page boundary can then be missed, which is why the package lists in created order.

Example:
    >>> rows = [{"name": f"r{i}", "createdAt": f"2024-01-01T00:00:0{i}"} for i in range(5)]
    >>> def fetch(filters, cursor, first):
    ...     since = (filters.get("createdAt") or {}).get("$gte", "")
    ...     kept = [r for r in rows if r["createdAt"] >= since]
    ...     return kept[:first], None, len(kept) > first
    >>> pager = RunPager(fetch, {}, "+created_at")
    >>> [r["name"] for r in pager.all_nodes(2)]
    ['r0', 'r1', 'r2', 'r3', 'r4']
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from wb_dagster.client.timestamps import next_second

# (filters, cursor, first) -> (run nodes, cursor of the last edge, hasNextPage)
Fetch = Callable[[dict[str, Any], str | None, int], tuple[list[dict[str, Any]], Any, bool]]

CREATED_ORDERS = frozenset({"", "+created_at", "created_at", "+createdAt", "createdAt"})
MAX_PAGES = 1_000_000  # a listing of 500M runs; only a server that never ends reaches it


def with_condition(filters: dict[str, Any], cond: dict[str, Any] | None) -> dict[str, Any]:
    """``filters`` AND ``cond`` (either may be empty).

    >>> with_condition({"state": "finished"}, {"createdAt": {"$gte": "2024-01-01T00:00:00"}})
    {'$and': [{'state': 'finished'}, {'createdAt': {'$gte': '2024-01-01T00:00:00'}}]}
    """
    if not cond:
        return filters
    return {"$and": [filters, cond]} if filters else cond


@dataclass
class RunPager:
    """One pass over a run listing, a page per :meth:`next_page` call (see the module doc)."""

    fetch: Fetch
    filters: dict[str, Any]
    order: str | None
    seen: set[str] = field(default_factory=set)
    more: bool = True
    since: str | None = None  # createdAt of the last run returned (created order)
    tie: str | None = None  # a second holding more runs than a page, paged by cursor
    cursor: Any = None
    pages: int = 0

    @property
    def keyset(self) -> bool:
        return (self.order or "").strip() in CREATED_ORDERS

    def _fresh(self, nodes: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out = []
        for node in nodes:
            run_id = str(node.get("name"))
            if run_id not in self.seen:
                self.seen.add(run_id)
                out.append(node)
        return out

    def next_page(self, per_page: int) -> list[dict[str, Any]]:
        """The runs of the next page not returned before (may be empty while ``more``)."""
        if not self.more:
            return []
        self.pages += 1
        if self.pages > MAX_PAGES:
            raise RuntimeError(f"run listing did not end after {MAX_PAGES} pages")
        if not self.keyset:
            nodes, self.cursor, more = self.fetch(self.filters, self.cursor, per_page)
            self.more = more and bool(nodes)
            return self._fresh(nodes)
        if self.tie is not None:
            return self._tie_page(per_page)
        cond = None if self.since is None else {"createdAt": {"$gte": self.since}}
        nodes, _, more = self.fetch(with_condition(self.filters, cond), None, per_page)
        fresh = self._fresh(nodes)
        last = str(nodes[-1].get("createdAt") or "") if nodes else ""
        if not more or not last:
            self.more = False
        elif last == self.since:  # the whole page is one second: page it by cursor
            self.tie, self.cursor = last, None
        else:
            self.since = last
        return fresh

    def _tie_page(self, per_page: int) -> list[dict[str, Any]]:
        assert self.tie is not None
        second = {"createdAt": {"$gte": self.tie, "$lt": next_second(self.tie)}}
        nodes, self.cursor, more = self.fetch(
            with_condition(self.filters, second), self.cursor, per_page
        )
        if not more or not nodes:
            self.since, self.tie, self.cursor = next_second(self.tie), None, None
        return self._fresh(nodes)

    def all_nodes(self, per_page: int) -> list[dict[str, Any]]:
        """Every remaining run of the listing."""
        out: list[dict[str, Any]] = []
        while self.more:
            out.extend(self.next_page(per_page))
        return out
