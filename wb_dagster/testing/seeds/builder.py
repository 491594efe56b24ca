"""``SeedBuilder``: the Python API to put data into a local server (and change it later).

Runs are addressed by a :class:`RunRef` or a path string ``"entity/project/run_id"``. Every
mutation bumps the run's ``heartbeatAt`` (strictly increasing across the server), so sensors
that watch ``heartbeatAt`` see each change.

History lifecycle (see :mod:`wb_dagster.testing.store.history`): rows appended to a running run
are *live*; :meth:`SeedBuilder.finish_run` exports them to a parquet part; :meth:`resume_run`
makes the run ``running`` again and new rows are live again; :meth:`rewind_run` truncates.

Example:
    >>> from wb_dagster.testing import LocalWandbServer
    >>> with LocalWandbServer(seed=None) as srv:
    ...     seed = srv.seed
    ...     run = seed.create_run("me/proj", "run1", config={"lr": 0.1}, tags=["a"])
    ...     seed.append_history(run, [{"loss": 1.0}, {"loss": 0.5}])   # live steps 0, 1
    ...     seed.finish_run(run)                  # state finished, history exported to parquet
    ...     seed.resume_run(run)                  # running again
    ...     seed.append_history(run, [{"loss": 0.25}])                 # live step 2
    ...     seed.rewind_run(run, 1)               # keeps step 0 only
    ...     seed.set_state(run, "crashed")
    ...     _ = seed.add_file(run, "notes.txt", b"hi")
    ...     seed.delete_run(run)
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pyarrow as pa
import yaml

from wb_dagster.testing.store.backend import Backend
from wb_dagster.testing.store.database import format_time, parse_time
from wb_dagster.testing.store.files import FileRecord
from wb_dagster.testing.store.run_deletion import delete_run_everywhere
from wb_dagster.testing.store.runs import RUN_STATES


@dataclass(frozen=True)
class RunRef:
    """A run's address on the server (``path`` = ``"entity/project/run_id"``).

    Example:
        >>> RunRef(entity="me", project="proj", run_id="r1", pk=1).path
        'me/proj/r1'
    """

    entity: str
    project: str
    run_id: str
    pk: int

    @property
    def path(self) -> str:
        return f"{self.entity}/{self.project}/{self.run_id}"


def _time(value: str | datetime | None) -> str | None:
    if value is None:
        return None
    return format_time(value) if isinstance(value, datetime) else parse_time(value)


class SeedBuilder:
    """Create and mutate entities, projects, runs (config, summary, history, system metrics,
    files) and sweeps on a server's store.

    Example:
        >>> from wb_dagster.testing import LocalWandbServer
        >>> with LocalWandbServer(seed=None) as srv:
        ...     run = srv.seed.create_run("me/proj", "r1", config={"lr": 0.1})
        ...     srv.seed.append_history(run, [{"loss": 1.0}, {"loss": 0.5}])
        ...     srv.seed.finish_run(run)
        ...     run.path, srv.projects
        ('me/proj/r1', ['me/proj'])
    """

    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    # ------------------------------------------------------------ addressing
    def _split_project(self, project: str) -> tuple[str, str]:
        if "/" in project:
            entity, name = project.split("/", 1)
            return entity, name
        return self.backend.default_entity, project

    def run_ref(self, run: RunRef | str) -> RunRef:
        """Resolve ``"entity/project/run_id"`` (or a RunRef) to the current run."""
        if isinstance(run, RunRef):
            entity, project, run_id = run.entity, run.project, run.run_id
        else:
            parts = run.split("/")
            if len(parts) != 3:
                raise ValueError(f"run path {run!r} must look like 'entity/project/run_id'")
            entity, project, run_id = parts
        row = self.backend.runs.get_run(entity, project, run_id)
        if row is None:
            raise KeyError(f"run {entity}/{project}/{run_id} does not exist on this server")
        return RunRef(entity, project, run_id, int(row["pk"]))

    # ------------------------------------------------------------ accounts and projects
    def viewer(
        self,
        username: str,
        default_entity: str | None = None,
        name: str | None = None,
        email: str | None = None,
    ) -> None:
        """Set the account the server's API key belongs to (``viewer``) and its default entity."""
        self.backend.set_viewer(username, default_entity or username, name, email)

    def user(self, username: str, name: str | None = None, email: str | None = None) -> None:
        """Create or update a user (run authors)."""
        self.backend.runs.ensure_user(username, name, email)

    def project(self, path: str, created_at: str | datetime | None = None) -> None:
        """Create ``"entity/project"`` (no-op if it exists)."""
        entity, name = self._split_project(path)
        self.backend.runs.ensure_project(entity, name, _time(created_at))

    # ------------------------------------------------------------ runs
    def create_run(
        self,
        project: str,
        run_id: str,
        *,
        display_name: str | None = None,
        state: str = "running",
        config: Mapping[str, Any] | None = None,
        summary: Mapping[str, Any] | None = None,
        tags: Sequence[str] = (),
        group: str | None = None,
        job_type: str | None = None,
        sweep: str | None = None,
        commit: str | None = None,
        username: str | None = None,
        host: str | None = None,
        program: str | None = None,
        notes: str | None = None,
        description: str | None = None,
        created_at: str | datetime | None = None,
        heartbeat_at: str | datetime | None = None,
    ) -> RunRef:
        """Create a run in ``"entity/project"`` (or ``project`` of the default entity).

        ``config`` is given plain (``{"lr": 0.1}``) and stored wrapped as W&B does.

        >>> # seed.create_run("wb-demo/cifar", "abc123", config={"lr": 0.1}, state="running")
        """
        if state not in RUN_STATES:
            raise ValueError(f"unknown run state {state!r}; one of {', '.join(RUN_STATES)}")
        entity, name = self._split_project(project)
        if self.backend.runs.get_run(entity, name, run_id) is not None:
            raise ValueError(f"run {entity}/{name}/{run_id} already exists")
        fields: dict[str, Any] = {
            "display_name": display_name or run_id,
            "state": state,
            "config": dict(config or {}),
            "summary": json.dumps(dict(summary or {})),
            "tags": list(tags),
            "group": group,
            "job_type": job_type,
            "sweep": sweep,
            "commit": commit,
            "username": username or self.backend.viewer_username,
            "host": host,
            "program": program,
            "notes": notes,
            "description": description,
            "heartbeat_at": _time(heartbeat_at),
        }
        pk = self.backend.runs.upsert_run(
            entity, name, run_id, fields, created_at=_time(created_at)
        )
        return RunRef(entity, name, run_id, pk)

    def update_run(self, run: RunRef | str, **fields: Any) -> None:
        """Change run fields (``config`` and ``summary`` replace), e.g. ``notes="x"``."""
        ref = self.run_ref(run)
        if "summary" in fields and not isinstance(fields["summary"], str):
            fields["summary"] = json.dumps(fields["summary"])
        if "heartbeat_at" in fields:
            fields["heartbeat_at"] = _time(fields["heartbeat_at"])
        self.backend.runs.update_run(ref.pk, fields)

    def set_summary(self, run: RunRef | str, summary: Mapping[str, Any]) -> None:
        """Replace the run's summary."""
        self.update_run(run, summary=dict(summary))

    def set_state(self, run: RunRef | str, state: str) -> None:
        """Set the state (``running``, ``finished``, ``crashed``, ``failed``, ...)."""
        if state not in RUN_STATES:
            raise ValueError(f"unknown run state {state!r}; one of {', '.join(RUN_STATES)}")
        self.update_run(run, state=state)

    def append_history(
        self, run: RunRef | str, rows: Sequence[Mapping[str, Any]] | pa.Table
    ) -> None:
        """Append live (not yet exported) history rows; rows without ``_step`` get the next step.

        An Arrow table (with an int64 ``_step`` column) is written columnar, which is how big
        histories are seeded quickly.
        """
        ref = self.run_ref(run)
        if isinstance(rows, pa.Table):
            self.backend.history.append_table(ref.pk, rows, exported=False)
        else:
            self.backend.history.append_rows(ref.pk, [dict(r) for r in rows])
        self.backend.runs.touch(ref.pk)

    def add_exported_history(self, run: RunRef | str, table: pa.Table) -> None:
        """Write a block of history straight into an exported parquet part (fast seeding)."""
        ref = self.run_ref(run)
        self.backend.history.append_table(ref.pk, table, exported=True)
        self.backend.runs.touch(ref.pk)

    def export_history(self, run: RunRef | str) -> None:
        """Export the run's live rows to a new parquet part without changing its state."""
        ref = self.run_ref(run)
        self.backend.history.export_live(ref.pk)
        self.backend.runs.touch(ref.pk)

    def finish_run(
        self, run: RunRef | str, state: str = "finished", *, export: bool = True
    ) -> None:
        """End the run (``finished`` by default) and export its live history to parquet."""
        ref = self.run_ref(run)
        if export:
            self.backend.history.export_live(ref.pk)
        self.set_state(ref, state)

    def resume_run(self, run: RunRef | str) -> None:
        """Make the run ``running`` again; later :meth:`append_history` rows are live."""
        self.set_state(run, "running")

    def rewind_run(self, run: RunRef | str, step: int) -> None:
        """Truncate history at ``step`` (rows with ``_step >= step`` are dropped)."""
        ref = self.run_ref(run)
        self.backend.history.truncate(ref.pk, step)
        self.backend.runs.touch(ref.pk)

    def delete_run(self, run: RunRef | str) -> None:
        """Delete the run with its history, events and files."""
        ref = self.run_ref(run)
        delete_run_everywhere(self.backend, ref.pk)

    def log_system_metrics(self, run: RunRef | str, rows: Sequence[Mapping[str, Any]]) -> None:
        """Append system-metric event rows (``system.*`` keys, ``_runtime``, ``_timestamp``)."""
        ref = self.run_ref(run)
        self.backend.runs.append_events(ref.pk, [dict(r) for r in rows])

    def add_file(self, run: RunRef | str, name: str, data: bytes | str) -> FileRecord:
        """Create or replace a run file (``name`` may contain ``/``)."""
        ref = self.run_ref(run)
        record = self.backend.files.put(
            ref.pk, name, data.encode() if isinstance(data, str) else data
        )
        self.backend.runs.touch(ref.pk)
        return record

    # ------------------------------------------------------------ sweeps
    def create_sweep(
        self,
        project: str,
        sweep_id: str,
        config: Mapping[str, Any] | str,
        *,
        state: str = "RUNNING",
        display_name: str | None = None,
        description: str | None = None,
        run_count_expected: int | None = None,
        created_at: str | datetime | None = None,
    ) -> None:
        """Create or update a sweep; ``config`` is a dict (stored as YAML) or YAML text."""
        entity, name = self._split_project(project)
        text = config if isinstance(config, str) else yaml.safe_dump(dict(config), sort_keys=True)
        parsed = yaml.safe_load(text) or {}
        self.backend.runs.upsert_sweep(
            entity,
            name,
            sweep_id,
            {
                "display_name": display_name or parsed.get("name"),
                "method": parsed.get("method"),
                "state": state,
                "description": description,
                "config": text,
                "created_at": _time(created_at),
                "updated_at": _time(created_at),
                "run_count_expected": run_count_expected,
            },
        )
