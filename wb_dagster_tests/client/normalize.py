"""Documented normalizations used to compare our client's output with the official SDK's.

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
    out: dict[str, Any] = {}
    for key, value in row.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and "_type" not in value:
            out.update(flat_row(value, f"{name}."))
        elif value is not None:
            out[name] = norm_value(value)
    return out


def sdk_rows(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """SDK scan rows, normalized, with the boundary page's repeated steps dropped."""
    out: list[dict[str, Any]] = []
    seen: set[Any] = set()
    for row in rows:
        flat = flat_row(row)
        step = flat.get("_step")
        if step in seen:
            continue
        seen.add(step)
        out.append(flat)
    return sorted(out, key=lambda r: r["_step"])


def table_rows(table: Any) -> list[dict[str, Any]]:
    return [flat_row(r) for r in table.to_pylist()]
