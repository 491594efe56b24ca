"""D7 under Dagster's real daemon: two materializations of one ``run_history`` partition at
once store every step once and lose none.

``dagster dev`` runs the run sensor; a W&B run is stored by the sensor's first run, then resumed
and logs more steps. When it finishes, the sensor launches a run for its partition while the
user re-materializes the same partition from the UI (the webserver's ``launchRun``, what the
asset page's *Materialize* sends); both go through the queued run coordinator and the default
run launcher. The local server holds the two history requests an incremental sync makes after
it read the stored file (the tail probe and the export listing) for ``HOLD_MS`` each, so both
runs read the stored file before either replaces it. That they did is checked, not assumed:
each run's materialization reports an ``append`` of the same new steps, which a run that read
the file after the other's write could not (it would find nothing new). Referee: the official
SDK's ``scan_history`` of the same run.
"""

from __future__ import annotations

import os
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pyarrow.parquet as pq
import pytest

from wb_dagster.assets.checks import HISTORY_CONSISTENT_CHECK
from wb_dagster.dagster_process import DagsterProcess, prepare_home, wait_until
from wb_dagster.project import WandbProjectAssetsSpec
from wb_dagster.testing import LocalWandbServer
from wb_dagster_tests.dagster_graphql import materialize_partition
from wb_dagster_tests.support.clients import make_sdk_api
from wb_dagster_tests.support.history_rows import comparable_rows

ENTITY, PROJECT, RUN_ID = "tester", "conc", "r1"
RUN = f"{ENTITY}/{PROJECT}/{RUN_ID}"
SPEC = WandbProjectAssetsSpec.build(entity=ENTITY, project=PROJECT)
HISTORY = SPEC.key("run_history")
FIRST, ADDED = 100, 100  # steps stored by the first sync, steps logged after the resume
# how long each held request waits: the two runs' reads of the stored file may be this far
# apart (twice: two requests are held) and still both precede either write
HOLD_MS = 4000
HELD = ("HistoryPage", "RunParquetHistory")
WAIT_S = 90.0
DEFS = """\
    import os

    import dagster as dg

    from wb_dagster import build_wandb_defs

    defs = build_wandb_defs(
        entity="tester",
        project="conc",
        api_key=dg.EnvVar("WANDB_API_KEY"),
        base_url=os.environ["WANDB_BASE_URL"],
        storage_dir=os.environ["WB_TEST_STORAGE"],
        include=("run_history", "run_system_metrics"),
        sensor_status=dg.DefaultSensorStatus.RUNNING,
        sensor_interval_seconds=1,
        sweep_sensor=False,
        runs_schedule=None,
    )
"""


def _rows(lo: int, hi: int) -> list[dict[str, Any]]:
    return [
        {"_step": s, "_timestamp": 1.7e9 + s, "_runtime": float(s), "loss": 1.0 / (s + 1)}
        for s in range(lo, hi)
    ]


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[tuple[LocalWandbServer, DagsterProcess]]:
    """One finished W&B run on a fresh local server, and ``dagster dev`` with its run sensor."""
    defs_file = tmp_path / "defs.py"
    defs_file.write_text(textwrap.dedent(DEFS))
    with LocalWandbServer(seed=None) as srv:
        srv.seed.viewer(ENTITY, ENTITY)
        srv.seed.create_run(f"{ENTITY}/{PROJECT}", RUN_ID)
        srv.seed.append_history(RUN, _rows(0, FIRST))
        srv.seed.finish_run(RUN)
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
            yield srv, dagster


def _history_records(instance: dg.DagsterInstance) -> list[dg.EventLogRecord]:
    """Every materialization of the run's ``run_history`` partition, oldest first."""
    return list(
        instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=HISTORY, asset_partitions=[RUN_ID]),
            limit=50,
            ascending=True,
        ).records
    )


def _settled(instance: dg.DagsterInstance) -> None:
    """Wait until no Dagster run is queued or in progress."""
    busy = [
        dg.DagsterRunStatus.QUEUED,
        dg.DagsterRunStatus.NOT_STARTED,
        dg.DagsterRunStatus.STARTING,
        dg.DagsterRunStatus.STARTED,
    ]
    wait_until(
        "the Dagster runs to finish",
        lambda: not instance.get_run_records(filters=dg.RunsFilter(statuses=busy)),
        WAIT_S,
    )


def _meta(record: dg.EventLogRecord, name: str) -> Any:
    mat = record.asset_materialization
    assert mat is not None
    return mat.metadata[name].value


def test_a_sensor_run_and_a_manual_run_of_one_partition_at_once(deployment, sdk_env):
    srv, dagster = deployment
    instance = dagster.instance()
    wait_until("the sensor's first import", lambda: _history_records(instance), WAIT_S)
    _settled(instance)
    (first,) = _history_records(instance)
    assert (_meta(first, "mode"), _meta(first, "rows")) == ("full", FIRST)

    # the run is resumed and logs more steps; every incremental sync is held after its read
    srv.add_faults([{"match": op, "status": None, "delay_ms": HOLD_MS} for op in HELD])
    srv.seed.resume_run(RUN)
    srv.seed.append_history(RUN, _rows(FIRST, FIRST + ADDED))
    srv.seed.finish_run(RUN)  # the sensor's next tick requests the partition ...
    manual = materialize_partition(dagster, HISTORY.path, RUN_ID)  # ... and so does the user
    wait_until("both materializations", lambda: len(_history_records(instance)) >= 3, WAIT_S)
    _settled(instance)
    srv.clear_faults()

    later = _history_records(instance)[1:]
    launched_by = {r.event_log_entry.run_id: r for r in later}
    runs = {
        r.dagster_run.run_id: r
        for r in instance.get_run_records(dg.RunsFilter(run_ids=list(launched_by)))
    }
    assert manual in runs and len(runs) == 2, "one materialization by each Dagster run"
    (sensor_run,) = [r for run_id, r in runs.items() if run_id != manual]
    assert sensor_run.dagster_run.tags.get("dagster/sensor_name"), sensor_run.dagster_run.tags
    assert all(r.dagster_run.status == dg.DagsterRunStatus.SUCCESS for r in runs.values())
    # both read the stored file before either replaced it (else one would have found nothing
    # new), and the two Dagster runs were in progress at the same time
    assert [(_meta(r, "mode"), _meta(r, "fetched_rows")) for r in later] == [
        ("append", ADDED),
        ("append", ADDED),
    ], f"the two materializations did not overlap; raise HOLD_MS ({HOLD_MS})"
    starts = [r.start_time for r in runs.values() if r.start_time is not None]
    ends = [r.end_time for r in runs.values() if r.end_time is not None]
    assert len(starts) == len(ends) == 2 and max(starts) < min(ends)

    # every step stored exactly once, none lost, and equal to the SDK's full read
    path = Path(str(_meta(later[-1], "path")))
    stored = pq.read_table(path)
    assert stored.column("_step").to_pylist() == list(range(FIRST + ADDED))
    sdk = make_sdk_api(srv).run(RUN).scan_history()
    assert comparable_rows(stored.to_pylist()) == comparable_rows(sdk)
    assert [_meta(r, "rows") for r in later] == [FIRST + ADDED, FIRST + ADDED]
    # and the partition's check agrees for both runs
    check_key = dg.AssetCheckKey(HISTORY, HISTORY_CONSISTENT_CHECK)
    checks = instance.event_log_storage.get_asset_check_execution_history(check_key, limit=10)
    assert len(checks) == 3
    assert all(c.evaluation and c.evaluation.passed for c in checks)
