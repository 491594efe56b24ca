"""The run sensor's time budget under Dagster's real daemon, against a slow W&B (issue 18).

``dagster dev`` ticks the run sensor every second with a 10 s budget (one call may retry for
``tick_retry_s(10) = 5`` s); the local server answers its listing (GraphQL ``RunChanges``) late:

1. the first two pages in 3 s each, every later one in 15 s: the first tick's third page is
   still within its call's 5 s cap when the budget ends, so the budget alone can stop it; the
   tick ends at the budget and succeeds with the two pages, its cursor marking where the pass
   stopped (before the budget bounded each request, the third page failed the tick at 11 s);
2. the next ticks' first page, 15 s late, is past a call's cap: they fail after it with the
   client's error (not Dagster's gRPC deadline) and the stored cursor stays the one of step 1;
3. fast again: the pass goes on and every ended run is stored, each exactly once.

Every tick's start and end come from the instance's tick records. The default relation
(budget + one call's retry cap under Dagster's 60 s sensor gRPC timeout) is checked directly.
"""

from __future__ import annotations

import inspect
import json
import os
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from wb_dagster import build_wandb_run_sensor
from wb_dagster.dagster_process import DagsterProcess, prepare_home, wait_until
from wb_dagster.sensors.tick_budget import tick_retry_s
from wb_dagster.testing import LocalWandbServer
from wb_dagster.testing.seeds.demo import DEMO_RUNS
from wb_dagster_tests.daemon.harness import in_progress, sensor_states, sensor_ticks

RUN_SENSOR = "wandb_wb_demo__cifar__run_sensor"
PARTITIONS = "wandb_runs__wb_demo__cifar"
HISTORY = dg.AssetKey(["wandb", "wb-demo", "cifar", "run_history"])
TERMINAL = {"finished", "crashed", "failed", "killed"}
ENDED = sorted(r.run_id for r in DEMO_RUNS if r.state in TERMINAL)
BUDGET_S = 10.0
CALL_CAP_S = tick_retry_s(BUDGET_S)
PAGE = 3  # runs per listing page
FITS_MS, TOO_SLOW_MS = 3000, 15000  # per page: within one call's cap / past it
# Dagster's own work around the sensor function (the gRPC call, loading the resource)
MARGIN_S = 5.0
SENSOR_GRPC_TIMEOUT_S = 60.0  # Dagster's default for one sensor evaluation
WAIT_S = 120.0
DEFS = """\
    import os

    import dagster as dg

    from wb_dagster import WandbProjectAssetsSpec, build_wandb_defs, build_wandb_run_sensor
    from wb_dagster.jobs import WandbJobs

    p = WandbProjectAssetsSpec.build(entity="wb-demo", project="cifar")
    defs = dg.Definitions.merge(
        build_wandb_defs(
            entity="wb-demo",
            project="cifar",
            api_key=dg.EnvVar("WANDB_API_KEY"),
            base_url=os.environ["WANDB_BASE_URL"],
            storage_dir=os.environ["WB_TEST_STORAGE"],
            include=("run_history",),
            sensor=False,
            runs_schedule=None,
        ),
        dg.Definitions(
            sensors=[
                build_wandb_run_sensor(
                    p,
                    tick_budget_seconds=float(os.environ["WB_TEST_BUDGET"]),
                    page_size=int(os.environ["WB_TEST_PAGE"]),
                    minimum_interval_seconds=1,
                    default_status=dg.DefaultSensorStatus.RUNNING,
                    refresh_runs_table=False,
                    batch_size=100,
                    jobs=WandbJobs.build(p, run_kinds=("run_history",)),
                )
            ]
        ),
    )
"""


def test_the_default_budget_and_one_calls_retries_end_before_dagsters_timeout() -> None:
    default = inspect.signature(build_wandb_run_sensor).parameters["tick_budget_seconds"].default
    assert (default, tick_retry_s(default)) == (40.0, 15.0)
    assert default + tick_retry_s(default) < SENSOR_GRPC_TIMEOUT_S


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[tuple[LocalWandbServer, DagsterProcess]]:
    """The demo project on a local server whose listing is slow from the first tick, and
    ``dagster dev`` with the run sensor RUNNING."""
    defs_file = tmp_path / "defs.py"
    defs_file.write_text(textwrap.dedent(DEFS))
    with LocalWandbServer(seed="demo", heartbeat_timeout_s=10**9) as srv:
        srv.add_faults(
            [  # first matching rule wins: the first two listing pages, then every other one
                {"match": "RunChanges", "status": None, "delay_ms": FITS_MS, "count": 2},
                {"match": "RunChanges", "status": None, "delay_ms": TOO_SLOW_MS},
            ]
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith(("WANDB_", "DAGSTER_"))}
        env.update(
            WANDB_API_KEY=srv.api_key,
            WANDB_BASE_URL=srv.base_url,
            WB_TEST_STORAGE=str(tmp_path / "store"),
            WB_TEST_BUDGET=str(BUDGET_S),
            WB_TEST_PAGE=str(PAGE),
        )
        home = prepare_home(tmp_path / "dagster_home")
        with DagsterProcess.dev(
            home, ["-f", str(defs_file)], env=env, log=tmp_path / "dev.log"
        ) as dagster:
            dagster.wait_ready()
            yield srv, dagster


def _ended_ticks(instance: dg.DagsterInstance) -> list[Any]:
    """The run sensor's finished ticks, oldest first."""
    ticks = [t for t in sensor_ticks(instance, RUN_SENSOR) if t.end_timestamp is not None]
    return sorted(ticks, key=lambda t: t.timestamp)


def _took(tick: Any) -> float:
    return float(tick.end_timestamp - tick.timestamp)


def _stored_cursor(instance: dg.DagsterInstance) -> str | None:
    data = sensor_states(instance)[RUN_SENSOR].instigator_data
    return data.cursor if data is not None else None


def _materializations(instance: dg.DagsterInstance, run_id: str) -> int:
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=HISTORY, asset_partitions=[run_id]), limit=10
    ).records
    return len(records)


def test_a_tick_ends_within_its_budget_against_a_slow_server(deployment) -> None:
    srv, dagster = deployment
    instance = dagster.instance()

    # 1. the third page is cut by the tick's budget: the tick keeps the two pages it read
    (cut, *_) = wait_until("a first tick", lambda: _ended_ticks(instance), WAIT_S)
    assert cut.status.value == "SUCCESS", cut.error
    assert BUDGET_S - 1 <= _took(cut) <= BUDGET_S + MARGIN_S, _took(cut)
    assert json.loads(cut.cursor)["resume"], "the cut pass keeps its place"
    assert len(cut.run_ids) == 1  # one batch: the runs of the two pages that arrived
    requested = instance.get_dynamic_partitions(PARTITIONS)
    assert PAGE < len(requested) <= 2 * PAGE and requested == ENDED[: len(requested)]

    # 2. a first page past a call's cap: the ticks fail after it, the cursor kept
    failed = wait_until(
        "a tick failed by the slow server",
        lambda: [t for t in _ended_ticks(instance) if t.status.value == "FAILURE"],
        WAIT_S,
    )
    assert _stored_cursor(instance) == cut.cursor, "a failed tick moves no cursor"
    for tick in failed:
        message = tick.error.to_string()
        assert f"(retry budget {CALL_CAP_S:g} s)" in message, message  # one call's cap ended it
        assert "DEADLINE_EXCEEDED" not in message and "UserCodeUnreachable" not in message

    # 3. fast again: the pass goes on; every ended run is stored exactly once
    srv.clear_faults()
    wait_until(
        "every ended run stored",
        lambda: all(_materializations(instance, r) for r in ENDED),
        WAIT_S,
    )
    wait_until("the Dagster runs to finish", lambda: not in_progress(instance), WAIT_S)
    later = len(_ended_ticks(instance))
    wait_until("two more ticks", lambda: len(_ended_ticks(instance)) >= later + 2, WAIT_S)
    assert sorted(instance.get_dynamic_partitions(PARTITIONS)) == ENDED
    assert {r: _materializations(instance, r) for r in ENDED} == dict.fromkeys(ENDED, 1)

    # every tick, slow or not, ended within the budget and far from Dagster's timeout
    ticks = _ended_ticks(instance)
    assert max(_took(t) for t in ticks) <= BUDGET_S + MARGIN_S < SENSOR_GRPC_TIMEOUT_S / 2
    assert all(_took(t) <= CALL_CAP_S + MARGIN_S for t in failed), [_took(t) for t in failed]
