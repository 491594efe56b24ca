"""W&B timestamps: the one parser and formatter of the package.

W&B answers ``createdAt``/``heartbeatAt``/``updatedAt`` in UTC without a zone designator, in
whole seconds (``2023-11-05T17:46:36``; the SDK's ``console_logs._parse_timestamp`` reads
zone-less values as UTC for this reason). Filter values are sent back in that same spelling.

Example:
    >>> to_utc("2023-11-05T17:46:36").isoformat()
    '2023-11-05T17:46:36+00:00'
    >>> wandb_time(to_utc("2023-11-05T19:46:36.5+02:00"))
    '2023-11-05T17:46:36'
    >>> to_utc("yesterday")
    Traceback (most recent call last):
    ...
    ValueError: 'yesterday' is not a W&B timestamp (expected ISO-8601 such as '2023-11-05T17:46:36')
"""

from __future__ import annotations

import datetime as dt
from typing import Any


def to_utc(value: Any) -> dt.datetime | None:
    """A W&B timestamp (ISO string, zone-less = UTC; datetime; epoch seconds) as aware UTC.

    ``None`` and ``""`` give ``None``; anything else unreadable raises ``ValueError`` naming it.
    """
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC) if value.tzinfo else value.replace(tzinfo=dt.UTC)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return dt.datetime.fromtimestamp(value, tz=dt.UTC)
    text = str(value).strip()
    if not text:
        return None
    try:
        parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"{value!r} is not a W&B timestamp (expected ISO-8601 such as '2023-11-05T17:46:36')"
        ) from None
    return parsed.astimezone(dt.UTC) if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def wandb_time(value: dt.datetime) -> str:
    """``value`` in W&B's own spelling: UTC, whole seconds, no zone (for filter values)."""
    return value.astimezone(dt.UTC).replace(tzinfo=None).isoformat(timespec="seconds")


def next_second(value: str) -> str:
    """The W&B timestamp one second after ``value``'s whole second.

    >>> next_second("2023-11-05T17:46:59.9")
    '2023-11-05T17:47:00'
    """
    parsed = to_utc(value)
    if parsed is None:
        raise ValueError("next_second needs a timestamp")
    return wandb_time(parsed.replace(microsecond=0) + dt.timedelta(seconds=1))
