"""Shared parts of the real-daemon tests: a definitions file, the Dagster subprocess environment,
and read-backs from the deployment's instance and storage directory.

The definitions file (:data:`DEFS_PY`) is written into the test's temporary directory; it reads
its settings from the environment of the Dagster process (:func:`dagster_env`): one run sensor
per project of ``WB_DAEMON_PROJECTS``, all sharing one W&B resource and one IO manager (so the
definitions merge), sensors RUNNING every 5 s.

Example:
    >>> "build_wandb_defs" in DEFS_PY, PER_RUN_ASSETS
    (True, ('run_history', 'run_system_metrics'))
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import dagster as dg
import pyarrow.parquet as pq

from wb_dagster.dagster_process import prepare_home, wait_until
from wb_dagster.testing import LocalWandbServer

ENTITY = "daemon"
PER_RUN_ASSETS = ("run_history", "run_system_metrics")

DEFS_PY = '''\
"""W&B projects of a real-daemon test (written by wb_dagster_tests/daemon/harness.py)."""
import os

import dagster as dg

from wb_dagster import build_wandb_defs
from wb_dagster.io_manager import WandbParquetIOManager
from wb_dagster.resource import WandbResource

env = os.environ
resource = WandbResource(
    api_key=dg.EnvVar("WANDB_API_KEY"),
    base_url=env["WB_DAEMON_BASE_URL"],
    entity=env["WB_DAEMON_ENTITY"],
    timeout=10.0,
    backoff_factor=0.05,
)
io_manager = WandbParquetIOManager(base_dir=env["WB_DAEMON_STORAGE"])
defs = dg.Definitions.merge(
    *[
        build_wandb_defs(
            entity=env["WB_DAEMON_ENTITY"],
            project=project,
            resource=resource,
            io_manager=io_manager,
            include=("run_history", "run_system_metrics"),
            sensor_status=dg.DefaultSensorStatus.RUNNING,
            sensor_interval_seconds=5,
            batch_size=int(env["WB_DAEMON_BATCH"]),
            max_runs_per_tick=int(env["WB_DAEMON_CAP"]),
        )
        for project in env["WB_DAEMON_PROJECTS"].split(",")
    ]
)
'''


def write_defs(tmp_path: Path) -> Path:
    """The definitions file in ``tmp_path``."""
    path = tmp_path / "daemon_defs.py"
    path.write_text(DEFS_PY)
    return path


def dagster_env(
    srv: LocalWandbServer,
    *,
    projects: Iterable[str],
    storage: Path,
    batch_size: int,
    max_runs_per_tick: int,
) -> dict[str, str]:
    """The environment of the Dagster process: no inherited ``WANDB_*`` / ``DAGSTER_*``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("WANDB_", "DAGSTER_", "WB_DAEMON_", "PYTEST_"))
    }
    env.update(
        WANDB_API_KEY=srv.api_key,
        WB_DAEMON_BASE_URL=srv.base_url,
        WB_DAEMON_ENTITY=ENTITY,
        WB_DAEMON_STORAGE=str(storage),
        WB_DAEMON_PROJECTS=",".join(projects),
        WB_DAEMON_BATCH=str(batch_size),
        WB_DAEMON_CAP=str(max_runs_per_tick),
        NO_PROXY="127.0.0.1,localhost",
        no_proxy="127.0.0.1,localhost",
    )
    return env


def pause(seconds: float) -> None:
    """Let ``seconds`` pass (pacing between rounds of changes, not a wait for a result)."""
    end = time.monotonic() + seconds
    wait_until("a pause", lambda: time.monotonic() >= end, seconds + 5, every_s=0.2)


def check_log(log: Path) -> None:
    """Fail at once when the Dagster process could not load the definitions file."""
    text = log.read_text(errors="replace") if log.exists() else ""
    if "Error loading repository location" in text or "Error while importing code" in text:
        raise RuntimeError(f"the code location failed to load; see {log}")


def new_home(tmp_path: Path) -> Path:
    """A fresh ``DAGSTER_HOME`` with the package's local ``dagster.yaml``."""
    return prepare_home(tmp_path / "dagster_home")


def open_instance(home: Path) -> dg.DagsterInstance:
    """The deployment's instance, its sqlite storages created *before* any Dagster process
    opens them (two processes creating the same schema at once can fail a migration)."""
    instance = dg.DagsterInstance.from_config(str(home))
    instance.get_run_records(limit=1)
    instance.get_daemon_heartbeats()
    sensor_states(instance)
    instance.get_dynamic_partitions("wb_daemon_probe")
    return instance


def asset_key(project: str, asset: str) -> dg.AssetKey:
    return dg.AssetKey(["wandb", ENTITY, project, asset])


def partitions_name(project: str) -> str:
    return f"wandb_runs__{ENTITY}__{project}"


def sensor_name(project: str) -> str:
    return f"wandb_{ENTITY}__{project}__run_sensor"


def materialization_counts(
    instance: dg.DagsterInstance, key: dg.AssetKey, partitions: list[str]
) -> Counter[str]:
    """How many times each partition of ``key`` was materialized (every event, paged)."""
    counts: Counter[str] = Counter()
    cursor: str | None = None
    while True:
        page = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=key, asset_partitions=partitions or None),
            limit=1000,
            cursor=cursor,
        )
        counts.update(str(r.partition_key) for r in page.records)
        if not page.has_more:
            return counts
        cursor = page.cursor


def materialization_records(
    instance: dg.DagsterInstance, key: dg.AssetKey, partition: str
) -> list[dg.EventLogRecord]:
    """Every materialization of one partition, oldest first."""
    return list(
        instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=key, asset_partitions=[partition]),
            limit=1000,
            ascending=True,
        ).records
    )


def sensor_states(instance: dg.DagsterInstance) -> dict[str, Any]:
    """Every sensor's stored state by sensor name (what the daemon ticks)."""
    from dagster._core.scheduler.instigation import InstigatorType

    return {
        state.instigator_name: state
        for state in instance.all_instigator_state(instigator_type=InstigatorType.SENSOR)
    }


def sensor_ticks(instance: dg.DagsterInstance, name: str) -> list[Any]:
    """Every stored tick of sensor ``name`` (newest first)."""
    state = sensor_states(instance).get(name)
    if state is None:
        return []
    return list(instance.get_ticks(state.instigator_origin_id, state.selector_id))


def run_records(instance: dg.DagsterInstance) -> list[dg.RunRecord]:
    return list(instance.get_run_records())


def leftover_files(storage: Path) -> list[str]:
    """Files under ``storage`` that are not a final parquet (temporary siblings, partial
    writes)."""
    if not storage.exists():
        return []
    return sorted(
        p.relative_to(storage).as_posix()
        for p in storage.rglob("*")
        if p.is_file() and (p.name.startswith(".") or p.suffix != ".parquet")
    )


def parquet_num_rows(path: Path) -> int:
    return int(pq.ParquetFile(path).metadata.num_rows)


def status_counts(records: Iterable[dg.RunRecord]) -> Mapping[str, int]:
    return Counter(r.dagster_run.status.value for r in records)


IN_PROGRESS = frozenset({"NOT_STARTED", "QUEUED", "STARTING", "STARTED", "CANCELING"})


def in_progress(instance: dg.DagsterInstance) -> list[dg.RunRecord]:
    """Dagster runs not finished yet (created, queued, launching, running, canceling)."""
    return [r for r in run_records(instance) if r.dagster_run.status.value in IN_PROGRESS]


def group_alive(pgid: int) -> bool:
    """Whether any process of the process group ``pgid`` is still alive (zombies excluded)."""
    import psutil

    for proc in psutil.process_iter(["status"]):
        try:
            if os.getpgid(proc.pid) == pgid and proc.info["status"] != psutil.STATUS_ZOMBIE:
                return True
        except (ProcessLookupError, psutil.Error):
            continue
    return False


def fresh_heartbeats(instance: dg.DagsterInstance, since: float) -> bool:
    """Whether the sensor daemon and the run queue have beaten since ``since`` (epoch s)."""
    beats = instance.get_daemon_heartbeats()
    return all(
        name in beats and beats[name].timestamp > since
        for name in ("SENSOR", "QUEUED_RUN_COORDINATOR")
    )


def partitions_of(record: dg.RunRecord, order: list[str]) -> list[str]:
    """Every partition key a sensor-launched Dagster run covers, in ``order`` (the dynamic
    partitions' key order, which is what a range means)."""
    tags = record.dagster_run.tags
    if "dagster/partition" in tags:
        return [tags["dagster/partition"]]
    start = order.index(tags["dagster/asset_partition_range_start"])
    end = order.index(tags["dagster/asset_partition_range_end"])
    return order[start : end + 1]


def requested_run_keys(ticks: Iterable[Any]) -> Counter[str]:
    """How many ticks requested each run key. Dagster drops a request whose run key exists and
    records it in the tick's ``run_keys`` without a run id, so this sees what the sensor asked
    for, duplicates included."""
    return Counter(key for tick in ticks for key in dict.fromkeys(tick.run_keys))


def skipped_requests(ticks: Iterable[Any]) -> list[Any]:
    """Ticks that requested a run key Dagster had already seen (fewer run ids than keys)."""
    return [t for t in ticks if len(t.run_keys) != len(t.run_ids)]


def project_of(record: dg.RunRecord, projects: Iterable[str]) -> str:
    """The project whose job (or asset selection) a Dagster run executes."""
    run = record.dagster_run
    names = {k.path[2] for k in run.asset_selection or ()}
    names |= {p for p in projects if f"__{p}__" in run.job_name}
    (project,) = names & set(projects)
    return project


SHUTDOWN_TICK_ERROR = "DagsterCodeLocationNotFoundError"


def failed_ticks(ticks: Iterable[Any], stopped_at: float) -> list[Any]:
    """The failed ticks of one sensor, except a last tick the daemon started as it was being
    stopped (at ``stopped_at``, epoch s): the daemon's workspace is closed by then, so that
    tick fails on ``DagsterCodeLocationNotFoundError`` (Dagster's shutdown race, not the
    sensor's; the tick is evaluated again after a restart, its cursor unchanged)."""
    ordered = sorted(ticks, key=lambda t: t.timestamp)
    failed = [t for t in ordered if t.status.value == "FAILURE"]
    if failed and failed[-1] is ordered[-1]:
        last = failed[-1]
        if (
            last.timestamp >= stopped_at - 10
            and last.error is not None
            and SHUTDOWN_TICK_ERROR in last.error.message
        ):
            failed.pop()
    return failed
