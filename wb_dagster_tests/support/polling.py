"""Bounded waits: poll a check until it holds, fail the test with what was awaited otherwise.

Example:
    >>> poll("a number", lambda: 42, timeout_s=1.0)
    42
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest


def poll(what: str, check: Callable[[], Any], timeout_s: float, interval_s: float = 0.25) -> Any:
    """Call ``check`` until it returns something truthy; fail with ``what`` after the deadline."""
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval_s)  # poll interval, bounded by the deadline
    pytest.fail(f"timed out after {timeout_s:.0f}s waiting for {what} (last: {last!r})")
