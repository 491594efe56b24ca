"""Run sensors soaked under the real ``dagster-daemon`` while W&B runs log, finish, crash,
resume and are rewound.

Twelve projects, one run sensor each (all in one definitions file, ticking in parallel on the
daemon's sensor threads; one sensor ticks at most every 5 s, so 100 ticks of a single sensor
would take over 8 minutes). While the daemon runs, the test mutates the server with its seed
API in rounds a few seconds apart: runs are created and log rows, end ``finished`` /
``crashed`` / ``failed`` / ``killed``, are resumed and log more, or are rewound and re-logged.
The test keeps a model of every run: its rows and how many times it entered a terminal state
(each a new fingerprint the sensor may see).

Then every run is ended, and once each sensor has ticked after the last change and no Dagster
run is pending, the instance is read back:

* >= 100 sensor ticks in total (counted from the instance's tick records, before the stop), none
  failed (except a sensor's last tick started as the daemon was stopped, which fails on the
  closed code location: Dagster's shutdown race, see ``harness.failed_ticks``);
* nothing lost: every Dagster run succeeded, every run's partition is materialized, and every
  stored history equals, row for row, what the test logged (so the final version of every run
  was stored);
* nothing duplicated: run keys unique; each partition materialized exactly once per Dagster
  run covering it, and covered at most once per terminal version the run had (a version is
  never requested twice); no duplicate ``_step`` in any stored history.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg
import pyarrow.parquet as pq
import pytest

from wb_dagster.dagster_process import DagsterProcess, wait_until
from wb_dagster.testing import LocalWandbServer

from . import harness as h

PROJECTS = [f"soak{i}" for i in range(12)]
MIN_TICKS = 100
SEED = 20261201
TERMINAL = ("finished", "crashed", "failed", "killed")
MAX_RUNS = 8  # runs per project
ROUND_EVERY_S = 5.0  # a mutation round about every tick
BATCH = 100


@dataclass
class ModelRun:
    """What the test did to one run (the oracle)."""

    state: str = "running"
    rows: list[dict[str, Any]] = field(default_factory=list)
    terminal_versions: int = 0


@dataclass
class World:
    """The runs of every project and the random changes applied to them."""

    srv: LocalWandbServer
    rng: random.Random
    runs: dict[str, dict[str, ModelRun]] = field(default_factory=dict)
    clock: float = 1.7e9  # the wall clock rows are logged at (every SDK row has _timestamp)
    ops: Counter[str] = field(default_factory=Counter)
    ends: Counter[str] = field(default_factory=Counter)  # terminal states entered

    def path(self, project: str, run_id: str) -> str:
        return f"{h.ENTITY}/{project}/{run_id}"

    def log(self, project: str, run_id: str, n: int) -> None:
        model = self.runs[project][run_id]
        start = len(model.rows)
        new = []
        for i in range(n):
            self.clock += 1.0
            new.append({"_step": start + i, "_timestamp": self.clock, "loss": self.rng.random()})
        self.srv.seed.append_history(self.path(project, run_id), new)
        model.rows += new

    def end(self, project: str, run_id: str, state: str | None = None) -> None:
        model = self.runs[project][run_id]
        model.state = state or self.rng.choice(TERMINAL)
        self.ends[model.state] += 1
        self.srv.seed.finish_run(self.path(project, run_id), state=model.state)
        model.terminal_versions += 1

    def mutate(self, project: str, op: str | None = None) -> None:
        """One change to ``project``: ``op``, or a random one that applies."""
        rng, runs = self.rng, self.runs.setdefault(project, {})
        running = sorted(r for r, m in runs.items() if m.state == "running")
        ended = sorted(r for r, m in runs.items() if m.state != "running")
        if op is None:
            choices = ["create"] if len(runs) < MAX_RUNS else []
            choices += ["log", "end", "end"] if running else []
            choices += ["resume", "rewind"] if ended else []
            op = rng.choice(choices)
        self.ops[op] += 1
        if op in ("create", "create_running"):
            run_id = f"r{len(runs):03d}"
            self.srv.seed.create_run(f"{h.ENTITY}/{project}", run_id, config={"i": len(runs)})
            runs[run_id] = ModelRun()
            self.log(project, run_id, rng.randint(1, 6))
            if op == "create" and rng.random() < 0.5:
                self.end(project, run_id)
            return
        run_id = rng.choice(running if op in ("log", "end") else ended)
        path = self.path(project, run_id)
        if op == "log":
            self.log(project, run_id, rng.randint(1, 4))
        elif op == "end":
            self.end(project, run_id)
        elif op == "resume":
            self.srv.seed.resume_run(path)
            runs[run_id].state = "running"
            self.log(project, run_id, rng.randint(1, 3))
        elif op == "rewind":
            model = runs[run_id]
            keep = rng.randint(0, max(0, len(model.rows) - 1))
            self.srv.seed.resume_run(path)
            self.srv.seed.rewind_run(path, keep)
            model.rows = model.rows[:keep]
            self.log(project, run_id, rng.randint(1, 3))
            self.end(project, run_id)

    def end_all(self) -> None:
        for project, runs in self.runs.items():
            for run_id, model in sorted(runs.items()):
                if model.state == "running":
                    self.end(project, run_id, "crashed" if self.rng.random() < 0.5 else None)


def ticks_by_sensor(instance: dg.DagsterInstance) -> dict[str, list[Any]]:
    return {p: h.sensor_ticks(instance, h.sensor_name(p)) for p in PROJECTS}


@pytest.mark.timeout(1000)  # up to 240 s of changes, 120 s to settle, 480 s to drain the queue
def test_run_sensors_soak_under_the_real_daemon(tmp_path: Path) -> None:
    started = time.monotonic()
    rng = random.Random(SEED)
    storage = tmp_path / "storage"
    home = h.new_home(tmp_path)
    defs_py = h.write_defs(tmp_path)
    daemon: DagsterProcess | None = None
    instance: dg.DagsterInstance | None = None
    with LocalWandbServer(seed=None) as srv:
        srv.seed.viewer(h.ENTITY)
        for project in PROJECTS:
            srv.seed.project(f"{h.ENTITY}/{project}")
        world = World(srv, rng)
        env = h.dagster_env(
            srv, projects=PROJECTS, storage=storage, batch_size=BATCH, max_runs_per_tick=500
        )
        try:
            instance = h.open_instance(home)
            daemon = DagsterProcess.daemon(
                home, ["-f", str(defs_py)], env=env, log=tmp_path / "daemon.log"
            ).start()
            daemon.wait_ready(timeout_s=60)

            def total_ticks() -> int:
                assert daemon is not None and instance is not None
                daemon._check_alive()
                h.check_log(daemon.log_path)
                return sum(len(t) for t in ticks_by_sensor(instance).values())

            # the first round does every kind of change once, on the first project
            for op in ("create_running", "log", "end", "resume", "log", "end", "rewind"):
                world.mutate(PROJECTS[0], op)
            # rounds of random changes while the sensors tick, until most of the ticks are done
            deadline = time.monotonic() + 240
            rounds = 1
            while total_ticks() < MIN_TICKS - 2 * len(PROJECTS):
                assert time.monotonic() < deadline, f"only {total_ticks()} ticks"
                for project in rng.sample(PROJECTS, k=rng.randint(2, 4)):
                    for _ in range(rng.randint(1, 3)):
                        world.mutate(project)
                rounds += 1
                h.pause(ROUND_EVERY_S * rng.uniform(0.5, 1.5))
            world.end_all()
            last_change = time.time()
            mutated_s = time.monotonic() - started

            def settled() -> bool:
                assert instance is not None
                total_ticks()  # fails fast on a dead daemon
                ticks = ticks_by_sensor(instance)
                after = all(
                    any(t.timestamp > last_change and t.status.value != "STARTED" for t in ts)
                    for ts in ticks.values()
                )
                return after and sum(map(len, ticks.values())) >= MIN_TICKS

            wait_until("every sensor to tick after the last change", settled, 120)
            settled_s = time.monotonic() - started
            wait_until("no Dagster run pending", lambda: not h.in_progress(instance), 480)
            drained_s = time.monotonic() - started
        finally:
            stopped_at = time.time()
            if daemon is not None:
                daemon.stop()
        assert instance is not None
        try:
            ticks = ticks_by_sensor(instance)
            records = h.run_records(instance)
            orders = {
                p: list(instance.get_dynamic_partitions(h.partitions_name(p))) for p in PROJECTS
            }
            counts = {
                p: (
                    h.materialization_counts(instance, h.asset_key(p, "run_history"), orders[p]),
                    h.materialization_counts(
                        instance, h.asset_key(p, "run_system_metrics"), orders[p]
                    ),
                )
                for p in PROJECTS
            }
        finally:
            instance.dispose()
    elapsed = time.monotonic() - started

    all_ticks = [t for ts in ticks.values() for t in ts]
    tick_statuses = Counter(t.status.value for t in all_ticks)
    # >= 100 real ticks before the stop, none failed, every sensor ticked
    assert len([t for t in all_ticks if t.timestamp < stopped_at]) >= MIN_TICKS, tick_statuses
    failed = [t for ts in ticks.values() for t in h.failed_ticks(ts, stopped_at)]
    assert not failed, [t.error for t in failed][:3]
    assert all(len(ts) >= 8 for ts in ticks.values()), {p: len(t) for p, t in ticks.items()}
    # every Dagster run succeeded; run keys unique
    statuses = Counter(r.dagster_run.status.value for r in records)
    assert set(statuses) == {"SUCCESS"}, statuses
    run_keys = [r.dagster_run.tags.get("dagster/run_key", "") for r in records]
    assert "" not in run_keys and len(set(run_keys)) == len(run_keys)
    # ... and no sensor asked twice for a run key (Dagster would have dropped the second ask)
    asked = h.requested_run_keys(all_ticks)
    assert sorted(asked) == sorted(run_keys) and set(asked.values()) == {1}, asked.most_common(3)
    assert not h.skipped_requests(all_ticks)
    by_project: dict[str, list[dg.RunRecord]] = {p: [] for p in PROJECTS}
    for record in records:
        by_project[h.project_of(record, PROJECTS)].append(record)
    materializations = 0
    for project in PROJECTS:
        runs = world.runs.get(project, {})
        assert sorted(orders[project]) == sorted(runs), project  # a partition per run, no other
        covered = Counter(
            p for r in by_project[project] for p in h.partitions_of(r, orders[project])
        )
        history_counts, system_counts = counts[project]
        for run_id, model in runs.items():
            where = f"{project}/{run_id}"
            assert model.state in TERMINAL, where
            # each requesting Dagster run stored the run once; no version requested twice
            assert 1 <= covered[run_id] <= model.terminal_versions, (where, covered[run_id], model)
            assert history_counts[run_id] == covered[run_id], where
            assert system_counts[run_id] == covered[run_id], where
            materializations += history_counts[run_id]
            # the final version is what is stored, row for row, no duplicate step
            table = pq.read_table(
                storage / "wandb" / h.ENTITY / project / "run_history" / f"{run_id}.parquet"
            )
            stored = table.select(["_step", "_timestamp", "loss"]).to_pylist()
            assert stored == model.rows, where
            steps = table.column("_step").to_pylist()
            assert len(set(steps)) == len(steps), where
    assert h.leftover_files(storage) == []
    assert {"create", "log", "end", "resume", "rewind"} <= set(world.ops), world.ops
    assert set(TERMINAL) <= set(world.ends), world.ends
    print(
        f"daemon soak: {len(all_ticks)} ticks ({dict(tick_statuses)}) over {len(PROJECTS)} "
        f"sensors, {rounds} rounds of changes {dict(world.ops)}, ends {dict(world.ends)}, "
        f"{sum(len(r) for r in world.runs.values())} W&B runs, {len(records)} Dagster runs, "
        f"{materializations} history materializations; changes until {mutated_s:.0f} s, "
        f"settled {settled_s:.0f} s, drained {drained_s:.0f} s, total {elapsed:.1f} s"
    )
