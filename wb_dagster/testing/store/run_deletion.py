"""Deleting a run from every store that holds a part of it (``deleteRun``, churn, seeding),
and with ``deleteArtifacts`` the artifact versions it logged.

Example:
    >>> import tempfile, pathlib
    >>> from wb_dagster.testing.store.backend import Backend
    >>> backend = Backend.open(pathlib.Path(tempfile.mkdtemp()), api_key="k" * 40)
    >>> pk = backend.runs.upsert_run("ent", "proj", "r1", {"state": "running"})
    >>> delete_run_everywhere(backend, pk); backend.runs.get_run("ent", "proj", "r1") is None
    True
    >>> backend.close()
"""

from __future__ import annotations

from wb_dagster.testing.store.backend import Backend


def delete_run_everywhere(backend: Backend, run_pk: int, delete_artifacts: bool = False) -> None:
    """Delete a run with its history parts, live rows, events and file blobs; with
    ``delete_artifacts`` (``deleteRun(input: {deleteArtifacts: true})``) also every artifact
    version it logged, aliases and all, as W&B does (without it they stay)."""
    if delete_artifacts:
        for art in backend.artifacts.output_of(run_pk):
            backend.artifacts.delete(art["pk"], delete_aliases=True)
    backend.history.delete_run(run_pk)
    backend.files.delete_run(run_pk)
    backend.console.delete_run(run_pk)
    backend.stops.clear(run_pk)
    backend.runs.delete_run_rows(run_pk)
