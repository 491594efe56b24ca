"""The two clients tests point at a local server: ours and the official SDK's ``wandb.Api``.

Example::

    with make_client(server) as client:
        assert client.run("wb-demo/cifar/cifar000").id == make_sdk_api(server).run(
            "wb-demo/cifar/cifar000"
        ).id
"""

from __future__ import annotations

from typing import Any

from wb_dagster.client import WandbClient
from wb_dagster.testing import LocalWandbServer


def make_client(server: LocalWandbServer, **kwargs: Any) -> WandbClient:
    """Our client against ``server`` (short retry backoff so fault tests stay fast)."""
    kwargs.setdefault("backoff_factor", 0.05)
    kwargs.setdefault("retry_budget_s", 20.0)
    return WandbClient(api_key=server.api_key, base_url=server.base_url, **kwargs)


def make_sdk_api(server: LocalWandbServer, **kwargs: Any) -> Any:
    """A ``wandb.Api`` talking to ``server`` (use inside the ``sdk_env`` fixture).

    The entity is given, not left to the SDK: its process-wide settings keep the entity an
    earlier test's environment named (``WANDB_ENTITY``), which would then name this one's.
    """
    import wandb

    overrides = {"base_url": server.base_url, "entity": server.entity}
    return wandb.Api(api_key=server.api_key, overrides=overrides, **kwargs)
