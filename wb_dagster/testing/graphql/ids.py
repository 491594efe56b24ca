"""Opaque GraphQL ``id`` values (base64 of ``<Type>:v1:<parts>``), as W&B shapes them.

Example:
    >>> sid = encode_id("Run", "run1", "proj", "ent")
    >>> sid
    'UnVuOnYxOnJ1bjE6cHJvajplbnQ='
    >>> decode_id(sid, "Run")
    ['run1', 'proj', 'ent']
"""

from __future__ import annotations

import base64
import binascii


class BadIdError(ValueError):
    """An ``id`` argument that this server did not issue."""


def encode_id(kind: str, *parts: object) -> str:
    """Storage id of an object of type ``kind`` (Run, Project, File, Sweep, User, Entity)."""
    raw = ":".join([kind, "v1", *(str(p) for p in parts)])
    return base64.b64encode(raw.encode()).decode()


def decode_id(value: str, kind: str) -> list[str]:
    """The parts of a storage id of type ``kind``; :class:`BadIdError` if it is not one."""
    try:
        raw = base64.b64decode(value.encode(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise BadIdError(f"{value!r} is not a {kind} id issued by this server") from exc
    parts = raw.split(":")
    if len(parts) < 3 or parts[0] != kind or parts[1] != "v1":
        raise BadIdError(f"{value!r} is not a {kind} id issued by this server")
    return parts[2:]
