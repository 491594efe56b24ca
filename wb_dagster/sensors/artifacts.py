"""A sensor on one W&B artifact collection: new versions and alias moves become runs.

By version (the spec has no alias): each tick lists the newest ``max_versions`` versions in
pages of ``page_size`` (no file lists: one request per page), adds the new ones as dynamic
partitions and requests a materialization of every version that is new or whose aliases or
digest changed since the last tick (an alias moved from ``v3`` to ``v4`` re-records both).
Tracking an alias: each tick resolves ``collection:alias`` (one request) and requests a
materialization when it points at another version or its digest changed. The cursor is a
small JSON object of fingerprints; run keys carry the fingerprint, so a change is launched
once, and a failing tick raises, leaving the cursor where it was.

Example:
    >>> from wb_dagster.assets.artifacts import WandbArtifactSpec
    >>> spec = WandbArtifactSpec.build("wb-demo/cifar/cifar-model", type="model")
    >>> build_wandb_artifact_sensor(spec).name
    'wandb_artifact__wb_demo__cifar__cifar_model__sensor'
"""

from __future__ import annotations

import hashlib
import json
from itertools import islice

import dagster as dg

from wb_dagster.assets.artifacts import WandbArtifactSpec
from wb_dagster.client import Artifact
from wb_dagster.resource import resource_from
from wb_dagster.sensors.batches import RANGE_END_TAG, RANGE_START_TAG, batch_run_key, plan_batches
from wb_dagster.sensors.tick_budget import tick_retry_s


def version_fingerprint(art: Artifact) -> str:
    """What a stored version's record depends on: its digest and its aliases.

    >>> from types import SimpleNamespace
    >>> version_fingerprint(SimpleNamespace(digest="d1", aliases=["latest", "best"]))
    'd9dd5542b004'
    """
    raw = json.dumps([art.digest, sorted(art.aliases)])
    return hashlib.sha1(raw.encode()).hexdigest()[:12]


def _load(raw: str | None) -> dict[str, str]:
    try:
        value = json.loads(raw) if raw else {}
    except json.JSONDecodeError:
        return {}
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


def build_wandb_artifact_job(spec: WandbArtifactSpec) -> dg.UnresolvedAssetJobDefinition:
    """The job the sensor launches (in-process executor: the step is one process, like the
    project's other W&B jobs).

    >>> build_wandb_artifact_job(WandbArtifactSpec.build("e/p/model", type="model")).name
    'wandb_artifact__e__p__model__job'
    """
    return dg.define_asset_job(
        name=f"wandb_artifact__{spec.name}__job",
        selection=[spec.key],
        executor_def=dg.in_process_executor,
        description=f"Store versions of W&B artifact {spec.path}.",
    )


def build_wandb_artifact_sensor(
    spec: WandbArtifactSpec,
    *,
    resource_key: str = "wandb",
    name: str | None = None,
    minimum_interval_seconds: int = 120,
    default_status: dg.DefaultSensorStatus = dg.DefaultSensorStatus.STOPPED,
    max_versions: int = 1000,
    page_size: int = 100,
    tick_budget_seconds: float = 40.0,
    batch_size: int = 100,
    job: dg.UnresolvedAssetJobDefinition | None = None,
) -> dg.SensorDefinition:
    """The sensor materializing ``spec``'s asset on new versions / alias moves (STOPPED by
    default, like the run sensor); changed versions that are adjacent share one run of up to
    ``batch_size`` versions."""
    job = job or build_wandb_artifact_job(spec)

    @dg.sensor(
        name=name or f"wandb_artifact__{spec.name}__sensor",
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=default_status,
        jobs=[job],
        required_resource_keys={resource_key},
        description=f"New versions and alias moves of W&B artifact {spec.path}.",
    )
    def _artifact_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        resource = resource_from(context.resources, resource_key)
        client = resource.get_client(max_retry_s=tick_retry_s(tick_budget_seconds))
        seen = _load(context.cursor)
        if spec.alias:
            art = client.artifact(f"{spec.path}:{spec.alias}")
            fingerprint = f"{art.version}:{art.digest}"
            if seen.get(spec.alias) == fingerprint:
                return dg.SensorResult(skip_reason=f"{spec.alias} still at {art.version}")
            return dg.SensorResult(
                run_requests=[
                    dg.RunRequest(run_key=f"{spec.alias}:{fingerprint}", job_name=job.name)
                ],
                cursor=json.dumps({spec.alias: fingerprint}),
            )
        listing = client.artifacts(spec.type, spec.path, page_size, files_per_version=0)
        current = {a.version: version_fingerprint(a) for a in islice(listing, max_versions)}
        changed = [v for v, fp in current.items() if seen.get(v) != fp]
        if not changed:
            return dg.SensorResult(skip_reason=f"no new or changed versions ({len(current)} seen)")
        existing = context.instance.get_dynamic_partitions(str(spec.partitions.name))
        known = set(existing)
        # oldest first: partitions are added, and runs launched, in version order
        ordered = sorted(changed, key=lambda v: int(v.lstrip("v")))
        new = [v for v in ordered if v not in known]
        run_keys = {v: f"{v}:{current[v]}" for v in ordered}
        batches = plan_batches(ordered, existing=existing, max_batch=batch_size)
        return dg.SensorResult(
            run_requests=[_request(b, run_keys, job.name) for b in batches],
            dynamic_partitions_requests=[spec.partitions.build_add_request(new)] if new else [],
            cursor=json.dumps({**seen, **current}, sort_keys=True),
        )

    return _artifact_sensor


def _request(batch: list[str], run_keys: dict[str, str], job_name: str) -> dg.RunRequest:
    """One run for a stretch of adjacent versions (a partition key range when several)."""
    tags = {"wandb/artifact_versions": str(len(batch))}
    if len(batch) == 1:
        return dg.RunRequest(
            run_key=run_keys[batch[0]], partition_key=batch[0], job_name=job_name, tags=tags
        )
    return dg.RunRequest(
        run_key=batch_run_key(run_keys[v] for v in batch),
        job_name=job_name,
        tags={**tags, RANGE_START_TAG: batch[0], RANGE_END_TAG: batch[-1]},
    )
