"""Runs logged by the official SDK (online, and offline + ``wandb sync``) read back exactly.

Expected values are the literals of ``SPEC`` below (what the script logs); the read-back goes
through the official ``wandb.Api`` and through our ``WandbClient``.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from wb_dagster.testing import LocalWandbServer
from wb_dagster_tests.sdk_logging.logged_rows import logged_part, same
from wb_dagster_tests.support.clients import make_sdk_api
from wb_dagster_tests.support.sdk_process import log_spec, run_sdk

NAN = float("nan")
HIST = {"_type": "histogram", "values": [1, 3, 2], "bins": [0.0, 0.5, 1.0, 1.5]}
MODEL_BYTES = bytes(range(256)) * 8
ROWS: list[dict[str, Any]] = [
    {"loss": 2.5, "accuracy": 0.1, "val": {"acc": 0.05, "loss": 2.6}, "delta": NAN},
    {"loss": 1.25, "accuracy": 0.4, "val": {"acc": 0.3, "loss": 1.5}, "delta": -1.1},
    {"_step": 10, "loss": 0.5, "accuracy": 0.8, "weights": HIST},
    {"_step": 12, "val_acc": 0.75, "nested": {"deep": {"x": 1, "y": "s"}}},
    {"_step": 13, "loss": 0.25, "flag": True},
]
# steps the SDK assigns: auto steps 0, 1, then the custom ones
STEPS = [0, 1, 10, 12, 13]
CONFIG = {"lr": 0.01, "optimizer": {"name": "adam", "betas": [0.9, 0.999]}, "epochs": 3}
EXPLICIT_SUMMARY = {"best_val_acc": 0.75, "note": "done"}


def spec(entity: str, *, mode: str, exit_code: int, gzip: bool) -> dict[str, Any]:
    return {
        "project": "logging",
        "entity": entity,
        "mode": mode,
        "config": CONFIG,
        "rows": ROWS,
        "summary": EXPLICIT_SUMMARY,
        "file_name": "model-best.h5",
        "file_hex": MODEL_BYTES.hex(),
        "print_lines": ["epoch 1 done", "epoch 2 done"],
        "exit_code": exit_code,
        "gzip": gzip,
    }


def expected_rows() -> list[dict[str, Any]]:
    out = []
    for row, step in zip(ROWS, STEPS, strict=True):
        out.append({**{k: v for k, v in row.items() if k != "_step"}, "_step": step})
    return out


def expected_summary() -> dict[str, Any]:
    last: dict[str, Any] = {}
    for row in expected_rows():
        last.update(row)
    return {**last, **EXPLICIT_SUMMARY}


class Logged:
    def __init__(self, server: LocalWandbServer, run_id: str, proc: Any, stats: dict) -> None:
        self.server, self.run_id, self.proc, self.stats = server, run_id, proc, stats
        self.path = f"{server.entity}/logging/{run_id}"


@pytest.fixture(scope="module", params=["online", "offline+sync"])
def logged(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    """One run logged online (exit code 3, gzip on) or offline then synced (exit code 0)."""
    with LocalWandbServer(seed=None) as server:
        home = tmp_path_factory.mktemp("sdk")
        if request.param == "online":
            proc, run_id = log_spec(
                server, home, spec(server.entity, mode="online", exit_code=3, gzip=True)
            )
        else:
            _, run_id = log_spec(
                server, home, spec(server.entity, mode="offline", exit_code=0, gzip=False)
            )
            assert server.stats()["requests"] == 0  # offline: nothing sent yet
            run_dirs = sorted((home / "wandb").glob("offline-run-*"))
            proc = run_sdk(server, home, ["-m", "wandb", "sync", str(run_dirs[0])])
            assert proc.returncode == 0, proc.stderr
        yield request.param, Logged(server, run_id, proc, server.stats())


@pytest.fixture
def api(logged: Any, sdk_env: Any) -> Any:
    return make_sdk_api(logged[1].server)


def test_sdk_finishes_fast_without_errors_or_retries(logged: Any) -> None:
    mode, run = logged
    if mode == "online":  # silent SDK: any output on stderr is an error or warning message
        assert run.proc.stderr == "", run.proc.stderr
    else:  # `wandb sync` always lists what it syncs ("wandb: Syncing 1 run(s): ...")
        for line in run.proc.stderr.lower().splitlines():
            assert not any(w in line for w in ("error", "warn", "retry", "traceback")), line
    assert run.proc.wall_s < 20, f"SDK process took {run.proc.wall_s:.1f} s"
    ops = run.stats["by_operation"]
    # each request exactly as often as one clean pass needs: a retried request would add one
    assert ops.get("UpsertBucket") == 2, ops
    assert ops.get("CreateRunFiles", 0) >= 1, ops
    assert ops.get("CreateRunFiles", 0) <= 2, ops
    streams = run.stats["by_route"].get("POST /files", 0)
    assert 1 <= streams <= run.proc.wall_s / 1.0 + 3, run.stats
    logs = list(run.proc.home.glob("wandb/*/logs/debug-internal.log"))
    assert logs, "wandb-core wrote no debug log"
    for log in logs:
        text = log.read_text()
        assert "retrying" not in text.lower(), text
        assert '"level":"ERROR"' not in text, text


def test_state_config_and_summary(logged: Any, api: Any) -> None:
    mode, run = logged
    sdk_run = api.run(run.path)
    assert sdk_run.state == ("failed" if mode == "online" else "finished")
    assert sdk_run.config == CONFIG
    summary = dict(sdk_run.summary)
    for key, value in expected_summary().items():
        assert key in summary, key
        assert same(summary[key], value), (key, summary[key], value)
    assert math.isnan(summary["delta"]) is False  # the last logged delta (-1.1) wins
    assert summary["_wandb"]["runtime"] >= 0


def test_full_history_every_row_and_key(logged: Any, api: Any) -> None:
    _, run = logged
    sdk_run = api.run(run.path)
    expected = expected_rows()
    scanned = list(sdk_run.scan_history())
    assert len(scanned) == len(expected)
    assert all(same(logged_part(a), e) for a, e in zip(scanned, expected, strict=True)), scanned
    assert all(isinstance(r["_runtime"], int | float) for r in scanned)
    sampled = sdk_run.history(samples=1000, pandas=False)
    assert len(sampled) == len(expected)
    assert all(same(logged_part(a), e) for a, e in zip(sampled, expected, strict=True)), sampled
    assert sdk_run.lastHistoryStep == STEPS[-1]


def test_history_exported_to_parquet_when_finished(logged: Any, api: Any, tmp_path: Path) -> None:
    _, run = logged
    result = api.run(run.path).download_history_exports(tmp_path)
    assert not result.contains_live_data
    table = pq.read_table(result.paths[0])
    assert table.column("_step").to_pylist() == STEPS
    assert table.column("loss").to_pylist()[:2] == [2.5, 1.25]


def test_system_metrics_and_events(logged: Any, api: Any) -> None:
    _, run = logged
    sdk_run = api.run(run.path)
    assert "system.cpu" in sdk_run.system_metrics or "system.memory_percent" in (
        sdk_run.system_metrics
    ), sdk_run.system_metrics
    events = sdk_run.history(stream="events", pandas=False)
    assert events, "no system-metric rows"
    assert all("_timestamp" in e for e in events)
    assert any(k.startswith("system.") for k in events[0])


def test_files_uploaded_with_their_bytes(logged: Any, api: Any, tmp_path: Path) -> None:
    _, run = logged
    sdk_run = api.run(run.path)
    names = {f.name for f in sdk_run.files()}
    assert {"model-best.h5", "config.yaml", "wandb-metadata.json", "wandb-summary.json"} <= names
    assert "output.log" in names
    sdk_run.file("model-best.h5").download(root=str(tmp_path))
    data = (tmp_path / "model-best.h5").read_bytes()
    assert hashlib.md5(data).digest() == hashlib.md5(MODEL_BYTES).digest()
    sdk_run.file("output.log").download(root=str(tmp_path))
    assert "epoch 2 done" in (tmp_path / "output.log").read_text()


def test_our_client_reads_the_same_run(logged: Any) -> None:
    from wb_dagster.client import WandbClient

    _, run = logged
    client = WandbClient(api_key=run.server.api_key, base_url=run.server.base_url)
    ours = client.run(run.path)
    assert ours.config == CONFIG
    assert ours.state in ("failed", "finished")
    for key, value in EXPLICIT_SUMMARY.items():
        assert ours.summary[key] == value
    table = ours.history_table()
    assert table.column("_step").to_pylist() == STEPS
    assert table.column("loss").to_pylist() == [2.5, 1.25, 0.5, None, 0.25]
