"""``WandbResource``: W&B connection settings for assets, sensors and checks.

The API key should be given as ``dg.EnvVar("WANDB_API_KEY")`` so that only the variable's
*name* enters the code-location snapshot. The key never appears in the resource's repr, in
logs or in errors. One :class:`~wb_dagster.client.WandbClient` is built per process and per
configuration, lazily on first use (never when definitions load), so the resource pickles
cleanly and each multiprocess-executor step process opens its own connection pool.

Example:
    >>> import dagster as dg
    >>> wandb = WandbResource(api_key=dg.EnvVar("WANDB_API_KEY"), entity="my-team")
    >>> "WANDB_API_KEY" in repr(wandb) or "api_key" not in repr(wandb)
    True
"""

from __future__ import annotations

import hashlib
import os
import threading
from typing import TYPE_CHECKING, Any

import dagster as dg
from pydantic import Field

if TYPE_CHECKING:
    from wb_dagster.client import WandbClient

# (pid, config digest) -> client; a digest, not the key itself, indexes the cache
_CLIENTS: dict[tuple[int, str], WandbClient] = {}
_CLIENTS_LOCK = threading.Lock()


class WandbResource(dg.ConfigurableResource):
    """Connection to a W&B server (W&B cloud, a dedicated instance, or the local test server).

    Example:
        >>> import dagster as dg
        >>> r = WandbResource(api_key=dg.EnvVar("WANDB_API_KEY"), entity="my-team")
        >>> # in an asset: client = wandb.get_client(); client.runs("my-team/my-project")
    """

    api_key: str | None = Field(
        default=None,
        repr=False,
        description='W&B API key; pass dg.EnvVar("WANDB_API_KEY") so that it stays out of the '
        "code-location snapshot. Default: the WANDB_API_KEY environment variable.",
    )
    base_url: str | None = Field(
        default=None,
        description="W&B API host. Default: WANDB_BASE_URL, else the official SDK's default host.",
    )
    entity: str | None = Field(
        default=None, description="Default W&B entity (user or team). Default: WANDB_ENTITY."
    )
    timeout: float = Field(default=30.0, description="Per-request timeout in seconds.")
    max_concurrency: int = Field(default=16, description="Concurrent HTTP requests per process.")
    download_concurrency: int = Field(
        default=64,
        description="Concurrent file downloads (signed storage URLs, not the API) per process.",
    )
    retry_budget_s: float = Field(
        default=60.0, description="Total time one call may spend retrying 429/5xx answers."
    )
    verify: bool = Field(
        default=True,
        description="Verify TLS certificates (turning it off logs a warning on first use).",
    )
    backoff_factor: float = Field(
        default=0.5,
        description="Base of the exponential backoff between retries, in seconds.",
    )

    def __repr__(self) -> str:
        return (
            f"WandbResource(base_url={self.base_url!r}, entity={self.entity!r}, "
            f"timeout={self.timeout!r}, max_concurrency={self.max_concurrency!r})"
        )

    __str__ = __repr__

    def __reduce__(self) -> tuple[Any, ...]:
        # Dagster's resource state (config schema objects) does not unpickle; rebuild from the
        # fields instead. The cached client is per process and never travels.
        fields = {name: getattr(self, name) for name in type(self).model_fields}
        return (_rebuild, (type(self), fields))

    def _resolved_key(self) -> str | None:
        key: Any = self.api_key
        name = None
        if isinstance(key, dg.EnvVar):
            # outside a run the field still holds the EnvVar object
            name = key.env_var_name
            key = key.get_value()
        if key is None:
            return os.environ.get("WANDB_API_KEY")
        if not str(key).strip():
            # inside a run Dagster has already replaced the EnvVar by its (empty) value
            where = (
                f"the environment variable {name} (dg.EnvVar) is"
                if name
                else "its value (the dg.EnvVar's environment variable, or the string given) is"
            )
            raise ValueError(
                f"WandbResource.api_key is empty: {where} set to an empty string. "
                "Set it to your W&B API key (https://wandb.ai/authorize); an empty key is never "
                "replaced by WANDB_API_KEY."
            )
        return str(key)

    def _digest(self, key: str | None, retry_budget_s: float) -> str:
        parts = [
            key or "",
            self.base_url or "",
            self.entity or "",
            repr(self.timeout),
            repr(self.max_concurrency),
            repr(self.download_concurrency),
            repr(retry_budget_s),
            repr(self.verify),
            repr(self.backoff_factor),
        ]
        return hashlib.sha256("\0".join(parts).encode()).hexdigest()

    def get_client(self, *, max_retry_s: float | None = None) -> WandbClient:
        """The process-wide client for this configuration (created on first call).

        ``max_retry_s`` caps the retry budget for callers with a deadline of their own (a
        sensor tick must end before Dagster's 60 s limit, whatever the resource allows).
        """
        from wb_dagster.client import WandbClient

        key = self._resolved_key()
        budget = (
            self.retry_budget_s if max_retry_s is None else min(self.retry_budget_s, max_retry_s)
        )
        cache_key = (os.getpid(), self._digest(key, budget))
        with _CLIENTS_LOCK:
            client = _CLIENTS.get(cache_key)
            if client is None:
                client = WandbClient(
                    api_key=key,
                    base_url=self.base_url,
                    entity=self.entity,
                    timeout=self.timeout,
                    max_concurrency=self.max_concurrency,
                    download_concurrency=self.download_concurrency,
                    retry_budget_s=budget,
                    verify=self.verify,
                    backoff_factor=self.backoff_factor,
                )
                _CLIENTS[cache_key] = client
            return client


def resource_from(resources: Any, key: str) -> WandbResource:
    """The :class:`WandbResource` bound to ``key`` in a context's ``resources``.

    Sensors and assets name their resource key at build time, so they look it up by name;
    anything else bound there is a wiring mistake, reported as such.

    Example:
        >>> import dagster as dg
        >>> from types import SimpleNamespace
        >>> r = WandbResource(api_key=dg.EnvVar("WANDB_API_KEY"))
        >>> resource_from(SimpleNamespace(wandb=r), "wandb") is r
        True
    """
    resource = getattr(resources, key, None)
    if not isinstance(resource, WandbResource):
        raise dg.DagsterInvariantViolationError(
            f"W&B assets and sensors read resource {key!r} as a WandbResource, but it is "
            f"{type(resource).__name__}. Bind {key!r} to WandbResource(...) in the Definitions."
        )
    return resource


def _rebuild(cls: type[WandbResource], fields: dict[str, Any]) -> WandbResource:
    return cls(**fields)
