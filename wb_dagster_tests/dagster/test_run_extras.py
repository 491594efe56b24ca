"""``run_console_logs`` and ``run_tables``: per-run assets beside history and system metrics.

One SDK process (``wandb.init()`` against the local server) logs two runs of ``extras``:
``tabled`` prints to stdout/stderr and logs a ``wandb.Table`` at two steps plus one set on the
summary only; ``plain`` prints and logs a loss, no Table. Under ``dagster dev`` the run sensor
stores every per-run asset of both runs in one batch; the stored console logs must equal the
SDK's ``run.console_logs()`` field by field, the stored Tables the rows the script logged. In
process: a Table-less run costs no request for ``run_tables`` (the same requests, by
operation and route, with and without it).
"""

from __future__ import annotations

import json
import os
import textwrap
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import dagster as dg
import pyarrow.parquet as pq
import pytest

from wb_dagster import build_wandb_defs
from wb_dagster.assets.tables import read_run_tables
from wb_dagster.dagster_process import DagsterProcess, prepare_home, wait_until
from wb_dagster.names import key_part, project_name
from wb_dagster.testing import LocalWandbServer
from wb_dagster_tests.daemon.harness import in_progress
from wb_dagster_tests.inprocess import QUIET_RUN_CONFIG, assets_of
from wb_dagster_tests.support.clients import make_sdk_api
from wb_dagster_tests.support.sdk_process import run_sdk

PROJECT = "extras"
COLUMNS = ["id", "label", "score"]
PREDS = {step: [[i, f"class {i}", i * 0.5 + step] for i in range(3)] for step in (0, 1)}
FINAL = [["done", 2]]
PRINTED = ["epoch 0 loss=1.0", "epoch 1 loss=0.5"]
ERRORS = ["Traceback (most recent call last):", "RuntimeError: boom"]
PER_RUN = ("run_history", "run_system_metrics", "run_console_logs", "run_tables")

SCRIPT = textwrap.dedent(
    """
    import json, sys
    import wandb

    spec = json.loads(sys.argv[1])
    ids = {}
    for name in ("tabled", "plain"):
        run = wandb.init(project=spec["project"], name=name)
        for line in spec["printed"]:
            print(line, flush=True)
        for line in spec["errors"]:
            print(line, file=sys.stderr, flush=True)
        for step in ("0", "1"):
            row = {"loss": 1.0 / (int(step) + 1)}
            if name == "tabled":
                row["preds"] = wandb.Table(columns=spec["columns"], data=spec["preds"][step])
            run.log(row)
        if name == "tabled":
            run.summary["final"] = wandb.Table(columns=["status", "n"], data=spec["final"])
        ids[name] = run.id
        ids["entity"] = run.entity
        run.finish()
    print(json.dumps(ids))
    """
)

DEFS = """\
    import os

    import dagster as dg

    from wb_dagster import build_wandb_defs

    defs = build_wandb_defs(
        entity=os.environ["WB_TEST_ENTITY"],
        project="extras",
        api_key=dg.EnvVar("WANDB_API_KEY"),
        base_url=os.environ["WANDB_BASE_URL"],
        storage_dir=os.environ["WB_TEST_STORAGE"],
        include=["runs", "run_history", "run_system_metrics", "run_console_logs", "run_tables"],
        sensor_status=dg.DefaultSensorStatus.RUNNING,
        sensor_interval_seconds=1,
        batch_size=4,
        runs_schedule=None,
        deleted_runs=True,
        deleted_runs_interval_seconds=1,
    )
"""


@pytest.fixture(scope="module")
def logged(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalWandbServer, dict]]:
    with LocalWandbServer(seed=None) as srv:
        home = tmp_path_factory.mktemp("extras")
        (home / "log.py").write_text(SCRIPT)
        spec = {
            "project": PROJECT,
            "columns": COLUMNS,
            "preds": PREDS,
            "final": FINAL,
            "printed": PRINTED,
            "errors": ERRORS,
        }
        proc = run_sdk(srv, home, [str(home / "log.py"), json.dumps(spec)], 90)
        assert proc.returncode == 0, proc.stderr
        yield srv, json.loads(proc.stdout.strip().splitlines()[-1])


def _expected_tables() -> dict[str, list[dict[str, Any]]]:
    preds = [
        {"_step": step, **dict(zip(COLUMNS, row, strict=True))}
        for step in (0, 1)
        for row in PREDS[step]
    ]
    return {"preds": preds, "final": [{"_step": None, "status": "done", "n": 2}]}


def _materialize(
    srv: LocalWandbServer, storage: Path, instance: dg.DagsterInstance, run_id: str, kinds: tuple
) -> None:
    defs = build_wandb_defs(
        entity=srv.entity,
        project=PROJECT,
        api_key=dg.EnvVar("WB_EXTRAS_KEY"),
        base_url=srv.base_url,
        storage_dir=str(storage),
        include=list(kinds),
    )
    result = dg.materialize(
        assets_of(defs),
        selection=[dg.AssetKey(["wandb", key_part(srv.entity), PROJECT, k]) for k in kinds],
        partition_key=run_id,
        instance=instance,
        resources=dict(defs.resources or {}),
        run_config=QUIET_RUN_CONFIG,
    )
    assert result.success


def test_a_table_less_run_costs_no_request_for_run_tables(
    logged: tuple[LocalWandbServer, dict], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    srv, ids = logged
    monkeypatch.setenv("WB_EXTRAS_KEY", srv.api_key)
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(
            f"wandb_runs__{project_name(srv.entity, PROJECT)}", [ids["plain"]]
        )
        costs = []
        for kinds in (PER_RUN[:2], (*PER_RUN[:2], "run_tables")):
            srv.reset_stats()
            _materialize(srv, tmp_path / str(len(kinds)), instance, ids["plain"], kinds)
            stats = srv.stats()
            costs.append((stats["by_operation"], stats["by_route"]))
        assert costs[0] == costs[1]
        assert (
            read_run_tables(
                tmp_path
                / "3"
                / "wandb"
                / key_part(srv.entity)
                / PROJECT
                / "run_tables"
                / ids["plain"]
            )
            == {}
        )
        mats = instance.fetch_materializations(
            dg.AssetKey(["wandb", key_part(srv.entity), PROJECT, "run_tables"]), limit=5
        ).records
        metadata = [m.asset_materialization.metadata for m in mats if m.asset_materialization]
        assert [m["tables"].value for m in metadata] == [0]


@pytest.fixture(scope="module")
def deployment(
    logged: tuple[LocalWandbServer, dict], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[DagsterProcess, Path]]:
    srv, _ = logged
    tmp_path = tmp_path_factory.mktemp("extras-dagster")
    storage = tmp_path / "store"
    defs_file = tmp_path / "defs.py"
    defs_file.write_text(textwrap.dedent(DEFS))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WANDB_", "DAGSTER_"))}
    env.update(
        WANDB_API_KEY=srv.api_key,
        WANDB_BASE_URL=srv.base_url,
        WB_TEST_STORAGE=str(storage),
        WB_TEST_ENTITY=srv.entity,
    )
    home = prepare_home(tmp_path / "dagster_home")
    with DagsterProcess.dev(home, ["-f", str(defs_file)], env=env, log=tmp_path / "dev.log") as d:
        d.wait_ready()
        yield d, storage


def test_the_run_sensor_stores_console_logs_and_tables_under_the_daemon(
    logged: tuple[LocalWandbServer, dict], deployment: tuple[DagsterProcess, Path], sdk_env: Any
) -> None:
    srv, ids = logged
    dagster, storage = deployment
    instance = dagster.instance()
    runs = [ids["tabled"], ids["plain"]]
    keys = [dg.AssetKey(["wandb", key_part(srv.entity), PROJECT, k]) for k in PER_RUN]

    def stored() -> bool:
        return all(instance.get_materialized_partitions(k) == set(runs) for k in keys)

    wait_until("every per-run asset of both runs", stored, 90.0)
    launched = instance.get_run_records(
        filters=dg.RunsFilter(
            tags={"dagster/sensor_name": f"wandb_{project_name(srv.entity, PROJECT)}__run_sensor"}
        )
    )
    batches = [r.dagster_run for r in launched if r.dagster_run.tags.get("wandb/runs")]
    assert [b.tags["wandb/runs"] for b in batches] == ["2"]  # one Dagster run for both

    api = make_sdk_api(srv)
    for run_id in runs:
        path = f"{ids['entity']}/{PROJECT}/{run_id}"
        logs = pq.read_table(
            storage
            / "wandb"
            / key_part(srv.entity)
            / PROJECT
            / "run_console_logs"
            / f"{run_id}.parquet"
        )
        assert logs.column("content").to_pylist() == PRINTED + ERRORS
        sdk_lines = [
            {
                "number": x.number,
                "timestamp": x.timestamp,
                "level": x.level,
                "label": x.label,
                "content": x.content,
            }
            for x in api.run(path).console_logs()
        ]
        assert logs.to_pylist() == sdk_lines
    (mat,) = [
        r.asset_materialization
        for r in instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=keys[2], asset_partitions=[ids["tabled"]]), limit=5
        ).records
        if r.asset_materialization
    ]
    assert mat.metadata["error_lines"].value == len(ERRORS)
    assert "RuntimeError: boom" in str(mat.metadata["last_lines"].value)

    tables = read_run_tables(
        storage / "wandb" / key_part(srv.entity) / PROJECT / "run_tables" / ids["tabled"]
    )
    assert {k: t.to_pylist() for k, t in tables.items()} == _expected_tables()
    assert (
        read_run_tables(
            storage / "wandb" / key_part(srv.entity) / PROJECT / "run_tables" / ids["plain"]
        )
        == {}
    )


def test_a_run_deleted_in_wandb_loses_its_partition_and_row_under_the_daemon(
    logged: tuple[LocalWandbServer, dict], deployment: tuple[DagsterProcess, Path], sdk_env: Any
) -> None:
    srv, ids = logged
    dagster, storage = deployment
    instance = dagster.instance()
    partitions = f"wandb_runs__{project_name(srv.entity, PROJECT)}"
    both = {ids["tabled"], ids["plain"]}
    wait_until(
        "both runs' partitions",
        lambda: set(instance.get_dynamic_partitions(partitions)) == both,
        60.0,
    )
    history = storage / "wandb" / key_part(srv.entity) / PROJECT / "run_history"
    wait_until(
        "both runs' histories stored",
        lambda: all((history / f"{run_id}.parquet").exists() for run_id in both),
        60.0,
    )
    # the import's Dagster runs are over: their run-table step must not race the deletion
    wait_until("the import's Dagster runs to end", lambda: not in_progress(instance), 60.0)
    make_sdk_api(srv).run(f"{ids['entity']}/{PROJECT}/{ids['plain']}").delete()  # as a user would

    def only_tabled_left() -> bool:
        return instance.get_dynamic_partitions(partitions) == [ids["tabled"]]

    wait_until("the deleted run's partition to be deleted", only_tabled_left, 60.0)
    runs_file = storage / "wandb" / key_part(srv.entity) / PROJECT / "runs.parquet"

    def runs_table_without_it() -> bool:
        return runs_file.exists() and pq.read_table(runs_file).column("id").to_pylist() == [
            ids["tabled"]
        ]

    sensor = f"wandb_{project_name(srv.entity, PROJECT)}__deleted_runs_sensor"

    def refreshes() -> Sequence[dg.RunRecord]:
        return instance.get_run_records(
            filters=dg.RunsFilter(
                tags={"dagster/sensor_name": sensor}, statuses=[dg.DagsterRunStatus.SUCCESS]
            )
        )

    wait_until("the deletion's run-table refresh", refreshes, 60.0)
    assert runs_table_without_it()
    assert len(refreshes()) == 1  # one full refresh for the deletion, none for quiet ticks
    # its stored files stay (deleting data is the user's call); the history is still readable
    assert (
        storage
        / "wandb"
        / key_part(srv.entity)
        / PROJECT
        / "run_history"
        / f"{ids['plain']}.parquet"
    ).exists()


def test_stored_runs_check_reports_runs_gone_from_wandb(
    logged: tuple[LocalWandbServer, dict], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    srv, ids = logged
    monkeypatch.setenv("WB_EXTRAS_KEY", srv.api_key)
    defs = build_wandb_defs(
        entity=srv.entity,
        project=PROJECT,
        api_key=dg.EnvVar("WB_EXTRAS_KEY"),
        base_url=srv.base_url,
        storage_dir=str(tmp_path),
        deleted_runs=True,
    )
    check = dg.AssetCheckKey(
        dg.AssetKey(["wandb", key_part(srv.entity), PROJECT, "run_history"]), "stored_runs_exist"
    )
    with dg.instance_for_test() as instance:
        partitions = f"wandb_runs__{project_name(srv.entity, PROJECT)}"
        instance.add_dynamic_partitions(partitions, [ids["tabled"], "gone0001", "gone0002"])
        result = dg.materialize(
            [*assets_of(defs), *(defs.asset_checks or [])],
            selection=dg.AssetSelection.checks(check),
            instance=instance,
            resources=dict(defs.resources or {}),
            run_config=QUIET_RUN_CONFIG,
        )
    (evaluation,) = result.get_asset_check_evaluations()
    assert not evaluation.passed
    assert evaluation.severity == dg.AssetCheckSeverity.WARN
    assert evaluation.metadata["gone_run_ids"].value == ["gone0001", "gone0002"]
    assert evaluation.metadata["stored_runs"].value == 3


def test_a_run_missing_from_one_listing_is_asked_again_before_it_counts_as_gone() -> None:
    import pyarrow as pa

    from wb_dagster.sensors.deleted_runs import gone_run_ids

    class Listing:
        def __init__(self, ids: list[str]) -> None:
            self.ids = ids

        def to_state_table(self) -> pa.Table:
            return pa.table({"id": pa.array(self.ids, type=pa.string())})

    class ShiftingClient:  # the first listing's pages shifted and skipped "b"
        def __init__(self) -> None:
            self.calls: list[list[str]] = []

        def runs(self, path: str, filters: dict, per_page: int) -> Listing:
            asked = filters["name"]["$in"]
            self.calls.append(asked)
            live = {"a", "c"} if len(self.calls) == 1 else {"a", "b", "c"}
            return Listing([i for i in asked if i in live])

    client = ShiftingClient()
    assert gone_run_ids(client, "t/p", ["a", "b", "c", "d"]) == ["d"]  # type: ignore[arg-type]
    assert client.calls == [["a", "b", "c", "d"], ["b", "d"]]
