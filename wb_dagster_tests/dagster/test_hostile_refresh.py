"""The run table's incremental refresh on the hostile server: runs created, finished,
heartbeating and deleted between the pages of its listings (small pages, W&B's offset cursors).

Expected values: the seed's inputs and a fresh full read taken afterwards (the official SDK as
referee for the ids and states).
"""

from __future__ import annotations

from collections.abc import Mapping

import dagster as dg
import pyarrow.parquet as pq
import requests

from wb_dagster.defs import build_wandb_defs
from wb_dagster.testing import LocalWandbServer
from wb_dagster_tests.inprocess import assets_of
from wb_dagster_tests.support.clients import make_client, make_sdk_api

RUNS = dg.AssetKey(["wandb", "wb-demo", "churn", "runs"])
OP = "wandb_wb_demo__churn__runs"
FINISHED = [f"s{i:06d}" for i in range(240)]
RUNNING = [f"r{i:06d}" for i in range(60)]


def test_incremental_refresh_under_churn_equals_a_full_read(tmp_path, sdk_env, monkeypatch):
    # a long heartbeat timeout keeps the seeded running runs (heartbeats in 2025) running
    with LocalWandbServer(seed=None, heartbeat_timeout_s=10**9) as srv:
        for prefix, n, exported in (("s", 240, True), ("r", 60, False)):
            spec = {"project": "wb-demo/churn", "runs": n, "history_rows": 0,
                    "exported": exported, "run_prefix": prefix}  # fmt: skip
            requests.post(f"{srv.base_url}/_control/seed", json=spec, timeout=60).raise_for_status()
        monkeypatch.setenv("WB_CHURN_TEST_KEY", srv.api_key)
        defs = build_wandb_defs(
            entity="wb-demo",
            project="churn",
            api_key=dg.EnvVar("WB_CHURN_TEST_KEY"),
            base_url=srv.base_url,
            storage_dir=str(tmp_path / "store"),
        )
        instance = dg.DagsterInstance.ephemeral()

        def refresh(lookback_seconds: float = 120.0) -> Mapping[str, dg.MetadataValue]:
            config = {"ops": {OP: {"config": {"lookback_seconds": lookback_seconds}}}}
            result = dg.materialize(
                assets_of(defs),
                selection=[RUNS],
                instance=instance,
                resources=dict(defs.resources or {}),
                run_config=config,
            )
            checks = result.get_asset_check_evaluations()
            assert [(c.check_name, c.passed) for c in checks] == [("unique_run_ids", True)]
            (mat,) = result.asset_materializations_for_node(OP)
            return mat.metadata

        assert refresh()["wandb/refresh_mode"].value == "full"
        srv.set_hostility(first_cap=20)
        # after each listing page: a run is created, one finishes, two heartbeat, one is deleted
        srv.add_churn([{"project": "churn", "pages": 25, "create": 1, "finish": 1,
                        "heartbeat": 2, "delete": 1, "state": "running"}])  # fmt: skip
        assert refresh()["wandb/refresh_mode"].value == "incremental"
        srv.clear_churn()
        stored_path = tmp_path / "store" / "wandb" / "wb-demo" / "churn" / "runs.parquet"
        under_churn = pq.read_table(stored_path).column("id").to_pylist()
        assert set(FINISHED) <= set(under_churn)  # finished runs are never deleted by the churn
        # a quiet refresh without lookback: only what the listings and the open-run probe find
        refresh(lookback_seconds=0)
        table = pq.read_table(stored_path)
        with make_client(srv) as client:
            fresh = client.runs("wb-demo/churn").to_table()
        assert table.sort_by("id").to_pylist() == fresh.sort_by("id").to_pylist()
        sdk_states = {r.id: r.state for r in make_sdk_api(srv).runs("wb-demo/churn")}
        assert dict(zip(table["id"].to_pylist(), table["state"].to_pylist(), strict=True)) == (
            sdk_states
        )
        assert len(sdk_states) == 300  # 25 created, 25 deleted
        assert set(RUNNING) - set(sdk_states)  # some seeded running runs were deleted


def test_capped_system_metrics_say_so_in_the_materialization(tmp_path, monkeypatch):
    """W&B caps ``events(samples=...)`` near 1,000 rows (wandb#6501): the partition stores what
    W&B returned and its metadata says the table is incomplete, and how many rows W&B holds."""
    with LocalWandbServer(seed=None) as srv:
        run = srv.seed.create_run("wb-demo/churn", "sys", state="finished")
        srv.seed.log_system_metrics(
            run, [{"_timestamp": 1.7e9 + i, "_runtime": float(i)} for i in range(1200)]
        )
        srv.seed.append_history(run, [{"_step": 0, "loss": 1.0}])
        monkeypatch.setenv("WB_CHURN_TEST_KEY", srv.api_key)
        defs = build_wandb_defs(
            entity="wb-demo",
            project="churn",
            api_key=dg.EnvVar("WB_CHURN_TEST_KEY"),
            base_url=srv.base_url,
            storage_dir=str(tmp_path / "store"),
        )
        instance = dg.DagsterInstance.ephemeral()
        instance.add_dynamic_partitions("wandb_runs__wb_demo__churn", ["sys"])
        system = dg.AssetKey(["wandb", "wb-demo", "churn", "run_system_metrics"])
        result = dg.materialize(
            list(defs.assets),
            selection=[system],
            partition_key="sys",
            instance=instance,
            resources=dict(defs.resources),
        )
        (mat,) = result.asset_materializations_for_node("wandb_wb_demo__churn__run_assets")
        meta = mat.metadata
        assert (meta["rows"].value, meta["wandb/events_line_count"].value) == (1000, 1200)
        assert meta["wandb/system_metrics_complete"].value is False
        assert "1000 of the run's 1200" in meta["wandb/system_metrics_note"].value
