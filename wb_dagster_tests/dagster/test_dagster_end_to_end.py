"""End to end against the local W&B server: assets, checks, refreshes, storage (the sensors
are proven under the real daemon in ``test_daemon_sensors.py``).

Expected values come from the official ``wandb`` SDK run live against the same server, or from
the demo seed's inputs (``wb_dagster.testing.seeds.demo``).
"""

import datetime as dt
import os
from collections.abc import Iterator, Mapping
from typing import Any

import dagster as dg
import pyarrow.parquet as pq
import pytest

from wb_dagster.defs import build_wandb_defs
from wb_dagster.testing import LocalWandbServer
from wb_dagster.testing.seeds.demo import (
    DEMO_RUNNING_RUN,
    DEMO_SWEEP_ID,
)
from wb_dagster_tests.inprocess import evaluate_sensor, launch_requests

KEY_ENV = "WB_DAGSTER_TEST_KEY"
RUN_SENSOR = "wandb_wb_demo__cifar__run_sensor"
SWEEP_SENSOR = "wandb_wb_demo__cifar__sweep_sensor"
HISTORY = dg.AssetKey(["wandb", "wb-demo", "cifar", "run_history"])
SYSTEM = dg.AssetKey(["wandb", "wb-demo", "cifar", "run_system_metrics"])
RUNS = dg.AssetKey(["wandb", "wb-demo", "cifar", "runs"])
BEST = dg.AssetKey(["wandb", "wb-demo", "cifar", "sweep_best_model"])
TERMINAL = {"finished", "crashed", "failed", "killed"}


@pytest.fixture
def wb_server(monkeypatch) -> Iterator[LocalWandbServer]:
    # a long heartbeat timeout keeps the seeded running run (heartbeat in 2024) running
    with LocalWandbServer(seed="demo", heartbeat_timeout_s=10**9) as srv:
        monkeypatch.setenv(KEY_ENV, srv.api_key)
        yield srv


@pytest.fixture
def defs(wb_server, tmp_path) -> dg.Definitions:
    return build_wandb_defs(
        entity="wb-demo",
        project="cifar",
        api_key=dg.EnvVar(KEY_ENV),
        base_url=wb_server.base_url,
        storage_dir=str(tmp_path / "store"),
    )


def total_requests(srv: LocalWandbServer) -> int:
    stats = srv.stats()
    return int(stats.get("requests", stats.get("total", 0)))


def materializations(instance, key, partition) -> int:
    result = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=key, asset_partitions=[partition]), limit=50
    )
    return len(result.records)


def tick_and_launch(defs, instance, sensor, cursor):
    result = evaluate_sensor(defs, sensor, instance, cursor)
    launched = launch_requests(defs, sensor, result, instance)
    assert all(r.success for r in launched.results)
    return result, launched


def history_path(tmp_path, run_id):
    return tmp_path / "store" / "wandb" / "wb-demo" / "cifar" / "run_history" / f"{run_id}.parquet"


def test_loading_definitions_makes_no_request(wb_server, tmp_path, monkeypatch):
    before = wb_server.stats()
    defs = build_wandb_defs(
        entity="wb-demo", project="cifar", base_url=wb_server.base_url, storage_dir=str(tmp_path)
    )
    dg.Definitions.validate_loadable(defs)
    defs.resolve_asset_graph()
    defs.get_repository_def()
    assert wb_server.stats() == before


def test_best_model_check_fails_when_stored_bytes_differ(wb_server, defs, instance, monkeypatch):
    import wb_dagster.assets.sweep_best_model

    real_put = wb_dagster.assets.sweep_best_model.put_local_file_atomic

    def corrupting_put(local, dest):  # a store that damaged the bytes on the way in
        real_put(local, dest)
        dest.write_bytes(dest.read_bytes() + b"!")

    monkeypatch.setattr(wb_dagster.assets.sweep_best_model, "put_local_file_atomic", corrupting_put)
    instance.add_dynamic_partitions("wandb_sweeps__wb_demo__cifar", [DEMO_SWEEP_ID])
    result = dg.materialize(
        list(defs.assets),
        selection=[BEST],
        partition_key=DEMO_SWEEP_ID,
        instance=instance,
        resources=dict(defs.resources),
        raise_on_error=False,
    )
    (check,) = result.get_asset_check_evaluations()
    assert (check.check_name, check.passed) == ("best_model_md5", False)
    assert check.metadata["mismatched"].value == ["model-best.h5"]
    assert not result.success  # the check is blocking: the run fails


def test_runs_table_refresh_is_incremental(wb_server, defs, tmp_path, instance, sdk_env):
    from wandb import Api

    assets, resources = list(defs.assets), dict(defs.resources)
    stored_path = tmp_path / "store" / "wandb" / "wb-demo" / "cifar" / "runs.parquet"

    def refresh(lookback_seconds: float | None = None) -> tuple[Mapping[str, Any], int]:
        op_config = {} if lookback_seconds is None else {"lookback_seconds": lookback_seconds}
        run_config = {"ops": {"wandb_wb_demo__cifar__runs": {"config": op_config}}}
        before = total_requests(wb_server)
        result = dg.materialize(
            assets, selection=[RUNS], instance=instance, resources=resources, run_config=run_config
        )
        (mat,) = result.asset_materializations_for_node("wandb_wb_demo__cifar__runs")
        checks = result.get_asset_check_evaluations()
        assert [(c.check_name, c.passed) for c in checks] == [("unique_run_ids", True)]
        return mat.metadata, total_requests(wb_server) - before

    def stored() -> dict[str, dict]:
        return {r["id"]: r for r in pq.read_table(stored_path).to_pylist()}

    meta, _ = refresh()
    assert meta["wandb/refresh_mode"].value == "full"

    # nothing changed: the probe and the read of moved runs (concurrent), nothing re-read
    meta, requests = refresh()
    assert meta["wandb/refresh_mode"].value == "incremental"
    assert (meta["wandb/fetched_rows"].value, requests) == (0, 2)

    wb_server.seed.finish_run(f"wb-demo/cifar/{DEMO_RUNNING_RUN}")
    meta, requests = refresh()
    assert (meta["wandb/fetched_rows"].value, requests) == (1, 2)  # only the run that ended
    api = Api(api_key=wb_server.api_key, overrides={"base_url": wb_server.base_url})
    assert {i: r["state"] for i, r in stored().items()} == {
        r.id: r.state for r in api.runs("wb-demo/cifar")
    }

    # a long-finished run is resumed: its heartbeat moved, so it is re-read although it was
    # neither new nor open
    wb_server.seed.resume_run("wb-demo/cifar/cifar000")
    meta, _ = refresh()
    assert meta["wandb/fetched_rows"].value == 1
    assert stored()["cifar000"]["state"] == "running"

    # W&B marks a silent run crashed without moving its heartbeat: the probe sees the state
    beat = stored()["cifar000"]["heartbeat_at"]
    wb_server.seed.update_run("wb-demo/cifar/cifar000", state="crashed", heartbeat_at=beat)
    meta, requests = refresh()
    assert (meta["wandb/fetched_rows"].value, requests) == (1, 3)
    assert stored()["cifar000"]["state"] == "crashed"

    # an update that became visible late (its heartbeat is older than the newest stored one):
    # missed without a lookback, found by the default one
    newest = max(r["heartbeat_at"] for r in stored().values())
    late_beat = newest - dt.timedelta(seconds=10)
    assert stored()["cifar001"]["heartbeat_at"] < late_beat
    wb_server.seed.update_run(
        "wb-demo/cifar/cifar001", summary={"late": 1.5}, heartbeat_at=late_beat
    )
    meta, _ = refresh(lookback_seconds=0)
    assert meta["wandb/fetched_rows"].value == 0
    assert stored()["cifar001"].get("summary.late") is None
    meta, requests = refresh()
    assert (meta["wandb/fetched_rows"].value, requests) == (1, 3)
    assert stored()["cifar001"]["summary.late"] == api.run("wb-demo/cifar/cifar001").summary["late"]

    # a long-finished run deleted with the SDK: no listing mentions it, but W&B counts one run
    # fewer than the table holds, so the stored ids are checked by name and it is dropped
    api.run("wb-demo/cifar/cifar002").delete()
    meta, requests = refresh()
    assert meta["wandb/deleted_runs"].value == ["cifar002"]
    assert requests == 2 + 2  # the probe and the moved runs, then the id check and its re-ask
    assert set(stored()) == {
        r.id
        for r in Api(api_key=wb_server.api_key, overrides={"base_url": wb_server.base_url}).runs(
            "wb-demo/cifar"
        )
    }
    meta, requests = refresh()  # counts agree again: no id check
    assert (meta["wandb/deleted_runs"].value, requests) == ([], 2)


def test_workspace_validates_offline_without_requests(wb_server, tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    workspace = Path(__file__).resolve().parents[2] / "workspace.yaml"
    before = wb_server.stats()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WANDB_", "DAGSTER_HOME"))}
    env.update(WANDB_BASE_URL=wb_server.base_url, WANDB_API_KEY=wb_server.api_key)
    proc = subprocess.run(
        [sys.executable, "-m", "dagster", "definitions", "validate", "-w", str(workspace)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "All code locations passed validation" in proc.stderr + proc.stdout
    assert wb_server.stats() == before


def test_an_explicit_file_pattern_in_run_config_wins(wb_server, tmp_path, instance):
    """``file_pattern: "model-best.*"`` in run config beats a factory pattern matching nothing
    (it used to be taken for the default and overridden)."""
    defs = build_wandb_defs(
        entity="wb-demo",
        project="cifar",
        api_key=dg.EnvVar(KEY_ENV),
        base_url=wb_server.base_url,
        storage_dir=str(tmp_path / "store"),
        best_model_pattern="*.onnx",
    )
    instance.add_dynamic_partitions("wandb_sweeps__wb_demo__cifar", [DEMO_SWEEP_ID])
    op = "wandb_wb_demo__cifar__sweep_best_model"
    result = dg.materialize(
        list(defs.assets),
        selection=[BEST],
        partition_key=DEMO_SWEEP_ID,
        instance=instance,
        resources=dict(defs.resources),
        run_config={"ops": {op: {"config": {"file_pattern": "model-best.*"}}}},
    )
    assert result.success
    (event,) = [e for e in result.get_asset_materialization_events() if e.asset_key == BEST]
    assert "model-best.h5" in str(event.materialization.metadata)
