"""Gaps colleagues reported: the demo's running run vs the crash watchdog, and stale cached
runs/sweeps in long-lived processes."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from wb_dagster.client import api as client_api
from wb_dagster.testing import LocalWandbServer
from wb_dagster.testing.seeds.demo import DEMO_RUNNING_RUN, DEMO_SWEEP_ID
from wb_dagster.testing.store.database import utc_now
from wb_dagster.testing.store.run_lifecycle import (
    DEFAULT_HEARTBEAT_TIMEOUT_S,
    mark_stale_runs_crashed,
)

from .demo_assets import BEST, fast_client, make_defs, materialize

RUNNING = f"wb-demo/cifar/{DEMO_RUNNING_RUN}"


def test_demo_running_run_survives_a_freshly_started_watchdog(wb: LocalWandbServer) -> None:
    backend = wb.backend
    # its seeded heartbeat is from 2024; a watchdog that just started must not crash it
    changed = mark_stale_runs_crashed(
        backend.runs, backend.history, DEFAULT_HEARTBEAT_TIMEOUT_S, watching_since=utc_now()
    )
    assert changed == []
    assert fast_client(wb).run(RUNNING).state == "running"
    # ... but once it has been silent for a whole timeout under watch, it is crashed
    long_ago = utc_now() - timedelta(seconds=DEFAULT_HEARTBEAT_TIMEOUT_S + 1)
    changed = mark_stale_runs_crashed(
        backend.runs, backend.history, DEFAULT_HEARTBEAT_TIMEOUT_S, watching_since=long_ago
    )
    assert len(changed) == 1
    assert fast_client(wb).run(RUNNING).state == "crashed"


def test_server_with_default_watchdog_keeps_the_demo_running_run() -> None:
    with LocalWandbServer(seed="demo", heartbeat_timeout_s=DEFAULT_HEARTBEAT_TIMEOUT_S) as srv:
        assert srv._watchdog is not None
        # one watchdog pass with its own start time, as its thread runs it
        runs, history = srv.backend.runs, srv.backend.history
        assert (
            mark_stale_runs_crashed(
                runs, history, DEFAULT_HEARTBEAT_TIMEOUT_S, srv._watchdog._since
            )
            == []
        )
        assert fast_client(srv).run(RUNNING).state == "running"


def test_client_caches_like_the_sdk_flush_refetches_and_the_cache_is_bounded(
    wb: LocalWandbServer, monkeypatch: Any
) -> None:
    client = fast_client(wb)
    assert client.run(RUNNING).state == "running"
    wb.seed.finish_run(RUNNING)
    assert client.run(RUNNING).state == "running"  # cached, like wandb.Api
    client.flush()
    assert client.run(RUNNING).state == "finished"
    monkeypatch.setattr(client._runs, "size", 3)
    for i in range(6):
        client.run(f"wb-demo/cifar/cifar00{i}")
    assert len(client._runs) == 3
    assert client_api.CACHE_SIZE >= 100


def test_best_model_asset_reads_the_sweep_fresh_in_a_long_lived_process(
    wb: LocalWandbServer, tmp_path: Path, instance: Any
) -> None:
    """The resource's client lives as long as the process; the asset must not see a stale sweep
    (here its goal flips from maximize to minimize between two materializations)."""
    defs = make_defs(wb, tmp_path / "store")
    instance.add_dynamic_partitions("wandb_sweeps__wb_demo__cifar", [DEMO_SWEEP_ID])
    first = materialize(defs, instance, [BEST], DEMO_SWEEP_ID)
    assert first.success
    sweep = fast_client(wb).sweep(f"wb-demo/cifar/{DEMO_SWEEP_ID}")
    config = dict(sweep.config)
    config["metric"] = {"name": "val_acc", "goal": "minimize"}
    wb.seed.create_sweep("wb-demo/cifar", DEMO_SWEEP_ID, config, state="FINISHED")
    second = materialize(defs, instance, [BEST], DEMO_SWEEP_ID)
    assert second.success

    def meta(result: Any) -> dict[str, Any]:
        (event,) = result.get_asset_materialization_events()
        return {k: v.value for k, v in event.materialization.metadata.items()}

    assert meta(first)["goal"] == "maximize" and meta(second)["goal"] == "minimize"
    assert meta(first)["best_run"] != meta(second)["best_run"]
