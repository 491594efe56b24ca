"""Run states driven by the logging path: finishing, failing and crashing runs.

* A run logged by the SDK is ``running`` while its process sends file_stream requests.
* The final file_stream request carries ``complete: true`` and ``exitcode``: exit code 0 makes the
  run ``finished``, anything else ``failed``. Either way its live history is exported to a parquet
  part, so ``parquetHistory`` serves it from then on -- unless a test switched that off
  (:func:`set_export_on_finish`), to read a finished run's history from the live path.
* A ``running`` run whose ``heartbeatAt`` is older than the heartbeat timeout (its process was
  killed) becomes ``crashed`` and is exported too. :class:`CrashWatchdog` checks periodically.
* A crashed run that sends again (it was only cut off) is ``running`` again.

Example:
    >>> import tempfile, pathlib
    >>> from wb_dagster.testing.store.database import Store
    >>> from wb_dagster.testing.store.runs import RunStore
    >>> from wb_dagster.testing.store.history import HistoryStore
    >>> store = Store(pathlib.Path(tempfile.mkdtemp()))
    >>> runs, history = RunStore(store), HistoryStore(store)
    >>> pk = runs.upsert_run("ent", "proj", "r1", {"state": "running"})
    >>> history.append_rows(pk, [{"_step": 0, "loss": 1.0}])
    >>> finish_run(runs, history, pk, exit_code=0)
    'finished'
    >>> [p.rows for p in history.parts(pk)], history.live_steps(pk)
    ([1], [])
    >>> store.close()
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta

from wb_dagster.testing.store.database import format_time, utc_now
from wb_dagster.testing.store.history import HistoryStore
from wb_dagster.testing.store.runs import RunStore
from wb_dagster.testing.store.sweeps import finish_sweep_if_done

logger = logging.getLogger(__name__)

# W&B marks a run crashed after a few minutes without heartbeat; tests shorten this.
DEFAULT_HEARTBEAT_TIMEOUT_S = 300.0
TERMINAL_STATES = frozenset({"finished", "failed", "crashed", "killed", "preempted"})


def state_for_exit_code(exit_code: int | None) -> str:
    """``finished`` for exit code 0 (or none given), else ``failed``.

    >>> state_for_exit_code(0), state_for_exit_code(3)
    ('finished', 'failed')
    """
    return "finished" if not exit_code else "failed"


def finish_run(
    runs: RunStore,
    history: HistoryStore,
    run_pk: int,
    exit_code: int | None,
    *,
    stopped: bool = False,
) -> str:
    """Mark the run finished/failed by its exit code (``killed`` when it was asked to stop and
    exits non-zero) and export its live history (unless a test asked to keep it live)."""
    state = "killed" if stopped and exit_code else state_for_exit_code(exit_code)
    if export_on_finish(runs):
        history.export_live(run_pk)
    runs.update_run(run_pk, {"state": state})
    _finish_sweep(runs, run_pk)
    return state


def _finish_sweep(runs: RunStore, run_pk: int) -> None:
    run = runs.get_run_by_pk(run_pk)
    if run is not None and run["sweep_name"]:
        finish_sweep_if_done(runs, int(run["project_pk"]), run["sweep_name"])


def mark_stale_runs_crashed(
    runs: RunStore,
    history: HistoryStore,
    timeout_s: float,
    watching_since: datetime | None = None,
) -> list[int]:
    """Set ``crashed`` on every ``running`` run silent for longer than ``timeout_s``.

    ``watching_since`` is when the server started watching: a heartbeat older than that counts
    as that time, so a run seeded (or left running by a previous server) with an old heartbeat
    gets a full timeout before it is declared crashed. Returns the pks of the runs it changed.
    """
    limit = utc_now() - timedelta(seconds=timeout_s)
    if watching_since is not None and watching_since > limit:
        return []
    cutoff = format_time(limit)
    stale = [
        int(row[0])
        for row in runs.store.conn().execute(
            "SELECT pk FROM runs WHERE state = 'running' AND heartbeat_at < ?", (cutoff,)
        )
    ]
    changed = []
    for pk in stale:
        with runs.store.write() as conn:
            # re-check inside the write lock: a file_stream request may have just arrived
            still_stale = conn.execute(
                "SELECT 1 FROM runs WHERE pk = ? AND state = 'running' AND heartbeat_at < ?",
                (pk, cutoff),
            ).fetchone()
            if not still_stale:
                continue
            history.export_live(pk)
            runs.update_run(pk, {"state": "crashed"})
        _finish_sweep(runs, pk)
        changed.append(pk)
    return changed


HEARTBEAT_TIMEOUT_SETTING = "heartbeat_timeout_s"


def heartbeat_timeout(runs: RunStore) -> float:
    """The server's heartbeat timeout in seconds (stored setting, default 300)."""
    value = runs.store.get_setting(HEARTBEAT_TIMEOUT_SETTING)
    return DEFAULT_HEARTBEAT_TIMEOUT_S if value is None else float(value)


def set_heartbeat_timeout(runs: RunStore, seconds: float) -> None:
    """Change how long a ``running`` run may stay silent before it is ``crashed``.

    >>> import tempfile, pathlib
    >>> from wb_dagster.testing.store.database import Store
    >>> runs = RunStore(Store(pathlib.Path(tempfile.mkdtemp())))
    >>> set_heartbeat_timeout(runs, 2.5); heartbeat_timeout(runs)
    2.5
    """
    if not seconds > 0:
        raise ValueError(f"heartbeat timeout must be > 0 seconds, got {seconds!r}")
    runs.store.set_setting(HEARTBEAT_TIMEOUT_SETTING, repr(float(seconds)))


EXPORT_ON_FINISH_SETTING = "export_on_finish"


def export_on_finish(runs: RunStore) -> bool:
    """Whether finishing a run exports its live history (stored setting, default on).

    >>> import tempfile, pathlib
    >>> from wb_dagster.testing.store.database import Store
    >>> export_on_finish(RunStore(Store(pathlib.Path(tempfile.mkdtemp()))))
    True
    """
    return runs.store.get_setting(EXPORT_ON_FINISH_SETTING) != "0"


def set_export_on_finish(runs: RunStore, enabled: bool) -> None:
    """Switch the export of a finishing run's history on or off (a test control).

    >>> import tempfile, pathlib
    >>> from wb_dagster.testing.store.database import Store
    >>> runs = RunStore(Store(pathlib.Path(tempfile.mkdtemp())))
    >>> set_export_on_finish(runs, False); export_on_finish(runs)
    False
    """
    runs.store.set_setting(EXPORT_ON_FINISH_SETTING, "1" if enabled else "0")


class CrashWatchdog:
    """Background thread marking silent runs ``crashed`` (see :func:`mark_stale_runs_crashed`).

    The timeout is read from the store on every pass (:func:`set_heartbeat_timeout`), so it can
    be changed while the server runs; passes run every ``min(1 s, timeout / 4)``. Heartbeats
    older than the watchdog's start count from its start (the demo's running run stays running
    for a full timeout).

    >>> import tempfile, pathlib
    >>> from wb_dagster.testing.store.database import Store
    >>> store = Store(pathlib.Path(tempfile.mkdtemp()))
    >>> dog = CrashWatchdog(RunStore(store), HistoryStore(store))
    >>> dog.start(); dog.stop(); store.close()
    """

    def __init__(self, runs: RunStore, history: HistoryStore) -> None:
        self.runs = runs
        self.history = history
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._since: datetime | None = None

    def start(self) -> None:
        if self._thread is not None:
            return
        self._since = utc_now()
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="wb-crash-watchdog", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def _loop(self) -> None:
        interval = 1.0
        while not self._stop.wait(interval):
            try:
                timeout = heartbeat_timeout(self.runs)
                interval = min(1.0, timeout / 4)
                changed = mark_stale_runs_crashed(self.runs, self.history, timeout, self._since)
            except Exception:  # the watchdog must outlive one bad pass (e.g. store closing)
                logger.exception("crash watchdog pass failed")
                continue
            if changed:
                logger.info("marked %d silent run(s) crashed", len(changed))
