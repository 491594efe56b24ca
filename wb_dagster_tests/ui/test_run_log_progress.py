"""A long history export reports its progress in the Dagster run log (what the UI's run page
shows): requests done and their rate while it runs, then rows, requests and rows per second."""

from __future__ import annotations

import re

import dagster as dg
import pytest
import requests

from wb_dagster.assets import export_progress
from wb_dagster.defs import build_wandb_defs
from wb_dagster.testing import LocalWandbServer
from wb_dagster_tests.inprocess import assets_of

ROWS = 30_000  # the scale seed's history_rows: the expected row count


@pytest.fixture
def slow_server():
    with LocalWandbServer(seed=None, latency_ms=150) as srv:
        spec = {
            "project": f"{srv.entity}/scale",
            "runs": 1,
            "history_rows": ROWS,
            "history_keys": 3,
            "exported": False,  # live history: paged GraphQL requests, each slowed down
        }
        resp = requests.post(f"{srv.base_url}/_control/seed", json=spec, timeout=60)
        resp.raise_for_status()
        yield srv


def test_history_export_logs_progress_to_the_run_log(slow_server, tmp_path, monkeypatch):
    monkeypatch.setattr(export_progress, "PROGRESS_INTERVAL_S", 0.1)
    srv = slow_server
    monkeypatch.setenv("WB_DAGSTER_TEST_KEY", srv.api_key)
    defs = build_wandb_defs(
        entity=srv.entity,
        project="scale",
        api_key=dg.EnvVar("WB_DAGSTER_TEST_KEY"),
        base_url=srv.base_url,
        storage_dir=str(tmp_path / "store"),
        retry_policy=None,
    )
    history = dg.AssetKey(["wandb", srv.entity or "", "scale", "run_history"])
    with dg.instance_for_test() as instance:
        partitions = defs.resolve_asset_graph().get(history).partitions_def
        assert isinstance(partitions, dg.DynamicPartitionsDefinition) and partitions.name
        instance.add_dynamic_partitions(partitions.name, ["s000000"])
        before = srv.stats()["requests"]
        result = dg.materialize(
            assets_of(defs),
            selection=[history],
            partition_key="s000000",
            instance=instance,
            resources=dict(defs.resources or {}),
        )
        assert result.success
        messages = [e.user_message for e in instance.all_logs(result.run_id)]
    label = f"history of {srv.entity}/scale/s000000"
    ticks = [m for m in messages if m.startswith(f"{label}: ") and "requests done" in m]
    assert ticks, messages
    assert re.search(
        r"\d+ requests done \(\d+\.\d/s\), \d+s elapsed, 30,000 rows to fetch", ticks[0]
    )
    (final,) = [m for m in messages if m.startswith(f"{label}: {ROWS:,} rows, ")]
    match = re.search(r"(\d+) requests in [\d.]+s \(([\d,]+) rows/s\)", final)
    assert match, final
    # live pages of at most ~10k rows: at least 3 requests for 30k rows
    assert int(match.group(1)) >= ROWS // 10_000
    assert int(match.group(2).replace(",", "")) > 0
    assert int(match.group(1)) <= srv.stats()["requests"] - before  # counted, not invented
