"""The demo's output: timestamped steps and a text progress bar.

Example:
    >>> import io
    >>> say = Printer(io.StringIO())
    >>> say("hello")
    >>> say.out.getvalue().splitlines()
    ['hello']
"""

from __future__ import annotations

import time
from typing import TextIO


class Printer:
    """Prints lines, and steps prefixed with the seconds since the demo started."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.t0 = time.monotonic()

    def __call__(self, text: str = "") -> None:
        print(text, file=self.out, flush=True)

    def step(self, text: str) -> None:
        self(f"[{time.monotonic() - self.t0:5.1f}s] {text}")


def progress_bar(done: int, total: int, width: int = 24) -> str:
    """A text progress bar, e.g. ``[############------------]``.

    >>> progress_bar(3, 6, width=10)
    '[#####-----]'
    """
    filled = width if total <= 0 else min(width, round(width * done / total))
    return "[" + "#" * filled + "-" * (width - filled) + "]"
