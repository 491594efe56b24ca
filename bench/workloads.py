"""The workloads W1-W8: what to seed, which sides to alternate, and the targets.

Sizes come in three profiles: ``full`` (the issue's sizes), ``small`` (development) and
``tiny`` (the smoke test). Each workload seeds its own project through ``/_control/seed``
(and ``file_stream`` where a run has to finish or carry system metrics), so ``--only`` works.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.server_process import BenchServer

GiB = 1 << 30

SIZES: dict[str, dict[str, int]] = {
    "full": {
        "w1_runs": 2000, "w1_keys": 30, "w2_rows": 1_000_000, "w3_rows": 200_000,
        "w4_runs": 100, "w4_events": 500, "w5_small": 1000, "w5_large": 10_000,
        "w6_runs": 10_000, "w8_rows": 5_000_000, "changed": 10,
    },
    "small": {
        "w1_runs": 200, "w1_keys": 30, "w2_rows": 100_000, "w3_rows": 20_000,
        "w4_runs": 10, "w4_events": 500, "w5_small": 100, "w5_large": 1000,
        "w6_runs": 1000, "w8_rows": 500_000, "changed": 10,
    },
    "tiny": {
        "w1_runs": 12, "w1_keys": 5, "w2_rows": 2000, "w3_rows": 1500,
        "w4_runs": 3, "w4_events": 20, "w5_small": 20, "w5_large": 60,
        "w6_runs": 40, "w8_rows": 5000, "changed": 3,
    },
}  # fmt: skip

HISTORY_KEYS = 20
HISTORY_SUMS = ["_step", "metric_00", "metric_19"]
EVENT_KEYS = [
    "system.cpu", "system.memory", "system.disk", "system.network.sent",
    "system.network.recv", "system.proc.memory.rssMB", "system.proc.memory.percent",
    "system.proc.cpu.threads", "system.gpu.0.gpu", "system.gpu.0.memory",
    "system.gpu.0.temp", "system.gpu.0.powerWatts", "system.gpu.0.memoryAllocated",
    "system.gpu.process.0.gpu", "system.gpu.process.0.memory",
]  # fmt: skip


@dataclass
class Target:
    """One pass/fail line of the report."""

    text: str
    value: str
    met: bool


@dataclass
class Plan:
    """What the runner does for one workload once it is seeded."""

    sides: list[str]  # alternated A/B/... in every repeat
    params: dict[str, dict[str, Any]]  # side -> worker params
    same_check: list[list[str]]  # groups of sides whose checks must be equal
    expected: dict[str, dict[str, Any]] = field(default_factory=dict)  # side -> check subset
    max_repeats: dict[str, int] = field(default_factory=dict)  # side -> cap on repeats
    setup: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # unmeasured workers
    after_setup: Callable[[], None] | None = None


@dataclass
class Workload:
    name: str
    title: str
    prepare: Callable[[BenchServer, dict[str, int], Path], Plan]
    targets: Callable[[dict[str, Any], dict[str, int]], list[Target]]


def _seed_history(srv: BenchServer, project: str, rows: int, exported: bool) -> None:
    srv.seed(
        {"project": project, "runs": 1, "history_rows": rows, "history_keys": HISTORY_KEYS,
         "exported": exported}
    )  # fmt: skip


def _seed_with_open_runs(srv: BenchServer, project: str, runs: int, changed: int) -> list[str]:
    """``runs - changed`` finished runs plus ``changed`` running ones (ids ``r000000``...)."""
    srv.seed({"project": project, "runs": runs - changed, "exported": True})
    srv.seed({"project": project, "runs": changed, "exported": False, "run_prefix": "r"})
    return [f"r{i:06d}" for i in range(changed)]


# -- W1 ------------------------------------------------------------------------------------------


def prepare_w1(srv: BenchServer, size: dict[str, int], work: Path) -> Plan:
    keys = size["w1_keys"]
    srv.seed(
        {"project": "w1", "runs": size["w1_runs"], "config_keys": keys, "summary_keys": keys,
         "history_rows": 0}
    )  # fmt: skip
    params = {"project": "w1"}
    return Plan(
        sides=["sdk", "ours", "sdk_full"],
        params={s: params for s in ("sdk", "ours", "sdk_full")},
        same_check=[["sdk", "ours", "sdk_full"]],
        expected={"ours": {"rows": size["w1_runs"]}},
        max_repeats={"sdk": 2},  # ~50 s each at full size (one query per run)
    )


def targets_w1(s: dict[str, Any], size: dict[str, int]) -> list[Target]:
    ratio = s["sdk"]["median_s"] / s["ours"]["median_s"]
    full = s["sdk_full"]["median_s"] / s["ours"]["median_s"]
    return [
        Target("SDK (lazy, default) / ours >= 5x", f"{ratio:.1f}x", ratio >= 5),
        Target("SDK (lazy=False) / ours (reported)", f"{full:.1f}x", True),
    ]


# -- W2 / W3 / W8 --------------------------------------------------------------------------------


def prepare_w2(srv: BenchServer, size: dict[str, int], work: Path) -> Plan:
    _seed_history(srv, "w2", size["w2_rows"], exported=True)
    params = {"project": "w2", "run_id": "s000000", "sums": HISTORY_SUMS}
    sides = ["sdk", "ours", "floor", "ours_table", "ours_parquet"]
    return Plan(
        sides=sides,
        params={s: params for s in sides},
        same_check=[sides],
        expected={"ours": {"rows": size["w2_rows"]}},
        max_repeats={"sdk": 2},  # ~70 s and ~3.5 GiB each at full size
    )


def targets_w2(s: dict[str, Any], size: dict[str, int]) -> list[Target]:
    ratio = s["sdk"]["median_s"] / s["ours"]["median_s"]
    rss = s["ours"]["peak_rss_max"] / s["sdk"]["peak_rss_max"]
    floor = s["ours_table"]["median_s"] / s["floor"]["median_s"]
    return [
        Target("SDK / ours (DataFrame) >= 10x", f"{ratio:.1f}x", ratio >= 10),
        Target("our peak RSS <= 50% of SDK's", f"{rss:.0%}", rss <= 0.5),
        Target("ours (Arrow table) <= 1.5x floor", f"{floor:.2f}x", floor <= 1.5),
    ]


def prepare_w3(srv: BenchServer, size: dict[str, int], work: Path) -> Plan:
    _seed_history(srv, "w3", size["w3_rows"], exported=False)
    params = {"project": "w3", "run_id": "s000000", "sums": HISTORY_SUMS}
    return Plan(
        sides=["sdk", "ours"],
        params={"sdk": params, "ours": params},
        same_check=[["sdk", "ours"]],
        expected={"ours": {"rows": size["w3_rows"]}},
    )


def targets_w3(s: dict[str, Any], size: dict[str, int]) -> list[Target]:
    ratio = s["sdk"]["median_s"] / s["ours"]["median_s"]
    return [Target("SDK / ours >= 4x", f"{ratio:.1f}x", ratio >= 4)]


def prepare_w8(srv: BenchServer, size: dict[str, int], work: Path) -> Plan:
    _seed_history(srv, "w8", size["w8_rows"], exported=True)
    params = {"project": "w8", "run_id": "s000000", "sums": ["_step"]}
    rows = size["w8_rows"]
    return Plan(
        sides=["ours"],
        params={"ours": params},
        same_check=[],
        expected={"ours": {"rows": rows, "sum._step": float(rows * (rows - 1) // 2)}},
        max_repeats={"ours": 2},
    )


def targets_w8(s: dict[str, Any], size: dict[str, int]) -> list[Target]:
    peak = s["ours"]["peak_rss_max"]
    return [Target("our peak RSS < 1 GiB", f"{peak / GiB:.2f} GiB", peak < GiB)]


# -- W4 ------------------------------------------------------------------------------------------


def _events(rng: random.Random, count: int) -> list[str]:
    lines = []
    for i in range(count):
        row: dict[str, Any] = {k: round(rng.uniform(0, 100), 3) for k in EVENT_KEYS}
        row["_runtime"] = 15.0 * (i + 1)
        row["_timestamp"] = 1_735_689_600.0 + 15.0 * (i + 1)
        lines.append(json.dumps(row))
    return lines


def prepare_w4(srv: BenchServer, size: dict[str, int], work: Path) -> Plan:
    runs, events = size["w4_runs"], size["w4_events"]
    srv.seed({"project": "w4", "runs": runs, "exported": False})
    rng = random.Random(4)
    for i in range(runs):
        body = {
            "files": {"wandb-events.jsonl": {"offset": 0, "content": _events(rng, events)}},
            "complete": True,
            "exitcode": 0,
        }
        srv.file_stream("w4", f"s{i:06d}", body)
    params = {"project": "w4", "samples": events, "sums": ["system.cpu", "system.gpu.0.temp"]}
    sides = ["sdk", "ours", "ours_seq"]
    return Plan(
        sides=sides,
        params={s: params for s in sides},
        same_check=[sides],
        expected={"ours": {"rows": runs * events, "columns": sorted(EVENT_KEYS)}},
    )


def targets_w4(s: dict[str, Any], size: dict[str, int]) -> list[Target]:
    ratio = s["sdk"]["median_s"] / s["ours"]["median_s"]
    seq = s["sdk"]["median_s"] / s["ours_seq"]["median_s"]
    return [
        Target("SDK / ours (concurrent) >= 5x", f"{ratio:.1f}x", ratio >= 5),
        Target("SDK / ours (sequential loop, reported)", f"{seq:.1f}x", True),
    ]


# -- W5 ------------------------------------------------------------------------------------------


def prepare_w5(srv: BenchServer, size: dict[str, int], work: Path) -> Plan:
    changed = size["changed"]
    params: dict[str, dict[str, Any]] = {}
    setup = []
    finishing: list[tuple[str, list[str]]] = []
    for side, runs in (("ours_small", size["w5_small"]), ("ours_large", size["w5_large"])):
        project = f"w5_{runs}"
        ids = _seed_with_open_runs(srv, project, runs, changed)
        cursor = str(work / f"{project}.cursor")
        params[side] = {"project": project, "cursor_file": cursor}
        setup.append(("setup", {**params[side], "max_ticks": runs // 500 + 10}))
        finishing.append((project, ids))
    expected = {"requested_runs": [f"r{i:06d}" for i in range(changed)]}

    def finish() -> None:  # 10 runs end after the sensor's last tick
        for project, ids in finishing:
            srv.finish_runs(project, ids)

    return Plan(
        sides=["ours_small", "ours_large"],
        params=params,
        same_check=[["ours_small", "ours_large"]],
        expected={"ours_small": expected, "ours_large": expected},
        setup=setup,
        after_setup=finish,
    )


def targets_w5(s: dict[str, Any], size: dict[str, int]) -> list[Target]:
    small, large = s["ours_small"], s["ours_large"]
    most = max(small["requests_max"], large["requests_max"])
    flat = large["median_s"] / small["median_s"]
    return [
        Target("requests per tick <= 5", f"{small['requests_max']} / {large['requests_max']}",
               most <= 5),
        Target(f"tick time {size['w5_large']:,} vs {size['w5_small']:,} runs flat (<= 1.25x)",
               f"{flat:.2f}x", flat <= 1.25),
    ]  # fmt: skip


# -- W6 ------------------------------------------------------------------------------------------


def prepare_w6(srv: BenchServer, size: dict[str, int], work: Path) -> Plan:
    ids = _seed_with_open_runs(srv, "w6", size["w6_runs"], size["changed"])
    storage = str(work / "w6-store")
    base = {"project": "w6", "storage_dir": storage}
    incremental = {**base, "mode": "incremental"}
    return Plan(
        sides=["full", "incremental", "incr_lookback0"],
        params={
            "full": {**base, "mode": "full"},
            "incremental": incremental,
            # the default 300 s lookback probes ~300 runs of this 1-run-per-second seed (id,
            # state, heartbeat); without it only the 10 open runs are probed (reported)
            "incr_lookback0": {**incremental, "lookback_seconds": 0},
        },
        same_check=[["full", "incremental", "incr_lookback0"]],
        expected={"full": {"rows": size["w6_runs"]}},
        setup=[("setup", {**base, "mode": "setup"})],
        after_setup=lambda: srv.finish_runs("w6", ids),
    )


def targets_w6(s: dict[str, Any], size: dict[str, int]) -> list[Target]:
    share = s["incremental"]["median_s"] / s["full"]["median_s"]
    step = s["incremental"]["step_median_s"] / s["full"]["step_median_s"]
    lb0 = s["incr_lookback0"]["median_s"] / s["full"]["median_s"]
    return [
        Target("incremental <= 10% of full (materialize wall)", f"{share:.1%}", share <= 0.10),
        Target("incremental / full (asset step only, reported)", f"{step:.1%}", True),
        Target("incremental, lookback 0 / full (reported)", f"{lb0:.1%}", True),
    ]


# -- W7 ------------------------------------------------------------------------------------------


def prepare_w7(srv: BenchServer, size: dict[str, int], work: Path) -> Plan:
    srv.seed({"project": "w7", "runs": 1})
    params = {"project": "w7", "run_id": "s000000"}
    return Plan(
        sides=["sdk", "ours"],
        params={"sdk": params, "ours": params},
        same_check=[["sdk", "ours"]],
        expected={"ours": {"run": "s000000", "state": "finished"}},
    )


def targets_w7(s: dict[str, Any], size: dict[str, int]) -> list[Target]:
    ratio = s["sdk"]["median_s"] / s["ours"]["median_s"]
    return [Target("SDK / ours >= 5x", f"{ratio:.1f}x", ratio >= 5)]


WORKLOADS: dict[str, Workload] = {
    w.name: w
    for w in (
        Workload("W1", "project run table -> DataFrame", prepare_w1, targets_w1),
        Workload("W2", "history of an exported run -> DataFrame", prepare_w2, targets_w2),
        Workload("W3", "history of a live run -> DataFrame", prepare_w3, targets_w3),
        Workload("W4", "system metrics of every run", prepare_w4, targets_w4),
        Workload("W5", "run-sensor tick after runs finished", prepare_w5, targets_w5),
        Workload("W6", "runs asset: incremental vs full refresh", prepare_w6, targets_w6),
        Workload("W7", "cold start: import + first request", prepare_w7, targets_w7),
        Workload("W8", "history export to parquet, memory", prepare_w8, targets_w8),
    )
}
