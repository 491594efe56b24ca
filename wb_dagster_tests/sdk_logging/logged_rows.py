"""Comparing what the official SDK reads back with what a spec logged.

Example:
    >>> same({"a": float("nan"), "b": [1]}, {"a": float("nan"), "b": [1.0]})
    True
    >>> logged_part({"_step": 0, "_runtime": 1.5, "loss": None, "acc": 0.5})
    {'_step': 0, 'acc': 0.5}
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any


def same(actual: Any, expected: Any) -> bool:
    """Deep equality where NaN equals NaN and 1 == 1.0 (wandb-core re-encodes whole floats)."""
    if isinstance(expected, float) and math.isnan(expected):
        return isinstance(actual, float) and math.isnan(actual)
    if isinstance(expected, dict):
        # wandb's summary sub-dicts are dict-like without being Mappings
        return (
            (isinstance(actual, Mapping) or hasattr(actual, "keys"))
            and set(actual.keys()) == set(expected)
            and all(same(actual[k], expected[k]) for k in expected)
        )
    if isinstance(expected, list):
        return (
            isinstance(actual, list)
            and len(actual) == len(expected)
            and all(same(a, e) for a, e in zip(actual, expected, strict=True))
        )
    return bool(actual == expected)


def logged_part(row: dict[str, Any]) -> dict[str, Any]:
    """A read-back history row without the SDK's own keys and without absent (None) keys."""
    return {k: v for k, v in row.items() if v is not None and k not in ("_runtime", "_timestamp")}
