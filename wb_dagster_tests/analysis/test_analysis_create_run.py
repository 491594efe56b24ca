"""``WandbClient.create_run``: the official SDK sees the published run, re-creating updates it."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from wb_dagster.client import CommError, WandbClient
from wb_dagster.testing import LocalWandbServer
from wb_dagster_tests.support.clients import make_client, make_sdk_api
from wb_dagster_tests.support.sdk_env import SdkEnv

PROJECT = "analysis"
BOARD = pd.DataFrame(
    {"run": ["cifar000", "cifar001", "cifar002"], "val_acc": [0.91, 0.87, 0.5], "rank": [1, 2, 3]}
)


def _plain(value: object) -> object:
    """The SDK's nested summary values (``SummarySubDict``) as plain dicts."""
    keys = getattr(value, "keys", None)
    return {k: _plain(value[k]) for k in keys()} if callable(keys) else value  # type: ignore[index]


def _download(sdk_run, name: str, root: Path) -> bytes:
    (sdk_file,) = [f for f in sdk_run.files() if f.name == name]
    sdk_file.download(root=str(root), replace=True)
    return (root / name).read_bytes()


def test_sdk_sees_the_analysis_run_with_its_fields_config_summary_and_files(
    server: LocalWandbServer, client: WandbClient, sdk_env: SdkEnv, tmp_path: Path
) -> None:
    notes_file = tmp_path / "notes.md"
    notes_file.write_bytes("# findings\n\u2713 cifar000 wins\n".encode())
    blob = bytes(range(256)) * 5
    path = f"{server.entity}/{PROJECT}"

    run = client.create_run(
        path,
        name="leaderboard",
        config={"metric": "val_acc", "top_k": 3, "nested": {"a": [1, 2]}},
        summary={"best_val_acc": 0.91, "n_runs": 3, "best": {"run": "cifar000"}},
        tags=["leaderboard", "dagster"],
        notes="computed by Dagster",
        group="reports",
        run_id="leaderboard-1",
        files={"notes.md": str(notes_file), "raw/blob.bin": blob},
        tables={"leaderboard": BOARD},
    )

    sdk_run = make_sdk_api(server).run(f"{path}/leaderboard-1")
    assert sdk_run.id == "leaderboard-1"
    assert sdk_run.job_type == "analysis"
    assert sdk_run.state == "finished"
    assert sdk_run.name == "leaderboard"
    assert sorted(sdk_run.tags) == ["dagster", "leaderboard"]
    assert sdk_run.notes == "computed by Dagster"
    assert sdk_run.group == "reports"
    assert sdk_run.config == {"metric": "val_acc", "top_k": 3, "nested": {"a": [1, 2]}}
    summary = {k: _plain(v) for k, v in dict(sdk_run.summary).items() if not k.startswith("_")}
    assert summary == {"best_val_acc": 0.91, "n_runs": 3, "best": {"run": "cifar000"}}
    assert {f.name for f in sdk_run.files()} == {"notes.md", "raw/blob.bin", "leaderboard.parquet"}
    dl = tmp_path / "dl"
    assert _download(sdk_run, "notes.md", dl) == notes_file.read_bytes()
    assert _download(sdk_run, "raw/blob.bin", dl) == blob
    _download(sdk_run, "leaderboard.parquet", dl)
    pd.testing.assert_frame_equal(pd.read_parquet(dl / "leaderboard.parquet"), BOARD)
    # the returned client Run is the same run, already finished
    assert (run.id, run.state, run.url) == ("leaderboard-1", "finished", sdk_run.url)


def test_recreating_with_the_same_run_id_updates_the_run_in_place(
    server: LocalWandbServer, client: WandbClient, sdk_env: SdkEnv, tmp_path: Path
) -> None:
    path = f"{server.entity}/{PROJECT}"
    first = client.create_run(
        path,
        run_id="comparison",
        name="v1",
        config={"a": 1, "old": True},
        summary={"score": 1.0, "stale": 2},
        files={"report.txt": b"version 1", "first-only.txt": b"kept"},
    )
    cached = client.run(f"{path}/comparison")
    assert cached.summary["score"] == 1.0

    second = client.create_run(
        path,
        run_id="comparison",
        config={"a": 2},
        summary={"score": 2.5},
        tags=["v2"],
        files={"report.txt": b"version 2"},
    )

    runs = list(make_sdk_api(server).runs(path))
    assert [r.id for r in runs] == ["comparison"]  # one run, not two
    sdk_run = runs[0]
    assert sdk_run.state == "finished"
    assert sdk_run.config == {"a": 2}  # replaced, not merged
    assert sdk_run.summary["score"] == 2.5
    assert "stale" not in sdk_run.summary
    assert sdk_run.name == "v1"  # not given again: kept
    assert sdk_run.tags == ["v2"]
    dl = tmp_path / "dl"
    assert _download(sdk_run, "report.txt", dl) == b"version 2"
    assert _download(sdk_run, "first-only.txt", dl) == b"kept"
    assert second.storage_id == first.storage_id
    # the client does not serve the stale cached copy
    assert client.run(f"{path}/comparison").summary["score"] == 2.5


def test_without_run_id_every_call_creates_a_new_run(
    server: LocalWandbServer, client: WandbClient, sdk_env: SdkEnv
) -> None:
    path = f"{server.entity}/{PROJECT}"
    a = client.create_run(PROJECT, summary={"n": 1})  # bare project: the key's entity
    b = client.create_run(path, summary={"n": 2})
    assert a.id != b.id and len(a.id) == len(b.id) == 8
    sdk_runs = {r.id: r for r in make_sdk_api(server).runs(path)}
    assert set(sdk_runs) == {a.id, b.id}
    assert (sdk_runs[a.id].summary["n"], sdk_runs[b.id].summary["n"]) == (1, 2)
    assert {r.job_type for r in sdk_runs.values()} == {"analysis"}


def test_table_as_csv(
    server: LocalWandbServer, client: WandbClient, sdk_env: SdkEnv, tmp_path: Path
) -> None:
    path = f"{server.entity}/{PROJECT}"
    client.create_run(path, run_id="csv-table", tables={"board": BOARD}, table_format="csv")
    sdk_run = make_sdk_api(server).run(f"{path}/csv-table")
    expected = b"run,val_acc,rank\ncifar000,0.91,1\ncifar001,0.87,2\ncifar002,0.5,3\n"
    assert _download(sdk_run, "board.csv", tmp_path) == expected


@pytest.mark.parametrize("bad_id", ["a/b", "what?", " padded", ""])
def test_invalid_run_id_is_refused_before_any_request(
    server: LocalWandbServer, client: WandbClient, bad_id: str
) -> None:
    with pytest.raises(ValueError, match="invalid run id"):
        client.create_run(f"{server.entity}/{PROJECT}", run_id=bad_id)
    assert "UpsertBucket" not in server.stats()["by_operation"]


def test_unsupported_table_type_is_refused_before_any_request(
    server: LocalWandbServer, client: WandbClient
) -> None:
    with pytest.raises(TypeError, match="pandas DataFrame or a pyarrow Table"):
        client.create_run(f"{server.entity}/{PROJECT}", tables={"t": [1, 2, 3]})
    assert "UpsertBucket" not in server.stats()["by_operation"]


def test_an_interrupted_publish_is_completed_by_publishing_again(
    server: LocalWandbServer, sdk_env: SdkEnv, tmp_path: Path
) -> None:
    path = f"{server.entity}/{PROJECT}"
    server.add_faults([{"match": "PUT /_upload/.*", "status": 500}])
    with make_client(server, retry_budget_s=0.5) as client, pytest.raises(CommError) as failed:
        client.create_run(path, run_id="retry-me", files={"report.txt": b"findings"})
    assert "report.txt" in str(failed.value) and "retry-me" in str(failed.value)
    # the run exists but never finished (as a wandb.init process that died would leave it)
    assert make_sdk_api(server).run(f"{path}/retry-me").state == "running"

    server.clear_faults()
    with make_client(server) as client:
        client.create_run(path, run_id="retry-me", files={"report.txt": b"findings"})
    runs = list(make_sdk_api(server).runs(path))
    assert [(r.id, r.state) for r in runs] == [("retry-me", "finished")]
    assert _download(runs[0], "report.txt", tmp_path) == b"findings"
