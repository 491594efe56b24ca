"""The value model as the tests read it, written independently of ``wb_dagster.client.values``.

The official SDK's reads are the referee: its rows are Python objects. These helpers turn them
into what docs/values.md says our tables hold (column names, kinds), decode our tables' cells
(JSON-text columns are ``large_string``) and compare value by value, strictly: a bool is never
equal to a number, ``1 == 1.0`` (wandb-core re-encodes whole floats as ints), NaN equals NaN,
and keys holding None are dropped (the SDK's parquet rows carry ``key: None``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from typing import Any

import pyarrow as pa


def strict_equal(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        if isinstance(a, float) and math.isnan(a):
            return isinstance(b, float) and math.isnan(b)
        return a == b
    if isinstance(a, Mapping) or isinstance(b, Mapping):
        if not (isinstance(a, Mapping) and isinstance(b, Mapping)):
            return False
        a, b = without_nones(a), without_nones(b)
        return set(a) == set(b) and all(strict_equal(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple) or isinstance(b, list | tuple):
        return (
            isinstance(a, list | tuple)
            and isinstance(b, list | tuple)
            and len(a) == len(b)
            and all(strict_equal(x, y) for x, y in zip(a, b, strict=True))
        )
    return type(a) is type(b) and a == b


def without_nones(row: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if v is not None}


def sdk_dict(value: Any) -> Any:
    """SDK summary/config sub-dicts are dict-like objects: plain dicts, recursively."""
    if hasattr(value, "keys") and not isinstance(value, str):
        return {k: sdk_dict(value[k]) for k in list(value.keys())}
    if isinstance(value, list):
        return [sdk_dict(v) for v in value]
    return value


def is_typed(value: Any) -> bool:
    return isinstance(value, Mapping) and "_type" in value


def flat(row: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Documented naming: nested dicts dotted, unless a literal key already has such a name
    (then the dict stays whole); typed values whole; None dropped."""
    literal = {f"{prefix}{k}" for k in row}
    out: dict[str, Any] = {}
    for key, value in row.items():
        name = f"{prefix}{key}"
        if value is None:
            continue
        if isinstance(value, Mapping) and not is_typed(value) and value:
            sub = flat(value, f"{name}.")
            if not any(k in literal for k in sub):
                out.update(sub)
                continue
        out[name] = sdk_dict(value)
    return out


def decoded_rows(table: pa.Table) -> list[dict[str, Any]]:
    """Our table's rows with JSON-text cells parsed back into W&B values, None dropped."""
    json_cols = {f.name for f in table.schema if pa.types.is_large_string(f.type)}
    return [
        {k: json.loads(v) if k in json_cols else v for k, v in row.items() if v is not None}
        for row in table.to_pylist()
    ]


def rows_equal(ours: list[dict[str, Any]], sdk: list[dict[str, Any]]) -> list[str]:
    """Differences (empty when equal) between our rows and the SDK's, compared by step."""
    problems = []
    mine = {r["_step"]: r for r in ours}
    theirs: dict[Any, dict[str, Any]] = {}
    for r in sdk:  # the SDK repeats the page straddling the export boundary; keep the first
        theirs.setdefault(r["_step"], r)
    if set(mine) != set(theirs):
        return [f"steps differ: ours {sorted(mine)}, SDK {sorted(theirs)}"]
    for step, want in theirs.items():
        got = mine[step]
        for key in sorted(set(got) | set(want)):
            if key in ("_runtime", "_timestamp"):
                continue
            if not strict_equal(got.get(key), want.get(key)):
                problems.append(
                    f"step {step} {key!r}: ours {got.get(key)!r}, SDK {want.get(key)!r}"
                )
    return problems


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "str"
    if isinstance(value, list):
        inner = merged_kind(_kind(v) for v in value if v is not None)
        return "json" if inner == "json" else f"list[{inner}]"
    return "json"


def merged_kind(kinds: Iterable[str]) -> str:
    found = set(kinds)
    if not found:
        return "none"
    if len(found) == 1:
        return next(iter(found))
    if found <= {"int", "float"}:
        return "float"
    lists = {k for k in found if k.startswith("list[")}
    if lists == found:
        inner = merged_kind(k[5:-1] for k in found if k != "list[none]")
        return "json" if inner == "json" else f"list[{inner}]"
    return "json"


def expected_kind(values: Iterable[Any]) -> str:
    """The documented column kind for a key's (non-None) SDK values."""
    return merged_kind(_kind(v) for v in values if v is not None)


def column_kind(typ: pa.DataType) -> str:
    if pa.types.is_large_string(typ):
        return "json"
    if pa.types.is_string(typ):
        return "str"
    if pa.types.is_boolean(typ):
        return "bool"
    if pa.types.is_integer(typ):
        return "int"
    if pa.types.is_floating(typ):
        return "float"
    if pa.types.is_list(typ):
        return f"list[{column_kind(typ.value_type)}]"
    if pa.types.is_null(typ):
        return "none"
    return str(typ)


def kind_problems(table: pa.Table, sdk_rows: list[dict[str, Any]]) -> list[str]:
    """Columns whose Arrow type is not the documented kind of the SDK's values."""
    values: dict[str, list[Any]] = {}
    for row in sdk_rows:
        for k, v in row.items():
            values.setdefault(k, []).append(v)
    out = []
    for name, vals in values.items():
        if name.startswith("_") or name not in table.column_names:
            continue
        want, got = expected_kind(vals), column_kind(table.schema.field(name).type)
        if want != got and not (want.endswith("[none]") and got.startswith("list[")):
            out.append(f"{name!r}: {got}, documented {want} for {vals!r}")
    return out
