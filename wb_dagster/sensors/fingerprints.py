"""Fingerprints: short digests of what makes a finished run or sweep worth storing again.

The sensors key their run requests by them (a resumed, rewound or re-finished run gets a new
one; an unchanged run never does), and each stored partition carries its run's fingerprint as
its Dagster data version, so downstream assets see exactly when a W&B run changed.

Example:
    >>> from types import SimpleNamespace
    >>> a = SimpleNamespace(state="finished", heartbeat_at="2024-03-01T00:00:00",
    ...                     history_line_count=10, last_history_step=9)
    >>> run_fingerprint(a) == run_fingerprint(SimpleNamespace(**{**vars(a), "state": "crashed"}))
    False
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any

from wb_dagster.client.timestamps import to_utc


def short_digest(parts: Iterable[str], sep: str = "|", length: int = 12) -> str:
    """The project's one digest idiom: sha1 of ``parts`` joined by ``sep``, first ``length``
    hex digits (a key or version, not a security boundary).

    Example:
        >>> short_digest(["a", "b"]), len(short_digest(["a"], length=16))
        ('9abe6de24a87', 16)
    """
    return hashlib.sha1(sep.join(parts).encode()).hexdigest()[:length]


def run_fingerprint(run: Any) -> str:
    """Short digest of what makes a finished run worth re-materializing.

    The heartbeat (whole seconds, as W&B serves it) is taken with the history's line count,
    last step and each key's last logged value (``historyKeys``), so two changes within one
    second still differ when the history changed (a rewind re-logged with other values).
    """
    hb = to_utc(getattr(run, "heartbeat_at", None))
    keys = (getattr(run, "history_keys", None) or {}).get("keys") or {}
    last_values = {k: (v or {}).get("previousValue") for k, v in sorted(keys.items())}
    parts = [
        str(getattr(run, "state", "")),
        hb.isoformat() if hb else "",
        str(getattr(run, "history_line_count", "") or 0),
        str(getattr(run, "last_history_step", "")),
        json.dumps(last_values, sort_keys=True, default=str),
    ]
    return short_digest(parts)


def sweep_fingerprint(sweep: Any) -> str:
    """Digest of a finished sweep's state and last update (a re-opened sweep differs)."""
    parts = [
        str(getattr(sweep, "state", "")),
        str(getattr(sweep, "updated_at", "") or ""),
        str(getattr(sweep, "run_count", "") or ""),
        str(getattr(sweep, "best_loss", "") or ""),
    ]
    return short_digest(parts)
