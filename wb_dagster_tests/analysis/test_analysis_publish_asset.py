"""``publish_analysis_run`` in Dagster assets, read back with the official SDK.

The asset graph: ``scores`` (a fixed table of demo run ids and accuracies, the test's input) ->
``reports/leaderboard`` (top-k rows, published as an analysis run). A partitioned pair
``run_scores`` -> ``reports/run_report`` publishes one run per partition.
"""

# no `from __future__ import annotations`: Dagster reads the asset parameters' annotations

from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd
import pytest

from wb_dagster.resource import WandbResource
from wb_dagster.testing import LocalWandbServer
from wb_dagster.writeback.analysis_runs import publish_analysis_run
from wb_dagster_tests.support.clients import make_sdk_api
from wb_dagster_tests.support.sdk_env import SdkEnv

PROJECT = "reports"
SCORES = pd.DataFrame(
    {"run": ["cifar000", "cifar001", "cifar002", "cifar003"], "val_acc": [0.61, 0.93, 0.72, 0.88]}
)
LEADERBOARD_KEY = dg.AssetKey(["reports", "leaderboard"])
RUN_REPORT_KEY = dg.AssetKey(["reports", "run_report"])
PARTITIONS = dg.StaticPartitionsDefinition(["cifar000", "cifar001"])


class BoardConfig(dg.Config):
    top_k: int = 2


@dg.asset
def scores() -> pd.DataFrame:
    return SCORES


@dg.asset(key=LEADERBOARD_KEY)
def leaderboard(context, config: BoardConfig, wandb: WandbResource, scores: pd.DataFrame):
    board = scores.sort_values("val_acc", ascending=False).head(config.top_k)
    board = board.reset_index(drop=True)
    yield from publish_analysis_run(
        context,
        wandb,
        project=f"wb-demo/{PROJECT}",
        result=board,
        config={"top_k": config.top_k},
        summary={"best_val_acc": float(board["val_acc"].max()), "runs_ranked": len(board)},
        source_runs=board["run"],
        source_project="cifar",
        tags=["leaderboard"],
    )


@dg.asset(partitions_def=PARTITIONS)
def run_scores(context) -> dict[str, Any]:
    row = SCORES[SCORES["run"] == context.partition_key].iloc[0]
    return {"val_acc": float(row["val_acc"])}


@dg.asset(key=RUN_REPORT_KEY, partitions_def=PARTITIONS)
def run_report(context, wandb: WandbResource, run_scores: dict[str, Any]):
    yield from publish_analysis_run(
        context,
        wandb,
        project=f"wb-demo/{PROJECT}",
        result={"val_acc": run_scores["val_acc"], "passed": run_scores["val_acc"] > 0.8},
        source_runs=[context.partition_key],
        source_project="wb-demo/cifar",
        job_type="evaluation",
    )


def _resources(server: LocalWandbServer, tmp_path: Path, **wandb: Any) -> dict[str, Any]:
    wandb.setdefault("api_key", server.api_key)
    return {
        "wandb": WandbResource(base_url=server.base_url, retry_budget_s=1.0, **wandb),
        "io_manager": dg.FilesystemIOManager(base_dir=str(tmp_path / "io")),
    }


def _materialize(
    assets: list[Any], instance: dg.DagsterInstance, resources: dict[str, Any], **kwargs: Any
) -> dg.ExecuteInProcessResult:
    return dg.materialize(assets, instance=instance, resources=resources, **kwargs)


def _latest_metadata(instance: dg.DagsterInstance, key: dg.AssetKey) -> dict[str, Any]:
    event = instance.get_latest_materialization_event(key)
    assert event is not None and event.asset_materialization is not None
    return {k: v.value for k, v in event.asset_materialization.metadata.items()}


def _analysis_runs(server: LocalWandbServer) -> list[Any]:
    return list(make_sdk_api(server).runs(f"wb-demo/{PROJECT}"))


def test_published_leaderboard_is_seen_by_the_sdk_with_lineage_and_url(
    server: LocalWandbServer, sdk_env: SdkEnv, instance: dg.DagsterInstance, tmp_path: Path
) -> None:
    result = _materialize([scores, leaderboard], instance, _resources(server, tmp_path))
    assert result.success

    (sdk_run,) = _analysis_runs(server)
    assert sdk_run.job_type == "analysis"
    assert sdk_run.state == "finished"
    assert sdk_run.name == "reports/leaderboard"
    assert sdk_run.tags == ["leaderboard"]
    assert sdk_run.summary["best_val_acc"] == 0.93
    assert sdk_run.summary["runs_ranked"] == 2
    assert sdk_run.config["top_k"] == 2
    lineage = sdk_run.config["lineage"]
    assert lineage["wandb_runs"] == ["wb-demo/cifar/cifar001", "wb-demo/cifar/cifar003"]
    assert lineage["dagster"]["asset_key"] == "reports/leaderboard"
    assert lineage["dagster"]["partition_key"] is None
    assert lineage["dagster"]["run_id"] == result.run_id
    assert lineage["dagster"]["upstream"] == [{"asset_key": "scores"}]
    # the table file holds the asset's value
    (table_file,) = [f for f in sdk_run.files() if f.name == "leaderboard.parquet"]
    table_file.download(root=str(tmp_path / "dl"))
    expected = pd.DataFrame({"run": ["cifar001", "cifar003"], "val_acc": [0.93, 0.88]})
    pd.testing.assert_frame_equal(
        pd.read_parquet(tmp_path / "dl" / "leaderboard.parquet"), expected
    )
    # the materialization links to the run; the stored output is the same table
    meta = _latest_metadata(instance, LEADERBOARD_KEY)
    assert meta["wandb/run_url"] == sdk_run.url
    assert meta["wandb/run_id"] == sdk_run.id
    assert server.api_key not in repr(meta)
    stored = result.output_for_node("reports__leaderboard")
    pd.testing.assert_frame_equal(stored, expected)


def test_rematerializing_updates_the_same_run_in_place(
    server: LocalWandbServer, sdk_env: SdkEnv, instance: dg.DagsterInstance, tmp_path: Path
) -> None:
    resources = _resources(server, tmp_path)
    first = _materialize([scores, leaderboard], instance, resources)
    (before,) = _analysis_runs(server)

    run_config = dg.RunConfig({"reports__leaderboard": BoardConfig(top_k=3)})
    second = _materialize([scores, leaderboard], instance, resources, run_config=run_config)
    assert first.success and second.success

    (after,) = _analysis_runs(server)  # one run, not two
    assert after.id == before.id
    assert after.summary["runs_ranked"] == 3
    assert after.config["top_k"] == 3
    assert after.config["lineage"]["dagster"]["run_id"] == second.run_id
    assert after.config["lineage"]["wandb_runs"] == [
        "wb-demo/cifar/cifar001",
        "wb-demo/cifar/cifar003",
        "wb-demo/cifar/cifar002",
    ]


def test_partitions_publish_one_run_each_and_rematerializing_a_partition_reuses_it(
    server: LocalWandbServer, sdk_env: SdkEnv, instance: dg.DagsterInstance, tmp_path: Path
) -> None:
    resources = _resources(server, tmp_path)
    for partition in ["cifar000", "cifar001", "cifar000"]:
        result = _materialize(
            [run_scores, run_report], instance, resources, partition_key=partition
        )
        assert result.success

    runs = _analysis_runs(server)
    assert len(runs) == 2
    by_partition = {r.config["lineage"]["dagster"]["partition_key"]: r for r in runs}
    assert set(by_partition) == {"cifar000", "cifar001"}
    for partition, run in by_partition.items():
        expected_acc = float(SCORES.set_index("run").loc[partition, "val_acc"])
        assert run.job_type == "evaluation"
        assert run.state == "finished"
        assert run.summary["val_acc"] == expected_acc
        assert run.summary["passed"] is (expected_acc > 0.8)
        assert run.name == f"reports/run_report [{partition}]"
        lineage = run.config["lineage"]
        assert lineage["wandb_runs"] == [f"wb-demo/cifar/{partition}"]
        assert lineage["dagster"]["upstream"] == [
            {"asset_key": "run_scores", "partition_keys": [partition]}
        ]
    assert by_partition["cifar000"].id != by_partition["cifar001"].id


def _failure_message(result: dg.ExecuteInProcessResult) -> str:
    (failure,) = [e for e in result.all_events if e.is_step_failure]
    data = failure.step_failure_data
    assert data.user_failure_data is not None
    return str(data.user_failure_data.description)


@pytest.mark.parametrize("cause", ["upsert_fault", "wrong_key"])
def test_failure_to_publish_fails_the_asset_but_keeps_its_output(
    cause: str,
    server: LocalWandbServer,
    sdk_env: SdkEnv,
    instance: dg.DagsterInstance,
    tmp_path: Path,
) -> None:
    wrong_key = "w" * 40
    if cause == "upsert_fault":
        server.add_faults([{"match": "UpsertBucket", "status": 500}])
        resources = _resources(server, tmp_path)
    else:
        resources = _resources(server, tmp_path, api_key=wrong_key)

    result = _materialize([scores, leaderboard], instance, resources, raise_on_error=False)

    assert not result.success
    message = _failure_message(result)
    assert "reports/leaderboard" in message
    assert f"wb-demo/{PROJECT}" in message
    assert "re-materialize" in message
    if cause == "wrong_key":
        assert "WANDB_API_KEY" in message  # what to do about it
    assert wrong_key not in message and server.api_key not in message
    # the asset's output was stored and its materialization recorded, with the error
    defs = dg.Definitions(assets=[scores, leaderboard], resources=resources)
    stored = defs.load_asset_value(LEADERBOARD_KEY, instance=instance)
    assert isinstance(stored, pd.DataFrame)
    expected = pd.DataFrame({"run": ["cifar001", "cifar003"], "val_acc": [0.93, 0.88]})
    pd.testing.assert_frame_equal(stored, expected)
    assert "wandb/publish_error" in _latest_metadata(instance, LEADERBOARD_KEY)
    server.clear_faults()
    with pytest.raises(ValueError, match="Could not find project"):  # nothing was created
        _analysis_runs(server)

    # once the cause is fixed, materializing again publishes exactly one run
    retry = _materialize([scores, leaderboard], instance, _resources(server, tmp_path))
    assert retry.success
    (published,) = _analysis_runs(server)
    assert published.summary["best_val_acc"] == 0.93
    assert "wandb/run_url" in _latest_metadata(instance, LEADERBOARD_KEY)
