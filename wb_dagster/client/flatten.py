"""Turning W&B JSON rows (config, summary, history) into flat Arrow columns.

The representation, shared by run tables and history tables (the values' types follow
:mod:`wb_dagster.client.values`):

* nested dicts become dotted columns, like the W&B UI and ``historyKeys`` name them:
  ``{"a": {"b": 1}}`` -> column ``a.b``; a key already containing dots or slashes is kept as is;
* when a literal dotted key and a nested path would give one name (``{"a.b": 1, "a": {"b": 2}}``,
  both kept by W&B), the literal key keeps the column ``a.b`` and the dict stays whole under its
  own key as JSON text (column ``a`` = ``'{"b":2}'``): both values are kept, neither overwrites;
* a W&B typed value (a dict with a ``_type`` key: histograms, media, tables) is one cell holding
  its JSON text, exactly as W&B encodes it (``{"_type":"histogram","values":[..],"bins":[..]}``);
* a column whose values cannot share one type holds the JSON text of every non-null value;
* a key absent from a row is null in that row; NaN and +/-Inf stay float NaN/Inf.

Example:
    >>> flatten_dict({"opt": {"lr": 0.1, "name": "adam"}, "h": {"_type": "histogram"}})
    {'opt.lr': 0.1, 'opt.name': 'adam', 'h': {'_type': 'histogram'}}
    >>> rows_to_table([{"_step": 0, "a": {"b": 1}}, {"_step": 1, "c": "x"}]).to_pylist()
    [{'_step': 0, 'a.b': 1, 'c': None}, {'_step': 1, 'a.b': None, 'c': 'x'}]
    >>> rows_to_table([{"_step": 0, "a.b": 1, "a": {"b": 2}}]).to_pylist()
    [{'_step': 0, 'a': '{"b":2}', 'a.b': 1}]
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from wb_dagster.client.values import (
    CONVERSION_ERRORS,
    conform_table,
    has_struct,
    json_text_array,
    merged_schema,
    value_array,
)
from wb_dagster.client.values import to_json_text as to_json_text  # re-exported

STEP = "_step"


def is_typed_value(value: Any) -> bool:
    """True for a W&B typed value (a dict carrying ``_type``, e.g. a histogram)."""
    return isinstance(value, dict) and "_type" in value


def flatten_dict(value: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Flatten nested plain dicts into dotted keys; typed values and lists are leaves.

    Example:
        >>> flatten_dict({"a": {"b": {"c": 1}}, "d": [1, 2]}, prefix="config.")
        {'config.a.b.c': 1, 'config.d': [1, 2]}
    """
    out: dict[str, Any] = {}
    literal = {f"{prefix}{k}" for k in value}
    for key, item in value.items():
        name = f"{prefix}{key}"
        if isinstance(item, dict) and item and not is_typed_value(item):
            sub = flatten_dict(item, f"{name}.")
            if not any(k in literal or k in out for k in sub):
                out.update(sub)
                continue
        out[name] = item  # a leaf, or a dict whose dotted names a literal key has: kept whole
    return out


def column_arrays(
    name: str, values: Sequence[Any], taken: frozenset[str] = frozenset()
) -> list[tuple[str, pa.Array]]:
    """Arrow column(s) for one key's values: one column, or several if dicts get flattened.

    ``taken`` are the other columns' names at this level: a dict whose flattened names would
    collide with one of them stays whole (JSON text) instead.
    """
    try:
        inferred = pa.array(values)
    except CONVERSION_ERRORS:
        inferred = None
    if inferred is not None and not has_struct(inferred.type):
        return [(name, value_array(values, inferred))]
    dicts = [v for v in values if isinstance(v, dict)]
    if not dicts:
        return [(name, value_array(values, inferred))]
    if any(is_typed_value(d) for d in dicts):
        return [(name, json_text_array(values))]
    # plain nested dicts: scalars stay under `name`, dict entries go to `name.<sub>`
    out: list[tuple[str, pa.Array]] = []
    scalars = [None if isinstance(v, dict) else v for v in values]
    if any(v is not None for v in scalars):
        out.append((name, value_array(scalars)))
    sub_rows = [v if isinstance(v, dict) else {} for v in values]
    subs = rows_to_columns(sub_rows, prefix=f"{name}.")
    if any(sub in taken for sub in subs):
        return [(name, json_text_array(values))]
    out.extend(subs.items())
    return out


def rows_to_columns(rows: Sequence[Mapping[str, Any]], prefix: str = "") -> dict[str, pa.Array]:
    """Columns for the union of the rows' keys (see the module docstring for the rules)."""
    keys: set[str] = set().union(*rows) if rows else set()
    names = frozenset(f"{prefix}{k}" for k in keys)
    out: dict[str, pa.Array] = {}
    for key in sorted(keys):
        values = [r.get(key) for r in rows]
        for name, arr in column_arrays(f"{prefix}{key}", values, names):
            out[name] = arr
    return out


def rows_to_table(
    rows: Sequence[Mapping[str, Any]],
    *,
    first: Iterable[str] = (STEP,),
    bools: bool | None = None,
) -> pa.Table:
    """A table with one row per input row, columns = union of keys, ``first`` columns first.

    ``bools=False`` tells that no value is a bool (a caller that saw the JSON text knows).
    """
    table = None
    if bools is None:
        bools = any(_holds_bool(r) for r in rows)
    if rows and not bools:
        try:
            # fast path: Arrow infers one struct over the union of keys in C++
            table = normalize_arrow_table(pa.Table.from_struct_array(pa.array(rows)))
        except CONVERSION_ERRORS:
            table = None
    if table is None:
        columns = rows_to_columns(rows)
        table = pa.table(columns) if columns else _empty(len(rows))
    return order_columns(table, first)


def _holds_bool(value: Any) -> bool:
    # Arrow's struct inference turns bools beside numbers into numbers: such rows take the
    # column-wise path, where the value model keeps them apart
    if value is True or value is False:
        return True
    if isinstance(value, dict):
        return not is_typed_value(value) and any(_holds_bool(v) for v in value.values())
    if isinstance(value, list):
        return any(_holds_bool(v) for v in value)
    return False


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
        if has_struct(field.type) and not pa.types.is_struct(field.type):
            # lists of dicts: kept whole, as JSON text
            table = table.set_column(
                i, field.name, pa.chunked_array([json_text_array(table.column(i).to_pylist())])
            )
    while any(pa.types.is_struct(f.type) for f in table.schema):
        arrays: list[pa.ChunkedArray] = []
        names: list[str] = []
        taken = set(table.column_names)
        for field, col in zip(table.schema, table.columns, strict=True):
            if not pa.types.is_struct(field.type):
                names.append(field.name)
                arrays.append(col)
            elif field.type.get_field_index("_type") >= 0 or any(
                f"{field.name}.{field.type.field(i).name}" in taken
                for i in range(field.type.num_fields)
            ):
                # a typed value, or a dict whose dotted names a literal key already has
                names.append(field.name)
                arrays.append(pa.chunked_array([json_text_array(_struct_values(col))]))
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


def unify_tables(tables: Sequence[pa.Table]) -> list[pa.Table]:
    """Make tables concatenable under the value model's merge rule (see
    :func:`wb_dagster.client.values.merged_type`): numbers widen, anything else conflicting
    becomes JSON text."""
    schema = merged_schema([t.schema for t in tables])
    return [conform_table(t, schema) for t in tables]


def concat_tables(tables: Sequence[pa.Table]) -> pa.Table:
    """Concatenate tables with different (or conflicting) columns; see :func:`unify_tables`."""
    tables = [t for t in tables if t.num_columns or t.num_rows]
    if not tables:
        return pa.table({})
    if len(tables) == 1:
        return tables[0]
    return pa.concat_tables(unify_tables(tables))
