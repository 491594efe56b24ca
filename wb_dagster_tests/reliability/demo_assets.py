"""The demo project's W&B assets as the reliability suite runs them: their names, fast-retrying
clients and resources, definitions without step-retry delays, in-process materialization.

Fault tests use small retry budgets and a 10 ms backoff base so they run in seconds; nothing
here sleeps. Resources read the API key from the environment variable ``KEY_ENV`` (the ``wb``
fixture sets it).

Example::

    result = materialize(make_defs(wb, tmp_path / "store"), instance, [RUNS])
    assert result.success, failure_message(result)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dagster as dg

from wb_dagster.client import WandbClient
from wb_dagster.defs import build_wandb_defs
from wb_dagster.resource import WandbResource
from wb_dagster.testing import LocalWandbServer
from wb_dagster_tests.inprocess import assets_of

KEY_ENV = "WB_DAGSTER_RELIABILITY_KEY"
PROJECT = "wb-demo/cifar"
RUN_SENSOR = "wandb_wb_demo__cifar__run_sensor"
SWEEP_SENSOR = "wandb_wb_demo__cifar__sweep_sensor"
RUNS_PARTITIONS = "wandb_runs__wb_demo__cifar"
SWEEPS_PARTITIONS = "wandb_sweeps__wb_demo__cifar"
RUNS = dg.AssetKey(["wandb", "wb-demo", "cifar", "runs"])
HISTORY = dg.AssetKey(["wandb", "wb-demo", "cifar", "run_history"])
SYSTEM = dg.AssetKey(["wandb", "wb-demo", "cifar", "run_system_metrics"])
BEST = dg.AssetKey(["wandb", "wb-demo", "cifar", "sweep_best_model"])
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def fast_client(srv: LocalWandbServer, **kwargs: Any) -> WandbClient:
    """Our client against ``srv`` with a 10 ms backoff base and a 5 s timeout."""
    kwargs.setdefault("backoff_factor", 0.01)
    kwargs.setdefault("retry_budget_s", 20.0)
    kwargs.setdefault("timeout", 5.0)
    return WandbClient(api_key=srv.api_key, base_url=srv.base_url, **kwargs)


def fast_resource(srv: LocalWandbServer, **kwargs: Any) -> WandbResource:
    """The W&B resource against ``srv`` (entity ``wb-demo``, key from ``KEY_ENV``), fast retries."""
    kwargs.setdefault("backoff_factor", 0.01)
    kwargs.setdefault("retry_budget_s", 20.0)
    kwargs.setdefault("timeout", 5.0)
    kwargs.setdefault("entity", "wb-demo")
    kwargs.setdefault("base_url", srv.base_url)
    kwargs.setdefault("api_key", dg.EnvVar(KEY_ENV))
    return WandbResource(**kwargs)


def make_defs(srv: LocalWandbServer, store: Path, **resource_kwargs: Any) -> dg.Definitions:
    """Every W&B asset of the demo project, no step-retry delays, storage under ``store``."""
    return build_wandb_defs(
        entity="wb-demo",
        project="cifar",
        resource=fast_resource(srv, **resource_kwargs),
        storage_dir=str(store),
        retry_policy=None,
    )


def materialize(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    selection: list[dg.AssetKey],
    partition: str | None = None,
    run_config: dict[str, Any] | None = None,
) -> dg.ExecuteInProcessResult:
    """Materialize ``selection`` of ``defs`` in-process, quietly; a failed run is returned."""
    return dg.materialize(
        assets_of(defs),
        selection=selection,
        partition_key=partition,
        instance=instance,
        resources=dict(defs.resources or {}),
        run_config={**QUIET, **(run_config or {})},
        raise_on_error=False,
    )


def failure_message(result: dg.ExecuteInProcessResult) -> str:
    """The user-facing error of a failed in-process run (first failed step)."""
    for event in result.all_events:
        if event.is_step_failure:
            data = event.step_failure_data
            return data.error.message if data.error else ""
    return ""
