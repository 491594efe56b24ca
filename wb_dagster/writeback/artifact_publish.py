"""Publish an asset's output as a W&B artifact version (what dagster-wandb's IO manager did).

``publish_artifact(context, wandb, project=..., name=..., type=..., files=...)`` logs the
files (a directory, one file, or ``{name: path}``) as a version of ``entity/project/name``:

* the producing W&B run is a finished run with a **deterministic id** derived from the asset
  key and partition (:func:`~wb_dagster.writeback.analysis_runs.analysis_run_id`), whose
  config holds the lineage (:func:`~wb_dagster.writeback.analysis_runs.analysis_lineage`); the
  same lineage is written into the version's metadata under ``"lineage"``, beside the caller's
  ``metadata``;
* logging is **idempotent by content**: the version's digest is W&B's manifest digest, so a
  re-materialization with unchanged files gets the existing version back (its aliases are
  added) and uploads nothing, while changed files make the next version; unchanged files of a
  new version are not uploaded again either;
* it returns a :class:`PublishedArtifact` whose ``metadata`` the asset attaches to its
  materialization (``wandb/artifact``, ``wandb/version``, ``wandb/created``, ...).

It speaks W&B's protocol through the project's client: no ``wandb`` import, no sidecar.

Example (runnable against the local server):
    >>> import dagster as dg, tempfile, pathlib
    >>> from wb_dagster import WandbResource
    >>> from wb_dagster.testing import LocalWandbServer
    >>> @dg.asset
    ... def scaler(context, wandb: WandbResource):
    ...     out = pathlib.Path(tempfile.mkdtemp(), "scaler.json")
    ...     out.write_text('{"mean": 0.5}')
    ...     published = publish_artifact(
    ...         context, wandb, project="cifar", name="scaler", type="preprocessing",
    ...         files=out, aliases=["prod"], metadata={"rows": 1000})
    ...     return dg.MaterializeResult(metadata=published.metadata)
    >>> with LocalWandbServer(seed="demo") as srv:
    ...     wandb = WandbResource(api_key=srv.api_key, base_url=srv.base_url)
    ...     first = dg.materialize([scaler], resources={"wandb": wandb})
    ...     again = dg.materialize([scaler], resources={"wandb": wandb})
    ...     art = wandb.get_client().artifact("wb-demo/cifar/scaler:prod")
    >>> meta = lambda r: r.asset_materializations_for_node("scaler")[0].metadata
    >>> meta(first)["wandb/version"].value, meta(again)["wandb/created"].value
    ('v0', False)
    >>> art.version, art.metadata["rows"], art.metadata["lineage"]["dagster"]["asset_key"]
    ('v0', 1000, 'scaler')
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import dagster as dg

from wb_dagster.client import Artifact
from wb_dagster.client.artifact_writes import collect_entries, log_artifact
from wb_dagster.failures import wandb_failures
from wb_dagster.writeback.analysis_runs import LINEAGE_KEY, analysis_lineage, analysis_run_id

if TYPE_CHECKING:
    from wb_dagster.client import WandbClient
    from wb_dagster.resource import WandbResource


@dataclass(frozen=True)
class PublishedArtifact:
    """The logged version and the materialization metadata describing it."""

    artifact: Artifact
    created: bool
    metadata: dict[str, Any]


def _client(wandb: WandbResource | WandbClient) -> WandbClient:
    get_client = getattr(wandb, "get_client", None)
    return get_client() if callable(get_client) else wandb  # type: ignore[return-value]


def publish_artifact(
    context: dg.AssetExecutionContext,
    wandb: WandbResource | WandbClient,
    *,
    project: str,
    name: str,
    type: str,
    files: Mapping[str, str | os.PathLike[str]] | str | os.PathLike[str],
    aliases: Iterable[str] = (),
    metadata: Mapping[str, Any] | None = None,
    description: str | None = None,
    source_runs: Iterable[Any] = (),
    output_name: str = "result",
) -> PublishedArtifact:
    """Log ``files`` as a version of artifact ``name`` in ``project`` (``entity/project`` or
    ``project`` of the resource's entity) with lineage; see the module docstring."""
    if metadata is not None and LINEAGE_KEY in metadata:
        raise ValueError(f"metadata key {LINEAGE_KEY!r} is reserved for the lineage; rename it")
    entries = collect_entries(files)
    client = _client(wandb)
    from wb_dagster.writeback.analysis_runs import _project_parts

    entity, project_name = _project_parts(client, project)
    key = context.asset_key_for_output(output_name)
    partition = context.partition_key if context.has_partition_key else None
    run_id = analysis_run_id(key, partition)
    lineage = analysis_lineage(
        context, entity=entity, project=project_name, source_runs=source_runs,
        output_name=output_name,
    )  # fmt: skip
    where = f"artifact {entity}/{project_name}/{name}"
    with wandb_failures(f"publishing {where}"):
        client.create_run(
            f"{entity}/{project_name}",
            job_type="dagster-artifact",
            name=key.to_user_string() + ("" if partition is None else f" [{partition}]"),
            config={LINEAGE_KEY: lineage},
            run_id=run_id,
        )
        logged = log_artifact(
            client,
            entity=entity,
            project=project_name,
            run_id=run_id,
            name=name,
            type=type,
            entries=entries,
            metadata={**dict(metadata or {}), LINEAGE_KEY: lineage},
            aliases=aliases,
            description=description,
        )
        art = client.artifact(f"{entity}/{project_name}/{name}:v{logged.version_index}")
    context.log.info(
        f"{'logged' if logged.created else 'unchanged, kept'} {art.qualified_name} "
        f"({len(entries)} files)"
    )
    return PublishedArtifact(
        artifact=art,
        created=logged.created,
        metadata={
            "wandb/artifact": art.qualified_name,
            "wandb/version": art.version,
            "wandb/aliases": dg.MetadataValue.json(sorted(art.aliases)),
            "wandb/digest": art.digest,
            "wandb/created": logged.created,
            "wandb/run_path": f"{entity}/{project_name}/{run_id}",
        },
    )


__all__ = ["PublishedArtifact", "publish_artifact"]
