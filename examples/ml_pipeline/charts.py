"""Learning-curve charts drawn with matplotlib, as W&B's public-API guide plots exported runs.

A bare ``matplotlib.figure.Figure`` (Agg canvas) rather than ``pyplot``: no display, and no
global figure state shared between the threads or processes that run Dagster steps.

Example:
    >>> png = learning_curves_png([Series("a", [0, 1, 2], [0.1, 0.5, 0.4])], metric="acc")
    >>> png[:8] == b"\\x89PNG\\r\\n\\x1a\\n"
    True
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

from matplotlib.figure import Figure

MAX_SERIES = 10  # matplotlib's default colour cycle (tab10): beyond it, colours repeat


@dataclass(frozen=True)
class Series:
    """One curve: a legend label and its points."""

    label: str
    xs: Sequence[float]
    ys: Sequence[float]


def learning_curves_png(
    series: Sequence[Series], *, metric: str, width: int = 720, height: int = 400, dpi: int = 100
) -> bytes:
    """``series`` as one PNG line chart (``metric`` by ``_step``), ``width`` x ``height`` pixels.

    Example:
        >>> len(learning_curves_png([Series("a", [0, 1], [1.0, 2.0])], metric="loss")) > 1000
        True
    """
    if not 0 < len(series) <= MAX_SERIES:
        raise ValueError(f"plot 1 to {MAX_SERIES} series, got {len(series)}")
    figure = Figure(figsize=(width / dpi, height / dpi), dpi=dpi)
    axes = figure.subplots()
    for s in series:
        axes.plot(s.xs, s.ys, label=s.label, linewidth=1.5)
    axes.set_xlabel("_step")
    axes.set_ylabel(metric)
    axes.grid(alpha=0.3)
    axes.legend(fontsize="small")
    figure.tight_layout()
    out = io.BytesIO()
    figure.savefig(out, format="png")
    return out.getvalue()
