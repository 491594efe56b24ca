"""Helpers turning seed inputs into what the official SDK is expected to return."""

from __future__ import annotations

import math
from typing import Any


def same_value(got: Any, want: Any) -> bool:
    """Equality that treats NaN == NaN and compares dicts/lists element-wise."""
    if isinstance(want, float) and math.isnan(want):
        return isinstance(got, float) and math.isnan(got)
    if isinstance(want, dict):
        return (
            isinstance(got, dict)
            and set(got) == set(want)
            and all(same_value(got[k], want[k]) for k in want)
        )
    if isinstance(want, list):
        return (
            isinstance(got, list)
            and len(got) == len(want)
            and all(same_value(g, w) for g, w in zip(got, want, strict=True))
        )
    return bool(got == want)


def without_nulls(row: dict[str, Any]) -> dict[str, Any]:
    """Parquet-backed SDK rows carry missing keys as None; seed rows simply omit them."""
    return {k: v for k, v in row.items() if v is not None}


def is_nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


def pandas_row(row: dict[str, Any]) -> dict[str, Any]:
    """A pandas record without its NaN fill-ins for missing keys."""
    return {k: v for k, v in row.items() if not (v is None or is_nan(v))}
