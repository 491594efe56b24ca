"""Run the benchmarks: the official ``wandb`` SDK vs wb_dagster against the local server.

Usage (from the repository root)::

    python bench/run.py                       # every workload, full sizes, 3 repeats
    python bench/run.py --only W2 --only W7   # some workloads
    python bench/run.py --size small --repeats 1

Starts the local server (``python -m wb_dagster.testing --seed none --latency-ms 20``) on
127.0.0.1, seeds each workload's project through ``/_control/seed``, then for each workload
alternates the sides (SDK / ours / variants) ``--repeats`` times, each measurement in a fresh
worker process. Prints a table per workload and writes everything to
``bench/results/<time>.json`` (and ``latest.json``).
"""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.measure import Measurement, run_worker
from bench.report import (
    WorkloadResult,
    machine_notes,
    print_header,
    print_workload,
    summarize,
    write_json,
)
from bench.server_process import BenchServer
from bench.workloads import SIZES, WORKLOADS, Workload

RESULTS = Path(__file__).resolve().parent / "results"
PROFILES = RESULTS / "profiles"


def _order(sides: list[str], repeat: int) -> list[str]:
    # alternate which side goes first so neither always meets a cold server cache
    return sides if repeat % 2 == 0 else list(reversed(sides))


def run_workload(
    srv: BenchServer,
    workload: Workload,
    size_name: str,
    repeats: int,
    work: Path,
    profile: list[str] | None = None,
) -> WorkloadResult:
    size = SIZES[size_name]
    started = time.perf_counter()
    plan = workload.prepare(srv, size, work)
    seeded_s = time.perf_counter() - started
    for side, params in plan.setup:
        run_worker(srv, workload.name, side, params)
    if plan.after_setup is not None:
        plan.after_setup()
    measurements: list[Measurement] = []
    for repeat in range(repeats):
        for side in _order(plan.sides, repeat):
            if repeat >= plan.max_repeats.get(side, repeats):
                continue
            profile_to = None
            if profile and side in profile:
                PROFILES.mkdir(parents=True, exist_ok=True)
                profile_to = PROFILES / f"{workload.name}-{side}-{repeat}.txt"
            m = run_worker(srv, workload.name, side, plan.params[side], profile_to=profile_to)
            print(
                f"  {workload.name} {side:<13} {m.wall_s:8.3f} s  {m.peak_rss / 2**20:7.0f} MiB "
                f"{m.requests:6d} req",
                flush=True,
            )
            measurements.append(m)
    result = summarize(workload, size, plan, measurements)
    result.seed_s = round(seeded_s, 2)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", action="append", choices=sorted(WORKLOADS), default=None)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--size", choices=sorted(SIZES), default="full")
    parser.add_argument("--latency-ms", type=int, default=20)
    parser.add_argument("--json", type=Path, default=None, help="result file (default: results/)")
    parser.add_argument(
        "--profile",
        action="append",
        metavar="SIDE",
        help="run this side's workers under pyinstrument (profiles in results/profiles/; "
        "timings inflated)",
    )
    args = parser.parse_args(argv)
    # SIGTERM unwinds like Ctrl-C, so the worker tree and the server are stopped on the way out
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    names = args.only or list(WORKLOADS)
    notes = machine_notes()
    print_header(notes, args)
    results: list[WorkloadResult] = []
    started = time.perf_counter()
    with (
        tempfile.TemporaryDirectory(prefix="wb-bench-") as tmp,
        BenchServer(latency_ms=args.latency_ms) as srv,
    ):
        for name in names:
            workload = WORKLOADS[name]
            print(f"\n== {name}: {workload.title} ==", flush=True)
            work = Path(tmp) / name
            work.mkdir()
            result = run_workload(srv, workload, args.size, args.repeats, work, args.profile)
            print_workload(result)
            results.append(result)
        notes["server_peak_rss_mib"] = round(srv.rss_bytes() / 2**20)
    notes["total_s"] = round(time.perf_counter() - started, 1)
    notes["load_after"] = machine_notes()["load"]
    out = write_json(args.json or RESULTS, notes, vars(args), results)
    failed = [f"{r.name}: {t.text}" for r in results for t in r.targets if not t.met]
    problems = [f"{r.name}: {p}" for r in results for p in r.problems]
    print(f"\nresults: {out}  ({notes['total_s']} s)")
    for line in problems:
        print(f"CHECK FAILED {line}")
    for line in failed:
        print(f"target missed {line}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
