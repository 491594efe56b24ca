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
from typing import Any

from wb_dagster.client.timestamps import to_utc


def run_fingerprint(run: Any) -> str:
    """Short digest of what makes a finished run worth re-materializing.

    The heartbeat (whole seconds, as W&B serves it) is taken with the history's line count and
    last step, so two changes within one second still differ when the history changed.
    """
    hb = to_utc(getattr(run, "heartbeat_at", None))
    parts = [
        str(getattr(run, "state", "")),
        hb.isoformat() if hb else "",
        str(getattr(run, "history_line_count", "") or 0),
        str(getattr(run, "last_history_step", "")),
    ]
    return hashlib.sha1("|".join(parts).encode()).hexdigest()[:12]


def sweep_fingerprint(sweep: Any) -> str:
    """Digest of a finished sweep's state and last update (a re-opened sweep differs)."""
    parts = [
        str(getattr(sweep, "state", "")),
        str(getattr(sweep, "updated_at", "") or ""),
        str(getattr(sweep, "run_count", "") or ""),
        str(getattr(sweep, "best_loss", "") or ""),
    ]
    return hashlib.sha1("|".join(parts).encode()).hexdigest()[:12]
