"""Runs deleted in W&B: found by id, their partitions removed, the run table re-read.

A run deleted in W&B vanishes from every listing, so nothing the run sensor reads mentions it
(wandb#1192). Here the stored run partitions are checked against W&B by id, ``CHUNK`` ids per
names-only listing (``name $in [...]``, one request per chunk, whatever the project's size); an
id missing from its chunk is asked once more on its own before it counts as gone, so a listing
whose offset pages shifted under it (wandb#12176) never deletes a live run's partition.

* :func:`build_wandb_deleted_runs_sensor` (STOPPED by default, hourly): deletes the gone runs'
  dynamic partitions (Dagster keeps their past materializations and the stored files) and asks
  for a full refresh of ``runs``, which drops their rows; it works through the partitions
  ``CHUNK`` at a time within a tick budget, resuming where it stopped (its cursor).
* :func:`build_wandb_stored_runs_check` (``stored_runs_exist``, WARN): lists the stored
  partitions whose run W&B no longer has.

Example:
    >>> p = WandbProjectAssetsSpec.build(entity="e", project="p")
    >>> build_wandb_deleted_runs_sensor(p, jobs=WandbJobs.build(p)).name
    'wandb_e__p__deleted_runs_sensor'
"""

import hashlib
import time
from collections.abc import Callable
from typing import Any

import dagster as dg

from wb_dagster.assets.runs_table import chunks, gone_run_ids
from wb_dagster.jobs import WandbJobs
from wb_dagster.project import WandbProjectAssetsSpec
from wb_dagster.resource import resource_from
from wb_dagster.sensors.tick_budget import tick_retry_s

STORED_RUNS_CHECK = "stored_runs_exist"
MAX_LISTED = 50  # gone ids shown in metadata


def build_wandb_deleted_runs_sensor(
    p: WandbProjectAssetsSpec,
    *,
    jobs: WandbJobs,
    resource_key: str = "wandb",
    refresh_runs_table: bool = True,
    minimum_interval_seconds: int = 3600,
    default_status: dg.DefaultSensorStatus = dg.DefaultSensorStatus.STOPPED,
    tick_budget_seconds: float = 40.0,
    clock: Callable[[], float] = time.monotonic,
) -> dg.SensorDefinition:
    """Sensor removing the run partitions of runs deleted in W&B (and re-reading ``runs``).

    Example:
        >>> p = WandbProjectAssetsSpec.build(entity="team", project="cifar")
        >>> build_wandb_deleted_runs_sensor(p, jobs=WandbJobs.build(p)).name
        'wandb_team__cifar__deleted_runs_sensor'
    """
    op_name = f"wandb_{p.name}__runs"
    targets = [jobs.runs] if refresh_runs_table else []

    @dg.sensor(
        name=f"wandb_{p.name}__deleted_runs_sensor",
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=default_status,
        jobs=targets or None,
        required_resource_keys={resource_key},
        description=f"Runs deleted from {p.path} -> their run partitions deleted.",
    )
    def _deleted_runs_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        deadline = clock() + tick_budget_seconds
        resource = resource_from(context.resources, resource_key)
        client = resource.get_client(max_retry_s=tick_retry_s(tick_budget_seconds))
        stored = list(context.instance.get_dynamic_partitions(p.runs_partitions_name))
        raw = context.cursor or ""
        start = int(raw) if raw.isdigit() else 0
        start = start if start < len(stored) else 0
        gone: list[str] = []
        next_start = 0
        for offset, part in chunks(stored, start=start):
            if clock() > deadline:
                next_start = offset
                break
            gone += gone_run_ids(client, p.path, part)
        requests = []
        if gone and refresh_runs_table:
            digest = hashlib.sha1(",".join(sorted(gone)).encode()).hexdigest()[:12]
            requests.append(
                dg.RunRequest(
                    run_key=f"deleted:{digest}",
                    job_name=jobs.runs.name,
                    run_config={"ops": {op_name: {"config": {"full_refresh": True}}}},
                )
            )
        if gone:
            context.log.info(f"{len(gone)} runs deleted from {p.path}: {gone[:MAX_LISTED]}")
        return dg.SensorResult(
            run_requests=requests,
            dynamic_partitions_requests=[p.runs_partitions.build_delete_request(gone)]
            if gone
            else [],
            asset_events=[
                dg.AssetObservation(
                    asset_key=p.key("project"),
                    metadata={
                        "deleted_runs": dg.MetadataValue.int(len(gone)),
                        "deleted_run_ids": dg.MetadataValue.json(gone[:MAX_LISTED]),
                    },
                )
            ]
            if gone
            else [],
            cursor=str(next_start),
            skip_reason=None if gone else f"no deleted run among {len(stored)} stored",
        )

    return _deleted_runs_sensor


def build_wandb_stored_runs_check(
    p: WandbProjectAssetsSpec, asset_key: dg.AssetKey, *, resource_key: str = "wandb"
) -> dg.AssetChecksDefinition:
    """Check ``stored_runs_exist`` on ``asset_key``: every run partition's run is still in W&B.

    Example:
        >>> p = WandbProjectAssetsSpec.build(entity="team", project="cifar")
        >>> check = build_wandb_stored_runs_check(p, p.key("run_history"))
        >>> [k.name for k in check.check_keys]
        ['stored_runs_exist']
    """

    @dg.asset_check(
        asset=asset_key,
        name=STORED_RUNS_CHECK,
        required_resource_keys={resource_key},
        description="Every stored run partition's run still exists in W&B (WARN lists the "
        "runs deleted there; the deleted-runs sensor removes their partitions).",
    )
    def _stored_runs_exist(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
        client = resource_from(context.resources, resource_key).get_client()
        stored = list(context.instance.get_dynamic_partitions(p.runs_partitions_name))
        gone = gone_run_ids(client, p.path, stored)
        meta: dict[str, Any] = {
            "stored_runs": dg.MetadataValue.int(len(stored)),
            "gone_runs": dg.MetadataValue.int(len(gone)),
            "gone_run_ids": dg.MetadataValue.json(gone[:MAX_LISTED]),
        }
        return dg.AssetCheckResult(
            passed=not gone, severity=dg.AssetCheckSeverity.WARN, metadata=meta
        )

    return _stored_runs_exist
