"""The demo's story on the W&B side: the initial import, the sweeps, and new runs logged with the
official SDK while the daemon watches.

Example:
    >>> # state, snap = initial_import(demo); snap = sweep_import(demo, state)
"""

from __future__ import annotations

import importlib.util
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import dagster as dg

from wb_dagster.client import WandbClient
from wb_dagster.dagster_process import DagsterProcess
from wb_dagster.demo.printer import Printer
from wb_dagster.demo.progress import DemoKeys, Goal, Marks, ServerState, Snapshot, server_state
from wb_dagster.demo.watch import next_tick, watch
from wb_dagster.server_process import ServerInfo


@dataclass
class Demo:
    """One demo's moving parts: printer, W&B server and client, Dagster, keys, storage root."""

    say: Printer
    server: ServerInfo
    client: WandbClient
    dagster: DagsterProcess
    keys: DemoKeys
    root: Path
    path: str

    @property
    def instance(self) -> dg.DagsterInstance:
        """The Dagster instance the daemon writes to."""
        return self.dagster.instance()

    def watch(self, goal: Goal, marks: Marks, what: str) -> Snapshot:
        """Wait for ``goal`` (see :func:`~wb_dagster.demo.watch.watch`)."""
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


def finish_run(client: WandbClient, path: str) -> None:
    """End the running run ``entity/project/run_id`` as the SDK does when a script exits 0.

    One ``file_stream`` request with ``complete: true, exitcode: 0``: W&B marks the run
    ``finished`` (the local server also exports its live history then).

    Example:
        >>> # finish_run(client, "wb-demo/cifar/cifar009")
    """
    stream = "/files/" + "/".join(quote(part, safe="") for part in path.split("/"))
    client.transport.post_json(
        f"{stream}/file_stream", {"complete": True, "exitcode": 0}, what=f"finishing run {path}"
    )


def new_runs(demo: Demo, before: ServerState) -> tuple[Goal, Snapshot]:
    """Step 3: new runs logged with the SDK and the running runs finished; the daemon picks them
    up."""
    marks = Marks.now(demo.instance, demo.keys)
    running = sorted(before.running)
    demo.say.step("[3/4] a training script logs new runs with the official wandb SDK;")
    demo.say(f"      then the running run {', '.join(running)} finishes on the server ...")
    _log_training_runs(demo.say, demo.server, demo.path.split("/")[1])
    for run_id in running:
        finish_run(demo.client, f"{demo.path}/{run_id}")
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


def _log_training_runs(say: Printer, server: ServerInfo, project: str) -> None:
    """Log real training runs (and a grid sweep driven by ``wandb.agent``) into the server.

    This is the flow users have: a training script logs to W&B, the sensor sees the runs
    finish. The official SDK is a demo extra, not a dependency: without it the step is skipped.
    """
    if importlib.util.find_spec("wandb") is None:
        say("      skipped: the official wandb SDK is missing (pip install 'wb-dagster[demo]')")
        return
    from wb_dagster.demo.training import populate_with_sdk

    logged = populate_with_sdk(
        server.base_url, server.api_key, entity=server.entity, project=project
    )
    say(
        f"      logged {len(logged.run_ids)} runs + sweep {logged.sweep_id} "
        f"({len(logged.sweep_run_ids)} runs via wandb.agent) in {logged.wall_time_s:.1f} s"
    )
