"""How far the demo got: what the W&B project and the Dagster instance hold, and what a phase
of the demo waits for.

Example:
    >>> s = Snapshot(frozenset({"a"}), frozenset(), {"dagster/row_count": 1}, 2, 0, 0)
    >>> Goal(runs=frozenset({"a"}), table_rows=1).reached(s)
    True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import dagster as dg

from wb_dagster.assets.runs_table import TERMINAL_STATES
from wb_dagster.client import WandbClient
from wb_dagster.project import WandbProjectAssetsSpec
from wb_dagster.sensors.sweeps import FINISHED_SWEEP_STATES

IN_PROGRESS = frozenset(
    {
        dg.DagsterRunStatus.QUEUED,
        dg.DagsterRunStatus.NOT_STARTED,
        dg.DagsterRunStatus.STARTING,
        dg.DagsterRunStatus.STARTED,
        dg.DagsterRunStatus.CANCELING,
    }
)


@dataclass(frozen=True)
class ServerState:
    """Run and sweep ids of the W&B project: all runs, ended runs, finished sweeps, running runs."""

    runs: frozenset[str]
    ended: frozenset[str]
    sweeps: frozenset[str]
    running: frozenset[str] = frozenset()


def server_state(client: WandbClient, path: str) -> ServerState:
    """List ``path`` (``entity/project``) once: every run, the ended ones, finished sweeps."""
    runs = {str(r.id): str(r.state or "") for r in client.runs(path, per_page=200)}
    sweeps = {
        str(s.id) for s in client.sweeps(path) if str(s.state).lower() in FINISHED_SWEEP_STATES
    }
    ended = {run_id for run_id, state in runs.items() if state in TERMINAL_STATES}
    running = {run_id for run_id, state in runs.items() if state == "running"}
    return ServerState(frozenset(runs), frozenset(ended), frozenset(sweeps), frozenset(running))


@dataclass(frozen=True)
class DemoKeys:
    """The asset keys the demo watches, and the run sensor's name."""

    runs: dg.AssetKey
    history: dg.AssetKey
    system: dg.AssetKey
    sweep: dg.AssetKey
    run_sensor: str

    @classmethod
    def of(cls, entity: str, project: str) -> DemoKeys:
        """Keys of ``entity/project`` with the default translator.

        Example:
            >>> DemoKeys.of("wb-demo", "cifar").history.to_user_string()
            'wandb/wb-demo/cifar/run_history'
        """
        p = WandbProjectAssetsSpec.build(entity=entity, project=project)
        return cls(
            runs=p.key("runs"),
            history=p.key("run_history"),
            system=p.key("run_system_metrics"),
            sweep=p.key("sweep_best_model"),
            run_sensor=f"wandb_{p.name}__run_sensor",
        )


def latest_storage_id(instance: dg.DagsterInstance, key: dg.AssetKey) -> int:
    """Storage id of the newest materialization of ``key`` (0 when there is none)."""
    records = instance.fetch_materializations(dg.AssetRecordsFilter(asset_key=key), limit=1)
    return records.records[0].storage_id if records.records else 0


def latest_metadata(
    instance: dg.DagsterInstance, key: dg.AssetKey, partition: str | None = None
) -> dict[str, Any]:
    """Metadata values of the newest materialization of ``key`` (one partition if given)."""
    partitions = [partition] if partition is not None else None
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=key, asset_partitions=partitions), limit=1
    ).records
    mat = records[0].asset_materialization if records else None
    return {k: v.value for k, v in mat.metadata.items()} if mat is not None else {}


@dataclass(frozen=True)
class Marks:
    """Storage ids a phase starts from: only materializations after them count."""

    runs: int = 0
    history: int = 0
    sweep: int = 0

    @classmethod
    def now(cls, instance: dg.DagsterInstance, keys: DemoKeys) -> Marks:
        """The newest storage id of each watched asset."""
        return cls(
            runs=latest_storage_id(instance, keys.runs),
            history=latest_storage_id(instance, keys.history),
            sweep=latest_storage_id(instance, keys.sweep),
        )


@dataclass(frozen=True)
class Snapshot:
    """One poll of the instance: what was materialized after the marks, and Dagster runs."""

    partitions: frozenset[str]
    sweeps: frozenset[str]
    table: dict[str, Any] | None
    launched: int
    in_progress: int
    failed: int


def snapshot(instance: dg.DagsterInstance, keys: DemoKeys, marks: Marks) -> Snapshot:
    """Read the instance once (partitions after ``marks``, the newest run table, run counts)."""
    statuses = [r.dagster_run.status for r in instance.get_run_records()]
    fresh_table = latest_storage_id(instance, keys.runs) > marks.runs
    return Snapshot(
        partitions=frozenset(
            instance.get_materialized_partitions(keys.history, after_cursor=marks.history or None)
        ),
        sweeps=frozenset(
            instance.get_materialized_partitions(keys.sweep, after_cursor=marks.sweep or None)
        ),
        table=latest_metadata(instance, keys.runs) if fresh_table else None,
        launched=len(statuses),
        in_progress=sum(s in IN_PROGRESS for s in statuses),
        failed=sum(s == dg.DagsterRunStatus.FAILURE for s in statuses),
    )


@dataclass(frozen=True)
class Goal:
    """What one phase waits for: run partitions, sweep partitions, the run table's row count."""

    runs: frozenset[str] = frozenset()
    sweeps: frozenset[str] = frozenset()
    table_rows: int | None = None

    def table_ok(self, snap: Snapshot) -> bool:
        """The run table was refreshed with the wanted row count (or none is wanted)."""
        if self.table_rows is None:
            return True
        return snap.table is not None and snap.table.get("dagster/row_count") == self.table_rows

    def reached(self, snap: Snapshot) -> bool:
        """Everything materialized and no Dagster run queued or running.

        Example:
            >>> s = Snapshot(frozenset({"a"}), frozenset(), {"dagster/row_count": 1}, 2, 0, 0)
            >>> Goal(runs=frozenset({"a"}), table_rows=1).reached(s)
            True
        """
        done = self.runs <= snap.partitions and self.sweeps <= snap.sweeps
        return done and self.table_ok(snap) and snap.in_progress == 0

    def missing(self, snap: Snapshot | None) -> str:
        """What is still missing, for an error message.

        Example:
            >>> s = Snapshot(frozenset(), frozenset(), None, 1, 1, 0)
            >>> Goal(runs=frozenset({"a"})).missing(s)
            'run_history of a; 1 Dagster runs launched, 1 queued or running, 0 failed'
        """
        if snap is None:
            return "nothing read from the instance yet"
        parts = []
        if runs := sorted(self.runs - snap.partitions):
            parts.append(f"run_history of {', '.join(runs)}")
        if sweeps := sorted(self.sweeps - snap.sweeps):
            parts.append(f"sweep_best_model of {', '.join(sweeps)}")
        if not self.table_ok(snap):
            rows = snap.table.get("dagster/row_count") if snap.table else None
            parts.append(f"the run table with {self.table_rows} rows (newest: {rows})")
        parts.append(
            f"{snap.launched} Dagster runs launched, {snap.in_progress} queued or running, "
            f"{snap.failed} failed"
        )
        return "; ".join(parts)
