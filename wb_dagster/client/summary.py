"""A run's summary: dict-like, written back with ``update()`` (read-modify-write).

Like ``wandb``'s ``HTTPSummary``: ``summary["k"] = v`` and ``del summary["k"]`` change the local
copy only; ``summary.update({...})`` (or ``run.update()``) sends. Unlike it, only the keys you
changed are applied on top of the summary the server holds *at that moment*, so metrics the run
wrote meanwhile survive. ``_json_dict`` is the raw JSON dict (the W&B guide reads it).

Example (``client`` connected to the local server with the demo seed):
    >>> run = client.run("wb-demo/cifar/cifar001")
    >>> run.summary["reviewed"] = True
    >>> _ = run.summary.update()
    >>> client.flush(); client.run("wb-demo/cifar/cifar001").summary["reviewed"]
    True
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, MutableMapping
from typing import Any

from wb_dagster.client.changes import Change, diff
from wb_dagster.client.encoding import encode_value, snapshot

# merges a change onto the summary W&B holds now, writes it, returns the merged summary
SummaryWriter = Callable[[Change], dict[str, Any]]


class Summary(MutableMapping[str, Any]):
    """The summary metrics of a run: read like a dict, written back by :meth:`update`.

    Example (``client`` connected to the local server with the demo seed):
        >>> summary = client.run("wb-demo/cifar/cifar001").summary
        >>> summary["val_acc"], summary.val_acc, "loss" in summary
        (0.873267, 0.873267, True)
    """

    def __init__(self, write: SummaryWriter | None, json_dict: dict[str, Any]) -> None:
        self._write = write
        self._json_dict = json_dict
        self._base = snapshot(json_dict)

    def __getitem__(self, key: str) -> Any:
        # a key W&B holds with surrounding whitespace is found as is (iteration yields it)
        if key in self._json_dict or not isinstance(key, str):
            return self._json_dict[key]
        return self._json_dict[key.strip()]

    def __setitem__(self, key: str, value: Any) -> None:
        self._json_dict[key.strip()] = encode_value(value)

    def __delitem__(self, key: str) -> None:
        del self._json_dict[key if key in self._json_dict else key.strip()]

    def __iter__(self) -> Iterator[str]:
        return iter(self._json_dict)

    def __len__(self) -> int:
        return len(self._json_dict)

    def __getattr__(self, key: str) -> Any:
        if key.startswith("_"):
            raise AttributeError(key)
        try:
            return self._json_dict[key]
        except KeyError:
            raise AttributeError(f"summary has no key {key!r}") from None

    def __repr__(self) -> str:
        return repr(self._json_dict)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Summary):
            return self._json_dict == other._json_dict
        if isinstance(other, Mapping):
            return self._json_dict == dict(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def pending(self) -> Change:
        """Local changes not yet sent."""
        return diff(self._base, self._json_dict)

    def update(  # type: ignore[override]
        self, values: Mapping[str, Any] | None = None, /, *, dry_run: bool = False, **kw: Any
    ) -> Change:
        """Apply ``values`` (and keyword values) locally, then write every pending change.

        Returns the change; with ``dry_run=True`` nothing is sent and the local copy is unchanged.
        """
        before = snapshot(self._json_dict) if dry_run else None
        for source in (values or {}, kw):
            for key, value in source.items():
                self[key] = value
        change = self.pending()
        if dry_run:
            assert before is not None
            self._json_dict.clear()
            self._json_dict.update(before)
            return change
        if change and self._write is not None:
            merged = self._write(change)
            self.mark_saved(merged)
        return change

    def mark_saved(self, json_dict: dict[str, Any]) -> None:
        """Hold ``json_dict``, the server's summary after a write, with nothing pending.

        >>> s = Summary(None, {"loss": 1.0}); s["loss"] = 0.5; s.mark_saved({"loss": 0.5})
        >>> bool(s.pending()), s["loss"]
        (False, 0.5)
        """
        self._json_dict.clear()
        self._json_dict.update(json_dict)
        self._base = snapshot(json_dict)
