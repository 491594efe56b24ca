"""``wb-dagster demo``: the demo W&B project turned into Dagster assets, start to finish.

Starts the local W&B-compatible server with the ``demo`` seed in this process, then, on a
persistent Dagster instance under ``DIR/.dagster``:

1. materializes the run table ``wandb/cifar/runs``;
2. ticks the run sensor: finished runs become partitions and run requests;
3. materializes every requested per-run partition (history + system metrics);
4. ticks the sweep sensor and materializes the sweep's best model;
5. a real training script (:mod:`wb_dagster.demo_training`, numpy only) logs two runs and a
   four-run grid sweep driven by ``wandb.agent`` through the official ``wandb`` SDK, the
   still-running seeded run finishes, and the sensors pick up exactly those runs and the new
   sweep (and ignore every unchanged run).

The project therefore holds both the synthetic ``demo`` seed (documented in
:mod:`wb_dagster.testing.demo_seed`) and runs written in W&B's own encoding by the SDK.

Sensor ticks are evaluated here and their run requests executed in-process with
``dg.materialize`` (what the daemon would launch), skipping run keys already launched.

Example:
    >>> # from wb_dagster.demo import run_demo; run_demo("./wb_demo_output")
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import dagster as dg

from wb_dagster.defs import build_wandb_defs

DEMO_KEY_ENV = "WB_DAGSTER_DEMO_API_KEY"
DEMO_MARKER = "WB_DAGSTER_DEMO_INSTANCE"
RUN_KEY_TAG = "dagster/run_key"
SENSOR_NAME_TAG = "dagster/sensor_name"
QUIET_RUN_CONFIG = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}


def evaluate_sensor(
    defs: dg.Definitions,
    sensor_name: str,
    instance: dg.DagsterInstance,
    cursor: str | None,
) -> dg.SensorResult:
    """One tick of ``sensor_name`` with the definitions' resources (as the daemon would)."""
    sensor = defs.resolve_sensor_def(sensor_name)
    with dg.build_sensor_context(
        instance=instance,
        cursor=cursor,
        resources=dict(defs.resources or {}),
        definitions=defs,
        sensor_name=sensor_name,
    ) as ctx:
        result = sensor(ctx)
    if not isinstance(result, dg.SensorResult):
        raise TypeError(f"sensor {sensor_name} returned {type(result).__name__}")
    return result


@dataclass
class Launched:
    """What executing one tick's requests did."""

    results: list[dg.ExecuteInProcessResult] = field(default_factory=list)
    requests: list[dg.RunRequest] = field(default_factory=list)
    skipped_run_keys: list[str] = field(default_factory=list)


def launch_requests(
    defs: dg.Definitions,
    sensor_name: str,
    result: dg.SensorResult,
    instance: dg.DagsterInstance,
    on_run: Callable[[dg.RunRequest, dg.ExecuteInProcessResult], None] | None = None,
) -> Launched:
    """Apply a tick's partition adds and execute its run requests in-process.

    Like the sensor daemon, a request whose ``run_key`` was already launched by this sensor is
    skipped (run keys are permanent).
    """
    for change in result.dynamic_partitions_requests or []:
        if isinstance(change, dg.AddDynamicPartitionsRequest):
            instance.add_dynamic_partitions(change.partitions_def_name, list(change.partition_keys))
        else:
            for key in change.partition_keys:
                instance.delete_dynamic_partition(change.partitions_def_name, key)
    launched = Launched()
    for req in result.run_requests or []:
        if req.run_key and instance.get_run_records(
            filters=dg.RunsFilter(tags={RUN_KEY_TAG: req.run_key, SENSOR_NAME_TAG: sensor_name}),
            limit=1,
        ):
            launched.skipped_run_keys.append(req.run_key)
            continue
        tags = {**(req.tags or {}), SENSOR_NAME_TAG: sensor_name}
        if req.run_key:
            tags[RUN_KEY_TAG] = req.run_key
        run = dg.materialize(
            _assets(defs),
            selection=list(req.asset_selection or []),
            partition_key=req.partition_key,
            instance=instance,
            resources=dict(defs.resources or {}),
            tags=tags,
            run_config=QUIET_RUN_CONFIG,
            raise_on_error=False,
        )
        launched.results.append(run)
        launched.requests.append(req)
        if on_run is not None:
            on_run(req, run)
    return launched


def _assets(defs: dg.Definitions) -> list[Any]:
    return list(defs.assets or [])


def _meta(run: dg.ExecuteInProcessResult, key: dg.AssetKey) -> dict[str, Any]:
    for event in run.get_asset_materialization_events():
        if event.asset_key == key and event.materialization is not None:
            return {k: v.value for k, v in event.materialization.metadata.items()}
    return {}


class _Printer:
    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.t0 = time.monotonic()

    def __call__(self, text: str = "") -> None:
        print(text, file=self.out, flush=True)

    def step(self, text: str) -> None:
        self(f"[{time.monotonic() - self.t0:5.1f}s] {text}")


def _run_printer(
    say: _Printer, keys: dict[str, dg.AssetKey]
) -> Callable[[dg.RunRequest, dg.ExecuteInProcessResult], None]:
    def show(req: dg.RunRequest, run: dg.ExecuteInProcessResult) -> None:
        status = "ok" if run.success else "FAILED"
        if req.partition_key is None:
            rows = _meta(run, keys["runs"]).get("dagster/row_count")
            say(f"      runs table refreshed: {rows} rows ({status})")
            return
        hist = _meta(run, keys["run_history"])
        system = _meta(run, keys["run_system_metrics"])
        if "best_run" in (best := _meta(run, keys["sweep_best_model"])):
            say(
                f"      sweep {req.partition_key}: best run {best['best_run']} "
                f"({best['metric']}={best.get('value')}), {best['size']} bytes ({status})"
            )
            return
        say(
            f"      {req.partition_key}: history {hist.get('rows')} rows "
            f"(steps {hist.get('min_step')}-{hist.get('max_step')}, {hist.get('mode')}, "
            f"{hist.get('source')}), system metrics {system.get('rows')} rows ({status})"
        )

    return show


def progress_bar(done: int, total: int, width: int = 24) -> str:
    """A text progress bar, e.g. ``[############------------]``.

    >>> progress_bar(3, 6, width=10)
    '[#####-----]'
    """
    filled = width if total <= 0 else min(width, round(width * done / total))
    return "[" + "#" * filled + "-" * (width - filled) + "]"


def _with_progress_bar(
    say: _Printer,
    show: Callable[[dg.RunRequest, dg.ExecuteInProcessResult], None],
    total: int,
    history_key: dg.AssetKey,
) -> Callable[[dg.RunRequest, dg.ExecuteInProcessResult], None]:
    """``show`` each run, then a bar: runs done of ``total``, history rows, rows per second."""
    t0 = time.monotonic()
    done, rows = 0, 0

    def on_run(req: dg.RunRequest, run: dg.ExecuteInProcessResult) -> None:
        nonlocal done, rows
        show(req, run)
        if req.partition_key is None:  # the run-table refresh the tick also requests
            return
        done += 1
        rows += int(_meta(run, history_key).get("rows") or 0)
        rate = rows / max(time.monotonic() - t0, 1e-9)
        say(
            f"      {progress_bar(done, total)} {done}/{total} runs, {rows:,} history rows "
            f"({rate:,.0f} rows/s)"
        )

    return on_run


def _files_summary(root: Path) -> list[tuple[str, int, int]]:
    rows = []
    for folder in sorted(p for p in root.rglob("*") if p.is_dir() and ".dagster" not in p.parts):
        files = [f for f in folder.iterdir() if f.is_file() and not f.name.startswith(".")]
        if files:
            rows.append(
                (str(folder.relative_to(root)), len(files), sum(f.stat().st_size for f in files))
            )
    top = [f for f in root.iterdir() if f.is_file() and not f.name.startswith(".")]
    if top:
        rows.insert(0, (".", len(top), sum(f.stat().st_size for f in top)))
    return rows


def run_demo(output: str | None = None, *, out: TextIO | None = None) -> int:
    """Run the demo; ``output`` is the storage root (default ``./wb_demo_output``). Returns 0."""
    from wb_dagster.testing import LocalWandbServer
    from wb_dagster.testing.demo_seed import DEMO_PROJECT, DEMO_RUNNING_RUN

    say = _Printer(out or sys.stdout)
    root = Path(output or "wb_demo_output").resolve()
    root.mkdir(parents=True, exist_ok=True)
    home = root / ".dagster"
    if (home / DEMO_MARKER).exists():
        # a previous demo's instance: its permanent run keys would make this run a no-op
        shutil.rmtree(home)
    home.mkdir(exist_ok=True)
    (home / DEMO_MARKER).write_text("created by `wb-dagster demo`; replaced on the next run\n")
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    say.step("starting the local W&B server with the demo seed ...")
    # the seeded running run has an old heartbeat: keep the crash watchdog from ending it
    with LocalWandbServer(seed="demo", heartbeat_timeout_s=10**9) as srv:
        os.environ[DEMO_KEY_ENV] = srv.api_key
        entity = srv.entity or "wb-demo"
        say.step(f"server at {srv.base_url}, project {entity}/{DEMO_PROJECT}")
        defs = build_wandb_defs(
            entity=entity,
            project=DEMO_PROJECT,
            api_key=dg.EnvVar(DEMO_KEY_ENV),
            base_url=srv.base_url,
            storage_dir=str(root),
        )
        names = [s.name for s in defs.sensors or []]
        run_sensor = next(n for n in names if n.endswith("__run_sensor"))
        sweep_sensor = next(n for n in names if n.endswith("__sweep_sensor"))
        graph = defs.resolve_asset_graph()
        keys = {k.path[-1]: k for k in graph.get_all_asset_keys()}
        show = _run_printer(say, keys)
        instance = dg.DagsterInstance.local_temp(str(home))
        try:
            return _demo_steps(
                say,
                srv,
                defs,
                instance,
                keys,
                run_sensor,
                sweep_sensor,
                show,
                root,
                DEMO_RUNNING_RUN,
            )
        finally:
            instance.dispose()
            os.environ.pop(DEMO_KEY_ENV, None)


def _demo_steps(
    say: _Printer,
    srv: Any,
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    keys: dict[str, dg.AssetKey],
    run_sensor: str,
    sweep_sensor: str,
    show: Callable[[dg.RunRequest, dg.ExecuteInProcessResult], None],
    root: Path,
    running_run: str,
) -> int:
    say.step(f"[1/5] materializing {keys['runs'].to_user_string()} ...")
    table = dg.materialize(
        _assets(defs),
        selection=[keys["runs"]],
        instance=instance,
        resources=dict(defs.resources or {}),
        run_config=QUIET_RUN_CONFIG,
    )
    meta = _meta(table, keys["runs"])
    say(
        f"      {meta.get('dagster/row_count')} runs ({meta.get('wandb/finished_runs')} finished, "
        f"{meta.get('wandb/running_runs')} running)"
    )

    say.step(f"[2/5] ticking {run_sensor} ...")
    tick = evaluate_sensor(defs, run_sensor, instance, None)
    per_run = [r for r in tick.run_requests or [] if r.partition_key]
    say(f"      {len(per_run)} ended runs (finished/crashed/failed) -> partitions + run requests")

    say.step(f"[3/5] materializing {len(per_run)} per-run partitions ...")
    bar = _with_progress_bar(say, show, len(per_run), keys["run_history"])
    first = launch_requests(defs, run_sensor, tick, instance, on_run=bar)
    cursor = tick.cursor

    say.step(f"[4/5] ticking {sweep_sensor} and materializing the best model ...")
    sweep_tick = evaluate_sensor(defs, sweep_sensor, instance, None)
    sweeps = launch_requests(defs, sweep_sensor, sweep_tick, instance, on_run=show)

    say.step("[5/5] a training script logs new runs with the official wandb SDK; ")
    say(f"      meanwhile the running run {running_run} finishes on the server ...")
    _log_training_runs(say, srv, _project(keys))
    srv.seed.finish_run(f"{srv.entity}/{_project(keys)}/{running_run}")
    tick2 = evaluate_sensor(defs, run_sensor, instance, cursor)
    picked = [r.partition_key for r in tick2.run_requests or [] if r.partition_key]
    say(f"      the sensor picked up: {', '.join(picked) or 'nothing'}")
    second = launch_requests(defs, run_sensor, tick2, instance, on_run=show)
    sweep_tick2 = evaluate_sensor(defs, sweep_sensor, instance, sweep_tick.cursor)
    new_sweeps = launch_requests(defs, sweep_sensor, sweep_tick2, instance, on_run=show)
    tick3 = evaluate_sensor(defs, run_sensor, instance, tick2.cursor)
    again = [r for r in tick3.run_requests or [] if r.partition_key]
    say(f"      next tick: {len(again)} run requests (unchanged runs are not re-materialized)")

    sweep_runs = [*sweeps.results, *new_sweeps.results]
    runs = [*first.results, *sweep_runs, *second.results]
    failed = [r for r in [table, *runs] if not r.success]
    n_partitions = len(instance.get_dynamic_partitions(_partitions_name(defs, keys)))
    say()
    say("Summary")
    say(f"  assets        {', '.join(sorted(k.to_user_string() for k in keys.values()))}")
    say(f"  Dagster runs  {1 + len(runs)} ({len(failed)} failed)")
    say(f"  run partitions {n_partitions}, sweep partitions {len(sweep_runs)}")
    say(f"  storage       {root}")
    for rel, count, size in _files_summary(root):
        say(f"    {rel + '/':<36} {count:>3} files {size / 1e6:8.2f} MB")
    say(f"  read it       pandas.read_parquet('{root / 'wandb' / 'cifar' / 'run_history'}')")
    say(
        f"  open the UI   DAGSTER_HOME={root / '.dagster'} WB_DAGSTER_STORAGE={root} "
        "dagster dev -w workspace.yaml"
    )
    say(
        "                (materialization history is in that instance; start "
        "`wb-dagster server --seed demo --port 8765 --api-key <key>` and set WANDB_API_KEY "
        "to run new materializations)"
    )
    return 1 if failed else 0


def _log_training_runs(say: _Printer, srv: Any, project: str) -> None:
    """Log real training runs (and a grid sweep driven by ``wandb.agent``) into the server.

    This is the flow users have: a training script logs to W&B, the sensor sees the runs
    finish. The official SDK is a demo extra, not a dependency: without it the step is skipped.
    """
    if importlib.util.find_spec("wandb") is None:
        say("      skipped: the official wandb SDK is missing (pip install 'wb-dagster[demo]')")
        return
    from wb_dagster.demo_training import populate_with_sdk

    logged = populate_with_sdk(srv.base_url, srv.api_key, entity=srv.entity, project=project)
    say(
        f"      logged {len(logged.run_ids)} runs + sweep {logged.sweep_id} "
        f"({len(logged.sweep_run_ids)} runs via wandb.agent) in {logged.wall_time_s:.1f} s"
    )


def _project(keys: dict[str, dg.AssetKey]) -> str:
    return keys["runs"].path[-2]


def _partitions_name(defs: dg.Definitions, keys: dict[str, dg.AssetKey]) -> str:
    graph = defs.resolve_asset_graph()
    partitions_def = graph.get(keys["run_history"]).partitions_def
    assert isinstance(partitions_def, dg.DynamicPartitionsDefinition) and partitions_def.name
    return partitions_def.name


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m wb_dagster.demo [DIR]``."""
    args = list(argv if argv is not None else sys.argv[1:])
    return run_demo(args[0] if args else None)


if __name__ == "__main__":
    sys.exit(main())
