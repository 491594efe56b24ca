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
    >>> from wb_dagster.testing.store import Store
    >>> flags = StopFlags(Store(pathlib.Path(tempfile.mkdtemp())))
    >>> flags.request(7); flags.is_stopped(7), flags.is_stopped(8)
    (True, False)
    >>> flags.clear(7); flags.is_stopped(7)
    False
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from graphql import GraphQLError

from wb_dagster.testing.store import Store

if TYPE_CHECKING:
    from wb_dagster.testing.graphql_api import Ctx

_SCHEMA = "CREATE TABLE IF NOT EXISTS run_stop_requests (run_pk INTEGER PRIMARY KEY);"
REWIND_METRIC = "_step"


class StopFlags:
    """Which runs were asked to stop (``stopRun``) and have not been resumed since."""

    def __init__(self, store: Store) -> None:
        self.store = store
        store.conn().executescript(_SCHEMA)

    def request(self, run_pk: int) -> None:
        with self.store.write() as conn:
            conn.execute("INSERT OR IGNORE INTO run_stop_requests(run_pk) VALUES (?)", (run_pk,))

    def clear(self, run_pk: int) -> None:
        with self.store.write() as conn:
            conn.execute("DELETE FROM run_stop_requests WHERE run_pk = ?", (run_pk,))

    def is_stopped(self, run_pk: int) -> bool:
        row = (
            self.store.conn()
            .execute("SELECT 1 FROM run_stop_requests WHERE run_pk = ?", (run_pk,))
            .fetchone()
        )
        return row is not None


def run_control_mutations(
    ctx: Ctx,
    run_by_id: Callable[[Ctx, str], dict[str, Any]],
    run_node: Callable[[Ctx, dict[str, Any]], dict[str, Any]],
) -> dict[str, Any]:
    """The ``stopRun`` and ``rewindRun`` resolvers of the Mutation root (``run_by_id`` finds a
    run by its storage id, ``run_node`` shapes a Run object)."""
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
