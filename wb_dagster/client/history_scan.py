"""``HistoryScan``: what ``Run.scan_history`` returns, an iterable over a run's history rows.

It holds no rows itself: each iteration starts a scan of the run's
:class:`~wb_dagster.client.history.HistoryReader` (pyarrow loads only then).

Example (``client`` connected to the local server with the demo seed):
    >>> scan = client.run("wb-demo/cifar/cifar001").scan_history(keys=["loss"], max_step=2)
    >>> [row["_step"] for row in scan]
    [0, 1]
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from wb_dagster.client.history import HistoryReader


class HistoryScan:
    """An iterable over history rows (re-iterating starts a new scan).

    Example (``client`` connected to the local server with the demo seed):
        >>> scan = client.run("wb-demo/cifar/cifar001").scan_history(keys=["loss"])
        >>> next(iter(scan))
        {'_step': 0, 'loss': 2.3}
    """

    def __init__(
        self,
        reader: HistoryReader,
        keys: list[str] | None,
        page_size: int,
        min_step: int,
        max_step: int | None,
    ) -> None:
        self._args = (reader, keys, page_size, min_step, max_step)
        self._it: Iterator[dict[str, Any]] | None = None

    def __iter__(self) -> Iterator[dict[str, Any]]:
        reader, keys, page_size, min_step, max_step = self._args
        self._it = reader.scan(keys, page_size, min_step, max_step)
        return self._it

    def __next__(self) -> dict[str, Any]:
        if self._it is None:
            iter(self)
        assert self._it is not None
        return next(self._it)
