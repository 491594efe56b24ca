"""Dagster's own runtime in a subprocess: ``dagster dev`` or ``dagster-daemon run`` on loopback.

The demo runs on it, and so does every test of a sensor or schedule: the daemon evaluates the
sensors, the queued run coordinator and the default run launcher start the runs, and the
result is read back from the instance in ``DAGSTER_HOME`` (or the webserver's GraphQL). The
process runs in its own session; :meth:`DagsterProcess.stop` sends SIGINT, waits a bounded
time, then kills the whole group, so no webserver, daemon, code server or run worker outlives it.
On Linux the process also gets SIGINT when the process that started it dies, even by SIGKILL.

Example:
    >>> INSTANCE_YAML.splitlines()[0]
    'telemetry: {enabled: false}'
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import dagster as dg
import requests

T = TypeVar("T")

# The queue starts runs as soon as a slot is free (dagster dev's default waits 5 s between
# dequeues); 4 runs at once suits a small machine, each run exporting its batch on threads.
INSTANCE_YAML = """\
telemetry: {enabled: false}
run_coordinator:
  module: dagster.core.run_coordinator
  class: QueuedRunCoordinator
  config: {max_concurrent_runs: 4, dequeue_interval_seconds: 1}
sensors: {use_threads: true, num_workers: 4}
schedules: {use_threads: true, num_workers: 2}
"""
LOCATIONS_QUERY = """
{ workspaceOrError { __typename ... on Workspace { locationEntries {
    name loadStatus locationOrLoadError { __typename ... on PythonError { message } } } } } }
"""
STOP_TIMEOUT_S = 30.0


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(
    what: str, check: Callable[[], T | None], timeout_s: float, every_s: float = 0.5
) -> T:
    """Call ``check`` until it returns something truthy; ``TimeoutError`` naming ``what`` after
    ``timeout_s``.

    Example:
        >>> wait_until("one", lambda: 1, timeout_s=1)
        1
    """
    deadline = time.monotonic() + timeout_s
    last: T | None = None
    while True:
        last = check()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise TimeoutError(
                f"timed out after {timeout_s:.0f}s waiting for {what} (last: {last!r})"
            )
        time.sleep(every_s)  # a poll interval, bounded by the deadline


# Linux's prctl, looked up once before any fork: between fork and exec the child only calls it
_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None
_PR_SET_PDEATHSIG = 1


def _in_child(parent: int) -> None:
    # a shell's background job ignores SIGINT, and Dagster maps SIGTERM to the SIGINT handler:
    # restore it, or stop() could only kill
    signal.signal(signal.SIGINT, signal.default_int_handler)
    if _LIBC is not None:
        # SIGINT, Dagster's own shutdown, once the parent dies: a SIGKILLed demo or test worker
        # runs no finally, and the new session would otherwise outlive it (the signal follows
        # the thread that started the process: every caller starts it on its main thread)
        _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGINT)
        if os.getppid() != parent:  # the parent died before the call: nobody to serve
            os._exit(1)


def prepare_home(home: Path, instance_yaml: str = INSTANCE_YAML) -> Path:
    """Create ``home`` with a ``dagster.yaml`` for a local deployment; return it."""
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text(instance_yaml)
    return home


class DagsterProcess:
    """``dagster dev`` (webserver + daemon) or ``dagster-daemon run`` as a subprocess.

    Example:
        >>> # with DagsterProcess.dev(home, ["-f", "defs.py"], env=env, log=path) as dagster:
        >>> #     dagster.wait_loaded(); runs = dagster.instance().get_run_records()
    """

    def __init__(
        self,
        args: Sequence[str],
        *,
        home: Path,
        cwd: Path,
        env: Mapping[str, str],
        log: Path,
        url: str | None = None,
    ) -> None:
        self.args = list(args)
        self.home = home
        self.cwd = cwd
        self.env = {**env, "DAGSTER_HOME": str(home)}
        self.log_path = log
        self.url = url
        self.proc: subprocess.Popen[bytes] | None = None
        self._instance: dg.DagsterInstance | None = None
        self._started_at = 0.0

    @classmethod
    def dev(
        cls,
        home: Path,
        target: Sequence[str],
        *,
        env: Mapping[str, str],
        log: Path,
        port: int | None = None,
    ) -> DagsterProcess:
        """``dagster dev <target>`` on ``127.0.0.1:port`` (a free port by default)."""
        port = port or free_port()
        args = [sys.executable, "-m", "dagster", "dev", *target, "-h", "127.0.0.1", "-p", str(port)]
        return cls(
            args, home=home, cwd=home.parent, env=env, log=log, url=f"http://127.0.0.1:{port}"
        )

    @classmethod
    def daemon(
        cls, home: Path, target: Sequence[str], *, env: Mapping[str, str], log: Path
    ) -> DagsterProcess:
        """``dagster-daemon run <target>`` alone (no webserver)."""
        args = [str(Path(sys.executable).with_name("dagster-daemon")), "run", *target]
        return cls(args, home=home, cwd=home.parent, env=env, log=log)

    def start(self) -> DagsterProcess:
        """Start the process in its own session, its output appended to the log file."""
        self._started_at = time.time()
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                self.args,
                cwd=self.cwd,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                preexec_fn=functools.partial(_in_child, os.getpid()),
            )
        return self

    def _check_alive(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(
                f"{' '.join(self.args[2:4])} exited with {self.proc.returncode}; "
                f"see {self.log_path}"
            )

    def graphql(self, query: str, variables: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """One query against the webserver's GraphQL endpoint (``dev`` only)."""
        if self.url is None:
            raise RuntimeError("this Dagster process has no webserver")
        resp = requests.post(
            f"{self.url}/graphql",
            json={"query": query, "variables": dict(variables or {})},
            timeout=30,
        )
        resp.raise_for_status()
        body: dict[str, Any] = resp.json()
        if body.get("errors"):
            raise RuntimeError(f"Dagster GraphQL errors: {body['errors']}")
        return body["data"]

    def _locations_loaded(self) -> bool:
        self._check_alive()
        try:
            entries = self.graphql(LOCATIONS_QUERY)["workspaceOrError"]["locationEntries"]
        except (requests.RequestException, RuntimeError, KeyError, TypeError, ValueError):
            return False
        for entry in entries:
            error = entry.get("locationOrLoadError") or {}
            if error.get("__typename") == "PythonError":
                raise RuntimeError(
                    f"code location {entry['name']} failed to load: {error.get('message')}"
                )
        return bool(entries) and all(e["loadStatus"] == "LOADED" for e in entries)

    def _daemon_beating(self) -> bool:
        self._check_alive()
        beats = self.instance().get_daemon_heartbeats()
        fresh = {name for name, beat in beats.items() if beat.timestamp >= self._started_at}
        return {"SENSOR", "QUEUED_RUN_COORDINATOR"} <= fresh  # not an earlier daemon's

    def wait_ready(self, timeout_s: float = 180.0) -> DagsterProcess:
        """Wait until the code locations are loaded (``dev``) or the daemon beats (``daemon``)."""
        ready = self._locations_loaded if self.url else self._daemon_beating
        wait_until("Dagster to start", ready, timeout_s)
        return self

    def instance(self) -> dg.DagsterInstance:
        """The deployment's instance, read from ``DAGSTER_HOME`` in this process."""
        if self._instance is None:
            self._instance = dg.DagsterInstance.from_config(str(self.home))
        return self._instance

    def _group_alive(self) -> bool:
        assert self.proc is not None
        try:
            os.killpg(self.proc.pid, 0)
        except ProcessLookupError:
            return False
        return True

    def kill(self) -> None:
        """SIGKILL the whole process group at once (a crash, not a shutdown)."""
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        """SIGINT, a bounded wait for the children, then SIGKILL of whatever is left."""
        if self.proc is None:
            return
        try:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGINT)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.proc.wait(timeout=STOP_TIMEOUT_S)
            deadline = time.monotonic() + STOP_TIMEOUT_S
            while self._group_alive() and time.monotonic() < deadline:
                time.sleep(0.2)  # children finishing their shutdown, bounded
            if self._group_alive():
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                # reap the leader first: until then it is a zombie still counted in its group
                self.proc.wait(timeout=10)
                wait_until("Dagster's processes to exit", lambda: not self._group_alive(), 10.0)
            if self.proc.poll() is None:
                self.proc.wait(timeout=10)
        finally:
            if self._instance is not None:
                self._instance.dispose()
                self._instance = None

    def __enter__(self) -> DagsterProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
