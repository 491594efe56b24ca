"""Turning Python values into what W&B stores (JSON-friendly, histograms in W&B's encoding).

Example:
    >>> encode_value({"a": (1, 2), "h": {"_type": "histogram", "values": [1], "bins": [0, 1]}})
    {'a': [1, 2], 'h': {'_type': 'histogram', 'values': [1], 'bins': [0, 1]}}
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Mapping
from typing import Any

from wb_dagster.client.histogram import from_wandb_histogram


def encode_value(value: Any) -> Any:
    """A JSON-friendly copy of ``value``: numpy scalars/arrays become Python, tuples lists."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, Mapping):
        return {str(k): encode_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [encode_value(v) for v in value]
    encoded = from_wandb_histogram(value)
    if encoded is not None:
        return encoded
    if hasattr(value, "tolist"):  # numpy arrays and scalars, without importing numpy
        return encode_value(value.tolist())
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise TypeError(
        f"cannot store a {type(value).__name__} in W&B: use numbers, strings, lists, dicts "
        "or a histogram value"
    )


def dumps(value: Any) -> str:
    """Compact JSON as W&B stores it (NaN/Infinity allowed, like the SDK)."""
    return json.dumps(value, separators=(",", ":"), allow_nan=True)


def loads_object(value: Any) -> dict[str, Any]:
    """Parse a JSONString field (or accept a dict) into a dict; None/empty -> {}."""
    if value is None or value == "":
        return {}
    if isinstance(value, dict):
        return value
    try:
        parsed = json.loads(value)
    except ValueError:
        parsed = json.loads(value, strict=False)
    return parsed if isinstance(parsed, dict) else {}


def last_step(history_keys: Any) -> int:
    """``historyKeys.lastStep`` (a dict or its JSONString); -1 when the run has no history.

    Example:
        >>> last_step('{"lastStep": 41}'), last_step({"keys": {}}), last_step(None)
        (41, -1, -1)
    """
    keys = loads_object(history_keys) if isinstance(history_keys, str | dict) else {}
    value = keys.get("lastStep")
    return int(value) if value is not None else -1


def same(a: Any, b: Any) -> bool:
    """Equality that treats NaN as equal to NaN (for change detection)."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    try:
        return dumps(a) == dumps(b)
    except (TypeError, ValueError):
        return bool(a == b)


def snapshot(value: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(value)
