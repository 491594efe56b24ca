"""What every resolver receives: the backend and the public base URL of the request.

Example:
    >>> import tempfile, pathlib
    >>> backend = Backend.open(pathlib.Path(tempfile.mkdtemp()), api_key="k" * 40)
    >>> Ctx(backend, "http://127.0.0.1:8080").backend.default_entity
    'local-user'
    >>> backend.close()
"""

from __future__ import annotations

from dataclasses import dataclass

from wb_dagster.testing.store.backend import Backend


@dataclass(frozen=True)
class Ctx:
    """Per-request context: the backend and the public base URL for absolute file links."""

    backend: Backend
    base_url: str
