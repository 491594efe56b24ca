"""Relay-style connections paged by W&B's offset cursors (``hostility`` may shrink pages).

Example:
    >>> connection([{"node": 1, "cursor": "c1"}], more=False)["pageInfo"]
    {'endCursor': 'c1', 'hasNextPage': False}
"""

from __future__ import annotations

from typing import Any

from graphql import GraphQLError

from wb_dagster.testing.graphql.context import Ctx
from wb_dagster.testing.hostility import encode_offset, offset_window


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
    """A connection object of ``edges`` (``{"node", "cursor"}``) and its ``pageInfo``."""
    return {
        "edges": edges,
        "pageInfo": {"endCursor": edges[-1]["cursor"] if edges else None, "hasNextPage": more},
    }
