"""``build_wandb_defs``: every asset, check, sensor and schedule of one W&B project in one call.

Loading the returned definitions makes no network call: runs and sweeps are dynamic partitions
added later by the sensors.

Example:
    >>> import dagster as dg
    >>> defs = build_wandb_defs(
    ...     entity="wb-demo", project="cifar",
    ...     api_key=dg.EnvVar("WANDB_API_KEY"), storage_dir="/tmp/wb_storage",
    ... )
    >>> sorted(k.path[-1] for k in defs.resolve_asset_graph().get_all_asset_keys())
    ['project', 'run_history', 'run_system_metrics', 'runs', 'sweep_best_model']
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import dagster as dg

from wb_dagster.assets.factory_defaults import DEFAULT_POOL, DEFAULT_RETRY
from wb_dagster.assets.run_data import RUN_KINDS, build_wandb_run_assets
from wb_dagster.assets.runs import build_wandb_runs_asset
from wb_dagster.assets.sweep_best_model import build_wandb_sweep_best_model_asset
from wb_dagster.io_manager import WandbParquetIOManager
from wb_dagster.jobs import WandbJobs
from wb_dagster.project import WandbProjectAssetsSpec
from wb_dagster.resource import WandbResource
from wb_dagster.resource_sharing import shared_resource
from wb_dagster.sensors.batches import DEFAULT_BATCH_SIZE
from wb_dagster.sensors.deleted_runs import (
    build_wandb_deleted_runs_sensor,
    build_wandb_stored_runs_check,
)
from wb_dagster.sensors.runs import build_wandb_run_sensor
from wb_dagster.sensors.sweeps import build_wandb_sweep_sensor
from wb_dagster.translator import DagsterWandbTranslator

DEFAULT_INCLUDE = ("runs", "run_history", "run_system_metrics", "sweep_best_model")
# opt-in: each per-run asset adds a materialization and a planned event per W&B run to
# Dagster's event log (~19 ms each on sqlite, what bounds a daemon import already, README
# W9), even where it costs W&B nothing (run_tables of a Table-less run); run_console_logs
# also costs a request per 1,000 lines and stores whatever the training scripts printed
INCLUDE_CHOICES = (*DEFAULT_INCLUDE, "run_tables", "run_console_logs")


def build_wandb_runs_schedule(
    p: WandbProjectAssetsSpec,
    *,
    cron_schedule: str = "0 3 * * *",
    default_status: dg.DefaultScheduleStatus = dg.DefaultScheduleStatus.STOPPED,
    full_refresh: bool = True,
) -> dg.ScheduleDefinition:
    """A schedule re-reading the whole run table (daily, STOPPED by default).

    The run sensor already refreshes ``runs`` incrementally whenever runs finish; this full
    refresh is the backstop for edits to finished runs (tags, notes, summary) and deletions.

    Example:
        >>> from wb_dagster.project import WandbProjectAssetsSpec
        >>> build_wandb_runs_schedule(WandbProjectAssetsSpec.build(entity="t", project="p")).name
        'wandb_t__p__runs_schedule'
    """
    op_name = f"wandb_{p.name}__runs"
    return dg.ScheduleDefinition(
        name=f"wandb_{p.name}__runs_schedule",
        cron_schedule=cron_schedule,
        target=[p.key("runs")],  # not the sensor's job: one definition per job name
        default_status=default_status,
        run_config={"ops": {op_name: {"config": {"full_refresh": full_refresh}}}},
        description=f"Full refresh of the run table of {p.path}.",
    )


def _check_not_plain(api_key: Any) -> None:
    # dg.EnvVar is a str subclass: only its name is recorded; any other str is the key itself
    if isinstance(api_key, str) and not isinstance(api_key, dg.EnvVar):
        raise dg.DagsterInvalidDefinitionError(
            "build_wandb_defs: give the W&B API key as dg.EnvVar('WANDB_API_KEY') (the name of "
            "an environment variable holding it), or leave api_key unset to read WANDB_API_KEY "
            "at run time; a plain string would be stored in Dagster's snapshots."
        )


def build_wandb_defs(
    *,
    entity: str,
    project: str,
    api_key: str | None = None,
    base_url: str | None = None,
    resource: WandbResource | None = None,
    storage_dir: str | None = None,
    storage_options: dict[str, Any] | None = None,
    io_manager: dg.IOManagerDefinition | dg.ConfigurableIOManager | None = None,
    translator: DagsterWandbTranslator | None = None,
    key_prefix: Sequence[str] = ("wandb",),
    group_name: str | None = None,
    include: Sequence[str] = DEFAULT_INCLUDE,
    resource_key: str = "wandb",
    io_manager_key: str = "wandb_io_manager",
    pool: str | None = DEFAULT_POOL,
    sensor: bool = True,
    sensor_status: dg.DefaultSensorStatus = dg.DefaultSensorStatus.STOPPED,
    sensor_interval_seconds: int = 120,
    max_runs_per_tick: int = 500,
    batch_size: int = DEFAULT_BATCH_SIZE,
    sweep_sensor: bool = True,
    sweep_sensor_interval_seconds: int = 600,
    runs_schedule: str | None = "0 3 * * *",
    best_model_pattern: str = "model-best.*",
    retry_policy: dg.RetryPolicy | None = DEFAULT_RETRY,
    deleted_runs: bool = False,
    deleted_runs_interval_seconds: int = 3600,
) -> dg.Definitions:
    """Definitions for one W&B project: assets, checks, sensors, schedule and resources.

    ``api_key`` is a ``dg.EnvVar`` (default ``dg.EnvVar("WANDB_API_KEY")``), so the key never
    enters the code-location snapshot; a plain string (here or in ``resource``) is refused.
    ``include``: which assets (:data:`INCLUDE_CHOICES`; default :data:`DEFAULT_INCLUDE`, all but
    the opt-in ``run_tables`` and ``run_console_logs``); the per-run ones share one step,
    the run partitions and the run sensor.
    ``batch_size`` is how many W&B runs one Dagster run stores (each still its own partition).
    ``deleted_runs``: add the deleted-runs sensor and the ``stored_runs_exist`` check (see
    :mod:`wb_dagster.sensors.deleted_runs`; a request per 500 stored runs each interval).
    ``retry_policy`` is the step retry of every asset after the client's own retries gave up
    (``None``: fail at once); errors a retry cannot fix (unknown run, rejected key) never retry.

    Example:
        >>> import dagster as dg
        >>> defs = build_wandb_defs(entity="team", project="cifar", storage_dir="/tmp/wb")
        >>> [s.name for s in defs.sensors]
        ['wandb_team__cifar__run_sensor', 'wandb_team__cifar__sweep_sensor']
    """
    _check_not_plain(api_key if resource is None else resource.api_key)
    unknown = set(include) - set(INCLUDE_CHOICES)
    if unknown:
        raise dg.DagsterInvalidDefinitionError(
            f"build_wandb_defs(include=...) got {sorted(unknown)}; choose from {INCLUDE_CHOICES}."
        )
    p = WandbProjectAssetsSpec.build(
        entity=entity,
        project=project,
        translator=translator,
        key_prefix=key_prefix,
        group_name=group_name,
    )
    common: dict[str, Any] = {
        "resource_key": resource_key,
        "io_manager_key": io_manager_key,
        "pool": pool,
        "retry_policy": retry_policy,
    }
    assets: list[Any] = [p.specs["project"]]
    if "runs" in include:
        assets.append(build_wandb_runs_asset(p, **common))
    per_run = [k for k in RUN_KINDS if k in include]
    if per_run:
        assets.append(build_wandb_run_assets(p, batch_size=batch_size, kinds=per_run, **common))
    if "sweep_best_model" in include:
        assets.append(
            build_wandb_sweep_best_model_asset(p, file_pattern=best_model_pattern, **common)
        )

    jobs = WandbJobs.build(p, run_kinds=per_run or ("run_history", "run_system_metrics"))
    sensors: list[dg.SensorDefinition] = []
    if sensor and per_run:
        sensors.append(
            build_wandb_run_sensor(
                p,
                resource_key=resource_key,
                default_status=sensor_status,
                minimum_interval_seconds=sensor_interval_seconds,
                max_runs_per_tick=max_runs_per_tick,
                batch_size=batch_size,
                refresh_runs_table="runs" in include,
                jobs=jobs,
            )
        )
    if sweep_sensor and "sweep_best_model" in include:
        sensors.append(
            build_wandb_sweep_sensor(
                p,
                resource_key=resource_key,
                default_status=sensor_status,
                minimum_interval_seconds=sweep_sensor_interval_seconds,
                jobs=jobs,
            )
        )
    checks: list[dg.AssetChecksDefinition] = []
    if deleted_runs and per_run:
        sensors.append(
            build_wandb_deleted_runs_sensor(
                p,
                jobs=jobs,
                resource_key=resource_key,
                refresh_runs_table="runs" in include,
                minimum_interval_seconds=deleted_runs_interval_seconds,
                default_status=sensor_status,
            )
        )
        checks.append(
            build_wandb_stored_runs_check(p, p.key(per_run[0]), resource_key=resource_key)
        )
    schedules = []
    if runs_schedule and "runs" in include:
        schedules.append(build_wandb_runs_schedule(p, cron_schedule=runs_schedule))

    if resource is None:
        # no entity: every asset and sensor names its full entity/project path, so one
        # resource serves all projects of a W&B host
        resource = shared_resource(
            WandbResource(
                api_key=api_key if api_key is not None else dg.EnvVar("WANDB_API_KEY"),
                base_url=base_url,
            )
        )
    if io_manager is None:
        io_manager = shared_resource(
            WandbParquetIOManager(base_dir=storage_dir, storage_options=storage_options)
        )
    return dg.Definitions(
        assets=assets,
        asset_checks=checks,
        sensors=sensors,
        schedules=schedules,
        resources={resource_key: resource, io_manager_key: io_manager},
    )
