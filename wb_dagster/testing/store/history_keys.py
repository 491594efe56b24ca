"""``historyKeys`` bookkeeping: per key, the count of values of each type logged, and the last.

Example:
    >>> info = rows_key_info([{"_step": 0, "loss": 1.0}, {"_step": 1, "loss": 0.5, "tag": "a"}])
    >>> info["loss"]
    {'typeCounts': [{'type': 'number', 'count': 2}], 'previousValue': 0.5}
    >>> merge_key_info(info, {"tag": {"typeCounts": [{"type": "string", "count": 1}]}})
    >>> info["tag"]["typeCounts"]
    [{'type': 'string', 'count': 2}]
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pyarrow as pa


def value_type(value: Any) -> str | None:
    """The ``historyKeys`` type name of a logged value (None for a missing value)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, dict):
        return str(value.get("_type") or "map")
    if isinstance(value, list):
        return "list"
    return type(value).__name__


def table_key_info(table: pa.Table) -> dict[str, dict[str, Any]]:
    """``historyKeys.keys`` entries of a table: type counts and the last value of each key."""
    info: dict[str, dict[str, Any]] = {}
    for name in table.column_names:
        col = table.column(name)
        count = len(col) - col.null_count
        if count == 0:
            continue
        valid = col.drop_null()
        last = valid[len(valid) - 1].as_py()
        if pa.types.is_integer(col.type) or pa.types.is_floating(col.type):
            kind = "number"
        elif pa.types.is_boolean(col.type):
            kind = "boolean"
        elif pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
            kind = "string"
        else:
            kind = value_type(last) or "unknown"
        info[name] = {"typeCounts": [{"type": kind, "count": count}], "previousValue": last}
    return info


def merge_key_info(into: dict[str, dict[str, Any]], new: dict[str, dict[str, Any]]) -> None:
    """Add the counts of ``new`` to ``into`` (later values win as ``previousValue``)."""
    for key, entry in new.items():
        old = into.setdefault(key, {"typeCounts": []})
        for tc in entry["typeCounts"]:
            for existing in old["typeCounts"]:
                if existing["type"] == tc["type"]:
                    existing["count"] += tc["count"]
                    break
            else:
                old["typeCounts"].append(dict(tc))
        old["previousValue"] = entry.get("previousValue")


def rows_key_info(rows: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """``historyKeys.keys`` entries computed from row dicts."""
    counts: dict[str, dict[str, int]] = {}
    last: dict[str, Any] = {}
    for row in rows:
        for key, value in row.items():
            kind = value_type(value)
            if kind is None:
                continue
            per_key = counts.setdefault(key, {})
            per_key[kind] = per_key.get(kind, 0) + 1
            last[key] = value
    return {
        key: {
            "typeCounts": [{"type": t, "count": c} for t, c in kinds.items()],
            "previousValue": last[key],
        }
        for key, kinds in counts.items()
    }
