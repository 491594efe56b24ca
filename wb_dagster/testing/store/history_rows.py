"""History rows in their two stored forms: JSON texts (live rows) and Arrow tables (exported parts).

Example:
    >>> table = rows_to_table([{"_step": 0, "loss": 1.0}, {"_step": 1, "acc": 0.5}])
    >>> table.column_names, table_rows_json(table)
    (['_step', 'loss', 'acc'], ['{"_step": 0, "loss": 1.0}', '{"_step": 1, "acc": 0.5}'])
    >>> rows_text_to_table(['{"_step": 3, "x": 1}']).num_rows, json_safe({"v": float("nan")})
    (1, {'v': None})
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json


def json_safe(value: Any) -> Any:
    """Replace non-finite floats for places where the reply is raw JSON (Go rejects NaN)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [json_safe(v) for v in value]
    return value


def rows_to_table(rows: Sequence[dict[str, Any]]) -> pa.Table:
    """Build an Arrow table (``_step`` int64 first) from row dicts; mixed-type keys become JSON."""
    keys: dict[str, None] = {"_step": None}
    for row in rows:
        keys.update(dict.fromkeys(row))
    arrays: dict[str, pa.Array] = {}
    for key in keys:
        values = [row.get(key) for row in rows]
        if key == "_step":
            arrays[key] = pa.array(values, type=pa.int64())
            continue
        try:
            arrays[key] = pa.array(values, from_pandas=False)
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, OverflowError):
            arrays[key] = pa.array([None if v is None else json.dumps(v) for v in values])
        if pa.types.is_null(arrays[key].type):
            arrays[key] = arrays[key].cast(pa.float64())
    return pa.table(arrays)


def dumps_row(row: dict[str, Any]) -> str:
    """One row as the JSON text the server stores and serves."""
    return json.dumps(row, separators=(", ", ": "))


def rows_text_to_table(texts: list[str]) -> pa.Table:
    """Parse stored JSON rows into a table: Arrow's C++ JSON reader when it can (fast for big
    runs), else Python (NaN literals, keys whose type changes between rows)."""
    try:
        table = pa_json.read_json(
            io.BytesIO("\n".join(texts).encode()),
            read_options=pa_json.ReadOptions(block_size=64 << 20),
        )
        if table.num_rows == len(texts) and "_step" in table.column_names:
            step = table.column("_step").cast(pa.int64())
            rest = [n for n in table.column_names if n != "_step"]
            return pa.table({"_step": step, **{n: table.column(n) for n in rest}})
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        pass
    return rows_to_table([json.loads(t) for t in texts])


def plain_numeric(table: pa.Table) -> bool:
    """True when every column is int/float without nulls or non-finite values."""
    for col in table.columns:
        if col.null_count:
            return False
        if pa.types.is_floating(col.type):
            if not pc.all(pc.is_finite(col)).as_py():
                return False
        elif not pa.types.is_integer(col.type):
            return False
    return True


def table_rows_json(table: pa.Table) -> list[str]:
    """Every row of ``table`` as JSON text, without its null values."""
    names = table.column_names
    columns = [table.column(i).to_pylist() for i in range(table.num_columns)]
    out = []
    for values in zip(*columns, strict=True):
        out.append(dumps_row({k: v for k, v in zip(names, values, strict=True) if v is not None}))
    return out
