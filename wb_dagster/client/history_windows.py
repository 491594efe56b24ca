"""Step windows of live history, and reading one without losing rows to a server cap.

``history(minStep, maxStep, samples)`` returns at most ``samples`` rows of the window, and W&B
may return fewer than asked when a window holds more rows than its cap (W&B publishes no value;
its own clients page 1,000 steps at a time, and sampled system metrics stop near 1,000 rows,
wandb#6501). So each request asks for at most ``page_rows`` samples (SDK-sized, 1,000 by
default) and a window is complete only when it returned one row per step or fewer rows than
``min(samples, TRUSTED_ROWS)``: a page that size or fuller may have been capped, so the window
is split in two and each half read again, until every part is complete. The client trusts W&B
to return at least ``TRUSTED_ROWS`` rows a request, as the SDK's own history pages do.

Example:
    >>> steps = list(range(0, 40, 2)) + list(range(40, 60))  # sparse, then dense
    >>> def fetch(lo, hi, samples):  # a server keeping `samples` evenly spread rows
    ...     rows = [str(s) for s in steps if lo <= s < hi]
    ...     n = len(rows)
    ...     return rows if n <= samples else [rows[i * n // samples] for i in range(samples)]
    >>> len(fetch(0, 60, 8)), read_window(fetch, 0, 60, 8) == [str(s) for s in steps]
    (8, True)
"""

from __future__ import annotations

import math
from collections.abc import Callable

# (lo, hi, samples) -> the JSON rows of steps lo <= _step < hi, at most ``samples`` of them
FetchWindow = Callable[[int, int, int], list[str]]
TRUSTED_ROWS = 1_000
MAX_SPLITS = 64  # halvings of one window: 2**64 steps is more than any Int64 step range


def step_windows(lo: int, stop: int, line_count: int, page_rows: int) -> list[tuple[int, int]]:
    """Split ``[lo, stop)`` into windows expected to hold about ``page_rows`` rows each.

    Example:
        >>> step_windows(0, 10, 10, 4)
        [(0, 4), (4, 8), (8, 10)]
        >>> step_windows(0, 10**9, 3, 1000)
        [(0, 1000000000)]
    """
    if stop <= lo:
        return []
    span = stop - lo
    expected = max(1, min(span, line_count if line_count > 0 else span))
    pages = max(1, math.ceil(expected / max(1, page_rows)))
    width = max(1, math.ceil(span / pages))
    return [(a, min(a + width, stop)) for a in range(lo, stop, width)]


def read_window(fetch: FetchWindow, lo: int, hi: int, page_rows: int, depth: int = 0) -> list[str]:
    """Every row of steps ``[lo, hi)``, splitting the window while a page comes back full."""
    samples = max(1, min(hi - lo, page_rows))
    lines = fetch(lo, hi, samples)
    if len(lines) < min(samples, TRUSTED_ROWS) or len(lines) >= hi - lo:
        return lines
    if depth >= MAX_SPLITS:
        raise RuntimeError(f"history window [{lo}, {hi}) still full after {depth} splits")
    mid = lo + (hi - lo) // 2
    return read_window(fetch, lo, mid, page_rows, depth + 1) + read_window(
        fetch, mid, hi, page_rows, depth + 1
    )
