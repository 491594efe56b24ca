"""A time budget for every W&B request made inside a block (per thread / asyncio task).

The transport bounds each request's timeout, and each call's retries, by the time left, and
raises :class:`~wb_dagster.client.errors.TimeBudgetExceeded` once it is spent, so a caller
with a deadline of its own (a sensor tick must end before Dagster's 60 s limit) ends on time
even against a server that answers slowly. Budgets nest: the earliest deadline wins. Threads
started inside the block (concurrent history pages) do not inherit it.

Example:
    >>> with time_budget(5.0):
    ...     0 < remaining_s() <= 5.0
    True
    >>> remaining_s() is None
    True
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_DEADLINE: ContextVar[tuple[float, float] | None] = ContextVar("wb_dagster_deadline", default=None)


@contextmanager
def time_budget(seconds: float) -> Iterator[None]:
    """Requests made inside the block end within ``seconds`` from now (see module docstring)."""
    deadline = time.monotonic() + max(0.0, seconds)
    outer = _DEADLINE.get()
    token = _DEADLINE.set(
        outer if outer is not None and outer[0] <= deadline else (deadline, seconds)
    )
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def current_deadline() -> tuple[float, float] | None:
    """``(monotonic deadline, budget in seconds)`` of the innermost budget, or ``None``."""
    return _DEADLINE.get()


def remaining_s() -> float | None:
    """Seconds left of the current budget (never negative), or ``None`` without a budget."""
    current = _DEADLINE.get()
    return None if current is None else max(0.0, current[0] - time.monotonic())
