"""The demo's last step: the Dagster runs the daemon launched, partitions, files, the UI.

Example:
    >>> RunsLaunched(batches=[4, 2], tables=1, sweeps=1, failed=[], by_sensor=4).total
    4
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import dagster as dg

from wb_dagster.demo.story import Demo

SENSOR_TAG = "dagster/sensor_name"
RUNS_TAG = "wandb/runs"
SWEEP_TAG = "wandb/sweep_id"


def _files_summary(root: Path) -> list[tuple[str, int, int]]:
    rows = []
    for folder in sorted(p for p in root.rglob("*") if p.is_dir() and ".dagster" not in p.parts):
        files = [f for f in folder.iterdir() if f.is_file() and not f.name.startswith(".")]
        if files:
            rows.append(
                (str(folder.relative_to(root)), len(files), sum(f.stat().st_size for f in files))
            )
    top = [f for f in root.iterdir() if f.is_file() and not f.name.startswith(".")]
    if top:
        rows.insert(0, (".", len(top), sum(f.stat().st_size for f in top)))
    return rows


# -- the summary -------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunsLaunched:
    """The instance's Dagster runs by kind: W&B runs per batch, table refreshes, sweeps."""

    batches: list[int]
    tables: int
    sweeps: int
    failed: list[str]
    by_sensor: int

    @property
    def total(self) -> int:
        return len(self.batches) + self.tables + self.sweeps


def runs_launched(instance: dg.DagsterInstance) -> RunsLaunched:
    """Classify every Dagster run by its tags (``wandb/runs``, ``wandb/sweep_id``)."""
    records = sorted(instance.get_run_records(), key=lambda r: r.create_timestamp)
    runs = [r.dagster_run for r in records]
    return RunsLaunched(
        batches=[int(r.tags[RUNS_TAG]) for r in runs if RUNS_TAG in r.tags],
        tables=sum(RUNS_TAG not in r.tags and SWEEP_TAG not in r.tags for r in runs),
        sweeps=sum(SWEEP_TAG in r.tags for r in runs),
        failed=[r.run_id for r in runs if r.status == dg.DagsterRunStatus.FAILURE],
        by_sensor=sum(SENSOR_TAG in r.tags for r in runs),
    )


def summary(demo: Demo, ended: int, keep_ui: bool) -> RunsLaunched:
    """Step 4: print the Dagster runs, partitions, files and the UI address."""
    say, keys, instance = demo.say, demo.keys, demo.instance
    launched = runs_launched(instance)
    partitions = instance.get_materialized_partitions(keys.history)
    sweeps = instance.get_materialized_partitions(keys.sweep)
    say()
    say.step("[4/4] summary")
    say(
        f"  Dagster runs   {launched.total} launched by the daemon ({launched.by_sensor} by the "
        f"sensors), {len(launched.failed)} failed"
    )
    say(
        f"    per-run      {len(launched.batches)} runs storing "
        f"{' + '.join(map(str, launched.batches)) or '0'} = {sum(launched.batches)} W&B runs "
        f"({keys.history.path[-1]} + {keys.system.path[-1]})"
    )
    say(f"    run table    {launched.tables} refreshes of {keys.runs.to_user_string()}")
    say(f"    sweeps       {launched.sweeps} runs of {keys.sweep.to_user_string()}")
    for run_id in launched.failed:
        say(f"    FAILED       {demo.dagster.url}/runs/{run_id}")
    say(f"  partitions     {len(partitions)} runs (of {ended} ended), {len(sweeps)} sweeps")
    say(f"  storage        {demo.root}")
    for rel, count, size in _files_summary(demo.root):
        say(f"    {rel + '/':<36} {count:>3} files {size / 1e6:8.2f} MB")
    history_dir = demo.root.joinpath(*keys.history.path)
    say(f"  read it        pandas.read_parquet('{history_dir}')")
    later = "stays up" if keep_ui else "stops now; --keep-ui keeps it up"
    say(f"  Dagster UI     {demo.dagster.url}  ({later}; instance {demo.dagster.home})")
    return launched
