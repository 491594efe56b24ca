"""Normalizations that make our history rows and the official SDK's comparable.

* numbers: compared as float (the SDK re-encodes values in Go, so 1.0 comes back as int 1);
  NaN equals NaN;
* history rows: nested plain dicts flattened with ``.`` (our tables' representation), keys whose
  value is None dropped (the SDK's parquet rows carry ``key: None`` for keys a step did not log,
  its live rows omit them), W&B typed values (``_type`` dicts; JSON text in our tables) compared
  as parsed JSON;
* the SDK 0.31 repeats rows of the page straddling the export boundary (wandb-protocol.md
  §4.2 step 6); those exact repeats are dropped, keeping the first, before comparing.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from typing import Any


def norm_value(value: Any) -> Any:
    """``value`` with numbers as float, NaN as ``"NaN"``, typed-value JSON text parsed."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        if isinstance(value, str) and value.startswith('{"_type"'):
            return norm_value(json.loads(value))
        return value
    if isinstance(value, int | float):
        return "NaN" if math.isnan(value) else float(value)
    if isinstance(value, Mapping):
        return {k: norm_value(v) for k, v in sorted(value.items())}
    if isinstance(value, list | tuple):
        return [norm_value(v) for v in value]
    return value


def flat_row(row: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``row`` with nested plain dicts flattened with ``.``, None values dropped, normalized."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and "_type" not in value:
            out.update(flat_row(value, f"{name}."))
        elif value is not None:
            out[name] = norm_value(value)
    return out


def comparable_rows(rows: Iterable[Mapping[str, Any]], key: str = "_step") -> list[dict[str, Any]]:
    """History rows (the SDK's or ours), normalized, one per ``key`` value (the boundary page's
    repeats dropped, the first kept), sorted by it."""
    out: list[dict[str, Any]] = []
    seen: set[Any] = set()
    for row in rows:
        flat = flat_row(row)
        mark = flat.get(key)
        if mark in seen:
            continue
        seen.add(mark)
        out.append(flat)
    return sorted(out, key=lambda r: r.get(key, 0))


def table_rows(table: Any) -> list[dict[str, Any]]:
    """The rows of an Arrow table, each through :func:`flat_row`."""
    return [flat_row(r) for r in table.to_pylist()]
