"""W9 and W10: the initial import and the finish-to-stored latency under Dagster's real daemon.

Usage (from the repository root)::

    python bench/daemon_import.py                 # 1,000 runs x 2,000 rows x 20 keys
    python bench/daemon_import.py --runs 200      # smaller
    python bench/daemon_import.py --planned-events per-run   # Dagster's one planned event per run

One local server (``--latency-ms``, default 20), one project seeded through ``/_control/seed``;
in the same run, three sides each store every run's history as parquet:

* ``bare``: our ``WandbClient``, 16 threads, ``run.write_history_parquet``;
* ``sdk``: the official SDK, 10 threads, ``pd.DataFrame(list(run.scan_history())).to_parquet``;
* ``daemon``: ``dagster dev`` with the run sensor RUNNING, from the code location loaded to
  every ``run_history`` partition materialized (history and system metrics, checks included).

W10: after the import, one more run finishes; the time from its finish to its history being
stored, against the sensor interval. Prints the ratios, Dagster runs per 1,000 W&B runs, the
Dagster events stored per W&B run and the per-W&B-run time the daemon side spends beyond the
bare loop.

``--planned-events per-run`` sets Dagster's ``DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS``
for ``dagster dev``: one planned event per asset and Dagster run instead of one per partition,
at the price of Dagster no longer marking a failed run's partitions failed or in progress
(see the README's W9 section and docs/operations.md#batching).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import textwrap
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import dagster as dg
import requests

from wb_dagster.client import WandbClient
from wb_dagster.dagster_process import DagsterProcess, prepare_home, wait_until
from wb_dagster.names import key_part, project_name
from wb_dagster.testing import LocalWandbServer

PROJECT = "w9"
DEFS = """\
    import os

    import dagster as dg

    from wb_dagster import build_wandb_defs

    defs = build_wandb_defs(
        entity=os.environ["WB_BENCH_ENTITY"],
        project="{project}",
        api_key=dg.EnvVar("WANDB_API_KEY"),
        base_url=os.environ["WANDB_BASE_URL"],
        storage_dir=os.environ["WB_BENCH_STORAGE"],
        sensor_status=dg.DefaultSensorStatus.RUNNING,
        sensor_interval_seconds={interval},
        max_runs_per_tick=5000,
        batch_size={batch},
        sweep_sensor=False,
    )
"""


def bare(srv: LocalWandbServer, out: Path) -> float:
    client = WandbClient(api_key=srv.api_key, base_url=srv.base_url)
    t0 = time.perf_counter()
    runs = list(client.runs(f"{srv.entity}/{PROJECT}", per_page=1000))
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda r: r.write_history_parquet(out / f"{r.id}.parquet"), runs))
    return time.perf_counter() - t0


def sdk(srv: LocalWandbServer, out: Path) -> float:
    import pandas as pd
    import wandb

    api = wandb.Api(api_key=srv.api_key, overrides={"base_url": srv.base_url})
    t0 = time.perf_counter()
    runs = list(api.runs(f"{srv.entity}/{PROJECT}", per_page=1000))

    def one(run: object) -> None:
        frame = pd.DataFrame(list(run.scan_history()))  # type: ignore[attr-defined]
        frame.to_parquet(out / f"{run.id}.parquet")  # type: ignore[attr-defined]

    with ThreadPoolExecutor(10) as pool:
        list(pool.map(one, runs))
    return time.perf_counter() - t0


@dataclass(frozen=True)
class DaemonSide:
    import_s: float
    latency_s: float
    dagster_runs: int
    events: Counter[str]  # Dagster events of the import, by type


def daemon(
    srv: LocalWandbServer, work: Path, runs: int, batch: int, interval: int, per_run_planned: bool
) -> DaemonSide:
    """The initial import and W10 under ``dagster dev``."""
    defs_file = work / "defs.py"
    defs_file.write_text(
        textwrap.dedent(DEFS.format(project=PROJECT, batch=batch, interval=interval))
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WANDB_", "DAGSTER_"))}
    env.update(
        WANDB_API_KEY=srv.api_key,
        WANDB_BASE_URL=srv.base_url,
        WB_BENCH_ENTITY=srv.entity,
        WB_BENCH_STORAGE=str(work / "store"),
    )
    if per_run_planned:
        env["DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS"] = "true"
    history = dg.AssetKey(["wandb", key_part(srv.entity), PROJECT, "run_history"])
    home = prepare_home(work / "home")
    with DagsterProcess.dev(home, ["-f", str(defs_file)], env=env, log=work / "dev.log") as dagster:
        dagster.wait_ready()
        t0 = time.perf_counter()
        instance = dagster.instance()

        def stored() -> int:
            return len(instance.get_materialized_partitions(history))

        wait_until("the initial import", lambda: stored() >= runs, 1800, every_s=0.5)
        import_s = time.perf_counter() - t0
        launched = instance.get_run_records(
            filters=dg.RunsFilter(tags={"dagster/sensor_name": f"wandb_{_name(srv)}__run_sensor"})
        )
        per_run = [r for r in launched if r.dagster_run.tags.get("wandb/runs")]
        events = Counter(
            entry.dagster_event.event_type_value
            for record in instance.get_run_records()
            for entry in instance.all_logs(record.dagster_run.run_id)
            if entry.dagster_event
        )
        # W10: one more run finishes after the import
        path = f"{srv.entity}/{PROJECT}/late"
        srv.seed.create_run(f"{srv.entity}/{PROJECT}", "late", state="running")
        srv.seed.append_history(
            path, [{"_step": i, "_timestamp": 2e9 + i, "x": i} for i in range(100)]
        )
        t1 = time.perf_counter()
        srv.seed.finish_run(path)
        wait_until(
            "the late run's history",
            lambda: "late" in instance.get_materialized_partitions(history),
            300,
            every_s=0.2,
        )
        return DaemonSide(import_s, time.perf_counter() - t1, len(per_run), events)


def _name(srv: LocalWandbServer) -> str:
    return project_name(srv.entity, PROJECT)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--keys", type=int, default=20)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--interval", type=int, default=30, help="sensor interval, seconds")
    parser.add_argument("--latency-ms", type=int, default=20)
    parser.add_argument("--skip-sdk", action="store_true")
    parser.add_argument(
        "--planned-events",
        choices=("per-partition", "per-run"),
        default="per-partition",
        help="Dagster's planned events: one per partition (its default) or one per run",
    )
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="wb-w9-") as tmp,
        LocalWandbServer(seed=None, latency_ms=args.latency_ms) as srv,
    ):
        work = Path(tmp)
        spec = {
            "project": PROJECT,
            "runs": args.runs,
            "history_rows": args.rows,
            "history_keys": args.keys,
            "exported": True,
        }
        requests.post(f"{srv.base_url}/_control/seed", json=spec, timeout=600).raise_for_status()
        for side in ("bare", "sdk"):
            (work / side).mkdir()
        bare_s = bare(srv, work / "bare")
        sdk_s = float("nan") if args.skip_sdk else sdk(srv, work / "sdk")
        dagster_side = daemon(
            srv, work, args.runs, args.batch, args.interval, args.planned_events == "per-run"
        )
        sides = {
            "bare": work / "bare",
            "daemon": work / "store/wandb" / (srv.entity or "") / PROJECT / "run_history",
        }
        if not args.skip_sdk:
            sides["sdk"] = work / "sdk"
        stored = {side: _stored_rows(folder) for side, folder in sides.items()}
    print(
        f"W9  {args.runs} runs x {args.rows} rows x {args.keys} keys, latency {args.latency_ms} ms"
    )
    print(f"    bare WandbClient, 16 threads     {bare_s:8.1f} s")
    print(f"    official SDK, 10 threads         {sdk_s:8.1f} s")
    d = dagster_side
    planned = f"planned events {args.planned_events}"
    print(f"    dagster dev, run sensor          {d.import_s:8.1f} s   ({planned})")
    print(f"    daemon / bare                    {d.import_s / bare_s:8.2f}x   (target <= 3x)")
    print(f"    SDK / daemon                     {sdk_s / d.import_s:8.2f}x   (target >= 3x)")
    print(f"    Dagster runs per 1,000 W&B runs  {1000 * d.dagster_runs / args.runs:8.0f}")
    print("    Dagster events per W&B run:")
    for kind, count in d.events.most_common():
        if count >= args.runs / 10:
            print(f"      {kind:<30} {count / args.runs:6.2f}")
    extra_ms = 1000 * (d.import_s - bare_s) / args.runs
    print(f"    time beyond the bare loop        {extra_ms:8.1f} ms per W&B run")
    target = args.interval + 10
    print(f"W10 finish -> history stored         {d.latency_s:8.1f} s   (target <= {target} s)")
    # every side stored every run with all its rows (the daemon also the late W10 run)
    expected = {f"s{i:06d}": args.rows for i in range(args.runs)}
    stored["daemon"].pop("late", None)
    equal = all(rows == expected for rows in stored.values())
    print(f"results equal across sides: {'yes' if equal else 'NO'}")
    return 0 if equal else 1


def _stored_rows(folder: Path) -> dict[str, int]:
    import pyarrow.parquet as pq

    return {f.stem: pq.ParquetFile(f).metadata.num_rows for f in folder.glob("*.parquet")}


if __name__ == "__main__":
    sys.exit(main())
