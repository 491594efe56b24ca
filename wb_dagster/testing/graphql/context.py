"""What every resolver receives: the backend and the public base URL of the request.

Example:
    >>> Ctx(backend=None, base_url="http://127.0.0.1:8080").base_url  # type: ignore[arg-type]
    'http://127.0.0.1:8080'
"""

from __future__ import annotations

from dataclasses import dataclass

from wb_dagster.testing.backend import Backend


@dataclass(frozen=True)
class Ctx:
    """Per-request context: the backend and the public base URL for absolute file links."""

    backend: Backend
    base_url: str
