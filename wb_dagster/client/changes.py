"""Read-modify-write changes to a run's config and summary.

A change records only what the caller altered since the values were read (keys set and keys
removed), so applying it to the server's *current* state never wipes keys written elsewhere
in the meantime (another process, the run itself). ``dry_run`` shows the change without sending.

Example:
    >>> change = diff({"a": 1, "b": 2}, {"a": 1, "b": 3, "c": 4})
    >>> change.set, change.removed
    ({'b': 3, 'c': 4}, [])
    >>> change.apply({"a": 9, "b": 2, "z": 0})
    {'a': 9, 'b': 3, 'z': 0, 'c': 4}
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from wb_dagster.client.encoding import same


@dataclass(frozen=True)
class Change:
    """Top-level keys set (with their new values) and keys removed.

    Example:
        >>> Change(set={"lr": 0.1}, removed=["old"]).apply({"lr": 0.5, "old": 1, "epochs": 3})
        {'lr': 0.1, 'epochs': 3}
    """

    set: dict[str, Any] = field(default_factory=dict)
    removed: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.set or self.removed)

    def apply(self, current: Mapping[str, Any]) -> dict[str, Any]:
        """The result of this change on top of ``current`` (which is not modified)."""
        out = dict(current)
        for key in self.removed:
            out.pop(key, None)
        out.update(self.set)
        return out


def diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> Change:
    """What changed from ``before`` to ``after`` (top-level keys)."""
    changed = {k: v for k, v in after.items() if k not in before or not same(before[k], v)}
    removed = [k for k in before if k not in after]
    return Change(set=changed, removed=removed)


@dataclass(frozen=True)
class RunUpdate:
    """What :meth:`Run.update` sent (or, with ``dry_run=True``, would send).

    ``config``/``summary`` are the changes; ``config_after``/``summary_after`` the merged values
    (None when that part is unchanged); ``fields`` the run attributes changed (name, tags, ...).

    Example (``client`` connected to the local server with the demo seed):
        >>> run = client.run("wb-demo/cifar/cifar002")
        >>> run.config["lr"] = 0.5
        >>> update = run.update(dry_run=True)
        >>> update.config.set, update.config_after["lr"], update.applied
        ({'lr': 0.5}, 0.5, False)
    """

    config: Change
    summary: Change
    fields: dict[str, Any]
    config_after: dict[str, Any] | None = None
    summary_after: dict[str, Any] | None = None
    applied: bool = False

    def __bool__(self) -> bool:
        return bool(self.config or self.summary or self.fields)
