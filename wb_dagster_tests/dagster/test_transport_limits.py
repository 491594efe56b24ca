"""Issue 18 rows in the Dagster layer: the run sensor's budget logic against a slow server, a
``~`` storage root, and an empty ``EnvVar`` key (an error, never a silent fallback).

The budget test here is the logic only (the sensor function called in-process); that the
budget holds when Dagster's daemon runs the sensor is proven in ``test_daemon_sensor_budget.py``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from wb_dagster.defs import build_wandb_defs
from wb_dagster.project import WandbProjectAssetsSpec
from wb_dagster.resource import WandbResource
from wb_dagster.sensors.runs import build_wandb_run_sensor
from wb_dagster.testing import LocalWandbServer
from wb_dagster.testing.seeds.demo import DEMO_RUNS
from wb_dagster_tests.inprocess import QUIET_RUN_CONFIG, assets_of

KEY_ENV = "WB_DAGSTER_LIMITS_KEY"
RUNS = dg.AssetKey(["wandb", "wb-demo", "cifar", "runs"])
TERMINAL = {"finished", "crashed", "failed", "killed"}


@pytest.fixture
def wb(monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalWandbServer]:
    with LocalWandbServer(seed="demo", heartbeat_timeout_s=10**9) as srv:
        monkeypatch.setenv(KEY_ENV, srv.api_key)
        yield srv


def _tick(sensor: dg.SensorDefinition, srv: LocalWandbServer, cursor: str | None) -> tuple:
    resource = WandbResource(api_key=dg.EnvVar(KEY_ENV), base_url=srv.base_url)
    with (
        dg.instance_for_test() as instance,
        dg.build_sensor_context(
            instance=instance, cursor=cursor, resources={"wandb": resource}
        ) as ctx,
    ):
        started = time.monotonic()
        result = sensor._raw_fn(ctx)  # as the daemon calls it (resources on the context)
        return result, time.monotonic() - started


def test_run_sensor_logic_cuts_a_slow_listing_at_its_budget(
    wb: LocalWandbServer,
) -> None:
    """Logic only (in-process). Each listing page takes 2.5 s, within one call's retry budget
    (3 s for a 6 s tick), so before the fix a page started at 5 s ran to 7.5 s. Now it is cut
    at the budget and the tick keeps what it read; the next tick goes on from there."""
    p = WandbProjectAssetsSpec.build(entity="wb-demo", project="cifar")
    sensor = build_wandb_run_sensor(
        p, tick_budget_seconds=6.0, page_size=2, refresh_runs_table=False
    )
    wb.add_faults([{"match": "RunChanges", "status": None, "delay_ms": 2500}])
    first, took = _tick(sensor, wb, None)
    assert took < 6.6, took
    # two pages of two runs arrived in time (the third was cut): they are kept, and the cut
    # pass is resumed where it stopped (the watermark moves only when a pass ends)
    assert json.loads(first.cursor)["resume"]
    assert 2 <= len(_requested_runs(first)) <= 4
    wb.clear_faults()
    second, _ = _tick(sensor, wb, first.cursor)
    requested = _requested_runs(first) + _requested_runs(second)
    assert sorted(requested) == sorted(r.run_id for r in DEMO_RUNS if r.state in TERMINAL)


def _requested_runs(result: dg.SensorResult) -> list[str]:
    # each tick runs on a fresh instance: every run it requests is a partition it adds
    return [k for req in result.dynamic_partitions_requests or [] for k in req.partition_keys]


def test_storage_dir_with_a_tilde_is_the_home_directory(
    wb: LocalWandbServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    instance: dg.DagsterInstance,
) -> None:
    home, cwd = tmp_path / "home", tmp_path / "cwd"
    home.mkdir()
    cwd.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(cwd)
    defs = build_wandb_defs(
        entity="wb-demo",
        project="cifar",
        api_key=dg.EnvVar(KEY_ENV),
        base_url=wb.base_url,
        storage_dir="~/wb_store",
    )
    result = dg.materialize(
        assets_of(defs),
        selection=[RUNS],
        instance=instance,
        resources=dict(defs.resources or {}),
        run_config=QUIET_RUN_CONFIG,
    )
    assert result.success
    assert (home / "wb_store" / "wandb" / "wb-demo" / "cifar" / "runs.parquet").is_file()
    assert not (cwd / "~").exists()


def test_an_empty_envvar_key_fails_and_never_falls_back(
    wb: LocalWandbServer, monkeypatch: pytest.MonkeyPatch, instance: dg.DagsterInstance
) -> None:
    monkeypatch.setenv("WANDB_API_KEY", wb.api_key)  # a valid key that must not be used
    monkeypatch.setenv(KEY_ENV, "")
    resource = WandbResource(api_key=dg.EnvVar(KEY_ENV), base_url=wb.base_url)
    with pytest.raises(ValueError, match=f"api_key is empty: the environment variable {KEY_ENV}"):
        resource.get_client()
    defs = build_wandb_defs(
        entity="wb-demo", project="cifar", api_key=dg.EnvVar(KEY_ENV), base_url=wb.base_url
    )
    before = wb.stats()["requests"]
    result = dg.materialize(
        assets_of(defs),
        selection=[RUNS],
        instance=instance,
        resources=dict(defs.resources or {}),
        run_config=QUIET_RUN_CONFIG,
        raise_on_error=False,
    )
    assert not result.success
    (failure,) = [e for e in result.all_events if e.is_step_failure]
    message = str(failure.step_failure_data.error)
    # inside a run Dagster hands the resource the value, not the EnvVar: the name is not known
    assert "WandbResource.api_key is empty: its value (the dg.EnvVar's" in message
    assert wb.api_key not in message
    assert wb.stats()["requests"] == before  # nothing was sent with the fallback key
