"""``LazyPages``: a listing the server returns a page at a time (``Runs``, ``Files``).

Like ``wandb.Api``'s paginators, a listing fetches its first page on first use, keeps what it
has fetched in ``objects``, and asks for the next page only when iteration or indexing needs it.

Example:
    >>> class Numbers(LazyPages[int]):
    ...     def _load_page(self) -> None:
    ...         start = len(self.objects)
    ...         self.objects.extend(range(start, start + 2))
    ...         self._count, self._more = 4, start + 2 < 4
    >>> numbers = Numbers()
    >>> len(numbers), numbers[1], numbers[-1], list(numbers)
    (4, 1, 3, [0, 1, 2, 3])
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Generic, TypeVar

_T = TypeVar("_T")


class LazyPages(Generic[_T]):
    """Iterable, indexable and sized; subclasses implement ``_load_page``, which appends the next
    page to ``objects`` and sets ``_more`` (another page exists) and ``_count`` (the server's
    total)."""

    def __init__(self) -> None:
        self.objects: list[_T] = []
        self._cursor: str | None = None
        self._more = True
        self._count: int | None = None

    def _load_page(self) -> None:
        raise NotImplementedError

    def __iter__(self) -> Iterator[_T]:
        i = 0
        while True:
            while i < len(self.objects):
                yield self.objects[i]
                i += 1
            if not self._more:
                return
            self._load_page()

    def __len__(self) -> int:
        if self._count is None:
            self._load_page()
        return self._count or 0

    def __getitem__(self, index: int | slice) -> Any:
        # negative indices and open slices need every page
        stop = index.stop if isinstance(index, slice) else (index + 1 if index >= 0 else None)
        while self._more and (stop is None or stop < 0 or len(self.objects) < stop):
            self._load_page()
        return self.objects[index]
