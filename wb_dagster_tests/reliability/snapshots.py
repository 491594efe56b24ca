"""Snapshots of a storage directory, to compare stored outputs before and after a fault.

Parquet files are compared as rows, with NaN spelled ``"NaN"`` (NaN != NaN would make equal
files differ); :func:`raw_snapshot` keeps every file's exact bytes, temporary siblings included.

Example::

    before = store_snapshot(store)
    ...  # a materialization that must fail without writing
    assert store_snapshot(store) == before
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq


def _comparable(value: Any) -> Any:
    # NaN != NaN: compare it by spelling so a stored NaN equals the expected NaN
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    if isinstance(value, list):
        return [_comparable(v) for v in value]
    if isinstance(value, dict):
        return {k: _comparable(v) for k, v in value.items()}
    return value


def parquet_rows(path: Path) -> list[dict[str, Any]]:
    """Rows of a parquet file with NaN made comparable."""
    return _comparable(pq.read_table(path).to_pylist())


def store_snapshot(store: Path) -> dict[str, Any]:
    """Every stored output by relative path: parquet as rows, other files as bytes."""
    out: dict[str, Any] = {}
    for path in sorted(p for p in store.rglob("*") if p.is_file()):
        rel = path.relative_to(store).as_posix()
        out[rel] = parquet_rows(path) if path.suffix == ".parquet" else path.read_bytes()
    return out


def raw_snapshot(store: Path) -> dict[str, bytes]:
    """Every file under ``store`` with its exact bytes (temporary siblings included)."""
    return {
        p.relative_to(store).as_posix(): p.read_bytes()
        for p in sorted(store.rglob("*"))
        if p.is_file()
    }
