"""Writing a run back to W&B: what ``Run.update()`` reads, merges and sends.

Updates are read-modify-write: the run's config and summary are read as the server holds them
*now*, only the keys changed locally are applied on top, and the result is sent, so keys written
elsewhere meanwhile survive.

Example:
    >>> from wb_dagster.client.changes import Change
    >>> merge_config({"lr": {"value": 0.1, "desc": "step"}}, Change(set={"lr": 0.2}))
    {'lr': {'value': 0.2, 'desc': 'step'}}
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from wb_dagster.client.encoding import dumps, encode_value, loads_object
from wb_dagster.client.errors import CommError, NotFoundError
from wb_dagster.client.queries import RUN_CONFIG_AND_SUMMARY, UPSERT_RUN, UPSERT_SUMMARY

if TYPE_CHECKING:
    from wb_dagster.client.changes import Change
    from wb_dagster.client.paths import ObjectPath
    from wb_dagster.client.session import WandbSession

# run attributes written back by update(): GraphQL field -> mutation variable
EDITABLE_FIELDS = {
    "displayName": "display_name",
    "description": "description",
    "notes": "notes",
    "tags": "tags",
    "group": "groupName",
    "jobType": "jobType",
}


def read_config_and_summary(
    session: WandbSession, path: ObjectPath
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(raw stored config JSON, summary) of the run at ``path`` as the server holds them now.

    Example (``client`` connected to the local server with the demo seed):
        >>> from wb_dagster.client.paths import ObjectPath
        >>> config, _ = read_config_and_summary(client, ObjectPath("wb-demo", "cifar", "cifar000"))
        >>> config["optimizer"]["value"]
        'sgd'
    """
    data = session.transport.graphql(
        RUN_CONFIG_AND_SUMMARY,
        {"entity": path.entity, "project": path.project, "name": path.id},
        what=f"reading the current config of run {path}",
    )
    run = (data.get("project") or {}).get("run")
    if run is None:
        raise NotFoundError(f"Could not find run {path}: was it deleted?")
    return loads_object(run.get("config")), loads_object(run.get("summaryMetrics"))


def merge_config(raw: dict[str, Any], change: Change) -> dict[str, Any]:
    """``change`` applied to a stored config (``{key: {"value": ..., "desc": ...}}``), keeping
    each changed key's description (see the module example)."""
    merged = dict(raw)
    for key in change.removed:
        merged.pop(key, None)
    for key, value in change.set.items():
        old = merged.get(key)
        desc = old.get("desc") if isinstance(old, dict) and "value" in old else None
        merged[key] = {"value": encode_value(value), "desc": desc}
    return merged


def upsert_run(
    session: WandbSession,
    storage_id: str,
    fields: dict[str, Any],
    config: dict[str, Any] | None,
    what: str,
) -> dict[str, Any] | None:
    """Send changed ``fields`` (GraphQL names) and the merged stored ``config`` (None: leave
    it) to the run with GraphQL id ``storage_id``; returns the run as the server now holds it."""
    variables: dict[str, Any] = {"id": storage_id}
    for key, var in EDITABLE_FIELDS.items():
        if key in fields:
            variables[var] = fields[key]
    if config is not None:
        variables["config"] = dumps(config)
    data = session.transport.graphql(UPSERT_RUN, variables, what=what)
    bucket = (data.get("upsertBucket") or {}).get("bucket")
    return bucket if isinstance(bucket, dict) else None


def write_summary(
    session: WandbSession, storage_id: str, summary: dict[str, Any], what: str
) -> None:
    """Replace the summary of the run with GraphQL id ``storage_id`` by ``summary``."""
    data = session.transport.graphql(
        UPSERT_SUMMARY, {"id": storage_id, "summaryMetrics": dumps(summary)}, what=what
    )
    bucket = (data.get("upsertBucket") or {}).get("bucket") or {}
    if not bucket.get("id"):
        raise CommError(f"{what}: the server returned no run")
