"""The sensors and the schedule under Dagster's real daemon (``dagster dev`` in a subprocess).

The daemon evaluates the sensors, the queued run coordinator and the default run launcher start
the runs; everything is observed through the instance in ``DAGSTER_HOME`` and the webserver's
GraphQL. Expected values come from the official ``wandb`` SDK run live against the same server
or from the demo seed's inputs (``wb_dagster.testing.seeds.demo``).
"""

from __future__ import annotations

import os
import textwrap
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pyarrow.parquet as pq
import pytest
import requests

from wb_dagster.dagster_process import DagsterProcess, prepare_home, wait_until
from wb_dagster.testing import LocalWandbServer
from wb_dagster.testing.seeds.demo import (
    DEMO_RUNNING_RUN,
    DEMO_RUNS,
    DEMO_RUNS_BY_ID,
    DEMO_SWEEP_ID,
    demo_files,
)
from wb_dagster_tests.dagster_graphql import sensor_ticks, start_schedule
from wb_dagster_tests.support.history_rows import comparable_rows

PARTITIONS = "wandb_runs__wb_demo__cifar"
HISTORY = dg.AssetKey(["wandb", "wb-demo", "cifar", "run_history"])
SYSTEM = dg.AssetKey(["wandb", "wb-demo", "cifar", "run_system_metrics"])
RUNS = dg.AssetKey(["wandb", "wb-demo", "cifar", "runs"])
BEST = dg.AssetKey(["wandb", "wb-demo", "cifar", "sweep_best_model"])
TERMINAL = {"finished", "crashed", "failed", "killed"}
RUN_SENSOR = "wandb_wb_demo__cifar__run_sensor"
SCHEDULE = "wandb_wb_demo__cifar__runs_schedule"
WAIT_S = 90.0
DEFS = """\
    import os

    import dagster as dg

    from wb_dagster import build_wandb_defs

    defs = build_wandb_defs(
        entity="wb-demo",
        project="cifar",
        api_key=dg.EnvVar("WANDB_API_KEY"),
        base_url=os.environ["WANDB_BASE_URL"],
        storage_dir=os.environ["WB_TEST_STORAGE"],
        sensor_status=dg.DefaultSensorStatus.RUNNING,
        sensor_interval_seconds=1,
        batch_size=4,
        runs_schedule="* * * * *",
    )
"""


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[tuple[LocalWandbServer, DagsterProcess, Path]]:
    """The demo project on the local server, and ``dagster dev`` with the sensors RUNNING."""
    storage = tmp_path / "store"
    defs_file = tmp_path / "defs.py"
    defs_file.write_text(textwrap.dedent(DEFS))
    # a long heartbeat timeout keeps the seeded running run (heartbeat in 2024) running
    with LocalWandbServer(seed="demo", heartbeat_timeout_s=10**9) as srv:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("WANDB_", "DAGSTER_"))}
        env.update(
            WANDB_API_KEY=srv.api_key, WANDB_BASE_URL=srv.base_url, WB_TEST_STORAGE=str(storage)
        )
        home = prepare_home(tmp_path / "dagster_home")
        with DagsterProcess.dev(
            home, ["-f", str(defs_file)], env=env, log=tmp_path / "dev.log"
        ) as dagster:
            dagster.wait_ready()
            yield srv, dagster, storage


def _materializations(instance: dg.DagsterInstance, key: dg.AssetKey, partition: str) -> list:
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=key, asset_partitions=[partition]), limit=50
    ).records
    return [r.asset_materialization for r in records]


def _count(instance: dg.DagsterInstance, key: dg.AssetKey, partition: str) -> int:
    return len(_materializations(instance, key, partition))


def _wait_counts(instance: dg.DagsterInstance, expected: dict[str, int], what: str) -> None:
    """Wait until history and system metrics of each run have ``expected`` materializations."""

    def done() -> bool:
        return all(
            _count(instance, key, run_id) >= n
            for run_id, n in expected.items()
            for key in (HISTORY, SYSTEM)
        )

    wait_until(what, done, WAIT_S)


def _sensor_runs(instance: dg.DagsterInstance) -> list[dg.DagsterRun]:
    records = instance.get_run_records(
        filters=dg.RunsFilter(tags={"dagster/sensor_name": RUN_SENSOR})
    )
    return [r.dagster_run for r in records]


def _settled(instance: dg.DagsterInstance) -> None:
    """Wait until no run is queued or in progress."""
    busy = [
        dg.DagsterRunStatus.QUEUED,
        dg.DagsterRunStatus.NOT_STARTED,
        dg.DagsterRunStatus.STARTING,
        dg.DagsterRunStatus.STARTED,
    ]
    wait_until(
        "the daemon's runs to finish",
        lambda: not instance.get_run_records(filters=dg.RunsFilter(statuses=busy)),
        WAIT_S,
    )


def _ticks(dagster: DagsterProcess) -> list[dict]:
    return sensor_ticks(dagster, RUN_SENSOR)


def test_daemon_sensor_imports_refreshes_and_schedules(deployment, sdk_env):
    from wandb import Api

    srv, dagster, storage = deployment
    instance = dagster.instance()
    api = Api(api_key=srv.api_key, overrides={"base_url": srv.base_url})
    start_schedule(dagster, SCHEDULE)  # as a user would in the UI; it fires at the next minute

    # initial import: every ended run, in batches of at most 4 W&B runs per Dagster run
    ended = sorted(r.run_id for r in DEMO_RUNS if r.state in TERMINAL)
    _wait_counts(instance, dict.fromkeys(ended, 1), "the initial import")
    _settled(instance)
    assert sorted(instance.get_dynamic_partitions(PARTITIONS)) == ended
    launched = _sensor_runs(instance)
    batches = [r for r in launched if r.tags.get("wandb/runs")]
    assert sum(int(r.tags["wandb/runs"]) for r in batches) == len(ended)
    assert len(batches) == -(-len(ended) // 4)  # ceil: contiguous new keys, full batches
    assert all(r.status == dg.DagsterRunStatus.SUCCESS for r in launched)
    for run_id in ("cifar000", "cifar002", "cifar010"):  # cifar002 logs a NaN loss
        sdk_run = api.run(f"wb-demo/cifar/{run_id}")
        ours = pq.read_table(storage / "wandb/wb-demo/cifar/run_history" / f"{run_id}.parquet")
        assert comparable_rows(ours.to_pylist()) == comparable_rows(sdk_run.scan_history())
        (mat,) = _materializations(instance, HISTORY, run_id)
        assert mat.metadata["dagster/row_count"].value == DEMO_RUNS_BY_ID[run_id].num_steps
        system = pq.read_table(
            storage / "wandb/wb-demo/cifar/run_system_metrics" / f"{run_id}.parquet"
        )
        expected = sdk_run.history(stream="events", pandas=False)
        assert comparable_rows(system.to_pylist(), key="_timestamp") == comparable_rows(
            expected, key="_timestamp"
        )
    # each partition has its own check evaluation
    check_key = dg.AssetCheckKey(HISTORY, "history_matches_run")
    evaluations = instance.event_log_storage.get_asset_check_execution_history(check_key, limit=50)
    assert len(evaluations) == len(ended)

    # the sweep sensor stores the best run's model with the server's bytes
    wait_until("the best model", lambda: _count(instance, BEST, DEMO_SWEEP_ID), WAIT_S)
    best = api.sweep(f"wb-demo/cifar/{DEMO_SWEEP_ID}").best_run()
    stored = storage / "wandb/wb-demo/cifar/sweep_best_model" / DEMO_SWEEP_ID / "model-best.h5"
    assert stored.read_bytes() == demo_files(DEMO_RUNS_BY_ID[best.id])["model-best.h5"]

    # the running run finishes; cifar001 is resumed, grows 30 steps and finishes; cifar003 is
    # rewound to step 500 and finishes: each is stored once more, nothing else
    seed = srv.seed
    seed.finish_run(f"wb-demo/cifar/{DEMO_RUNNING_RUN}")
    n = DEMO_RUNS_BY_ID["cifar001"].num_steps
    seed.resume_run("wb-demo/cifar/cifar001")
    seed.append_history(
        "wb-demo/cifar/cifar001",
        [{"_step": n + i, "_timestamp": 2e9 + i, "loss": 0.01 * i} for i in range(30)],
    )
    seed.finish_run("wb-demo/cifar/cifar001")
    seed.resume_run("wb-demo/cifar/cifar003")
    seed.rewind_run("wb-demo/cifar/cifar003", 500)
    seed.finish_run("wb-demo/cifar/cifar003")
    changed = {DEMO_RUNNING_RUN: 1, "cifar001": 2, "cifar003": 2}
    _wait_counts(instance, changed, "the changed runs")
    _settled(instance)
    mats = _materializations(instance, HISTORY, "cifar001")
    assert (mats[0].metadata["mode"].value, mats[0].metadata["fetched_rows"].value) == (
        "append",
        30,
    )
    assert _materializations(instance, HISTORY, "cifar003")[0].metadata["mode"].value == "rewrite"
    for run_id, steps in (("cifar001", n + 30), ("cifar003", 500)):
        ours = pq.read_table(storage / "wandb/wb-demo/cifar/run_history" / f"{run_id}.parquet")
        assert ours.num_rows == steps
        assert comparable_rows(ours.to_pylist()) == comparable_rows(
            api.run(f"wb-demo/cifar/{run_id}").scan_history()
        )

    # later ticks request nothing more: every other run was stored exactly once
    ticks_before = len(_sensor_runs(instance))
    since = time.time()

    def later_ticks() -> list[str]:
        return [t["status"] for t in _ticks(dagster) if t["timestamp"] > since]

    wait_until("three more sensor ticks", lambda: len(later_ticks()) >= 4, WAIT_S)
    assert set(later_ticks()) <= {"SKIPPED", "STARTED"}  # STARTED: the tick now running
    for run_id in ended:
        if run_id not in changed:
            assert _count(instance, HISTORY, run_id) == 1, run_id
    run_keys = [r.tags["dagster/run_key"] for r in _sensor_runs(instance)]
    assert len(run_keys) == len(set(run_keys)) == ticks_before

    # the schedule's tick launched a full refresh of the run table
    def scheduled() -> list:
        return instance.get_run_records(
            filters=dg.RunsFilter(
                tags={"dagster/schedule_name": SCHEDULE}, statuses=[dg.DagsterRunStatus.SUCCESS]
            )
        )

    wait_until("a scheduled run-table refresh", scheduled, 75.0)
    refreshes = instance.fetch_materializations(RUNS, limit=50).records
    modes = {
        r.event_log_entry.run_id: r.asset_materialization.metadata["wandb/refresh_mode"].value
        for r in refreshes
    }
    assert modes[scheduled()[0].dagster_run.run_id] == "full"
    table = pq.read_table(storage / "wandb/wb-demo/cifar/runs.parquet")
    assert sorted(table.column("id").to_pylist()) == sorted(r.id for r in api.runs("wb-demo/cifar"))


def test_daemon_keeps_the_cursor_of_a_failed_tick_and_loses_no_run(deployment):
    srv, dagster, _ = deployment
    instance = dagster.instance()
    ended = sorted(r.run_id for r in DEMO_RUNS if r.state in TERMINAL)
    _wait_counts(instance, dict.fromkeys(ended, 1), "the initial import")
    _settled(instance)
    # W&B fails every listing while the running run finishes: the ticks fail
    srv.add_faults([{"match": "POST /graphql", "status": 503}])
    srv.seed.finish_run(f"wb-demo/cifar/{DEMO_RUNNING_RUN}")
    since = time.time()
    wait_until(
        "a failed tick",
        lambda: "FAILURE" in [t["status"] for t in _ticks(dagster) if t["timestamp"] > since],
        WAIT_S,
    )
    assert _count(instance, HISTORY, DEMO_RUNNING_RUN) == 0
    # W&B answers again: the next tick starts from the cursor before the failure
    srv.clear_faults()
    _wait_counts(instance, {DEMO_RUNNING_RUN: 1}, "the run that finished during the outage")
    _settled(instance)
    assert all(_count(instance, HISTORY, r) == 1 for r in ended)


CHURN_DEFS = """\
    import os

    import dagster as dg

    from wb_dagster import build_wandb_defs

    defs = build_wandb_defs(
        entity="wb-demo",
        project="churn",
        api_key=dg.EnvVar("WANDB_API_KEY"),
        base_url=os.environ["WANDB_BASE_URL"],
        storage_dir=os.environ["WB_TEST_STORAGE"],
        sensor_status=dg.DefaultSensorStatus.RUNNING,
        sensor_interval_seconds=1,
        batch_size=100,
        include=("run_history", "run_system_metrics"),
        sweep_sensor=False,
        runs_schedule=None,
    )
"""
CHURN_HISTORY = dg.AssetKey(["wandb", "wb-demo", "churn", "run_history"])
CHURN_SENSOR = "wandb_wb_demo__churn__run_sensor"


def test_daemon_sensor_requests_every_run_once_while_runs_churn_between_pages(tmp_path, sdk_env):
    """W&B's offset cursors shift when runs are created, deleted or heartbeat between pages of a
    listing (wandb#6614): under the real daemon, with pages of 6 and runs created, finished,
    heartbeating and deleted after every page, each ended run is requested exactly once."""
    from wandb import Api

    defs_file = tmp_path / "defs.py"
    defs_file.write_text(textwrap.dedent(CHURN_DEFS))
    with LocalWandbServer(seed=None, heartbeat_timeout_s=10**9) as srv:
        for prefix, n, exported in (("s", 40, True), ("r", 16, False)):
            spec = {"project": "wb-demo/churn", "runs": n, "history_rows": 3,
                    "exported": exported, "run_prefix": prefix}  # fmt: skip
            requests.post(f"{srv.base_url}/_control/seed", json=spec, timeout=60).raise_for_status()
        srv.set_hostility(first_cap=6)
        srv.add_churn([{"project": "churn", "pages": 10, "create": 2, "create_state": "finished",
                        "finish": 1, "heartbeat": 2, "delete": 1, "state": "running"}])  # fmt: skip
        env = {k: v for k, v in os.environ.items() if not k.startswith(("WANDB_", "DAGSTER_"))}
        env.update(
            WANDB_API_KEY=srv.api_key,
            WANDB_BASE_URL=srv.base_url,
            WB_TEST_STORAGE=str(tmp_path / "store"),
        )
        home = prepare_home(tmp_path / "dagster_home")
        with DagsterProcess.dev(
            home, ["-f", str(defs_file)], env=env, log=tmp_path / "dev.log"
        ) as dagster:
            dagster.wait_ready()
            instance = dagster.instance()
            api = Api(api_key=srv.api_key, overrides={"base_url": srv.base_url})

            def ended() -> set[str]:
                return {
                    r.id for r in api.runs("wb-demo/churn", per_page=500) if r.state in TERMINAL
                }

            def stored() -> set[str]:
                records = instance.fetch_materializations(CHURN_HISTORY, limit=1000).records
                return {r.asset_materialization.partition for r in records}

            def all_stored() -> bool:
                return not srv.backend.store.churn.rules and ended() <= stored()

            wait_until("every ended run stored once the churn is over", all_stored, WAIT_S)
            _settled(instance)
            want = ended()
            assert len(want) > 40  # the seeded finished runs, plus created and finished ones
            records = instance.fetch_materializations(CHURN_HISTORY, limit=1000).records
            counts = Counter(r.asset_materialization.partition for r in records)
            assert set(counts) == want and set(counts.values()) == {1}
            launched = [
                r.dagster_run
                for r in instance.get_run_records(
                    filters=dg.RunsFilter(tags={"dagster/sensor_name": CHURN_SENSOR})
                )
            ]
            assert all(r.status == dg.DagsterRunStatus.SUCCESS for r in launched)
            run_keys = [r.tags["dagster/run_key"] for r in launched]
            assert len(run_keys) == len(set(run_keys))
            partitions = instance.get_dynamic_partitions("wandb_runs__wb_demo__churn")
            assert sorted(partitions) == sorted(want)
