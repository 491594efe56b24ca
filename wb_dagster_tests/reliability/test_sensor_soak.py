"""Issue 7, item 2: sensor soak against a server whose runs change at random, with random faults.

A seeded loop of >= 300 sensor ticks. Between ticks runs are created, log, finish / crash /
fail / are killed, resume, rewind and are deleted at random (SeedBuilder), and ~15% of the
requests fail (5xx, 429, resets, cut bodies, malformed JSON; now and then a GraphQL error fails
a whole tick). Every requested run is materialized for real (``run_history`` +
``run_system_metrics``) with the sensor's run key, as the daemon would.

The oracle is the test's own model of the server: each mutation gives the run a new *version*.
After every successful tick, every run that is terminal now has had its current version
requested exactly once (none lost, no lag), nothing else was requested (no duplicate partition
run, no running or deleted run), and the cursor stays small. At the end every terminal run's
stored history equals the rows the test logged.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from wb_dagster.client import CommError
from wb_dagster.testing import LocalWandbServer
from wb_dagster_tests.inprocess import assets_of, evaluate_sensor

from .demo_assets import KEY_ENV, QUIET, fast_resource
from .snapshots import parquet_rows

TICKS = 300
SEED = 20260701
PROJECT = "soak/proj"
TERMINAL = ("finished", "crashed", "failed", "killed")
MAX_ALIVE = 14
FAULT_KINDS: list[dict[str, Any]] = [
    {"status": 500},
    {"status": 503},
    {"status": 429, "headers": {"Retry-After": "0"}},
    {"action": "reset"},
    {"action": "truncate"},
]
SENSOR = "wandb_soak__proj__run_sensor"
PARTITIONS = "wandb_runs__soak__proj"
HISTORY = dg.AssetKey(["wandb", "soak", "proj", "run_history"])
PER_RUN = [HISTORY, dg.AssetKey(["wandb", "soak", "proj", "run_system_metrics"])]


@dataclass
class ModelRun:
    """What the test did to one run (the oracle)."""

    state: str = "running"
    rows: list[dict[str, Any]] = field(default_factory=list)
    version: int = 0
    deleted: bool = False


class World:
    """The runs of the soak project and the random mutations applied to them."""

    def __init__(self, srv: LocalWandbServer, rng: random.Random) -> None:
        self.seed = srv.seed
        self.rng = rng
        self.runs: dict[str, ModelRun] = {}
        self.created = 0
        self.clock = 1.7e9  # the wall clock rows are logged at (every SDK row has _timestamp)
        self.ops: dict[str, int] = {}

    def path(self, run_id: str) -> str:
        return f"{PROJECT}/{run_id}"

    def alive(self, *states: str) -> list[str]:
        return sorted(
            r for r, m in self.runs.items() if not m.deleted and (not states or m.state in states)
        )

    def log(self, run_id: str, n: int) -> None:
        model = self.runs[run_id]
        start = len(model.rows)
        new = []
        for i in range(n):
            self.clock += 1.0
            new.append({"_step": start + i, "_timestamp": self.clock, "loss": self.rng.random()})
        self.seed.append_history(self.path(run_id), new)
        model.rows += new

    def mutate(self) -> None:
        rng = self.rng
        running, terminal = self.alive("running"), self.alive(*TERMINAL)
        choices = ["create"] if len(self.alive()) < MAX_ALIVE else []
        choices += ["log", "end", "end"] if running else []
        choices += ["resume", "rewind", "delete"] if terminal else []
        choices += ["delete"] if running and rng.random() < 0.2 else []
        op = rng.choice(choices)
        self.ops[op] = self.ops.get(op, 0) + 1
        if op == "create":
            run_id = f"r{self.created:03d}"
            self.created += 1
            self.seed.create_run(PROJECT, run_id, config={"i": self.created})
            self.runs[run_id] = ModelRun()
            self.log(run_id, rng.randint(1, 6))
            return
        pool = {"log": running, "end": running, "delete": running + terminal}.get(op, terminal)
        run_id = rng.choice(pool)
        model = self.runs[run_id]
        model.version += 1
        if op == "log":
            self.log(run_id, rng.randint(1, 4))
        elif op == "end":
            model.state = rng.choice(TERMINAL)
            self.seed.finish_run(self.path(run_id), state=model.state)
        elif op == "resume":
            self.seed.resume_run(self.path(run_id))
            model.state = "running"
            self.log(run_id, rng.randint(1, 3))
        elif op == "rewind":
            keep = rng.randint(0, max(0, len(model.rows) - 1))
            self.seed.resume_run(self.path(run_id))
            self.seed.rewind_run(self.path(run_id), keep)
            model.rows = model.rows[:keep]
            self.log(run_id, rng.randint(0, 3))
            model.state = rng.choice(TERMINAL)
            self.seed.finish_run(self.path(run_id), state=model.state)
        elif op == "delete":
            self.seed.delete_run(self.path(run_id))
            model.deleted = True

    def terminal_versions(self) -> dict[str, int]:
        return {r: self.runs[r].version for r in self.alive(*TERMINAL)}


def launch(
    defs: dg.Definitions, instance: dg.DagsterInstance, request: dg.RunRequest
) -> dg.ExecuteInProcessResult:
    instance.add_dynamic_partitions(PARTITIONS, [str(request.partition_key)])
    return dg.materialize(
        assets_of(defs),
        selection=PER_RUN,
        partition_key=request.partition_key,
        instance=instance,
        resources=dict(defs.resources or {}),
        tags={**(request.tags or {}), "dagster/run_key": str(request.run_key)},
        run_config=QUIET,
        raise_on_error=False,
    )


def test_sensor_soak_nothing_lost_nothing_duplicated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from wb_dagster.defs import build_wandb_defs

    rng = random.Random(SEED)
    (tmp_path / "home").mkdir()
    started = time.monotonic()
    with (
        LocalWandbServer(seed=None) as srv,
        dg.instance_for_test(temp_dir=str(tmp_path / "home")) as instance,
    ):
        monkeypatch.setenv(KEY_ENV, srv.api_key)
        srv.seed.viewer("soak", "soak")
        srv.seed.project(PROJECT)
        store = tmp_path / "store"
        defs = build_wandb_defs(
            entity="soak",
            project="proj",
            resource=fast_resource(srv, entity="soak", retry_budget_s=10.0),
            storage_dir=str(store),
            include=("run_history", "run_system_metrics"),
            retry_policy=None,
            batch_size=1,  # the soak checks scan and cursor logic per run; batching: daemon tests
        )
        world = World(srv, rng)
        per_kind = 1 - (1 - 0.15) ** (1 / len(FAULT_KINDS))
        srv.add_faults(
            [{"match": "POST /graphql", "probability": per_kind, **k} for k in FAULT_KINDS]
            + [{"match": "POST /graphql", "probability": per_kind, "status": 200, "body": "{"}]
        )
        cursor: str | None = None
        requested: dict[tuple[str, int], str] = {}  # (run, version) -> run key
        run_keys: set[str] = set()
        failed_ticks = launched = max_cursor = cut_ticks = 0

        def take(result: dg.SensorResult, expected: dict[str, int]) -> int:
            """Check and launch a tick's requests; returns how many were launched."""
            for request in result.run_requests or []:
                run_id = str(request.partition_key)
                # only runs that are terminal (and exist) now, each version once
                assert run_id in expected, (run_id, world.runs.get(run_id))
                version = (run_id, expected[run_id])
                assert version not in requested, f"{version} requested twice"
                assert request.run_key not in run_keys
                requested[version] = str(request.run_key)
                run_keys.add(str(request.run_key))
                assert launch(defs, instance, request).success
            return len(result.run_requests or [])

        for _ in range(TICKS):
            for _ in range(rng.choice([0, 0, 0, 0, 0, 0, 1, 1, 2])):
                world.mutate()
            if rng.random() < 0.03:  # a tick that fails outright (GraphQL error, not retried)
                # RunChanges: the sensor's own listing (the exports list with "Runs")
                boom = {"status": 200, "count": 1, "body": {"errors": ["boom"]}}
                srv.add_faults([{"match": "RunChanges", **boom}])
            expected = world.terminal_versions()
            try:
                result = evaluate_sensor(defs, SENSOR, instance, cursor)
            except CommError:
                failed_ticks += 1
                continue  # the daemon keeps the previous cursor
            cursor = result.cursor
            assert cursor is not None
            max_cursor = max(max_cursor, len(cursor))
            launched += take(result, expected)
            if json.loads(cursor).get("resume"):
                cut_ticks += 1  # a pass cut by the tick's budget goes on next tick: no check yet
                continue
            lost = [v for v in expected.items() if v not in requested]
            assert not lost, f"terminal runs not requested: {lost}"

        # the end state: a last complete pass, then every terminal run's stored history is what
        # was logged
        srv.clear_faults()
        for _ in range(5):  # bounded: a pass without faults ends in a tick or two
            expected = world.terminal_versions()
            result = evaluate_sensor(defs, SENSOR, instance, cursor)
            cursor = result.cursor
            launched += take(result, expected)
            if not json.loads(cursor or "{}").get("resume"):
                break
        finals = world.terminal_versions()
        assert {(r, v) for r, v in finals.items()} <= set(requested)
        for run_id in finals:
            stored = store / "wandb" / "soak" / "proj" / "run_history" / f"{run_id}.parquet"
            keys = ("_step", "_timestamp", "loss")
            rows = [{k: r.get(k) for k in keys} for r in parquet_rows(stored)]
            assert rows == world.runs[run_id].rows, run_id
        # exactly one successful materialization per requested version of each run
        modes: set[str] = set()
        for run_id in {r for r, _ in requested}:
            records = instance.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=HISTORY, asset_partitions=[run_id]), limit=1000
            ).records
            assert len(records) == sum(1 for r, _ in requested if r == run_id), run_id
            mats = [r.asset_materialization for r in records]
            modes |= {str(m.metadata["mode"].value) for m in mats if m is not None}
        # every way of syncing was exercised: first export, append after a resume, rewrite
        assert {"full", "append", "rewrite"} <= modes, modes
        elapsed = time.monotonic() - started

    # a soak that did something: every kind of change happened, ticks failed and recovered
    assert {"create", "log", "end", "resume", "rewind", "delete"} <= set(world.ops), world.ops
    assert failed_ticks >= 3 and launched >= 30, (failed_ticks, launched)
    # the cursor stays small (it keeps only runs inside the lookback and open runs)
    assert max_cursor < 4000, max_cursor
    print(
        f"soak: {TICKS} ticks, {failed_ticks} failed, {cut_ticks} cut by the budget, "
        f"{launched} materializations, "
        f"{world.created} runs, ops {world.ops}, max cursor {max_cursor} B, {elapsed:.1f} s"
    )
