"""Stopping and rewinding runs: the ``stopRun`` and ``rewindRun`` mutations (SDK 0.31).

* ``run.stop()`` (public API) sends ``mutation StopRun($id: ID!) { stopRun(input: {id: $id})
  { success } }``. The server flags the run; the flag reaches the logging process through its
  regular file_stream heartbeat: the reply becomes ``{"stopped": true}``, wandb-core remembers
  it, and the SDK's stop checker (it asks wandb-core every 15 s) interrupts the script. A run
  that then ends with a non-zero exit code is ``killed`` (the SDK documents "Killed: run was
  forcibly stopped before it could finish"). Stopping a run that is not running does nothing;
  ``Run.stopped`` reads the flag. Resuming or rewinding the run clears it.
* ``wandb.init(resume_from="<id>?_step=N")`` sends ``mutation RewindRun($runName: String!,
  $entity: String, $project: String, $metricName: String!, $metricValue: Float!)`` selecting
  ``rewindRun { rewoundRun { id name displayName description config sweepName project { id name
  entity { id name } } historyLineCount } }``. Only ``_step`` is supported (as in the SDK).
  The server drops the history rows after step ``N`` (parquet exports included), makes the run
  ``running`` again and answers with the kept ``historyLineCount``, which wandb-core uses as
  the history offset when it continues at step ``N + 1``. The public API has no rewind call.

Example:
    >>> import tempfile, pathlib
    >>> from wb_dagster.testing.store.backend import Backend
    >>> from wb_dagster.testing.graphql.context import Ctx
    >>> backend = Backend.open(pathlib.Path(tempfile.mkdtemp()), api_key="k" * 40)
    >>> sorted(run_control_mutations(Ctx(backend, "http://h")))
    ['rewindRun', 'stopRun']
    >>> backend.close()
"""

from __future__ import annotations

from typing import Any

from graphql import GraphQLError

from wb_dagster.testing.graphql.context import Ctx
from wb_dagster.testing.graphql.nodes import run_node
from wb_dagster.testing.graphql.run_mutations import run_by_id

REWIND_METRIC = "_step"


def run_control_mutations(ctx: Ctx) -> dict[str, Any]:
    """The ``stopRun`` and ``rewindRun`` resolvers of the Mutation root."""
    backend = ctx.backend

    def stop_run(info: Any, input: dict[str, Any]) -> dict[str, Any]:
        run = run_by_id(ctx, input["id"])
        if run["state"] == "running":
            backend.stops.request(int(run["pk"]))
        return {"success": True, "clientMutationId": input.get("clientMutationId")}

    def rewind_run(info: Any, input: dict[str, Any]) -> dict[str, Any]:
        entity = input.get("entityName") or backend.default_entity
        project, name = input.get("projectName"), input["runName"]
        if not project:
            raise GraphQLError("rewindRun needs projectName (the run's project)")
        if input["metricName"] != REWIND_METRIC:
            raise GraphQLError(
                f"rewindRun only supports metricName {REWIND_METRIC!r}, got "
                f"{input['metricName']!r}; rewind to a step: resume_from='<id>?_step=N'"
            )
        run = backend.runs.get_run(entity, project, name)
        if run is None:
            raise GraphQLError(f"run {entity}/{project}/{name} not found; nothing to rewind")
        step = int(input["metricValue"])
        if step < 0:
            raise GraphQLError(f"rewindRun metricValue must be a step >= 0, got {step}")
        pk = int(run["pk"])
        backend.history.truncate(pk, step + 1)
        backend.stops.clear(pk)
        backend.runs.update_run(pk, {"state": "running"})
        fresh = backend.runs.get_run_by_pk(pk)
        return {"rewoundRun": None if fresh is None else run_node(ctx, fresh)}

    return {"stopRun": stop_run, "rewindRun": rewind_run}
