"""``DagsterProcess`` does not outlive the process that started it, even one killed by SIGKILL.

A parent Python process starts ``dagster-daemon run`` through ``DagsterProcess`` (as the demo
starts ``dagster dev``), waits until the daemon beats and prints its pid. The test SIGKILLs the
parent, which runs no ``finally``: the daemon and every process of its session must be gone
within a bounded time, with the daemon's own shutdown message in its log.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from wb_dagster_tests.support.polling import poll

PARENT = """
import sys, time
from pathlib import Path
from wb_dagster.dagster_process import DagsterProcess, prepare_home
home = prepare_home(Path(sys.argv[1]))
defs = home.parent / "defs.py"
defs.write_text("import dagster as dg\\ndefs = dg.Definitions()\\n")
daemon = DagsterProcess.daemon(home, ["-f", str(defs)], env={}, log=home / "daemon.log")
daemon.env.update({k: v for k, v in __import__("os").environ.items() if k != "DAGSTER_HOME"})
daemon.start().wait_ready(timeout_s=120)
print(daemon.proc.pid, flush=True)
time.sleep(300)  # until the test kills this process
"""


def _session(sid: int) -> list[int]:
    """Live (not zombie) processes of session ``sid``: a zombie's parent may never reap it."""
    live = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if fields[0] != "Z" and int(fields[3]) == sid:  # state, ..., session id
                live.append(int(stat.parent.name))
    return live


@pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the parent-death signal is Linux's"
)
def test_dagster_stops_when_the_process_that_started_it_is_killed(tmp_path: Path) -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(PARENT), str(tmp_path / "home")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    daemon_pid = 0
    try:
        assert parent.stdout is not None
        line = parent.stdout.readline()  # bounded: the parent's wait_ready times out at 120 s
        assert line.strip().isdigit(), parent.stderr.read() if parent.stderr else line
        daemon_pid = int(line)
        assert daemon_pid in _session(daemon_pid)
        parent.kill()
        parent.wait(timeout=20)
        poll("the orphaned daemon's session to exit", lambda: not _session(daemon_pid), 60.0)
        log = (tmp_path / "home" / "daemon.log").read_text()
        assert "shutting down daemon threads" in log, log[-2000:]
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait(timeout=20)
        for pid in _session(daemon_pid) if daemon_pid else []:  # only if the test failed
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
