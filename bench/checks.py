"""Order-independent digests of results, so the SDK side and ours can be compared exactly.

Sums use ``math.fsum`` (correctly rounded whatever the row order); ids are hashed sorted.

Example:
    >>> import pandas as pd
    >>> frame_check(pd.DataFrame({"id": ["b", "a"], "x": [0.1, 0.2]}), sums=["x"])
    {'rows': 2, 'columns': ['id', 'x'], 'sum.x': 0.30000000000000004}
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Sequence
from typing import Any


def ids_digest(ids: Iterable[Any]) -> str:
    text = "\n".join(sorted(str(i) for i in ids))
    return hashlib.sha1(text.encode()).hexdigest()[:12] + "..."


def column_sum(values: Iterable[Any]) -> float | None:
    """Exact sum of the finite numbers in ``values`` (None when there are none)."""
    nums = [float(v) for v in values if isinstance(v, int | float) and math.isfinite(v)]
    return math.fsum(nums) if nums else None


def frame_check(
    df: Any,
    *,
    sums: Sequence[str] = (),
    ids: str | None = None,
    prefixes: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Rows, columns (those starting with ``prefixes``, or all), exact sums, id digest."""
    names = [str(c) for c in df.columns]
    if prefixes is not None:
        names = [n for n in names if n.startswith(tuple(prefixes))]
    out: dict[str, Any] = {"rows": len(df), "columns": sorted(names)}
    for name in sums:
        out[f"sum.{name}"] = column_sum(df[name].tolist()) if name in df.columns else None
    if ids is not None:
        out["ids"] = ids_digest(df[ids].tolist())
    return out


def table_check(table: Any, *, sums: Sequence[str] = (), ids: str | None = None) -> dict[str, Any]:
    """:func:`frame_check` for a ``pyarrow.Table`` (no pandas conversion)."""
    out: dict[str, Any] = {"rows": table.num_rows, "columns": sorted(table.column_names)}
    for name in sums:
        present = name in table.column_names
        out[f"sum.{name}"] = column_sum(table.column(name).to_pylist()) if present else None
    if ids is not None:
        out["ids"] = ids_digest(table.column(ids).to_pylist())
    return out
