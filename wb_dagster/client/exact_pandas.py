"""Arrow tables to pandas without losing integers.

``pyarrow.Table.to_pandas`` turns an integer column that has nulls into ``float64``, which
rounds every value beyond 2**53 (a step counter, a seed, a hash logged as int). Here such
columns become pandas' nullable integer dtypes (``Int64`` ...) instead: values stay exact and
nulls are ``pd.NA``. Integer columns without nulls keep their numpy dtype.

Example:
    >>> import pyarrow as pa
    >>> df = to_pandas_exact(pa.table({"n": [2**53 + 1, None], "m": [1, 2]}))
    >>> int(df["n"][0]) == 2**53 + 1, str(df["n"].dtype), str(df["m"].dtype)
    (True, 'Int64', 'int64')
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa


def to_pandas_exact(table: pa.Table) -> pd.DataFrame:
    """``table.to_pandas()`` with integer columns holding nulls as nullable integers."""
    import pandas as pd
    import pyarrow as pa

    nullable = {
        pa.int8(): pd.Int8Dtype(),
        pa.int16(): pd.Int16Dtype(),
        pa.int32(): pd.Int32Dtype(),
        pa.int64(): pd.Int64Dtype(),
        pa.uint8(): pd.UInt8Dtype(),
        pa.uint16(): pd.UInt16Dtype(),
        pa.uint32(): pd.UInt32Dtype(),
        pa.uint64(): pd.UInt64Dtype(),
    }
    frame = table.to_pandas()
    for i, field in enumerate(table.schema):
        column = table.column(i)
        if field.type in nullable and column.null_count:
            frame[field.name] = column.to_pandas(types_mapper=nullable.get)
    return frame
