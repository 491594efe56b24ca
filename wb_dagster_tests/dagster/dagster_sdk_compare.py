"""Normalize official-SDK rows and our parquet rows the same way before comparing them.

* numbers as float, NaN equal to NaN (the SDK re-encodes 1.0 as 1);
* keys whose value is None dropped (parquet rows carry nulls for keys a step did not log);
* W&B typed values (``{"_type": ...}``; JSON text in our tables) compared as parsed JSON;
* the SDK 0.31 repeats the rows of the page straddling the export boundary: repeated steps
  are dropped, keeping the first.
"""

import json
import math
from collections.abc import Iterable, Mapping
from typing import Any


def norm(value: Any) -> Any:
    if isinstance(value, str) and value.startswith('{"_type"'):
        return norm(json.loads(value))
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return "NaN" if math.isnan(value) else float(value)
    if isinstance(value, Mapping):
        return {k: norm(v) for k, v in sorted(value.items())}
    if isinstance(value, list | tuple):
        return [norm(v) for v in value]
    return value


def flat(row: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, Mapping) and "_type" not in value:
            out.update(flat(value, f"{prefix}{key}."))
        elif value is not None:
            out[f"{prefix}{key}"] = norm(value)
    return out


def rows(items: Iterable[Mapping[str, Any]], key: str = "_step") -> list[dict[str, Any]]:
    out, seen = [], set()
    for item in items:
        row = flat(item)
        mark = row.get(key)
        if mark in seen:
            continue
        seen.add(mark)
        out.append(row)
    return sorted(out, key=lambda r: r.get(key, 0))
