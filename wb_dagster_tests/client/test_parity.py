"""Done-when 1 (read side): our client and the official SDK, same demo server, same answers."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pandas as pd
import pytest
import requests

from wb_dagster.client import CommError, WandbClient
from wb_dagster.testing.seeds.demo import DEMO_RUNS_BY_ID, DEMO_SWEEP_ID
from wb_dagster_tests.support.clients import make_client, make_sdk_api
from wb_dagster_tests.support.history_rows import comparable_rows, norm_value

PROJECT = "wb-demo/cifar"
EXPORTED, LIVE = "cifar002", "cifar009"  # cifar002 has the NaN; cifar009 is running (live)


def frame(df: object) -> pd.DataFrame:
    """Documented dtype normalization: sorted columns, floats for numbers, object otherwise."""
    assert isinstance(df, pd.DataFrame), type(df)
    df = df.reindex(sorted(df.columns), axis=1).reset_index(drop=True)
    return df.apply(lambda col: col.map(norm_value))


def run_view(run: Any) -> dict[str, Any]:
    return {
        "id": run.id,
        "name": run.name,
        "display_name": run.display_name,
        "storage_id": run.storage_id,
        "state": run.state,
        "tags": run.tags,
        "group": run.group,
        "job_type": run.job_type,
        "commit": run.commit,
        "created_at": run.created_at,
        "heartbeat_at": run.heartbeat_at,
        "sweep_name": run.sweep_name,
        "config": run.config,
        "rawconfig": run.rawconfig,
        "summary": norm_value(run.summary._json_dict),
        "system_metrics": run.system_metrics,
        "path": run.path,
        "url": run.url,
        "entity": run.entity,
        "project": run.project,
        "lastHistoryStep": run.lastHistoryStep,
        "metadata": run.metadata,
    }


@pytest.mark.parametrize(
    "path",
    ["wb-demo/cifar/cifar003", "wb-demo/cifar/runs/cifar003", "wb-demo/cifar:cifar003",
     "cifar/cifar003", "cifar:cifar003"],
)  # fmt: skip
def test_run_paths_and_attributes(demo_sdk_api: Any, demo_client: WandbClient, path: str) -> None:
    ours, theirs = run_view(demo_client.run(path)), run_view(demo_sdk_api.run(path))
    assert ours == theirs
    assert ours["config"]["lr"] == DEMO_RUNS_BY_ID["cifar003"].lr


def test_runs_filters_order_paging(demo_sdk_api: Any, demo_client: WandbClient) -> None:
    cases: list[dict[str, Any]] = [
        {},
        {"per_page": 5},
        {"order": "-summary_metrics.val_acc"},
        {
            "filters": {
                "$or": [{"config.experiment_name": "foo"}, {"config.experiment_name": "bar"}]
            }
        },
        {"filters": {"state": "finished"}, "order": "+created_at", "per_page": 2},
    ]
    for kwargs in cases:
        ours, theirs = demo_client.runs(PROJECT, **kwargs), demo_sdk_api.runs(PROJECT, **kwargs)
        assert len(ours) == len(theirs), kwargs
        assert [r.id for r in ours] == [r.id for r in theirs], kwargs
        assert [r.config for r in ours] == [r.config for r in theirs], kwargs


def test_runs_table_matches_sdk_attributes(demo_sdk_api: Any, demo_client: WandbClient) -> None:
    table = demo_client.runs(PROJECT).to_table()
    expected = list(demo_sdk_api.runs(PROJECT))
    rows = table.to_pylist()
    assert [r["id"] for r in rows] == [r.id for r in expected]
    for row, run in zip(rows, expected, strict=True):
        assert row["name"] == run.name and row["state"] == run.state
        assert row["tags"] == run.tags and row["commit"] == run.commit
        assert row["user"] == run.user.username
        assert row["history_line_count"] == run.history_line_count
        assert row["last_step"] == run.lastHistoryStep
        assert row["config.lr"] == run.config["lr"]
        assert row["config.augmentation.flip"] == run.config["augmentation"]["flip"]
        assert norm_value(row["summary.best_val_acc"]) == norm_value(run.summary["best_val_acc"])


def utc(text: str) -> datetime:
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def state_row(r: Any) -> dict[str, Any]:
    """What the probe must say of an SDK run (the line count from the SDK's listing fields)."""
    lines = int(r._attrs.get("historyLineCount") or 0)
    return {
        "id": r.id,
        "state": r.state,
        "heartbeat_at": utc(r.heartbeat_at),
        "history_line_count": lines,
    }


@pytest.mark.parametrize("filters", [None, {"state": "running"}, {"config.experiment_name": "foo"}])
def test_state_table_matches_sdk(demo_sdk_api: Any, demo_client: WandbClient, filters: Any) -> None:
    probe = demo_client.runs(PROJECT, filters=filters, per_page=3).to_state_table()
    expected = list(demo_sdk_api.runs(PROJECT, filters=filters))
    assert expected and probe.column_names == ["id", "state", "heartbeat_at", "history_line_count"]
    assert probe.to_pylist() == [state_row(r) for r in expected]


def test_state_table_pages_through_large_projects(empty_server: Any, sdk_env: Any) -> None:
    spec = {"project": "me/many", "runs": 1_100, "history_rows": 0}
    requests.post(f"{empty_server.base_url}/_control/seed", json=spec, timeout=60)
    filters = {"state": "finished"}
    probe = make_client(empty_server).runs("me/many", filters=filters).to_state_table()
    expected = list(make_sdk_api(empty_server).runs("me/many", filters=filters, per_page=500))
    assert len(expected) == 1_100
    assert probe.to_pylist() == [state_row(r) for r in expected]


@pytest.mark.parametrize("run_id", [EXPORTED, LIVE])
def test_sampled_history(demo_sdk_api: Any, demo_client: WandbClient, run_id: str) -> None:
    ours, theirs = demo_client.run(f"{PROJECT}/{run_id}"), demo_sdk_api.run(f"{PROJECT}/{run_id}")
    pd.testing.assert_frame_equal(frame(ours.history()), frame(theirs.history()))
    pd.testing.assert_frame_equal(
        frame(ours.history(samples=50, keys=["loss", "accuracy"])),
        frame(theirs.history(samples=50, keys=["loss", "accuracy"])),
    )
    pd.testing.assert_frame_equal(
        frame(ours.history(stream="events")), frame(theirs.history(stream="events"))
    )
    assert frame(ours.history(keys=["loss", "val_acc"])).empty  # W&B's all-keys rule, as the SDK
    assert ours.history(pandas=False, samples=3) == theirs.history(pandas=False, samples=3)


@pytest.mark.parametrize("run_id", [EXPORTED, LIVE])
def test_scan_history(demo_sdk_api: Any, demo_client: WandbClient, run_id: str) -> None:
    ours, theirs = demo_client.run(f"{PROJECT}/{run_id}"), demo_sdk_api.run(f"{PROJECT}/{run_id}")
    assert comparable_rows(ours.scan_history()) == comparable_rows(theirs.scan_history())
    kw: dict[str, Any] = {"keys": ["loss", "accuracy"], "page_size": 100}
    assert [norm_value(r) for r in ours.scan_history(**kw)] == [
        norm_value(r) for r in theirs.scan_history(**kw)
    ]
    kw = {"min_step": 150, "max_step": 420, "page_size": 100}
    assert comparable_rows(ours.scan_history(**kw)) == comparable_rows(theirs.scan_history(**kw))


def test_files_listing_and_bytes(
    demo_sdk_api: Any, demo_client: WandbClient, tmp_path: Any
) -> None:
    ours = demo_client.run(f"{PROJECT}/cifar004")
    theirs = demo_sdk_api.run(f"{PROJECT}/cifar004")

    def view(files: Any) -> list[tuple[Any, ...]]:
        return [(f.name, f.size, f.md5, f.mimetype, f.url) for f in files]

    assert len(ours.files()) == len(theirs.files())
    assert view(ours.files()) == view(theirs.files())
    assert view(ours.files(pattern="%.png")) == view(theirs.files(pattern="%.png"))
    assert view(ours.files(names=["output.log"])) == view(theirs.files(names=["output.log"]))
    for name in ("model-best.h5", "media/images/sample_0.png"):
        mine = ours.file(name).download(root=tmp_path / "ours")
        ref = theirs.file(name).download(root=str(tmp_path / "sdk"))
        mine.close()
        ref.close()
        assert (tmp_path / "ours" / name).read_bytes() == (tmp_path / "sdk" / name).read_bytes()


def test_sweep_and_best_run(demo_sdk_api: Any, demo_client: WandbClient) -> None:
    path = f"{PROJECT}/{DEMO_SWEEP_ID}"
    ours, theirs = demo_client.sweep(path), demo_sdk_api.sweep(path)
    assert (ours.id, ours.name, ours.state, ours.config) == (
        theirs.id,
        theirs.name,
        theirs.state,
        theirs.config,
    )
    assert [r.id for r in ours.runs] == [r.id for r in theirs.runs]
    best, best_by_loss = ours.best_run(), ours.best_run(order="-summary_metrics.loss")
    assert best is not None and best_by_loss is not None
    assert best.id == theirs.best_run().id
    assert best_by_loss.id == theirs.best_run(order="-summary_metrics.loss").id
    run = demo_client.run(f"{PROJECT}/cifar004")
    assert (
        run.sweep is not None and run.sweep.id == demo_sdk_api.run(f"{PROJECT}/cifar004").sweep.id
    )
    assert [s.id for s in demo_client.sweeps(PROJECT)] == [DEMO_SWEEP_ID]


def test_missing_run_is_comm_error(demo_sdk_api: Any, demo_client: WandbClient) -> None:
    import wandb

    with pytest.raises(wandb.CommError):  # type: ignore[attr-defined]
        demo_sdk_api.run(f"{PROJECT}/nope")
    with pytest.raises(CommError, match="Could not find run wb-demo/cifar/nope") as err:
        demo_client.run(f"{PROJECT}/nope")
    assert isinstance(err.value, LookupError)
    with pytest.raises(CommError, match="Could not find project"):
        len(demo_client.runs("wb-demo/nope"))
