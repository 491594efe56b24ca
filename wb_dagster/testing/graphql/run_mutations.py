"""GraphQL mutations: ``upsertBucket``, ``deleteRun``, ``updateRunState``, run files.

``upsertBucket`` with ``id`` updates that run; without it, ``name`` + ``modelName`` (+
``entityName``, default: the viewer's entity) create or update a run. ``config`` and
``summaryMetrics`` replace the stored values (the SDK always sends them whole).

Example (through the GraphQL layer):
    >>> import tempfile, pathlib
    >>> from wb_dagster.testing.store.backend import Backend
    >>> from wb_dagster.testing.graphql.executor import execute_request
    >>> backend = Backend.open(pathlib.Path(tempfile.mkdtemp()), api_key="k" * 40)
    >>> q = 'mutation { upsertBucket(input: {name: "r1", modelName: "p"}) { inserted } }'
    >>> execute_request(backend, "http://h", {"query": q})[1]
    {'data': {'upsertBucket': {'inserted': True}}}
    >>> backend.close()
"""

from __future__ import annotations

import json
from typing import Any

from graphql import GraphQLError

from wb_dagster.testing.graphql.context import Ctx
from wb_dagster.testing.graphql.ids import BadIdError, decode_id, encode_id
from wb_dagster.testing.graphql.nodes import run_node, upload_url
from wb_dagster.testing.store.display_names import display_name_for
from wb_dagster.testing.store.run_deletion import delete_run_everywhere
from wb_dagster.testing.store.runs import RUN_STATES


def run_by_id(ctx: Ctx, run_id: str) -> dict[str, Any]:
    """The run row a ``Run`` storage id names; a GraphQL error if there is none."""
    try:
        name, project, entity = decode_id(run_id, "Run")[:3]
    except (BadIdError, ValueError) as exc:
        raise GraphQLError(f"{exc}; use the run's `id` field from a Run query") from exc
    run = ctx.backend.runs.get_run(entity, project, name)
    if run is None:
        raise GraphQLError(f"run {entity}/{project}/{name} not found (it may have been deleted)")
    return run


def _json_input(value: Any, field: str) -> Any:
    if value is None or not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError as exc:
        raise GraphQLError(f"{field} is not valid JSON: {exc}") from exc


def _fields_from_input(inp: dict[str, Any]) -> dict[str, Any]:
    mapping = {
        "displayName": "display_name",
        "description": "description",
        "notes": "notes",
        "groupName": "group",
        "jobType": "job_type",
        "commit": "commit",
        "host": "host",
        "jobProgram": "program",
        "sweep": "sweep",
        "state": "state",
        "tags": "tags",
    }
    fields = {dst: inp[src] for src, dst in mapping.items() if inp.get(src) is not None}
    if inp.get("config") is not None:
        config = _json_input(inp["config"], "config")
        if not isinstance(config, dict):
            raise GraphQLError("config must be a JSON object of {key: {value, desc}}")
        fields["config"] = config
    if inp.get("summaryMetrics") is not None:
        summary = _json_input(inp["summaryMetrics"], "summaryMetrics")
        if not isinstance(summary, dict):
            raise GraphQLError("summaryMetrics must be a JSON object")
        fields["summary"] = json.dumps(summary)
    if fields.get("state") is not None and fields["state"] not in RUN_STATES:
        raise GraphQLError(f"unknown run state {fields['state']!r}; one of {', '.join(RUN_STATES)}")
    return fields


def run_mutations(ctx: Ctx) -> dict[str, Any]:
    """The run and run-file resolvers of the Mutation root."""
    backend = ctx.backend

    def _run_number(entity: str, project: str) -> int:
        row = backend.runs.get_project(entity, project)
        return 1 + (0 if row is None else backend.runs.count_runs(int(row["pk"])))

    def upsert_bucket(info: Any, input: dict[str, Any]) -> dict[str, Any]:
        fields = _fields_from_input(input)
        if input.get("id"):
            run = run_by_id(ctx, input["id"])
            backend.runs.update_run(run["pk"], fields)
            inserted = False
        else:
            name, project = input.get("name"), input.get("modelName")
            if not name or not project:
                raise GraphQLError(
                    "upsertBucket needs either `id` (existing run) or `name` and `modelName`"
                )
            entity = input.get("entityName") or backend.default_entity
            inserted = backend.runs.get_run(entity, project, name) is None
            if inserted:  # a run belongs to the key's user (wandb.Api needs `user`)
                fields.setdefault("username", backend.viewer_username)
                if not fields.get("display_name"):  # W&B names unnamed runs (`fluent-sun-3`)
                    fields["display_name"] = display_name_for(name, _run_number(entity, project))
            backend.runs.upsert_run(entity, project, name, fields)
            run = backend.runs.get_run(entity, project, name) or {}
        fresh = backend.runs.get_run_by_pk(run["pk"])
        return {
            "bucket": None if fresh is None else run_node(ctx, fresh),
            "inserted": inserted,
            "clientMutationId": input.get("clientMutationId"),
        }

    def delete_run(info: Any, input: dict[str, Any]) -> dict[str, Any]:
        run = run_by_id(ctx, input["id"])
        delete_run_everywhere(backend, run["pk"], bool(input.get("deleteArtifacts")))
        return {"clientMutationId": input.get("clientMutationId")}

    def update_run_state(info: Any, input: dict[str, Any]) -> dict[str, Any]:
        run = run_by_id(ctx, input["id"])
        _fields_from_input({"state": input["state"]})
        backend.runs.update_run(run["pk"], {"state": input["state"]})
        return {"success": True}

    def _input_run(inp: dict[str, Any]) -> dict[str, Any]:
        run = backend.runs.get_run(inp["entityName"], inp["projectName"], inp["runName"])
        if run is None:
            raise GraphQLError(
                f"run {inp['entityName']}/{inp['projectName']}/{inp['runName']} not found; "
                "create it first (upsertBucket)"
            )
        return run

    def create_run_files(info: Any, input: dict[str, Any]) -> dict[str, Any]:
        run = _input_run(input)
        return {
            "runID": encode_id("Run", run["name"], run["project"], run["entity"]),
            "uploadHeaders": [],
            "files": [
                {
                    "name": name,
                    "uploadUrl": upload_url(ctx, run["entity"], run["project"], run["name"], name),
                }
                for name in input["files"]
            ],
        }

    def mark_uploaded(info: Any, input: dict[str, Any]) -> dict[str, Any]:
        # uploads are committed by the PUT itself; this only checks the files arrived
        run = _input_run(input)
        missing = [n for n in input["files"] if backend.files.get(run["pk"], n) is None]
        if missing:
            raise GraphQLError(f"files not uploaded yet (PUT them first): {', '.join(missing)}")
        return {"success": True}

    def delete_files(info: Any, input: dict[str, Any]) -> dict[str, Any]:
        pks = []
        for fid in input["files"]:
            try:
                pks.append(int(decode_id(fid, "File")[0]))
            except (BadIdError, ValueError) as exc:
                raise GraphQLError(f"{exc}; use a File `id` from a files query") from exc
        run_pks = {f.run_pk for pk in pks if (f := backend.files.get_by_pk(pk)) is not None}
        backend.files.delete(pks)
        for run_pk in run_pks:
            backend.runs.touch(run_pk)
        return {"success": True}

    return {
        "upsertBucket": upsert_bucket,
        "deleteRun": delete_run,
        "updateRunState": update_run_state,
        "createRunFiles": create_run_files,
        "markRunFilesUploaded": mark_uploaded,
        "deleteFiles": delete_files,
    }
