"""The sweep sensor: each finished W&B sweep becomes a partition and a ``sweep_best_model`` run.

A sweep is requested again only when its fingerprint (:mod:`wb_dagster.sensors.fingerprints`)
changed, e.g. it was resumed and finished again; the cursor maps sweep ids to fingerprints.

Example:
    >>> from wb_dagster.project import WandbProjectAssetsSpec
    >>> p = WandbProjectAssetsSpec.build(entity="wb-demo", project="cifar")
    >>> build_wandb_sweep_sensor(p).name
    'wandb_wb_demo__cifar__sweep_sensor'
"""

from __future__ import annotations

import json

import dagster as dg

from wb_dagster.client.deadline import time_budget
from wb_dagster.jobs import WandbJobs
from wb_dagster.project import WandbProjectAssetsSpec
from wb_dagster.resource import resource_from
from wb_dagster.sensors.fingerprints import sweep_fingerprint
from wb_dagster.sensors.tick_budget import tick_retry_s

FINISHED_SWEEP_STATES = frozenset({"finished"})
SWEEP_TICK_BUDGET_S = 40.0


def build_wandb_sweep_sensor(
    p: WandbProjectAssetsSpec,
    *,
    resource_key: str = "wandb",
    name: str | None = None,
    minimum_interval_seconds: int = 600,
    default_status: dg.DefaultSensorStatus = dg.DefaultSensorStatus.STOPPED,
    jobs: WandbJobs | None = None,
) -> dg.SensorDefinition:
    """Sensor materializing ``sweep_best_model`` once per finished sweep (and again if it
    is resumed and finishes again).

    Example:
        >>> from wb_dagster.project import WandbProjectAssetsSpec
        >>> build_wandb_sweep_sensor(WandbProjectAssetsSpec.build(entity="t", project="p")).name
        'wandb_t__p__sweep_sensor'
    """
    job = (jobs or WandbJobs.build(p)).sweeps

    @dg.sensor(
        name=name or f"wandb_{p.name}__sweep_sensor",
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=default_status,
        job=job,
        required_resource_keys={resource_key},
        description=f"Finished sweeps of {p.path} -> best-model materializations.",
    )
    def _sweep_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        try:
            done: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
        except ValueError:
            context.log.warning("W&B sweep sensor: unreadable cursor, starting over")
            done = {}
        # bounded like a run-sensor tick: end well before Dagster's 60 s limit
        client = resource_from(context.resources, resource_key).get_client(
            max_retry_s=tick_retry_s(SWEEP_TICK_BUDGET_S)
        )
        changed: list[tuple[str, str]] = []
        with time_budget(SWEEP_TICK_BUDGET_S):
            sweeps = list(client.sweeps(p.path))
        for sweep in sweeps:
            if str(getattr(sweep, "state", "")).lower() not in FINISHED_SWEEP_STATES:
                continue
            fp = sweep_fingerprint(sweep)
            if done.get(str(sweep.id)) != fp:
                changed.append((str(sweep.id), fp))
                done[str(sweep.id)] = fp
        return dg.SensorResult(
            run_requests=[
                dg.RunRequest(
                    run_key=f"{sid}:{fp}",
                    partition_key=sid,
                    job_name=job.name,
                    tags={"wandb/sweep_id": sid},
                )
                for sid, fp in changed
            ],
            dynamic_partitions_requests=(
                [p.sweeps_partitions.build_add_request([sid for sid, _ in changed])]
                if changed
                else []
            ),
            cursor=json.dumps(done, separators=(",", ":"), sort_keys=True),
            skip_reason=None if changed else "no newly finished sweeps",
        )

    return _sweep_sensor
