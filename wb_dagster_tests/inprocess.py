"""Test-only harness: evaluate a sensor tick in-process and execute its run requests.

Moved unchanged from ``wb_dagster.demo`` when the demo moved onto Dagster's real daemon
(:mod:`wb_dagster.dagster_process`); tests that exercise sensor logic without a daemon use it.
Run requests are executed with ``dg.materialize`` (what the daemon would launch), skipping run
keys already launched.

Example::

    tick = evaluate_sensor(defs, "wandb_wb_demo__cifar__run_sensor", instance, None)
    launched = launch_requests(defs, "wandb_wb_demo__cifar__run_sensor", tick, instance)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import dagster as dg

RUN_KEY_TAG = "dagster/run_key"
SENSOR_NAME_TAG = "dagster/sensor_name"
QUIET_RUN_CONFIG = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}


Materializable = dg.AssetsDefinition | dg.AssetSpec | dg.SourceAsset


def assets_of(defs: dg.Definitions) -> list[Materializable]:
    """The assets of ``defs`` in the form ``dg.materialize`` takes."""
    return [a for a in defs.assets or [] if isinstance(a, Materializable)]


def evaluate_sensor(
    defs: dg.Definitions,
    sensor_name: str,
    instance: dg.DagsterInstance,
    cursor: str | None,
) -> dg.SensorResult:
    """One tick of ``sensor_name`` with the definitions' resources, in-process (logic tests
    only: what proves the sensors is the daemon, ``test_daemon_sensors.py``)."""
    sensor = defs.resolve_sensor_def(sensor_name)
    with dg.build_sensor_context(
        instance=instance,
        cursor=cursor,
        resources=dict(defs.resources or {}),
        definitions=defs,
        sensor_name=sensor_name,
    ) as ctx:
        # the sensor's own function with the context the daemon gives it (resources reach it
        # through ctx.resources); the daemon validates partition keys after applying the adds
        result = sensor._raw_fn(ctx)
    if not isinstance(result, dg.SensorResult):
        raise TypeError(f"sensor {sensor_name} returned {type(result).__name__}")
    return result


@dataclass
class Launched:
    """What executing one tick's requests did."""

    results: list[dg.ExecuteInProcessResult] = field(default_factory=list)
    requests: list[dg.RunRequest] = field(default_factory=list)
    skipped_run_keys: list[str] = field(default_factory=list)


def launch_requests(
    defs: dg.Definitions,
    sensor_name: str,
    result: dg.SensorResult,
    instance: dg.DagsterInstance,
    on_run: Callable[[dg.RunRequest, dg.ExecuteInProcessResult], None] | None = None,
) -> Launched:
    """Apply a tick's partition adds and execute its run requests in-process.

    Like the sensor daemon, a request whose ``run_key`` was already launched by this sensor is
    skipped (run keys are permanent).
    """
    for change in result.dynamic_partitions_requests or []:
        if isinstance(change, dg.AddDynamicPartitionsRequest):
            instance.add_dynamic_partitions(change.partitions_def_name, list(change.partition_keys))
        else:
            for key in change.partition_keys:
                instance.delete_dynamic_partition(change.partitions_def_name, key)
    launched = Launched()
    for req in result.run_requests or []:
        if req.run_key and instance.get_run_records(
            filters=dg.RunsFilter(tags={RUN_KEY_TAG: req.run_key, SENSOR_NAME_TAG: sensor_name}),
            limit=1,
        ):
            launched.skipped_run_keys.append(req.run_key)
            continue
        tags = {**(req.tags or {}), SENSOR_NAME_TAG: sensor_name}
        if req.run_key:
            tags[RUN_KEY_TAG] = req.run_key
        # the job the request names, with the definitions' resources, as the daemon runs it
        run = defs.resolve_job_def(req.job_name or "").execute_in_process(
            instance=instance,
            partition_key=req.partition_key,
            tags=tags,
            run_config={**QUIET_RUN_CONFIG, **(req.run_config or {})},
            raise_on_error=False,
        )
        launched.results.append(run)
        launched.requests.append(req)
        if on_run is not None:
            on_run(req, run)
    return launched
