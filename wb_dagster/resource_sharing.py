"""One resource object per configuration, so several projects' definitions merge cleanly.

``dg.Definitions.merge`` (and Dagster's component loading, which merges too) accepts one
resource key from several definition sets only when they hold the *same object*.
``build_wandb_defs`` therefore hands out one shared object per configuration: two projects
on the same W&B host and storage root share ``wandb`` and ``wandb_io_manager`` without any
wiring. Different configurations under one key still conflict (give one of them its own
``resource_key`` / ``io_manager_key``).

Example:
    >>> import dagster as dg
    >>> from wb_dagster.resource import WandbResource
    >>> a = shared_resource(WandbResource(api_key=dg.EnvVar("WANDB_API_KEY")))
    >>> b = shared_resource(WandbResource(api_key=dg.EnvVar("WANDB_API_KEY")))
    >>> a is b, a is shared_resource(WandbResource(api_key=dg.EnvVar("OTHER_KEY")))
    (True, False)
"""

from __future__ import annotations

import hashlib
import json
import threading
from typing import TypeVar

import dagster as dg

R = TypeVar("R", bound=dg.ConfigurableResource | dg.ConfigurableIOManager)

_SHARED: dict[str, dg.ConfigurableResource | dg.ConfigurableIOManager] = {}
_LOCK = threading.Lock()


def _config_key(resource: dg.ConfigurableResource | dg.ConfigurableIOManager) -> str:
    fields = {name: getattr(resource, name) for name in type(resource).model_fields}
    # an EnvVar is a str subclass holding the variable's name; tag it so that the name of a
    # variable and a literal value of the same text never share an object
    tagged = {
        k: ["env", v.env_var_name] if isinstance(v, dg.EnvVar) else v for k, v in fields.items()
    }
    text = json.dumps([type(resource).__qualname__, tagged], sort_keys=True, default=repr)
    return f"{type(resource).__module__}:{hashlib.sha256(text.encode()).hexdigest()}"


def shared_resource(resource: R) -> R:
    """The first resource built with ``resource``'s type and configuration (else ``resource``).

    Only configurations without a secret are shared: the API key is an ``EnvVar`` name here
    (``build_wandb_defs`` refuses a plain key), so the cache never holds a key.
    """
    key = _config_key(resource)
    with _LOCK:
        found = _SHARED.setdefault(key, resource)
    assert isinstance(found, type(resource))
    return found
