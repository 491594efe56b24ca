"""Applies :class:`~wb_dagster.testing.hostility.ChurnRule` s between pages of a run listing.

Example:
    >>> import tempfile, pathlib
    >>> from wb_dagster.testing.store.backend import Backend
    >>> from wb_dagster.testing.hostility import ChurnRule
    >>> backend = Backend.open(pathlib.Path(tempfile.mkdtemp()), api_key="k" * 40)
    >>> pk = backend.runs.ensure_project("e", "p")
    >>> backend.store.churn.add([ChurnRule(project="p", create=2)])
    >>> apply_churn(backend, pk), backend.runs.count_runs(pk)
    (None, 2)
    >>> backend.close()
"""

from __future__ import annotations

from wb_dagster.testing.hostility import ChurnRule
from wb_dagster.testing.store.backend import Backend
from wb_dagster.testing.store.run_deletion import delete_run_everywhere


def _pks(backend: Backend, project_pk: int, state: str | None, order: str, limit: int) -> list[int]:
    where = "" if state is None else "AND state = ?"
    params = [project_pk] + ([] if state is None else [state]) + [limit]
    rows = (
        backend.store.conn()
        .execute(
            f"SELECT pk FROM runs WHERE project_pk = ? {where} ORDER BY {order} LIMIT ?", params
        )
        .fetchall()
    )
    return [int(r[0]) for r in rows]


def _apply(backend: Backend, project_pk: int, project: dict[str, str], rule: ChurnRule) -> None:
    runs = backend.runs
    for pk in _pks(backend, project_pk, rule.state, "created_at, pk", rule.delete):
        delete_run_everywhere(backend, pk)
    for pk in _pks(backend, project_pk, rule.state, "heartbeat_at, pk", rule.heartbeat):
        runs.touch(pk)
    for pk in _pks(backend, project_pk, "running", "created_at, pk", rule.finish):
        runs.update_run(pk, {"state": "finished"})
    for _ in range(rule.create):
        name = backend.store.churn.next_name()
        fields = {"state": rule.create_state, "username": backend.viewer_username}
        runs.upsert_run(project["entity"], project["name"], name, fields)


def apply_churn(backend: Backend, project_pk: int) -> None:
    """Run the churn rules due after a page of ``project_pk``'s run listing (usually none)."""
    churn = backend.store.churn
    if not churn.rules:
        return
    project = backend.runs.get_project_by_pk(project_pk)
    if project is None:
        return
    with churn.lock:  # one page's churn at a time, in rule order
        for rule in churn.due(project["name"]):
            _apply(backend, project_pk, project, rule)
