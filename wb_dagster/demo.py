"""``wb-dagster demo``: the demo W&B project turned into Dagster assets by Dagster's own daemon.

Starts the local W&B-compatible server with the ``demo`` seed in this process, then
``dagster dev`` (webserver + daemon, :mod:`wb_dagster.dagster_process`) on 127.0.0.1 with the
code location :mod:`wb_dagster.demo_definitions` (both sensors RUNNING, ticking every 5 s) and
a persistent instance under ``DIR/.dagster``. The daemon does all the work; this process
watches the instance and prints progress:

1. initial import: the run sensor turns every ended run into a partition and batched run
   requests, the queued run coordinator launches them (history + system metrics), and the
   run table is refreshed;
2. the sweep sensor materializes the finished sweep's best model;
3. a real training script (:mod:`wb_dagster.demo_training`, numpy only) logs two runs and a
   four-run grid sweep driven by ``wandb.agent`` through the official ``wandb`` SDK, the
   seeded running run finishes, and the daemon materializes exactly those runs and the new
   sweep (no unchanged run again);
4. a summary: Dagster runs (and how many W&B runs each stored), failures, partitions, files
   and the UI address. ``keep_ui=True`` (``--keep-ui``) keeps Dagster up until Ctrl-C.

The project holds both the synthetic ``demo`` seed (:mod:`wb_dagster.testing.seeds.demo`) and
runs written in W&B's own encoding by the SDK. Returns 1 if a Dagster run failed.

Example:
    >>> # from wb_dagster.demo import run_demo; run_demo("./wb_demo_output", keep_ui=True)
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import dagster as dg

from wb_dagster.dagster_process import DagsterProcess, prepare_home, wait_until
from wb_dagster.demo_definitions import DEFAULT_INTERVAL_S, DEMO_KEY_ENV, ENV_PREFIX, demo_env
from wb_dagster.demo_models import stored_models
from wb_dagster.project import WandbProjectAssetsSpec
from wb_dagster.runs_table import TERMINAL_STATES
from wb_dagster.sensors import FINISHED_SWEEP_STATES

DEMO_MARKER = "WB_DAGSTER_DEMO_INSTANCE"
DEFS_MODULE = "wb_dagster.demo_definitions"
WAIT_S = 120.0
POLL_S = 0.5
SENSOR_TAG = "dagster/sensor_name"
RUNS_TAG = "wandb/runs"
SWEEP_TAG = "wandb/sweep_id"
TABLE_FIELDS = ("dagster/row_count", "wandb/finished_runs", "wandb/running_runs")
TICKS_QUERY = """
{ repositoriesOrError { ... on RepositoryConnection { nodes { sensors {
    name sensorState { ticks(limit: 1) { status timestamp skipReason runIds } } } } } } }
"""
TICK_WAIT_S = 30.0
IN_PROGRESS = frozenset(
    {
        dg.DagsterRunStatus.QUEUED,
        dg.DagsterRunStatus.NOT_STARTED,
        dg.DagsterRunStatus.STARTING,
        dg.DagsterRunStatus.STARTED,
        dg.DagsterRunStatus.CANCELING,
    }
)


class DemoError(RuntimeError):
    """Something the demo waited for did not happen (the message says what)."""


class _Printer:
    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.t0 = time.monotonic()

    def __call__(self, text: str = "") -> None:
        print(text, file=self.out, flush=True)

    def step(self, text: str) -> None:
        self(f"[{time.monotonic() - self.t0:5.1f}s] {text}")


def progress_bar(done: int, total: int, width: int = 24) -> str:
    """A text progress bar, e.g. ``[############------------]``.

    >>> progress_bar(3, 6, width=10)
    '[#####-----]'
    """
    filled = width if total <= 0 else min(width, round(width * done / total))
    return "[" + "#" * filled + "-" * (width - filled) + "]"


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


# -- what the W&B server holds -----------------------------------------------------------------


@dataclass(frozen=True)
class ServerState:
    """Run and sweep ids of the W&B project: all runs, ended runs, finished sweeps."""

    runs: frozenset[str]
    ended: frozenset[str]
    sweeps: frozenset[str]


def server_state(client: Any, path: str) -> ServerState:
    """List ``path`` (``entity/project``) once: every run, the ended ones, finished sweeps."""
    runs = {str(r.id): str(r.state or "") for r in client.runs(path, per_page=200)}
    sweeps = {
        str(s.id) for s in client.sweeps(path) if str(s.state).lower() in FINISHED_SWEEP_STATES
    }
    ended = {run_id for run_id, state in runs.items() if state in TERMINAL_STATES}
    return ServerState(frozenset(runs), frozenset(ended), frozenset(sweeps))


# -- what the Dagster instance holds -----------------------------------------------------------


@dataclass(frozen=True)
class DemoKeys:
    """The asset keys the demo watches, and the run sensor's name."""

    runs: dg.AssetKey
    history: dg.AssetKey
    system: dg.AssetKey
    sweep: dg.AssetKey
    run_sensor: str

    @classmethod
    def of(cls, entity: str, project: str) -> DemoKeys:
        """Keys of ``entity/project`` with the default translator.

        Example:
            >>> DemoKeys.of("wb-demo", "cifar").history.to_user_string()
            'wandb/wb-demo/cifar/run_history'
        """
        p = WandbProjectAssetsSpec.build(entity=entity, project=project)
        return cls(
            runs=p.key("runs"),
            history=p.key("run_history"),
            system=p.key("run_system_metrics"),
            sweep=p.key("sweep_best_model"),
            run_sensor=f"wandb_{p.name}__run_sensor",
        )


def latest_storage_id(instance: dg.DagsterInstance, key: dg.AssetKey) -> int:
    """Storage id of the newest materialization of ``key`` (0 when there is none)."""
    records = instance.fetch_materializations(dg.AssetRecordsFilter(asset_key=key), limit=1)
    return records.records[0].storage_id if records.records else 0


def latest_metadata(
    instance: dg.DagsterInstance, key: dg.AssetKey, partition: str | None = None
) -> dict[str, Any]:
    """Metadata values of the newest materialization of ``key`` (one partition if given)."""
    partitions = [partition] if partition is not None else None
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=key, asset_partitions=partitions), limit=1
    ).records
    mat = records[0].asset_materialization if records else None
    return {k: v.value for k, v in mat.metadata.items()} if mat is not None else {}


@dataclass(frozen=True)
class Marks:
    """Storage ids a phase starts from: only materializations after them count."""

    runs: int = 0
    history: int = 0
    sweep: int = 0

    @classmethod
    def now(cls, instance: dg.DagsterInstance, keys: DemoKeys) -> Marks:
        """The newest storage id of each watched asset."""
        return cls(
            runs=latest_storage_id(instance, keys.runs),
            history=latest_storage_id(instance, keys.history),
            sweep=latest_storage_id(instance, keys.sweep),
        )


@dataclass(frozen=True)
class Snapshot:
    """One poll of the instance: what was materialized after the marks, and Dagster runs."""

    partitions: frozenset[str]
    sweeps: frozenset[str]
    table: dict[str, Any] | None
    launched: int
    in_progress: int
    failed: int


def snapshot(instance: dg.DagsterInstance, keys: DemoKeys, marks: Marks) -> Snapshot:
    """Read the instance once (partitions after ``marks``, the newest run table, run counts)."""
    statuses = [r.dagster_run.status for r in instance.get_run_records()]
    fresh_table = latest_storage_id(instance, keys.runs) > marks.runs
    return Snapshot(
        partitions=frozenset(
            instance.get_materialized_partitions(keys.history, after_cursor=marks.history or None)
        ),
        sweeps=frozenset(
            instance.get_materialized_partitions(keys.sweep, after_cursor=marks.sweep or None)
        ),
        table=latest_metadata(instance, keys.runs) if fresh_table else None,
        launched=len(statuses),
        in_progress=sum(s in IN_PROGRESS for s in statuses),
        failed=sum(s == dg.DagsterRunStatus.FAILURE for s in statuses),
    )


@dataclass(frozen=True)
class Goal:
    """What one phase waits for: run partitions, sweep partitions, the run table's row count."""

    runs: frozenset[str] = frozenset()
    sweeps: frozenset[str] = frozenset()
    table_rows: int | None = None

    def table_ok(self, snap: Snapshot) -> bool:
        """The run table was refreshed with the wanted row count (or none is wanted)."""
        if self.table_rows is None:
            return True
        return snap.table is not None and snap.table.get("dagster/row_count") == self.table_rows

    def reached(self, snap: Snapshot) -> bool:
        """Everything materialized and no Dagster run queued or running.

        Example:
            >>> s = Snapshot(frozenset({"a"}), frozenset(), {"dagster/row_count": 1}, 2, 0, 0)
            >>> Goal(runs=frozenset({"a"}), table_rows=1).reached(s)
            True
        """
        done = self.runs <= snap.partitions and self.sweeps <= snap.sweeps
        return done and self.table_ok(snap) and snap.in_progress == 0

    def missing(self, snap: Snapshot | None) -> str:
        """What is still missing, for an error message.

        Example:
            >>> s = Snapshot(frozenset(), frozenset(), None, 1, 1, 0)
            >>> Goal(runs=frozenset({"a"})).missing(s)
            'run_history of a; 1 Dagster runs launched, 1 queued or running, 0 failed'
        """
        if snap is None:
            return "nothing read from the instance yet"
        parts = []
        if runs := sorted(self.runs - snap.partitions):
            parts.append(f"run_history of {', '.join(runs)}")
        if sweeps := sorted(self.sweeps - snap.sweeps):
            parts.append(f"sweep_best_model of {', '.join(sweeps)}")
        if not self.table_ok(snap):
            rows = snap.table.get("dagster/row_count") if snap.table else None
            parts.append(f"the run table with {self.table_rows} rows (newest: {rows})")
        parts.append(
            f"{snap.launched} Dagster runs launched, {snap.in_progress} queued or running, "
            f"{snap.failed} failed"
        )
        return "; ".join(parts)


# -- watching the daemon -----------------------------------------------------------------------


def _history_line(instance: dg.DagsterInstance, keys: DemoKeys, run_id: str) -> str:
    hist = latest_metadata(instance, keys.history, run_id)
    system = latest_metadata(instance, keys.system, run_id)
    return (
        f"      {run_id}: history {hist.get('rows')} rows (steps {hist.get('min_step')}-"
        f"{hist.get('max_step')}, {hist.get('mode')}, {hist.get('source')}), "
        f"system metrics {system.get('rows')} rows"
    )


def _sweep_line(instance: dg.DagsterInstance, keys: DemoKeys, sweep_id: str) -> str:
    best = latest_metadata(instance, keys.sweep, sweep_id)
    return (
        f"      sweep {sweep_id}: best run {best.get('best_run')} "
        f"({best.get('metric')}={best.get('value')}), {best.get('size')} bytes"
    )


def _table_line(table: dict[str, Any]) -> str:
    return (
        f"      runs table refreshed: {table.get('dagster/row_count')} rows "
        f"({table.get('wandb/finished_runs')} finished, {table.get('wandb/running_runs')} "
        f"running, {table.get('wandb/refresh_mode')})"
    )


@dataclass
class _Shown:
    """What a watch has printed already (so each poll prints only news)."""

    items: set[str] = field(default_factory=set)
    progress: tuple[int, int] | None = None
    table: tuple[Any, ...] | None = None


def _print_news(
    say: _Printer,
    instance: dg.DagsterInstance,
    keys: DemoKeys,
    goal: Goal,
    snap: Snapshot,
    shown: _Shown,
) -> None:
    for run_id in sorted((snap.partitions & goal.runs) - shown.items):
        say(_history_line(instance, keys, run_id))
        shown.items.add(run_id)
    for sweep_id in sorted((snap.sweeps & goal.sweeps) - shown.items):
        say(_sweep_line(instance, keys, sweep_id))
        shown.items.add(sweep_id)
    if goal.table_rows is not None and snap.table is not None:
        table = tuple(snap.table.get(k) for k in TABLE_FIELDS)
        if table != shown.table:
            say(_table_line(snap.table))
            shown.table = table
    done = len(snap.partitions & goal.runs)
    if goal.runs and (done, snap.launched) != shown.progress:
        say.step(
            f"  {progress_bar(done, len(goal.runs))} {done}/{len(goal.runs)} partitions "
            f"materialized, {snap.launched} Dagster runs launched ({snap.in_progress} queued "
            "or running)"
        )
        shown.progress = (done, snap.launched)


def watch(
    say: _Printer,
    dagster: DagsterProcess,
    keys: DemoKeys,
    goal: Goal,
    marks: Marks,
    what: str,
    timeout_s: float = WAIT_S,
) -> Snapshot:
    """Poll the instance until the daemon reached ``goal`` (or a Dagster run failed).

    Prints each new partition and a progress line; ``DemoError`` naming ``what`` and what is
    missing after ``timeout_s``.
    """
    shown = _Shown()
    last: list[Snapshot] = []

    def check() -> Snapshot | None:
        if dagster.proc is not None and dagster.proc.poll() is not None:
            raise DemoError(f"dagster dev exited with {dagster.proc.returncode} while {what}")
        snap = snapshot(dagster.instance(), keys, marks)
        last[:] = [snap]
        _print_news(say, dagster.instance(), keys, goal, snap, shown)
        stuck = snap.failed > 0 and snap.in_progress == 0
        return snap if goal.reached(snap) or stuck else None

    try:
        return wait_until(what, check, timeout_s, every_s=POLL_S)
    except TimeoutError:
        snap = last[0] if last else None
        raise DemoError(
            f"the daemon did not finish {what} within {timeout_s:.0f}s; missing: "
            f"{goal.missing(snap)}"
        ) from None


def latest_ticks(dagster: DagsterProcess) -> dict[str, dict[str, Any]]:
    """The newest tick of each sensor (status, timestamp, skipReason, runIds), via GraphQL."""
    nodes = dagster.graphql(TICKS_QUERY)["repositoriesOrError"].get("nodes") or []
    return {
        sensor["name"]: sensor["sensorState"]["ticks"][0]
        for node in nodes
        for sensor in node["sensors"]
        if sensor["sensorState"]["ticks"]
    }


def next_tick(dagster: DagsterProcess, sensor: str, after: float) -> dict[str, Any]:
    """Wait for a finished tick of ``sensor`` that started after ``after`` (epoch seconds)."""

    def check() -> dict[str, Any] | None:
        try:
            tick = latest_ticks(dagster).get(sensor)
        except OSError:  # a busy webserver (requests' errors are OSErrors): ask again
            return None
        done = tick is not None and tick["timestamp"] > after and tick["status"] != "STARTED"
        return tick if done else None

    return wait_until(f"a new tick of {sensor}", check, TICK_WAIT_S, every_s=POLL_S)


# -- the story ---------------------------------------------------------------------------------


@dataclass
class Demo:
    """One demo's moving parts: printer, W&B server and client, Dagster, keys, storage root."""

    say: _Printer
    srv: Any
    client: Any
    dagster: DagsterProcess
    keys: DemoKeys
    root: Path
    path: str

    @property
    def instance(self) -> dg.DagsterInstance:
        return self.dagster.instance()

    def watch(self, goal: Goal, marks: Marks, what: str) -> Snapshot:
        return watch(self.say, self.dagster, self.keys, goal, marks, what)


def initial_import(demo: Demo) -> tuple[ServerState, Snapshot]:
    """Step 1: the run sensor stores every ended run and refreshes the run table."""
    state = server_state(demo.client, demo.path)
    demo.say.step(
        f"[1/4] initial import: {len(state.ended)} of {len(state.runs)} runs have ended; "
        "waiting for the daemon's run sensor to store them ..."
    )
    goal = Goal(runs=state.ended, table_rows=len(state.runs))
    return state, demo.watch(goal, Marks(), "the initial import")


def sweep_import(demo: Demo, state: ServerState) -> Snapshot:
    """Step 2: the sweep sensor stores each finished sweep's best model."""
    demo.say.step(
        f"[2/4] waiting for the sweep sensor: best model of {', '.join(sorted(state.sweeps))} ..."
    )
    return demo.watch(Goal(sweeps=state.sweeps), Marks(), "the sweeps' best models")


def new_runs(demo: Demo, before: ServerState, running_run: str) -> tuple[Goal, Snapshot]:
    """Step 3: new runs logged with the SDK and a finished running run; the daemon picks them up."""
    marks = Marks.now(demo.instance, demo.keys)
    demo.say.step("[3/4] a training script logs new runs with the official wandb SDK;")
    demo.say(f"      then the running run {running_run} finishes on the server ...")
    _log_training_runs(demo.say, demo.srv, demo.path.split("/")[1])
    demo.srv.seed.finish_run(f"{demo.path}/{running_run}")
    after = server_state(demo.client, demo.path)
    goal = Goal(
        runs=after.ended - before.ended,
        sweeps=after.sweeps - before.sweeps,
        table_rows=len(after.runs),
    )
    demo.say(
        f"      newly ended: {', '.join(sorted(goal.runs)) or 'nothing'}; "
        f"newly finished sweeps: {', '.join(sorted(goal.sweeps)) or 'none'}"
    )
    snap = demo.watch(goal, marks, "storing the new runs")
    if not goal.reached(snap):
        return goal, snap
    extra = sorted(snap.partitions - goal.runs)
    if extra:
        demo.say(f"      also stored again (unexpected): {', '.join(extra)}")
    else:
        demo.say(
            f"      the daemon stored exactly the {len(goal.runs)} runs that ended and "
            f"{len(snap.sweeps)} new sweep(s)"
        )
    tick = next_tick(demo.dagster, demo.keys.run_sensor, time.time())
    requested = f"{len(tick['runIds'])} runs requested" if tick["runIds"] else "no run requested"
    demo.say(
        f"      the run sensor's next tick: {tick['status']}, {tick['skipReason'] or requested}"
    )
    return goal, snap


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


# -- the summary -------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunsLaunched:
    """The instance's Dagster runs by kind: W&B runs per batch, table refreshes, sweeps."""

    batches: list[int]
    tables: int
    sweeps: int
    failed: list[str]
    by_sensor: int

    @property
    def total(self) -> int:
        return len(self.batches) + self.tables + self.sweeps


def runs_launched(instance: dg.DagsterInstance) -> RunsLaunched:
    """Classify every Dagster run by its tags (``wandb/runs``, ``wandb/sweep_id``)."""
    records = sorted(instance.get_run_records(), key=lambda r: r.create_timestamp)
    runs = [r.dagster_run for r in records]
    return RunsLaunched(
        batches=[int(r.tags[RUNS_TAG]) for r in runs if RUNS_TAG in r.tags],
        tables=sum(RUNS_TAG not in r.tags and SWEEP_TAG not in r.tags for r in runs),
        sweeps=sum(SWEEP_TAG in r.tags for r in runs),
        failed=[r.run_id for r in runs if r.status == dg.DagsterRunStatus.FAILURE],
        by_sensor=sum(SENSOR_TAG in r.tags for r in runs),
    )


def summary(demo: Demo, ended: int, keep_ui: bool) -> RunsLaunched:
    """Step 4: print the Dagster runs, partitions, files and the UI address."""
    say, keys, instance = demo.say, demo.keys, demo.instance
    launched = runs_launched(instance)
    partitions = instance.get_materialized_partitions(keys.history)
    sweeps = instance.get_materialized_partitions(keys.sweep)
    say()
    say.step("[4/4] summary")
    say(
        f"  Dagster runs   {launched.total} launched by the daemon ({launched.by_sensor} by the "
        f"sensors), {len(launched.failed)} failed"
    )
    say(
        f"    per-run      {len(launched.batches)} runs storing "
        f"{' + '.join(map(str, launched.batches)) or '0'} = {sum(launched.batches)} W&B runs "
        f"({keys.history.path[-1]} + {keys.system.path[-1]})"
    )
    say(f"    run table    {launched.tables} refreshes of {keys.runs.to_user_string()}")
    say(f"    sweeps       {launched.sweeps} runs of {keys.sweep.to_user_string()}")
    for run_id in launched.failed:
        say(f"    FAILED       {demo.dagster.url}/runs/{run_id}")
    say(f"  partitions     {len(partitions)} runs (of {ended} ended), {len(sweeps)} sweeps")
    say(f"  storage        {demo.root}")
    for rel, count, size in _files_summary(demo.root):
        say(f"    {rel + '/':<36} {count:>3} files {size / 1e6:8.2f} MB")
    history_dir = demo.root.joinpath(*keys.history.path)
    say(f"  read it        pandas.read_parquet('{history_dir}')")
    later = "stays up" if keep_ui else "stops now; --keep-ui keeps it up"
    say(f"  Dagster UI     {demo.dagster.url}  ({later}; instance {demo.dagster.home})")
    return launched


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def serve_until_interrupted(demo: Demo) -> None:
    """Keep Dagster (and the W&B server) up until Ctrl-C (or SIGTERM), or until Dagster exits."""
    demo.say(f"  open {demo.dagster.url} ; the sensors keep ticking. Press Ctrl-C to stop.")
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        while demo.dagster.proc is not None and demo.dagster.proc.poll() is None:
            time.sleep(1.0)  # waiting for SIGINT / SIGTERM
    except KeyboardInterrupt:
        demo.say()
    finally:
        signal.signal(signal.SIGTERM, previous)


def enable_ctrl_c() -> None:
    """Un-ignore SIGINT (a background job of a non-interactive shell starts with it ignored).

    So that ``--keep-ui`` ends on SIGINT too (``DagsterProcess`` restores it for Dagster's own
    processes). Only the main thread can set handlers; elsewhere this does nothing.
    """
    main = threading.current_thread() is threading.main_thread()
    if main and signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


# -- entry points ------------------------------------------------------------------------------


def fresh_home(root: Path, entity: str, project: str) -> Path:
    """``root/.dagster`` for a new demo instance (``dagster.yaml`` and marker written).

    A previous demo's instance (marker file) is replaced and the project's stored files
    removed: its run keys would make the sensors skip every run, and its run table would be
    merged into the new one. A ``.dagster`` without the marker is not the demo's: refused.
    """
    home = root / ".dagster"
    if (home / DEMO_MARKER).exists():
        shutil.rmtree(home)
        stored = WandbProjectAssetsSpec.build(entity=entity, project=project).key("runs")
        shutil.rmtree(root.joinpath(*stored.path[:-1]), ignore_errors=True)
    elif home.exists() and any(home.iterdir()):
        raise DemoError(
            f"{home} holds a Dagster instance the demo did not create; choose another --output"
        )
    prepare_home(home)
    (home / DEMO_MARKER).write_text("created by `wb-dagster demo`; replaced on the next run\n")
    return home


def dagster_env(srv: Any, entity: str, project: str, root: Path) -> dict[str, str]:
    """Environment of ``dagster dev``: the demo settings, the key in ``DEMO_KEY_ENV``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WANDB_", ENV_PREFIX))}
    env.update(demo_env(entity=entity, project=project, base_url=srv.base_url, storage=str(root)))
    env[DEMO_KEY_ENV] = srv.api_key
    return env


def run_demo(output: str | None = None, *, keep_ui: bool = False, out: TextIO | None = None) -> int:
    """Run the demo on Dagster's daemon; ``output`` is the storage root (``./wb_demo_output``).

    Returns 0, or 1 if a Dagster run failed or something did not happen in time.

    Example:
        >>> # run_demo("/tmp/wb_demo", keep_ui=False)  # about a minute
    """
    from wb_dagster.client import WandbClient
    from wb_dagster.testing import LocalWandbServer
    from wb_dagster.testing.seeds.demo import DEMO_ENTITY, DEMO_PROJECT, DEMO_RUNNING_RUN

    say = _Printer(out or sys.stdout)
    enable_ctrl_c()
    root = Path(output or "wb_demo_output").resolve()
    root.mkdir(parents=True, exist_ok=True)
    try:
        home = fresh_home(root, DEMO_ENTITY, DEMO_PROJECT)
    except DemoError as exc:
        say(f"demo failed: {exc}")
        return 1
    say.step("starting the local W&B server with the demo seed ...")
    # the seeded running run has an old heartbeat: keep the crash watchdog from ending it
    with LocalWandbServer(seed="demo", heartbeat_timeout_s=10**9) as srv:
        entity = srv.entity
        path = f"{entity}/{DEMO_PROJECT}"
        say.step(f"server at {srv.base_url}, project {path}")
        env = dagster_env(srv, entity, DEMO_PROJECT, root)
        dagster = DagsterProcess.dev(home, ["-m", DEFS_MODULE], env=env, log=home / "dagster.log")
        client = WandbClient(api_key=srv.api_key, base_url=srv.base_url, entity=entity)
        demo = Demo(say, srv, client, dagster, DemoKeys.of(entity, DEMO_PROJECT), root, path)
        with dagster:
            try:
                code = _run(demo, DEMO_RUNNING_RUN, keep_ui)
            except (DemoError, TimeoutError, RuntimeError) as exc:
                say(f"demo failed: {exc}")
                say(f"Dagster's log: {dagster.log_path}")
                code = 1
            except KeyboardInterrupt:
                say("interrupted")
                code = 130
            say.step("stopping Dagster and the W&B server ...")
    say.step(f"done (exit code {code})")
    return code


def _run(demo: Demo, running_run: str, keep_ui: bool) -> int:
    say = demo.say
    say.step(f"starting Dagster (webserver + daemon) at {demo.dagster.url} ...")
    demo.dagster.wait_ready(WAIT_S)
    say.step(
        f"Dagster is up; its daemon ticks the sensors every {DEFAULT_INTERVAL_S} s "
        f"(log: {demo.dagster.log_path})"
    )
    state, snap = initial_import(demo)
    ended = len(state.ended)
    if not snap.failed:
        snap = sweep_import(demo, state)
    if not snap.failed:  # a failed run stops the story: the summary shows it
        goal, snap = new_runs(demo, state, running_run)
        ended += len(goal.runs)
        stored_models(demo.say, demo.client, demo.dagster.instance, *demo.path.split("/"))
    launched = summary(demo, ended, keep_ui)
    if keep_ui:
        serve_until_interrupted(demo)
    return 1 if launched.failed else 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m wb_dagster.demo [DIR]``."""
    args = list(argv if argv is not None else sys.argv[1:])
    return run_demo(args[0] if args else None)


if __name__ == "__main__":
    sys.exit(main())
