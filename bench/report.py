"""Summaries, the printed table and the JSON results file."""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import psutil

from bench.measure import Measurement
from bench.workloads import Plan, Target, Workload

MiB = 1 << 20


@dataclass
class WorkloadResult:
    name: str
    title: str
    sides: dict[str, dict[str, Any]]
    targets: list[Target]
    problems: list[str]
    measurements: list[Measurement]
    seed_s: float = 0.0
    notes: list[str] = field(default_factory=list)


def machine_notes() -> dict[str, Any]:
    def version(dist: str) -> str | None:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return None

    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as fh:
            names = [line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    return {
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / (1 << 30), 1),
        "load": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "platform": platform.platform(),
        "wandb": version("wandb"),
        "pyarrow": version("pyarrow"),
        "pandas": version("pandas"),
        "dagster": version("dagster"),
    }


def _side_summary(ms: list[Measurement]) -> dict[str, Any]:
    walls = [m.wall_s for m in ms]
    steps = [m.extra["step_s"] for m in ms if m.extra.get("step_s") is not None]
    out: dict[str, Any] = {
        "n": len(ms),
        "median_s": statistics.median(walls),
        "min_s": min(walls),
        "max_s": max(walls),
        "peak_rss_max": max(m.peak_rss for m in ms),
        "peak_rss_median": int(statistics.median(m.peak_rss for m in ms)),
        "requests_median": int(statistics.median(m.requests for m in ms)),
        "requests_max": max(m.requests for m in ms),
        "server_cpu_median_s": round(statistics.median(m.server_cpu_s for m in ms), 3),
        "proc_wall_median_s": round(statistics.median(m.proc_wall_s for m in ms), 3),
    }
    if steps:
        out["step_median_s"] = statistics.median(steps)
    imports = [m.extra["import_s"] for m in ms if m.extra.get("import_s") is not None]
    if imports:
        out["import_median_s"] = statistics.median(imports)
    return out


def _check_problems(plan: Plan, by_side: dict[str, list[Measurement]]) -> list[str]:
    problems = []
    for side, ms in by_side.items():
        if any(m.check != ms[0].check for m in ms[1:]):
            problems.append(f"{side}: repeats returned different results")
        for key, want in plan.expected.get(side, {}).items():
            got = ms[0].check.get(key)
            if got != want:
                problems.append(f"{side}: {key} = {got!r}, expected {want!r}")
    for group in plan.same_check:
        present = [s for s in group if s in by_side]
        base = present[0] if present else None
        for side in present[1:]:
            a, b = by_side[base][0].check, by_side[side][0].check  # type: ignore[index]
            if a != b:
                diff = {
                    k: (a.get(k), b.get(k)) for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)
                }
                problems.append(f"{side} differs from {base}: {diff}")
    return problems


def summarize(
    workload: Workload, size: dict[str, int], plan: Plan, ms: list[Measurement]
) -> WorkloadResult:
    by_side: dict[str, list[Measurement]] = {}
    for m in ms:
        by_side.setdefault(m.side, []).append(m)
    sides = {side: _side_summary(by_side[side]) for side in plan.sides if side in by_side}
    try:
        targets = workload.targets(sides, size)
    except (KeyError, ZeroDivisionError) as exc:
        targets = [Target("targets", f"not computable ({exc!r})", False)]
    return WorkloadResult(
        name=workload.name,
        title=workload.title,
        sides=sides,
        targets=targets,
        problems=_check_problems(plan, by_side),
        measurements=ms,
    )


def print_header(notes: dict[str, Any], args: Any) -> None:
    print(
        f"wb_dagster benchmarks  {notes['time']}\n"
        f"machine: {notes['cpus']} CPUs ({notes['cpu']}), {notes['memory_gib']} GiB, "
        f"load {notes['load']}; Python {notes['python']}, wandb {notes['wandb']}, "
        f"pyarrow {notes['pyarrow']}\n"
        f"server latency {args.latency_ms} ms, size {args.size}, repeats {args.repeats}",
        flush=True,
    )


def print_workload(r: WorkloadResult) -> None:
    header = (
        f"  {'side':<13} {'median s':>9} {'min s':>8} {'peak RSS':>9} {'requests':>9} "
        f"{'server CPU s':>12}"
    )
    print(f"-- {r.name}: {r.title} (seeded in {r.seed_s} s)")
    print(header)
    for side, s in r.sides.items():
        print(
            f"  {side:<13} {s['median_s']:9.3f} {s['min_s']:8.3f} "
            f"{s['peak_rss_max'] / MiB:6.0f} MiB {s['requests_median']:9d} "
            f"{s['server_cpu_median_s']:12.2f}"
        )
    for t in r.targets:
        print(f"  [{'met' if t.met else 'MISSED':>6}] {t.text}: {t.value}")
    for p in r.problems:
        print(f"  [CHECK FAILED] {p}")
    if not r.problems:
        print("  results equal across sides: yes")
    sys_flush()


def sys_flush() -> None:
    import sys

    sys.stdout.flush()


def write_json(
    dest: Path, notes: dict[str, Any], args: dict[str, Any], results: list[WorkloadResult]
) -> Path:
    """Write the results; ``dest`` is a file, or a directory (timestamped + ``latest.json``)."""
    payload = {
        "machine": notes,
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in args.items()},
        "workloads": [asdict(r) for r in results],
    }
    text = json.dumps(payload, indent=2, default=str)
    if dest.suffix == ".json":
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text(text)
        return dest
    dest.mkdir(parents=True, exist_ok=True)
    out = dest / f"bench-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(text)
    (dest / "latest.json").write_text(text)
    return out
