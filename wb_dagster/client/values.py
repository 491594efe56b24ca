"""The value model: which Arrow type a W&B key's values get, and how columns of one key merge.

One rule, used wherever values meet (a page of rows, exported parts, live pages, a stored
file and its appended steps, a stored run table and fresh rows):

* ints -> ``int64``; floats, or ints and floats together -> ``float64`` (NaN, +/-Inf kept);
* bools -> ``bool``; strings -> ``string`` (plain text);
* lists -> ``list<item: T>`` with ``T`` chosen by this same rule (``[1]`` and ``[0.5]`` give
  ``list<double>``; an empty list fits any list); lists read back from parquet (whose item
  field is called ``element``) are the same type as fresh ones;
* anything else -- a key whose values are of different kinds (a bool and a number, a number
  and a string, a list and a string, ``list[int]`` and ``list[str]``), a W&B typed value
  (``{"_type": ...}``), a list of dicts -- is **JSON text**: every non-null value of the
  column is its compact JSON (``'true'``, ``'0.5'``, ``'"text"'``, ``'[1,2]'``; whole floats
  written as integers, as W&B's own JSON does), so
  ``json.loads(cell)`` gives back exactly the value W&B holds. JSON-text columns are
  ``large_string``; plain text columns are ``string``, which is how a merge tells them apart.

Example:
    >>> import pyarrow as pa
    >>> merged_type([pa.int64(), pa.float64()]), merged_type([pa.bool_(), pa.float64()])
    (DataType(double), DataType(large_string))
    >>> value_array([False, True, 0.5]).to_pylist()
    ['false', 'true', '0.5']
    >>> value_array([[1], [], None, [2.5]]).to_pylist()
    [[1.0], [], None, [2.5]]
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

import pyarrow as pa

JSON_TEXT = pa.large_string()

CONVERSION_ERRORS = (
    pa.ArrowInvalid,
    pa.ArrowTypeError,
    pa.ArrowNotImplementedError,
    OverflowError,
    TypeError,
    ValueError,
)


def to_json_text(value: Any) -> str:
    """Compact JSON text of a value, as W&B's JSON writes it: NaN/Infinity as tokens and whole
    floats as integers (``3.0`` -> ``3``), so a value reads alike from a live row and a parquet
    export.

    Example:
        >>> to_json_text({"a": [1, 3.0, float("nan")]})
        '{"a":[1,3,NaN]}'
    """
    return json.dumps(_canonical(value), separators=(",", ":"), allow_nan=True, default=str)


def _canonical(value: Any) -> Any:
    if isinstance(value, float):
        return int(value) if value.is_integer() and abs(value) < 2**53 else value
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    if isinstance(value, dict):
        return {k: _canonical(v) for k, v in value.items()}
    return value


def is_json_text(typ: pa.DataType) -> bool:
    """True for the type of a JSON-text column (see the module docstring).

    Example:
        >>> is_json_text(pa.large_string()), is_json_text(pa.string())
        (True, False)
    """
    return bool(pa.types.is_large_string(typ))


def _is_list(typ: pa.DataType) -> bool:
    return bool(
        pa.types.is_list(typ) or pa.types.is_large_list(typ) or pa.types.is_fixed_size_list(typ)
    )


def normalized_type(typ: pa.DataType) -> pa.DataType:
    """``typ`` with list item fields renamed ``item`` (parquet reads them back as ``element``).

    Example:
        >>> normalized_type(pa.list_(pa.field("element", pa.int64())))
        ListType(list<item: int64>)
    """
    if _is_list(typ):
        return pa.list_(normalized_type(typ.value_type))
    return typ


def merged_type(types: Iterable[pa.DataType]) -> pa.DataType:
    """The one type a key's columns of ``types`` become (null columns fit anything).

    Example:
        >>> merged_type([pa.list_(pa.int64()), pa.list_(pa.float64()), pa.null()])
        ListType(list<item: double>)
        >>> merged_type([pa.list_(pa.int64()), pa.string()])
        DataType(large_string)
    """
    found = {normalized_type(t) for t in types if not pa.types.is_null(t)}
    if not found:
        return pa.null()
    if len(found) == 1:
        only = next(iter(found))
        return JSON_TEXT if pa.types.is_struct(only) or pa.types.is_map(only) else only
    if any(is_json_text(t) for t in found):
        return JSON_TEXT
    if all(pa.types.is_integer(t) for t in found):
        return pa.int64()
    if all(pa.types.is_integer(t) or pa.types.is_floating(t) for t in found):
        return pa.float64()
    if all(_is_list(t) for t in found):
        item = merged_type(t.value_type for t in found)
        return JSON_TEXT if is_json_text(item) else pa.list_(item)
    if all(pa.types.is_string(t) for t in found):
        return pa.string()
    return JSON_TEXT


def json_text_array(values: Sequence[Any]) -> pa.Array:
    """A JSON-text column of Python values (nulls stay null).

    Example:
        >>> json_text_array(["a", None, {"x": 1.0}]).to_pylist()
        ['"a"', None, '{"x":1}']
    """
    return pa.array([None if v is None else to_json_text(v) for v in values], type=JSON_TEXT)


def _python_type(value: Any) -> pa.DataType:
    """The Arrow type the value model gives one Python value (before merging)."""
    if value is None:
        return pa.null()
    if isinstance(value, bool):
        return pa.bool_()
    if isinstance(value, int):
        return pa.int64() if -(2**63) <= value < 2**63 else JSON_TEXT
    if isinstance(value, float):
        return pa.float64()
    if isinstance(value, str):
        return pa.string()
    if isinstance(value, list | tuple):
        item = merged_type(_python_type(v) for v in value)
        return JSON_TEXT if is_json_text(item) else pa.list_(item)
    return JSON_TEXT


def _is_number(typ: pa.DataType) -> bool:
    return bool(pa.types.is_integer(typ) or pa.types.is_floating(typ))


def _bool_free(values: Sequence[Any], depth: int) -> bool:
    if depth == 0:
        return not any(v is True or v is False for v in values)
    if depth == 1:
        return not any(x is True or x is False for v in values if v is not None for x in v)
    return False  # deeper lists: the full rule decides


def value_array(values: Sequence[Any], inferred: pa.Array | None = None) -> pa.Array:
    """One key's Python values (dicts excluded: callers flatten them) as an Arrow column.

    ``inferred`` is ``pa.array(values)`` when the caller already has it.

    Example:
        >>> value_array([1, "a"]).to_pylist(), value_array(["a", None]).type
        (['1', '"a"'], DataType(string))
    """
    arr = inferred
    if arr is None:
        try:
            arr = pa.array(values)
        except CONVERSION_ERRORS:
            arr = None
    if arr is not None:
        if has_struct(arr.type):
            return json_text_array(values)
        leaf, depth = arr.type, 0
        while _is_list(leaf):
            leaf, depth = leaf.value_type, depth + 1
        # Arrow's inference turns [0.5, True] into doubles: numbers need a look for bools
        if not _is_number(leaf) or _bool_free(values, depth):
            return arr
    target = merged_type(_python_type(v) for v in values)
    if is_json_text(target):
        return json_text_array(values)
    if arr is not None and arr.type == target:
        return arr
    try:
        return pa.array(values, type=target)
    except CONVERSION_ERRORS:
        return json_text_array(values)


def has_struct(typ: pa.DataType) -> bool:
    """True for a struct/map type or a list of them (W&B dicts Arrow inferred).

    Example:
        >>> has_struct(pa.list_(pa.struct([("a", pa.int64())]))), has_struct(pa.int64())
        (True, False)
    """
    if pa.types.is_struct(typ) or pa.types.is_map(typ):
        return True
    return _is_list(typ) and has_struct(typ.value_type)


def conform_array(col: pa.Array | pa.ChunkedArray, target: pa.DataType) -> Any:
    """``col`` as ``target`` (a :func:`merged_type` result): numbers widen, list item fields
    are renamed, and a column that is not JSON text yet becomes JSON text of its values.

    Example:
        >>> conform_array(pa.array(["a"]), JSON_TEXT).to_pylist()
        ['"a"']
    """
    if col.type == target:
        return col
    if pa.types.is_null(col.type):
        return pa.nulls(len(col), type=target)
    if is_json_text(target) and not is_json_text(col.type):
        return json_text_array(col.to_pylist())
    try:
        return col.cast(target, safe=False)
    except CONVERSION_ERRORS:
        return json_text_array(col.to_pylist())


def merged_schema(schemas: Sequence[pa.Schema]) -> pa.Schema:
    """Union of the schemas' columns (first-seen order), each of its :func:`merged_type`.

    Example:
        >>> merged_schema([pa.schema([("x", pa.int64())]), pa.schema([("x", pa.bool_())])])
        x: large_string
    """
    found: dict[str, list[pa.DataType]] = {}
    for schema in schemas:
        for f in schema:
            found.setdefault(f.name, []).append(f.type)
    return pa.schema([pa.field(n, merged_type(ts)) for n, ts in found.items()])


def conform_table(table: pa.Table | pa.RecordBatch, schema: pa.Schema) -> pa.Table:
    """``table`` with exactly ``schema``'s columns (absent ones null), conformed column-wise.

    Example:
        >>> schema = pa.schema([("x", pa.float64()), ("y", pa.string())])
        >>> conform_table(pa.table({"x": [1]}), schema).to_pylist()
        [{'x': 1.0, 'y': None}]
    """
    arrays = []
    for f in schema:
        if f.name in table.schema.names:
            arrays.append(conform_array(table.column(f.name), f.type))
        else:
            arrays.append(pa.nulls(table.num_rows, type=f.type))
    if isinstance(table, pa.RecordBatch):
        return pa.Table.from_batches([pa.RecordBatch.from_arrays(arrays, schema=schema)])
    return pa.Table.from_arrays(arrays, schema=schema)
