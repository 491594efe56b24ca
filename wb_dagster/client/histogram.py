"""W&B histogram values: the ``{"_type": "histogram", "values": [...], "bins": [...]}`` encoding.

``bins`` holds ``len(values) + 1`` edges, as ``wandb.Histogram`` writes them. Use
:func:`histogram` to build one from data (numpy is imported on first use) and store it in a run
summary; :func:`is_histogram` recognises one read back.

Example:
    >>> h = histogram([1, 2, 2, 3, 3, 3], num_bins=3)
    >>> h["_type"], h["values"], len(h["bins"])
    ('histogram', [1, 2, 3], 4)
    >>> histogram(np_histogram=([1, 2], [0.0, 0.5, 1.0]))["values"]
    [1, 2]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

MAX_BINS = 512


def histogram(
    sequence: Sequence[float] | Any | None = None,
    *,
    np_histogram: tuple[Sequence[float], Sequence[float]] | None = None,
    num_bins: int = 64,
) -> dict[str, Any]:
    """Build a W&B histogram value from data or from a ``numpy.histogram`` result.

    Example:
        >>> histogram([0.0, 1.0, 1.0], num_bins=2)
        {'_type': 'histogram', 'values': [1, 2], 'bins': [0.0, 0.5, 1.0]}
    """
    if np_histogram is not None:
        values, bins = (list(np_histogram[0]), list(np_histogram[1]))
    elif sequence is not None:
        if not 1 <= num_bins <= MAX_BINS:
            raise ValueError(f"num_bins must be between 1 and {MAX_BINS}, got {num_bins}")
        import numpy as np

        counts, edges = np.histogram(np.asarray(sequence, dtype=float), bins=num_bins)
        values, bins = counts.tolist(), edges.tolist()
    else:
        raise ValueError("histogram() needs a sequence or np_histogram=(values, bins)")
    if len(bins) != len(values) + 1:
        raise ValueError(
            f"a histogram needs len(bins) == len(values) + 1, got {len(bins)} and {len(values)}"
        )
    return {"_type": "histogram", "values": _plain(values), "bins": [float(b) for b in bins]}


def is_histogram(value: Any) -> bool:
    """True for a W&B histogram value (as stored in summaries and history rows).

    Example:
        >>> is_histogram({"_type": "histogram", "values": [], "bins": [0.0]}), is_histogram(1)
        (True, False)
    """
    return isinstance(value, dict) and value.get("_type") == "histogram"


def from_wandb_histogram(obj: Any) -> dict[str, Any] | None:
    """Encode a ``wandb.Histogram`` (duck-typed: no wandb import) or return None."""
    if type(obj).__name__ != "Histogram":
        return None
    values, bins = getattr(obj, "histogram", None), getattr(obj, "bins", None)
    if values is None or bins is None:
        return None
    return histogram(np_histogram=(_plain(values), _plain(bins)))


def _plain(values: Any) -> list[Any]:
    if hasattr(values, "tolist"):
        return list(values.tolist())
    return [v.item() if hasattr(v, "item") else v for v in values]
