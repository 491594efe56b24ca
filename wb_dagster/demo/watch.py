"""Watching Dagster's daemon: poll the instance until a phase's goal is reached, printing news.

Example:
    >>> _table_line({"dagster/row_count": 3, "wandb/finished_runs": 2, "wandb/running_runs": 1,
    ...              "wandb/refresh_mode": "full"})
    '      runs table refreshed: 3 rows (2 finished, 1 running, full)'
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import dagster as dg

from wb_dagster.dagster_process import DagsterProcess, wait_until
from wb_dagster.demo.printer import Printer, progress_bar
from wb_dagster.demo.progress import DemoKeys, Goal, Marks, Snapshot, latest_metadata, snapshot

WAIT_S = 120.0
POLL_S = 0.5
TABLE_FIELDS = ("dagster/row_count", "wandb/finished_runs", "wandb/running_runs")
TICKS_QUERY = """
{ repositoriesOrError { ... on RepositoryConnection { nodes { sensors {
    name sensorState { ticks(limit: 1) { status timestamp skipReason runIds } } } } } } }
"""
TICK_WAIT_S = 30.0


class DemoError(RuntimeError):
    """Something the demo waited for did not happen (the message says what)."""


# -- watching the daemon -----------------------------------------------------------------------


def _history_line(instance: dg.DagsterInstance, keys: DemoKeys, run_id: str) -> str:
    hist = latest_metadata(instance, keys.history, run_id)
    system = latest_metadata(instance, keys.system, run_id)
    return (
        f"      {run_id}: history {hist.get('rows')} rows (steps {hist.get('min_step')}-"
        f"{hist.get('max_step')}, {hist.get('mode')}, {hist.get('source')}), "
        f"system metrics {system.get('rows')} rows"
    )


def _sweep_line(instance: dg.DagsterInstance, keys: DemoKeys, sweep_id: str) -> str:
    best = latest_metadata(instance, keys.sweep, sweep_id)
    return (
        f"      sweep {sweep_id}: best run {best.get('best_run')} "
        f"({best.get('metric')}={best.get('value')}), {best.get('size')} bytes"
    )


def _table_line(table: dict[str, Any]) -> str:
    return (
        f"      runs table refreshed: {table.get('dagster/row_count')} rows "
        f"({table.get('wandb/finished_runs')} finished, {table.get('wandb/running_runs')} "
        f"running, {table.get('wandb/refresh_mode')})"
    )


@dataclass
class _Shown:
    """What a watch has printed already (so each poll prints only news)."""

    items: set[str] = field(default_factory=set)
    progress: tuple[int, int] | None = None
    table: tuple[Any, ...] | None = None


def _print_news(
    say: Printer,
    instance: dg.DagsterInstance,
    keys: DemoKeys,
    goal: Goal,
    snap: Snapshot,
    shown: _Shown,
) -> None:
    for run_id in sorted((snap.partitions & goal.runs) - shown.items):
        say(_history_line(instance, keys, run_id))
        shown.items.add(run_id)
    for sweep_id in sorted((snap.sweeps & goal.sweeps) - shown.items):
        say(_sweep_line(instance, keys, sweep_id))
        shown.items.add(sweep_id)
    if goal.table_rows is not None and snap.table is not None:
        table = tuple(snap.table.get(k) for k in TABLE_FIELDS)
        if table != shown.table:
            say(_table_line(snap.table))
            shown.table = table
    done = len(snap.partitions & goal.runs)
    if goal.runs and (done, snap.launched) != shown.progress:
        say.step(
            f"  {progress_bar(done, len(goal.runs))} {done}/{len(goal.runs)} partitions "
            f"materialized, {snap.launched} Dagster runs launched ({snap.in_progress} queued "
            "or running)"
        )
        shown.progress = (done, snap.launched)


def watch(
    say: Printer,
    dagster: DagsterProcess,
    keys: DemoKeys,
    goal: Goal,
    marks: Marks,
    what: str,
    timeout_s: float = WAIT_S,
) -> Snapshot:
    """Poll the instance until the daemon reached ``goal`` (or a Dagster run failed).

    Prints each new partition and a progress line; ``DemoError`` naming ``what`` and what is
    missing after ``timeout_s``.
    """
    shown = _Shown()
    last: list[Snapshot] = []

    def check() -> Snapshot | None:
        if dagster.proc is not None and dagster.proc.poll() is not None:
            raise DemoError(f"dagster dev exited with {dagster.proc.returncode} while {what}")
        snap = snapshot(dagster.instance(), keys, marks)
        last[:] = [snap]
        _print_news(say, dagster.instance(), keys, goal, snap, shown)
        stuck = snap.failed > 0 and snap.in_progress == 0
        return snap if goal.reached(snap) or stuck else None

    try:
        return wait_until(what, check, timeout_s, every_s=POLL_S)
    except TimeoutError:
        snap = last[0] if last else None
        raise DemoError(
            f"the daemon did not finish {what} within {timeout_s:.0f}s; missing: "
            f"{goal.missing(snap)}"
        ) from None


def latest_ticks(dagster: DagsterProcess) -> dict[str, dict[str, Any]]:
    """The newest tick of each sensor (status, timestamp, skipReason, runIds), via GraphQL."""
    nodes = dagster.graphql(TICKS_QUERY)["repositoriesOrError"].get("nodes") or []
    return {
        sensor["name"]: sensor["sensorState"]["ticks"][0]
        for node in nodes
        for sensor in node["sensors"]
        if sensor["sensorState"]["ticks"]
    }


def next_tick(dagster: DagsterProcess, sensor: str, after: float) -> dict[str, Any]:
    """Wait for a finished tick of ``sensor`` that started after ``after`` (epoch seconds)."""

    def check() -> dict[str, Any] | None:
        try:
            tick = latest_ticks(dagster).get(sensor)
        except OSError:  # a busy webserver (requests' errors are OSErrors): ask again
            return None
        done = tick is not None and tick["timestamp"] > after and tick["status"] != "STARTED"
        return tick if done else None

    return wait_until(f"a new tick of {sensor}", check, TICK_WAIT_S, every_s=POLL_S)
