"""Smoke test of the benchmark harness (``bench/run.py``) on tiny sizes: correctness only.

It runs the real command (server subprocess, seeding, one fresh worker per measurement, the
official SDK and ours) and checks that every figure the report promises is there and that the
SDK and our client returned the same data. No timing is asserted.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TINY_W2_ROWS = 2000  # bench.workloads.SIZES["tiny"]["w2_rows"]
TINY_W4_RUNS, TINY_W4_EVENTS = 3, 20


def test_bench_runs_two_workloads_and_both_sides_agree(tmp_path):
    out = tmp_path / "result.json"
    proc = subprocess.run(
        [sys.executable, "bench/run.py", "--size", "tiny", "--repeats", "1",
         "--only", "W2", "--only", "W4", "--json", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "results equal across sides: yes" in proc.stdout
    report = json.loads(out.read_text())
    assert report["machine"]["cpus"] >= 1 and report["machine"]["wandb"]
    workloads = {w["name"]: w for w in report["workloads"]}
    assert set(workloads) == {"W2", "W4"}
    for w in workloads.values():
        assert w["problems"] == []
        assert w["targets"], "each workload reports its targets"
        for side in w["sides"].values():
            for field in ("median_s", "peak_rss_max", "requests_median", "server_cpu_median_s"):
                assert side[field] >= 0, field
            assert side["peak_rss_max"] > 10 * 2**20  # a Python process, measured
        for m in w["measurements"]:
            assert m["requests"] >= 1  # every side talked to the server
            assert m["extra"]["leftover_pids"] == []  # no process outlived its worker

    w2 = {m["side"]: m for m in workloads["W2"]["measurements"]}
    assert set(w2) == {"sdk", "ours", "floor", "ours_table", "ours_parquet"}
    # the seed wrote steps 0..N-1: both clients must return exactly those rows
    for m in w2.values():
        assert m["check"]["rows"] == TINY_W2_ROWS
        assert m["check"]["sum._step"] == TINY_W2_ROWS * (TINY_W2_ROWS - 1) / 2
    assert w2["ours"]["check"] == w2["sdk"]["check"]
    # the SDK's wandb-core sidecar is counted in its peak RSS
    assert w2["sdk"]["extra"]["children_peak_rss"] > 0

    w4 = {m["side"]: m for m in workloads["W4"]["measurements"]}
    assert w4["ours"]["check"] == w4["sdk"]["check"]
    assert w4["ours"]["check"]["rows"] == TINY_W4_RUNS * TINY_W4_EVENTS


@pytest.mark.parametrize("planned", ["per-partition", "per-run"])
def test_daemon_import_bench_runs_and_every_side_stores_every_row(planned: str):
    proc = subprocess.run(
        [sys.executable, "bench/daemon_import.py", "--runs", "12", "--rows", "40", "--keys", "3",
         "--interval", "2", "--latency-ms", "0", "--skip-sdk", "--planned-events", planned],
        cwd=REPO, capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "results equal across sides: yes" in proc.stdout
    assert "Dagster runs per 1,000 W&B runs" in proc.stdout and "W10 finish" in proc.stdout
    per_run = {  # the events per W&B run the bench printed, counted in dagster dev's instance
        line.split()[0]: float(line.split()[1])
        for line in proc.stdout.splitlines()
        if line.startswith("      ASSET_")
    }
    # history and system metrics per partition, one history check per partition; the runs
    # table's own run, when it finished before the bench counted, adds its table and its check
    assert per_run["ASSET_MATERIALIZATION"] >= 2.0
    assert per_run["ASSET_CHECK_EVALUATION"] in (1.0, round(13 / 12, 2)), proc.stdout
    # Dagster's planned events: one per partition and asset, or one per asset and Dagster run
    planned_events = per_run.get("ASSET_MATERIALIZATION_PLANNED", 0.0)
    if planned == "per-partition":
        assert planned_events >= 2.0, proc.stdout
    else:
        assert planned_events < 1.0, proc.stdout


def test_artifact_download_bench_runs_and_both_sides_write_the_same_bytes():
    proc = subprocess.run(
        [sys.executable, "bench/artifact_download.py", "--versions", "4", "--files", "6",
         "--size-kb", "2", "--latency-ms", "0"],
        cwd=REPO, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "results equal across sides: yes" in proc.stdout
    rows = [line.split() for line in proc.stdout.splitlines()]
    lines = {r[0]: r for r in rows if len(r) == 7 and r[0] in ("versions", "files")}
    # workload, artifacts, sdk s, ours s, speed-up, sdk req/art, ours req/art
    assert lines["versions"][1] == "4" and lines["files"][1] == "1"
    # ours: one GET per file and one manifest GET per version, plus the listing (one request
    # for all 4 versions; the big version's lookup)
    assert float(lines["versions"][6]) == 2.25 and float(lines["files"][6]) == 8.0
    assert "files floor, bare requests GETs on 32 threads" in proc.stdout
    assert "bare urllib3 GETs on 64 threads" in proc.stdout
