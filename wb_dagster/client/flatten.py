"""Turning W&B JSON rows (config, summary, history) into flat Arrow columns.

The representation, shared by run tables and history tables:

* nested dicts become dotted columns, like the W&B UI and ``historyKeys`` name them:
  ``{"a": {"b": 1}}`` -> column ``a.b``; a key already containing dots or slashes is kept as is;
* a W&B typed value (a dict with a ``_type`` key: histograms, media, tables) is one cell holding
  its JSON text, exactly as W&B encodes it (``{"_type":"histogram","values":[..],"bins":[..]}``);
* a column whose values cannot share one Arrow type (numbers in some rows, text in others) holds
  the JSON text of every non-null value; ints and floats together become float64;
* a key absent from a row is null in that row; NaN and +/-Inf stay float NaN/Inf.

Example:
    >>> flatten_dict({"opt": {"lr": 0.1, "name": "adam"}, "h": {"_type": "histogram"}})
    {'opt.lr': 0.1, 'opt.name': 'adam', 'h': {'_type': 'histogram'}}
    >>> rows_to_table([{"_step": 0, "a": {"b": 1}}, {"_step": 1, "c": "x"}]).to_pylist()
    [{'_step': 0, 'a.b': 1, 'c': None}, {'_step': 1, 'a.b': None, 'c': 'x'}]
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

STEP = "_step"


def is_typed_value(value: Any) -> bool:
    """True for a W&B typed value (a dict carrying ``_type``, e.g. a histogram)."""
    return isinstance(value, dict) and "_type" in value


def to_json_text(value: Any) -> str:
    """Compact JSON text of a value (NaN/Infinity written as W&B's JSON does)."""
    return json.dumps(value, separators=(",", ":"), allow_nan=True, default=str)


def flatten_dict(value: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Flatten nested plain dicts into dotted keys; typed values and lists are leaves.

    Example:
        >>> flatten_dict({"a": {"b": {"c": 1}}, "d": [1, 2]}, prefix="config.")
        {'config.a.b.c': 1, 'config.d': [1, 2]}
    """
    out: dict[str, Any] = {}
    for key, item in value.items():
        name = f"{prefix}{key}"
        if isinstance(item, dict) and item and not is_typed_value(item):
            out.update(flatten_dict(item, f"{name}."))
        else:
            out[name] = item
    return out


def _json_column(values: Sequence[Any]) -> pa.Array:
    return pa.array(
        [None if v is None else to_json_text(v) for v in values], type=pa.large_string()
    )


_ARROW_CONVERSION_ERRORS = (
    pa.ArrowInvalid,
    pa.ArrowTypeError,
    pa.ArrowNotImplementedError,
    OverflowError,
    TypeError,
    ValueError,
)


def _plain_array(values: Sequence[Any]) -> pa.Array | None:
    """An Arrow array of ``values`` if they share a plain (non-struct) type, else None."""
    try:
        arr = pa.array(values)
    except _ARROW_CONVERSION_ERRORS:
        return None
    if _has_struct(arr.type):
        return None
    return arr


def _has_struct(typ: pa.DataType) -> bool:
    if pa.types.is_struct(typ) or pa.types.is_map(typ):
        return True
    if pa.types.is_list(typ) or pa.types.is_large_list(typ) or pa.types.is_fixed_size_list(typ):
        return _has_struct(typ.value_type)
    return False


def column_arrays(name: str, values: Sequence[Any]) -> list[tuple[str, pa.Array]]:
    """Arrow column(s) for one key's values: one column, or several if dicts get flattened."""
    arr = _plain_array(values)
    if arr is not None:
        return [(name, arr)]
    dicts = [v for v in values if isinstance(v, dict)]
    if not dicts or any(is_typed_value(d) for d in dicts):
        return [(name, _json_column(values))]
    # plain nested dicts: scalars stay under `name`, dict entries go to `name.<sub>`
    out: list[tuple[str, pa.Array]] = []
    scalars = [None if isinstance(v, dict) else v for v in values]
    if any(v is not None for v in scalars):
        out.extend(column_arrays(name, scalars))
    sub_rows = [v if isinstance(v, dict) else {} for v in values]
    for sub_name, sub_arr in rows_to_columns(sub_rows, prefix=f"{name}.").items():
        out.append((sub_name, sub_arr))
    return out


def rows_to_columns(rows: Sequence[Mapping[str, Any]], prefix: str = "") -> dict[str, pa.Array]:
    """Columns for the union of the rows' keys (see the module docstring for the rules)."""
    keys: set[str] = set().union(*rows) if rows else set()
    out: dict[str, pa.Array] = {}
    for key in sorted(keys):
        values = [r.get(key) for r in rows]
        for name, arr in column_arrays(f"{prefix}{key}", values):
            out[name] = arr
    return out


def rows_to_table(rows: Sequence[Mapping[str, Any]], *, first: Iterable[str] = (STEP,)) -> pa.Table:
    """A table with one row per input row, columns = union of keys, ``first`` columns first."""
    table = None
    if rows:
        try:
            # fast path: Arrow infers one struct over the union of keys in C++
            table = normalize_arrow_table(pa.Table.from_struct_array(pa.array(rows)))
        except _ARROW_CONVERSION_ERRORS:
            table = None
    if table is None:
        columns = rows_to_columns(rows)
        table = pa.table(columns) if columns else _empty(len(rows))
    return order_columns(table, first)


def _empty(num_rows: int) -> pa.Table:
    return pa.table({"__n": pa.nulls(num_rows)}).drop(["__n"])


def order_columns(table: pa.Table, first: Iterable[str] = (STEP,)) -> pa.Table:
    """Put ``first`` columns (those present) ahead of the rest, the rest sorted by name."""
    head = [c for c in first if c in table.column_names]
    rest = sorted(c for c in table.column_names if c not in head)
    return table.select(head + rest)


def normalize_arrow_table(table: pa.Table) -> pa.Table:
    """Apply the flat representation to a table read from parquet (structs -> dotted columns)."""
    for i, field in enumerate(table.schema):
        if _has_struct(field.type) and not pa.types.is_struct(field.type):
            # lists of dicts: kept whole, as JSON text
            table = table.set_column(
                i, field.name, pa.chunked_array([_json_column(table.column(i).to_pylist())])
            )
    while any(pa.types.is_struct(f.type) for f in table.schema):
        arrays: list[pa.ChunkedArray] = []
        names: list[str] = []
        for field, col in zip(table.schema, table.columns, strict=True):
            if not pa.types.is_struct(field.type):
                names.append(field.name)
                arrays.append(col)
            elif field.type.get_field_index("_type") >= 0:
                names.append(field.name)
                arrays.append(pa.chunked_array([_json_column(_struct_values(col))]))
            else:
                for i in range(field.type.num_fields):
                    sub = field.type.field(i)
                    names.append(f"{field.name}.{sub.name}")
                    arrays.append(pc.struct_field(col, [i]))
        table = pa.table(arrays, names=names)
    return table


def _struct_values(col: pa.ChunkedArray) -> list[Any]:
    # drop struct fields that are null in a row: W&B rows never carry them
    return [
        None if v is None else {k: x for k, x in v.items() if x is not None}
        for v in col.to_pylist()
    ]


def _is_numeric(typ: pa.DataType) -> bool:
    return pa.types.is_integer(typ) or pa.types.is_floating(typ) or pa.types.is_boolean(typ)


def unify_tables(tables: Sequence[pa.Table]) -> list[pa.Table]:
    """Make tables concatenable: numeric columns widen, incompatible ones become JSON text."""
    types: dict[str, list[pa.DataType]] = {}
    for t in tables:
        for f in t.schema:
            found = types.setdefault(f.name, [])
            # by equality, not hash: list<item: string> read back from parquet is
            # list<element: string>, equal but hashed apart (it made every tag list JSON text)
            if not pa.types.is_null(f.type) and not any(f.type == seen for seen in found):
                found.append(f.type)
    target: dict[str, pa.DataType] = {}
    for name, found in types.items():
        if not found:
            continue
        if len(found) == 1:
            target[name] = found[0]
        elif all(_is_numeric(t) for t in found):
            if all(pa.types.is_integer(t) for t in found):
                target[name] = pa.int64()
            elif any(pa.types.is_boolean(t) for t in found):
                target[name] = pa.large_string()
            else:
                target[name] = pa.float64()
        elif all(pa.types.is_string(t) or pa.types.is_large_string(t) for t in found):
            target[name] = pa.large_string()
        else:
            target[name] = pa.large_string()
    out = []
    for t in tables:
        arrays = []
        for name in target:
            if name not in t.column_names:
                arrays.append(pa.nulls(t.num_rows, type=target[name]))
                continue
            col = t.column(name)
            want = target[name]
            if col.type == want:
                arrays.append(col)
            elif pa.types.is_null(col.type) or _castable(col.type, want):
                arrays.append(col.cast(want))
            else:
                arrays.append(_json_column(col.to_pylist()))
        out.append(pa.table(arrays, names=list(target)) if target else t.select([]))
    return out


def _castable(src: pa.DataType, dst: pa.DataType) -> bool:
    if _is_numeric(src) and (pa.types.is_floating(dst) or pa.types.is_integer(dst)):
        return not pa.types.is_boolean(src)
    return (pa.types.is_string(src) or pa.types.is_large_string(src)) and (
        pa.types.is_large_string(dst)
    )


def concat_tables(tables: Sequence[pa.Table]) -> pa.Table:
    """Concatenate tables with different (or conflicting) columns; see :func:`unify_tables`."""
    tables = [t for t in tables if t.num_columns or t.num_rows]
    if not tables:
        return pa.table({})
    if len(tables) == 1:
        return tables[0]
    return pa.concat_tables(unify_tables(tables))
