"""``wb-dagster demo``: the demo W&B project turned into Dagster assets by Dagster's own daemon.

Starts the local W&B-compatible server with the ``demo`` seed as a child process
(:mod:`wb_dagster.server_process`; its first line names the address, key and project), then
``dagster dev`` (webserver + daemon, :mod:`wb_dagster.dagster_process`) on 127.0.0.1 with the
code location :mod:`wb_dagster.demo.definitions` (both sensors RUNNING, ticking every 5 s) and
a persistent instance under ``DIR/.dagster``. The daemon does all the work; this process
watches the instance and prints progress:

1. initial import: the run sensor turns every ended run into a partition and batched run
   requests, the queued run coordinator launches them (history + system metrics), and the
   run table is refreshed;
2. the sweep sensor materializes the finished sweep's best model;
3. a real training script (:mod:`wb_dagster.demo.training`, numpy only) logs two runs and a
   four-run grid sweep driven by ``wandb.agent`` through the official ``wandb`` SDK, the
   seeded running run finishes, and the daemon materializes exactly those runs and the new
   sweep (no unchanged run again);
4. a summary: Dagster runs (and how many W&B runs each stored), failures, partitions, files
   and the UI address. ``keep_ui=True`` (``--keep-ui``) keeps Dagster up until Ctrl-C.

The project holds both the server's synthetic ``demo`` seed and
runs written in W&B's own encoding by the SDK. Returns 1 if a Dagster run failed.

Example:
    >>> # from wb_dagster.demo.run import run_demo; run_demo("./wb_demo_output", keep_ui=True)
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TextIO

from wb_dagster.client import WandbClient
from wb_dagster.dagster_process import DagsterProcess, prepare_home
from wb_dagster.demo.definitions import DEFAULT_INTERVAL_S, DEMO_KEY_ENV, ENV_PREFIX, demo_env
from wb_dagster.demo.models import stored_models
from wb_dagster.demo.printer import Printer
from wb_dagster.demo.progress import DemoKeys
from wb_dagster.demo.story import Demo, initial_import, new_runs, sweep_import
from wb_dagster.demo.summary import summary
from wb_dagster.demo.watch import WAIT_S, DemoError
from wb_dagster.project import WandbProjectAssetsSpec
from wb_dagster.server_process import ServerInfo, ServerProcess

DEMO_MARKER = "WB_DAGSTER_DEMO_INSTANCE"
DEFS_MODULE = "wb_dagster.demo.definitions"


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


def dagster_env(server: ServerInfo, entity: str, project: str, root: Path) -> dict[str, str]:
    """Environment of ``dagster dev``: the demo settings, the key in ``DEMO_KEY_ENV``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WANDB_", ENV_PREFIX))}
    env.update(
        demo_env(entity=entity, project=project, base_url=server.base_url, storage=str(root))
    )
    env[DEMO_KEY_ENV] = server.api_key
    return env


def demo_project(server: ServerInfo) -> tuple[str, str]:
    """``(entity, project)`` of the seeded project the server announced.

    Example:
        >>> info = ServerInfo("http://127.0.0.1:1", "k", "wb-demo", ("wb-demo/cifar",))
        >>> demo_project(info)
        ('wb-demo', 'cifar')
    """
    for path in server.projects:
        entity, _, project = path.partition("/")
        if entity == server.entity and project:
            return entity, project
    raise DemoError(f"the local W&B server announced no project of {server.entity}")


@contextlib.contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """SIGTERM ends the demo like Ctrl-C: the W&B server and Dagster are stopped on the way out.

    Only the main thread can set handlers; elsewhere this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_demo(output: str | None = None, *, keep_ui: bool = False, out: TextIO | None = None) -> int:
    """Run the demo on Dagster's daemon; ``output`` is the storage root (``./wb_demo_output``).

    Returns 0, or 1 if a Dagster run failed or something did not happen in time.

    Example:
        >>> # run_demo("/tmp/wb_demo", keep_ui=False)  # about a minute
    """
    say = Printer(out or sys.stdout)
    enable_ctrl_c()
    root = Path(output or "wb_demo_output").resolve()
    root.mkdir(parents=True, exist_ok=True)
    say.step("starting the local W&B server with the demo seed ...")
    with _sigterm_interrupts(), ServerProcess(["--seed", "demo"]) as server:
        info = server.info
        try:
            entity, project = demo_project(info)
            home = fresh_home(root, entity, project)
        except DemoError as exc:
            say(f"demo failed: {exc}")
            return 1
        path = f"{entity}/{project}"
        say.step(f"server at {info.base_url}, project {path}")
        env = dagster_env(info, entity, project, root)
        dagster = DagsterProcess.dev(home, ["-m", DEFS_MODULE], env=env, log=home / "dagster.log")
        client = WandbClient(api_key=info.api_key, base_url=info.base_url, entity=entity)
        demo = Demo(say, info, client, dagster, DemoKeys.of(entity, project), root, path)
        with client, dagster:
            try:
                code = _run(demo, keep_ui)
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


def _run(demo: Demo, keep_ui: bool) -> int:
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
        goal, snap = new_runs(demo, state)
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
