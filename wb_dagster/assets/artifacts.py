"""An asset per W&B artifact collection: its files stored, MD5-checked, with W&B's metadata.

:class:`WandbArtifactSpec` names one collection (``entity/project/name`` and its type) and how
it maps to Dagster: **by version** (dynamic partitions ``v0``, ``v1``, ... added by the
artifact sensor, see :mod:`wb_dagster.sensors.artifacts`) or **tracking an alias** (one
unpartitioned asset holding the version ``alias`` points at, e.g. ``production``). A
materialization downloads the version's files (concurrent, resumable, MD5-verified) to
``<storage root>/<asset key>[/<version>]/`` and records the version, its aliases, its
digest (also the data version), the producing run and that run's ``run_history`` partition
(the lineage back to the W&B run). A check fails when a stored file's MD5 differs from
W&B's. Downstream assets get that directory as a ``UPath``.

Example:
    >>> spec = WandbArtifactSpec.build("wb-demo/cifar/cifar-model", type="model")
    >>> spec.key.to_user_string(), spec.partitions.name
    ('wandb/wb-demo/cifar/artifacts/cifar-model', 'wandb_artifact__wb_demo__cifar__cifar_model')
    >>> WandbArtifactSpec.build("wb-demo/cifar/cifar-model", type="model", alias="best").key
    AssetKey(['wandb', 'wb-demo', 'cifar', 'artifacts', 'cifar-model', 'best'])
    >>> build_wandb_artifact_asset(spec).partitions_def.name
    'wandb_artifact__wb_demo__cifar__cifar_model'
"""

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
from upath import UPath

from wb_dagster.assets.checks import file_md5
from wb_dagster.client import Artifact, WandbClient
from wb_dagster.client.verified_download import md5_matches
from wb_dagster.failures import wandb_failures
from wb_dagster.io_manager import FILES_STORAGE, STORAGE_KIND_KEY, WandbParquetIOManager
from wb_dagster.names import definition_name, key_part
from wb_dagster.project import WandbProjectAssetsSpec
from wb_dagster.resource import resource_from
from wb_dagster.storage import is_local, local_scratch, put_local_file_atomic

ARTIFACT_MD5_CHECK = "artifact_files_md5"


@dataclass(frozen=True)
class WandbArtifactSpec:
    """One W&B artifact collection as a Dagster asset (by version, or tracking ``alias``)."""

    entity: str
    project: str
    collection: str
    type: str
    alias: str | None
    key: dg.AssetKey
    partitions: dg.DynamicPartitionsDefinition
    project_assets: WandbProjectAssetsSpec

    @classmethod
    def build(
        cls,
        path: str,
        *,
        type: str,
        alias: str | None = None,
        key: dg.AssetKey | Sequence[str] | None = None,
        key_prefix: Sequence[str] = ("wandb",),
    ) -> "WandbArtifactSpec":
        """``path`` is ``entity/project/collection`` (a registry: ``entity/wandb-registry-
        model/name``); the default key is
        ``<prefix>/<entity>/<project>/artifacts/<collection>[/alias]`` (parts as ``key_part``).
        """
        parts = path.strip().strip("/").split("/")
        if len(parts) != 3 or not all(parts) or ":" in parts[2]:
            raise ValueError(
                f"artifact collection {path!r}: expected 'entity/project/collection' without "
                "a version (versions become partitions; pass alias= to track one alias)"
            )
        entity, project, collection = parts
        if key is None:
            names = [entity, project, "artifacts", collection, *([alias] if alias else [])]
            key = [*key_prefix, *(key_part(n) for n in names)]
        asset_key = key if isinstance(key, dg.AssetKey) else dg.AssetKey(list(key))
        name = f"wandb_artifact__{definition_name(entity, project, collection)}"
        return cls(
            entity=entity,
            project=project,
            collection=collection,
            type=type,
            alias=alias,
            key=asset_key,
            partitions=dg.DynamicPartitionsDefinition(name=name),
            project_assets=WandbProjectAssetsSpec.build(
                entity=entity, project=project, key_prefix=key_prefix
            ),
        )

    @property
    def path(self) -> str:
        return f"{self.entity}/{self.project}/{self.collection}"

    @property
    def name(self) -> str:
        """A definition-safe name (ops, sensors)."""
        parts = (self.entity, self.project, self.collection, *([self.alias] if self.alias else []))
        return definition_name(*parts)


def _storage(context: Any, key: str) -> WandbParquetIOManager:
    io = getattr(context.resources, key)
    if not isinstance(io, WandbParquetIOManager):
        raise dg.DagsterInvariantViolationError(
            f"W&B artifact assets store their files through a WandbParquetIOManager, but "
            f"resource {key!r} is {type(io).__name__}. Bind {key!r} to "
            "WandbParquetIOManager(base_dir=...)."
        )
    return io


def store_artifact_files(client: WandbClient, art: Artifact, target: UPath) -> list[dict[str, Any]]:
    """Put the version's files under ``target`` (stale files removed); one row per file with
    ``ok`` telling whether the stored bytes have W&B's MD5."""
    files = art.files()
    if is_local(target):
        # straight into place: files already there with the right MD5 are not fetched again
        client.download_artifacts([(art, target.path)])
    else:
        with local_scratch() as scratch:
            client.download_artifacts([(art, str(scratch))])
            for f in files:
                put_local_file_atomic(Path(scratch, *f.name.split("/")), target.joinpath(f.name))
    keep = {f.name for f in files}
    if target.exists():
        for old in target.rglob("*"):
            if old.is_file() and old.relative_to(target).as_posix() not in keep:
                old.unlink()
    return [
        {
            "name": f.name,
            "size": f.size,
            "md5": f.md5,
            "ok": bool(f.md5) and md5_matches(f.md5, file_md5(target.joinpath(f.name))),
        }
        for f in files
    ]


def logged_model(run: Any) -> Artifact | None:
    """The newest ``model`` artifact a client ``Run`` logged (``None`` when it logged none)."""
    models = [a for a in run.logged_artifacts() if a.type == "model"]
    return max(models, key=lambda a: (a.created_at or "", a.version_index), default=None)


def artifact_metadata(spec: WandbArtifactSpec, art: Artifact, target: UPath) -> dict[str, Any]:
    """Materialization metadata: version, aliases, digest, producing run and its history."""
    meta: dict[str, Any] = {
        "wandb/artifact": art.qualified_name,
        "wandb/version": art.version,
        "wandb/aliases": dg.MetadataValue.json(sorted(art.aliases)),
        "wandb/digest": art.digest,
        "wandb/type": art.type,
        "path": dg.MetadataValue.path(str(target)),
        "size": dg.MetadataValue.int(art.size),
        "files": dg.MetadataValue.int(art.file_count),
    }
    if art.metadata:
        meta["wandb/metadata"] = dg.MetadataValue.json(art.metadata)
    producer = art.logged_by_path
    if producer:
        entity, project, run_id = producer.split("/")
        meta["wandb/run_path"] = producer
        history = WandbProjectAssetsSpec.build(entity=entity, project=project).key("run_history")
        # the run's own partition of run_history: where this version came from
        meta["wandb/lineage"] = dg.MetadataValue.json(
            {"asset_key": history.to_user_string(), "partition": run_id}
        )
    return meta


def build_wandb_artifact_asset(
    spec: WandbArtifactSpec,
    *,
    resource_key: str = "wandb",
    io_manager_key: str = "wandb_io_manager",
    pool: str | None = "wandb_api",
    retry_policy: dg.RetryPolicy | None = None,
    batch_size: int = 100,
) -> dg.AssetsDefinition:
    """The asset of ``spec``: partitioned by version, or tracking ``spec.alias``.

    One step stores a range of up to ``batch_size`` versions (the sensor asks for one run per
    contiguous stretch of changed versions), each recorded under its own partition with its
    own check evaluation and the version's digest as data version.
    """
    partitions = None if spec.alias else spec.partitions
    asset_spec = dg.AssetSpec(
        key=spec.key,
        description=(
            f"Files of W&B artifact {spec.path}"
            + (f":{spec.alias}" if spec.alias else ", one partition per version")
        ),
        # lineage: the versions come from runs of the project (their run_history partitions)
        deps=[spec.project_assets.key("run_history")],
        metadata={STORAGE_KIND_KEY: FILES_STORAGE, "wandb/artifact_collection": spec.path},
        kinds={"wandb"},
        partitions_def=partitions,
        skippable=True,
    ).with_io_manager_key(io_manager_key)

    @dg.multi_asset(
        name=f"wandb_artifact__{spec.name}",
        specs=[asset_spec],
        check_specs=[
            dg.AssetCheckSpec(
                ARTIFACT_MD5_CHECK,
                asset=spec.key,
                partitions_def=partitions,
                description="Stored files have the MD5 W&B reports.",
            )
        ],
        # the step yields its materializations and check evaluations itself, one per version
        can_subset=True,
        required_resource_keys={resource_key, io_manager_key},
        pool=pool,
        retry_policy=retry_policy,
        backfill_policy=(
            dg.BackfillPolicy.multi_run(max_partitions_per_run=batch_size) if partitions else None
        ),
    )
    def _artifact_asset(context: dg.AssetExecutionContext) -> Iterator[Any]:
        versions = list(context.partition_keys) if partitions is not None else [None]
        client = resource_from(context.resources, resource_key).get_client()
        storage = _storage(context, io_manager_key)
        for partition in versions:
            yield from _store_version(context, spec, client, storage, partition)

    return _artifact_asset


def _store_version(
    context: dg.AssetExecutionContext,
    spec: WandbArtifactSpec,
    client: WandbClient,
    storage: WandbParquetIOManager,
    partition: str | None,
) -> Iterator[Any]:
    version = partition or spec.alias or "latest"
    with wandb_failures(f"storing artifact {spec.path}:{version}"):
        art = client.artifact(f"{spec.path}:{version}")
        if art.type != spec.type:
            raise dg.Failure(
                f"artifact {art.qualified_name} has type {art.type!r}, not {spec.type!r}: "
                "fix type= of the WandbArtifactSpec"
            )
        target = storage.path_for(spec.key, partition, instance=context.instance, extension="")
        stored = store_artifact_files(client, art, target)
    bad = [s["name"] for s in stored if not s["ok"]]
    context.log.info(f"stored {len(stored)} files of {art.qualified_name} at {target}")
    yield dg.AssetMaterialization(
        asset_key=spec.key,
        partition=partition,
        metadata=artifact_metadata(spec, art, target),
        # a hand-made materialization gets no data version from Dagster: the W&B digest
        tags={"dagster/data_version": art.digest or _digest_of(stored)},
    )
    yield dg.AssetCheckEvaluation(
        check_name=ARTIFACT_MD5_CHECK,
        asset_key=spec.key,
        partition=partition,
        passed=not bad,
        metadata={"mismatched": dg.MetadataValue.json(bad), "files": len(stored)},
    )


def _digest_of(stored: list[dict[str, Any]]) -> str:
    return hashlib.md5("".join(s["md5"] for s in stored).encode()).hexdigest()
