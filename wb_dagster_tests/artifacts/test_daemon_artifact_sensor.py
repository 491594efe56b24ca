"""The artifact sensor under Dagster's real daemon (``dagster dev`` in a subprocess).

Versions of ``daemon-set`` become partitions and are stored; moving the alias ``best`` with
the official SDK re-records the two versions it left and reached and re-materializes the
alias-tracking asset; a new version becomes a new partition. Expected bytes are the test's
inputs; the alias move is the SDK's own ``artifact.save()``.
"""

from __future__ import annotations

import os
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from wb_dagster.client import WandbClient
from wb_dagster.client.artifact_writes import collect_entries, log_artifact
from wb_dagster.dagster_process import DagsterProcess, prepare_home, wait_until
from wb_dagster.testing.store.backend import DEFAULT_USERNAME
from wb_dagster_tests.artifacts.logged_artifacts import LoggedArtifacts
from wb_dagster_tests.support.clients import make_sdk_api

WAIT_S = 90.0
# the local server's default entity (the viewer), as the collection path names it
KEY = dg.AssetKey(["wandb", DEFAULT_USERNAME, "arts", "artifacts", "daemon-set"])
BEST = dg.AssetKey([*KEY.path, "best"])
DEFS = """\
    import os

    import dagster as dg

    from wb_dagster import (
        WandbArtifactSpec, WandbParquetIOManager, WandbResource, build_wandb_artifact_asset,
        build_wandb_artifact_sensor,
    )

    specs = [
        WandbArtifactSpec.build(os.environ["WB_TEST_COLLECTION"], type="dataset"),
        WandbArtifactSpec.build(os.environ["WB_TEST_COLLECTION"], type="dataset", alias="best"),
    ]
    defs = dg.Definitions(
        assets=[build_wandb_artifact_asset(s) for s in specs],
        sensors=[
            build_wandb_artifact_sensor(
                s, minimum_interval_seconds=1, default_status=dg.DefaultSensorStatus.RUNNING
            )
            for s in specs
        ],
        resources={
            "wandb": WandbResource(
                api_key=dg.EnvVar("WANDB_API_KEY"), base_url=os.environ["WANDB_BASE_URL"]
            ),
            "wandb_io_manager": WandbParquetIOManager(base_dir=os.environ["WB_TEST_STORAGE"]),
        },
    )
"""


def _log(client: WandbClient, tmp: Path, content: bytes, aliases: list[str]) -> None:
    src = tmp / f"src-{content.hex()}"
    src.mkdir()
    (src / "part.bin").write_bytes(content)
    log_artifact(
        client, entity=client.entity or "", project="arts", run_id="daemon-producer",
        name="daemon-set", type="dataset", entries=collect_entries(src), aliases=aliases,
    )  # fmt: skip


@pytest.fixture
def deployment(
    logged: LoggedArtifacts, tmp_path: Path
) -> Iterator[tuple[WandbClient, DagsterProcess, Path]]:
    srv = logged.server
    client = WandbClient(api_key=srv.api_key, base_url=srv.base_url)
    client.create_run(f"{srv.entity}/arts", run_id="daemon-producer", job_type="train")
    _log(client, tmp_path, b"zero", ["best"])
    _log(client, tmp_path, b"one", [])
    defs_file = tmp_path / "defs.py"
    defs_file.write_text(textwrap.dedent(DEFS))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WANDB_", "DAGSTER_"))}
    env.update(
        WANDB_API_KEY=srv.api_key,
        WANDB_BASE_URL=srv.base_url,
        WB_TEST_STORAGE=str(tmp_path / "store"),
        WB_TEST_COLLECTION=f"{srv.entity}/arts/daemon-set",
    )
    home = prepare_home(tmp_path / "dagster_home")
    with DagsterProcess.dev(home, ["-f", str(defs_file)], env=env, log=tmp_path / "dev.log") as d:
        d.wait_ready()
        yield client, d, tmp_path / "store"
    client.close()


def _versions(instance: dg.DagsterInstance, key: dg.AssetKey, partition: str | None) -> list[Any]:
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=key, asset_partitions=[partition] if partition else None),
        limit=50,
    ).records
    return [r.asset_materialization.metadata for r in records if r.asset_materialization]


def _has(instance: dg.DagsterInstance, key: dg.AssetKey, partition: str | None, n: int) -> bool:
    return len(_versions(instance, key, partition)) >= n


def test_daemon_stores_new_versions_and_follows_alias_moves(
    deployment: tuple[WandbClient, DagsterProcess, Path], logged: LoggedArtifacts, sdk_env: Any
) -> None:
    client, dagster, store = deployment
    instance = dagster.instance()
    wait_until(
        "v0, v1 and the alias asset",
        lambda: (
            all(_has(instance, KEY, v, 1) for v in ("v0", "v1")) and _has(instance, BEST, None, 1)
        ),
        WAIT_S,
    )
    assert (
        store / f"wandb/{DEFAULT_USERNAME}/arts/artifacts/daemon-set/v1/part.bin"
    ).read_bytes() == b"one"
    assert _versions(instance, BEST, None)[0]["wandb/version"].value == "v0"
    assert (
        store / f"wandb/{DEFAULT_USERNAME}/arts/artifacts/daemon-set/best/part.bin"
    ).read_bytes() == b"zero"

    # the SDK moves "best" to v1: both versions' records and the alias asset are refreshed
    v1 = make_sdk_api(logged.server).artifact(f"{logged.entity}/arts/daemon-set:v1")
    v1.aliases.append("best")
    v1.save()
    wait_until(
        "the alias move",
        lambda: (
            all(_has(instance, KEY, v, 2) for v in ("v0", "v1")) and _has(instance, BEST, None, 2)
        ),
        WAIT_S,
    )
    assert sorted(_versions(instance, KEY, "v1")[0]["wandb/aliases"].value) == ["best", "latest"]
    assert _versions(instance, KEY, "v0")[0]["wandb/aliases"].value == []
    assert _versions(instance, BEST, None)[0]["wandb/version"].value == "v1"
    assert (
        store / f"wandb/{DEFAULT_USERNAME}/arts/artifacts/daemon-set/best/part.bin"
    ).read_bytes() == b"one"

    # a new version is a new partition (and moves "latest" off v1: v1 is re-recorded too)
    _log(client, store.parent, b"two", [])
    wait_until("v2", lambda: _has(instance, KEY, "v2", 1), WAIT_S)
    assert (
        store / f"wandb/{DEFAULT_USERNAME}/arts/artifacts/daemon-set/v2/part.bin"
    ).read_bytes() == b"two"
    partitions = instance.get_dynamic_partitions("wandb_artifact__local_user__arts__daemon_set")
    assert sorted(partitions) == ["v0", "v1", "v2"]
    wait_until("v1 without latest", lambda: _has(instance, KEY, "v1", 3), WAIT_S)
    assert _versions(instance, KEY, "v1")[0]["wandb/aliases"].value == ["best"]
    done = {dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE}

    def ended() -> list[Any]:
        records = list(instance.get_run_records())
        return records if all(r.dagster_run.status in done for r in records) else []

    runs = wait_until("the runs to end", ended, WAIT_S)
    assert {r.dagster_run.status for r in runs} == {dg.DagsterRunStatus.SUCCESS}
    # adjacent changed versions share a run: v0+v1, then v0+v1 and the alias, then v1+v2
    assert len(runs) == 5
