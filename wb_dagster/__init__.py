"""Weights & Biases experiment data as Dagster software-defined assets.

The package has three layers (see ``DESIGN.md``):

* :mod:`wb_dagster.client`: a lean W&B public-API client (no Dagster import);
* :mod:`wb_dagster.testing`: a local W&B-compatible server for tests and demos;
* the Dagster layer (resource, assets, sensors, checks, IO manager, component).

Names are imported lazily so that ``import wb_dagster.client`` never pulls in Dagster.

Example:
    >>> from wb_dagster import WandbClient
    >>> WandbClient  # doctest: +ELLIPSIS
    <class 'wb_dagster.client...WandbClient'>
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    "WandbClient": "wb_dagster.client",
    "CommError": "wb_dagster.client",
    "AuthenticationError": "wb_dagster.client",
    "NotFoundError": "wb_dagster.client",
    "RateLimitError": "wb_dagster.client",
}

__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:
    from wb_dagster.client import (
        AuthenticationError,
        CommError,
        NotFoundError,
        RateLimitError,
        WandbClient,
    )


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'wb_dagster' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
