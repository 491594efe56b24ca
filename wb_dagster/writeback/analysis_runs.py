"""Publish an asset's result to W&B as an analysis run (``job_type="analysis"``).

A downstream asset (a leaderboard, a comparison, an evaluation) ends with
``yield from publish_analysis_run(context, wandb, project=..., result=...)``. That:

* creates a finished W&B run through :meth:`WandbClient.create_run` (the ``wandb.init``
  protocol), with a **deterministic run id** derived from the asset key and partition
  (:func:`analysis_run_id`), so a re-materialization updates the same W&B run in place
  (config and summary replaced, files overwritten) instead of adding a new one;
* attaches the result: a pandas DataFrame / ``pyarrow.Table`` as ``<table_name>.parquet`` (or
  ``.csv``), a dict as the run summary (``summary=`` adds or overrides keys);
* writes lineage into the run's config under ``"lineage"``: the W&B runs it came from
  (``source_runs``) and the Dagster asset key, partition, run id and upstream asset keys with
  their partitions (:func:`analysis_lineage`);
* yields the asset's ``Output`` with the run's URL, id and path as materialization metadata
  (``wandb/run_url``, ``wandb/run_id``, ``wandb/run_path``).

**Failures keep the output.** If publishing fails, the helper first yields the ``Output`` (so
the IO manager stores the asset's value and the materialization is recorded, with
``wandb/publish_error`` in its metadata) and then raises ``dg.Failure``: the step fails with a
message naming the W&B project and run id and what to do, and a re-materialization publishes
again to the same run. The asset must therefore be a generator (use ``yield from``, not
``return``).

See :func:`publish_analysis_run` for a runnable example.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import dagster as dg

from wb_dagster.client import AuthenticationError, NotFoundError

if TYPE_CHECKING:
    from wb_dagster.client import Run, WandbClient
    from wb_dagster.resource import WandbResource

LINEAGE_KEY = "lineage"
_SLUG_UNSAFE = re.compile(r"[^a-z0-9_.-]+")


def analysis_run_id(
    asset_key: dg.AssetKey | str | Sequence[str], partition_key: str | None = None
) -> str:
    """A stable W&B run id for an asset (and partition): readable slug + hash of the exact key.

    The same asset key and partition always give the same id, different ones (even ones that
    slug alike) give different ids; it is at most 64 characters of ``[a-z0-9_.-]``.

    >>> analysis_run_id(dg.AssetKey(["reports", "leaderboard"]))
    'reports-leaderboard-25b1c2501b'
    >>> analysis_run_id("reports/leaderboard", "2024-01-01")
    'reports-leaderboard-2024-01-01-9093cbc6cc'
    """
    key = _asset_key(asset_key)
    exact = key.to_user_string() + ("" if partition_key is None else f"\0{partition_key}")
    digest = hashlib.sha256(exact.encode()).hexdigest()[:10]
    readable = "-".join([*key.path, *([] if partition_key is None else [partition_key])])
    slug = _SLUG_UNSAFE.sub("-", readable.lower()).strip("-.")[:53].rstrip("-.")
    return f"{slug}-{digest}" if slug else f"asset-{digest}"


def _asset_key(value: dg.AssetKey | str | Sequence[str]) -> dg.AssetKey:
    if isinstance(value, dg.AssetKey):
        return value
    if isinstance(value, str):
        return dg.AssetKey.from_user_string(value)
    return dg.AssetKey(list(value))


def _run_path(source: Any, entity: str, project: str) -> str:
    """``entity/project/id`` of a source run given as a client ``Run``, a path or a bare id."""
    path = getattr(source, "path", None)
    if isinstance(path, list) and len(path) == 3:
        return "/".join(str(p) for p in path)
    text = str(source).strip().strip("/")
    parts = text.split("/")
    if len(parts) == 1:
        return f"{entity}/{project}/{text}"
    if len(parts) == 2:
        return f"{entity}/{text}"
    if len(parts) == 3:
        return text
    if len(parts) == 4 and parts[2] == "runs":  # entity/project/runs/id
        return f"{parts[0]}/{parts[1]}/{parts[3]}"
    raise ValueError(
        f"source run {source!r} is not a run: use a client Run, 'entity/project/run_id', "
        "'project/run_id' or a run id of the project being published to"
    )


def _upstream(context: dg.AssetExecutionContext) -> list[dict[str, Any]]:
    upstream = []
    for input_name, key in sorted(context.assets_def.keys_by_input_name.items()):
        entry: dict[str, Any] = {"asset_key": key.to_user_string()}
        # an unpartitioned upstream asset makes Dagster raise (CheckError): no partition keys
        with contextlib.suppress(Exception):
            entry["partition_keys"] = sorted(context.asset_partition_keys_for_input(input_name))
        upstream.append(entry)
    return upstream


def analysis_lineage(
    context: dg.AssetExecutionContext,
    *,
    entity: str,
    project: str,
    source_runs: Iterable[Any] = (),
    output_name: str = "result",
) -> dict[str, Any]:
    """The lineage written into the analysis run's config under ``"lineage"``.

    Bare run ids in ``source_runs`` are runs of ``entity/project``.

    ``{"wandb_runs": ["entity/project/id", ...], "dagster": {"asset_key", "partition_key",
    "run_id", "job_name", "upstream": [{"asset_key", "partition_keys"?}, ...]}}``
    (``partition_keys`` only for partitioned upstream assets).
    """
    key = context.asset_key_for_output(output_name)
    runs = list(dict.fromkeys(_run_path(r, entity, project) for r in source_runs))
    return {
        "wandb_runs": runs,
        "dagster": {
            "asset_key": key.to_user_string(),
            "partition_key": context.partition_key if context.has_partition_key else None,
            "run_id": context.run.run_id,
            "job_name": context.run.job_name,
            "upstream": _upstream(context),
        },
    }


def _client(wandb: WandbResource | WandbClient) -> WandbClient:
    get_client = getattr(wandb, "get_client", None)
    return get_client() if callable(get_client) else wandb  # type: ignore[return-value]


def _split_result(result: Any) -> tuple[dict[str, Any], Any]:
    """(summary taken from the result, table to upload or None)."""
    if result is None:
        return {}, None
    if isinstance(result, Mapping):
        return dict(result), None
    if type(result).__name__ in ("DataFrame", "Table") and hasattr(result, "columns"):
        return {}, result
    raise TypeError(
        f"publish_analysis_run() cannot publish a {type(result).__name__}: pass a pandas "
        "DataFrame or pyarrow Table (uploaded as a table file), a dict (the run summary) or "
        "None, and attach anything else with files="
    )


def analysis_run_metadata(run: Run) -> dict[str, Any]:
    """Materialization metadata for a published run (URL, id, path).

    >>> from types import SimpleNamespace
    >>> fake = SimpleNamespace(url="http://w/e/p/runs/x", id="x", path=["e", "p", "x"])
    >>> sorted(analysis_run_metadata(fake))
    ['wandb/run_id', 'wandb/run_path', 'wandb/run_url']
    """
    return {
        "wandb/run_url": dg.MetadataValue.url(run.url),
        "wandb/run_id": dg.MetadataValue.text(run.id),
        "wandb/run_path": dg.MetadataValue.text("/".join(run.path)),
    }


def publish_analysis_run(
    context: dg.AssetExecutionContext,
    wandb: WandbResource | WandbClient,
    *,
    project: str,
    result: Any,
    summary: Mapping[str, Any] | None = None,
    config: Mapping[str, Any] | None = None,
    source_runs: Iterable[Any] = (),
    source_project: str | None = None,
    files: Mapping[str, Any] | None = None,
    name: str | None = None,
    run_id: str | None = None,
    job_type: str = "analysis",
    tags: Sequence[str] | None = None,
    notes: str | None = None,
    group: str | None = None,
    table_name: str | None = None,
    table_format: str = "parquet",
    output_name: str = "result",
    metadata: Mapping[str, Any] | None = None,
) -> Iterator[dg.Output[Any]]:
    """Publish ``result`` as a W&B analysis run, then yield it as the asset's ``Output``.

    ``project``: ``entity/project`` or ``project`` (the resource's entity). ``result`` is the
    asset's value: a DataFrame/Arrow table is uploaded as ``<table_name>.<table_format>``
    (default name: the asset key's last part), a dict becomes the summary. ``summary`` and
    ``config`` are the run's (``config`` must not use the ``"lineage"`` key, which holds the
    lineage, see :func:`analysis_lineage`). ``source_runs``: the W&B runs the result came from
    (client ``Run`` objects, paths, or bare run ids of ``source_project``, default
    ``project``). ``run_id`` defaults to :func:`analysis_run_id` of the asset key and
    partition; ``name`` (display name) to the asset key (+ partition). ``files``: extra files,
    ``{name: bytes or local path}``. ``metadata`` is added to the materialization. Use it as
    ``yield from publish_analysis_run(...)``; the module docstring says what happens when
    publishing fails.

    Example (runnable against the local server):
        >>> import dagster as dg, pandas as pd
        >>> from wb_dagster import WandbResource
        >>> from wb_dagster.testing import LocalWandbServer
        >>> @dg.asset
        ... def leaderboard(context, wandb: WandbResource):
        ...     board = pd.DataFrame({"run": ["cifar000", "cifar001"], "acc": [0.91, 0.87]})
        ...     yield from publish_analysis_run(
        ...         context, wandb, project="cifar", result=board,
        ...         summary={"best_acc": float(board["acc"].max())},
        ...         source_runs=board["run"],
        ...     )
        >>> with LocalWandbServer(seed="demo") as srv:
        ...     wandb = WandbResource(api_key=srv.api_key, base_url=srv.base_url)
        ...     result = dg.materialize([leaderboard], resources={"wandb": wandb})
        ...     meta = result.asset_materializations_for_node("leaderboard")[0].metadata
        ...     run = wandb.get_client().run(f"{srv.entity}/cifar/{meta['wandb/run_id'].value}")
        >>> run.job_type, run.state, run.summary["best_acc"], run.config["lineage"]["wandb_runs"]
        ('analysis', 'finished', 0.91, ['wb-demo/cifar/cifar000', 'wb-demo/cifar/cifar001'])
    """
    summary_from_result, table = _split_result(result)
    if config is not None and LINEAGE_KEY in config:
        raise ValueError(
            f"config key {LINEAGE_KEY!r} is reserved for the lineage publish_analysis_run() "
            "writes; rename that key"
        )
    key = context.asset_key_for_output(output_name)
    partition = context.partition_key if context.has_partition_key else None
    run_id = run_id or analysis_run_id(key, partition)
    display_name = name or key.to_user_string() + ("" if partition is None else f" [{partition}]")
    extra = dict(metadata or {})
    where = f"W&B project {project!r} (run id {run_id!r})"
    try:
        client = _client(wandb)
        entity, project_name = _project_parts(client, project)
        where = f"W&B project {entity}/{project_name} (run id {run_id!r})"
        source_entity, source_name = (
            _project_parts(client, source_project) if source_project else (entity, project_name)
        )
        lineage = analysis_lineage(
            context,
            entity=source_entity,
            project=source_name,
            source_runs=source_runs,
            output_name=output_name,
        )
        tables = None if table is None else {table_name or key.path[-1]: table}
        run = client.create_run(
            f"{entity}/{project_name}",
            job_type=job_type,
            name=display_name,
            config={**dict(config or {}), LINEAGE_KEY: lineage},
            summary={**summary_from_result, **dict(summary or {})},
            tags=list(tags) if tags is not None else None,
            notes=notes,
            group=group,
            run_id=run_id,
            files=dict(files) if files else None,
            tables=tables,
            table_format=table_format,
        )
    except Exception as exc:
        cause = str(exc).rstrip(". ") or type(exc).__name__
        message = (
            f"Publishing asset {key.to_user_string()} as an analysis run to {where} failed: "
            f"{cause}. The asset's output was stored. Fix the cause and re-materialize the "
            "asset to publish again; the run id is deterministic, so the same W&B run is "
            "updated rather than duplicated."
        )
        yield dg.Output(result, output_name, metadata={**extra, "wandb/publish_error": message})
        # like wb_dagster.failures: a retry cannot fix a rejected key, an unknown entity or a
        # bad argument, so those fail at once; transient errors keep the step's retry policy
        permanent = isinstance(exc, (NotFoundError, AuthenticationError, ValueError, TypeError))
        raise dg.Failure(
            description=message,
            metadata={"error": type(exc).__name__},
            allow_retries=not permanent,
        ) from None
    context.log.info("published analysis run %s", run.url)
    yield dg.Output(result, output_name, metadata={**extra, **analysis_run_metadata(run)})


def _project_parts(client: WandbClient, project: str) -> tuple[str, str]:
    from wb_dagster.client.paths import parse_project_path

    default_entity = None if "/" in project.strip("/") else client.entity
    return parse_project_path(project, default_entity=default_entity)


__all__ = [
    "LINEAGE_KEY",
    "analysis_lineage",
    "analysis_run_id",
    "analysis_run_metadata",
    "publish_analysis_run",
]
