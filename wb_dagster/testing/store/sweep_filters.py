"""Filters for ``project.sweeps(filters: ...)``, the query behind the SDK's ``api.sweeps()``.

A project has few sweeps, so the filter is a Python predicate over sweep rows rather than SQL.
Supported: implicit equality, ``$eq $ne $in $nin`` on ``name``, ``displayName``, ``state``
and ``method``, combined with ``$and`` / ``$or``. Anything else raises
:class:`~wb_dagster.testing.store.run_filters.FilterError` saying what is supported.

Example:
    >>> match = compile_sweep_filters('{"state": {"$in": ["FINISHED", "CANCELED"]}}')
    >>> match({"name": "s1", "state": "FINISHED"}), match({"name": "s2", "state": "RUNNING"})
    (True, False)
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from wb_dagster.testing.store.run_filters import FilterError

SweepPredicate = Callable[[dict[str, Any]], bool]

_FIELDS = {"name": "name", "displayName": "display_name", "state": "state", "method": "method"}
_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "$eq": lambda have, want: have == want,
    "$ne": lambda have, want: have != want,
    "$in": lambda have, want: have in want,
    "$nin": lambda have, want: have not in want,
}


def _field_predicate(name: str, condition: Any) -> SweepPredicate:
    column = _FIELDS.get(name)
    if column is None:
        raise FilterError(
            f"sweep filter field {name!r} is not supported; use one of {list(_FIELDS)}"
        )
    if not isinstance(condition, dict):
        condition = {"$eq": condition}
    checks: list[tuple[Callable[[Any, Any], bool], Any]] = []
    for op, want in condition.items():
        if op not in _OPS:
            raise FilterError(f"sweep filter operator {op!r} is not supported; use {list(_OPS)}")
        if op in ("$in", "$nin") and not isinstance(want, list):
            raise FilterError(f"sweep filter {name}.{op} needs a list, got {want!r}")
        checks.append((_OPS[op], want))
    return lambda row: all(check(row.get(column), want) for check, want in checks)


def _junction(op: str, subs: list[SweepPredicate]) -> SweepPredicate:
    join = all if op == "$and" else any
    return lambda row: join(s(row) for s in subs)


def _node_predicate(node: Any) -> SweepPredicate:
    if not isinstance(node, dict):
        raise FilterError(f"a sweep filter must be a JSON object, got {node!r}")
    parts: list[SweepPredicate] = []
    for key, value in node.items():
        if key in ("$and", "$or"):
            if not isinstance(value, list):
                raise FilterError(f"{key} needs a list of filters, got {value!r}")
            parts.append(_junction(key, [_node_predicate(v) for v in value]))
        else:
            parts.append(_field_predicate(key, value))
    return lambda row: all(p(row) for p in parts)


def compile_sweep_filters(filters: str | dict[str, Any] | None) -> SweepPredicate:
    """A predicate over sweep rows for a ``filters`` JSON string (``None``/``{}`` = all)."""
    if isinstance(filters, str):
        try:
            filters = json.loads(filters) if filters.strip() else None
        except json.JSONDecodeError as exc:
            raise FilterError(f"sweep filters are not valid JSON: {filters!r}") from exc
    return _node_predicate(filters or {})
