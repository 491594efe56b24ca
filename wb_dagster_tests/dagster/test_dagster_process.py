"""``DagsterProcess`` does not outlive the process that started it, even one killed by SIGKILL.

A parent Python process starts ``dagster-daemon run`` through ``DagsterProcess`` (as the demo
starts ``dagster dev``), waits until the daemon beats and prints its pid. The test SIGKILLs the
parent, which runs no ``finally``: the daemon and every process of its session must be gone
within a bounded time (zombies aside: their new parent may never reap them), with the
daemon's own shutdown message in its log.
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

from wb_dagster_tests.daemon.harness import group_alive
from wb_dagster_tests.support.polling import poll

PARENT = """
import os, sys, time
from pathlib import Path
from wb_dagster.dagster_process import DagsterProcess, prepare_home
home = prepare_home(Path(sys.argv[1]))
defs = home.parent / "defs.py"
defs.write_text("import dagster as dg\\ndefs = dg.Definitions()\\n")
daemon = DagsterProcess.daemon(home, ["-f", str(defs)], env=os.environ, log=home / "daemon.log")
daemon.start().wait_ready(timeout_s=120)
print(daemon.proc.pid, flush=True)
time.sleep(300)  # until the test kills this process
"""


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
        assert group_alive(daemon_pid)  # its own session and process group
        parent.kill()
        parent.wait(timeout=20)
        poll("the orphaned daemon's processes to exit", lambda: not group_alive(daemon_pid), 60.0)
        log = (tmp_path / "home" / "daemon.log").read_text()
        assert "shutting down daemon threads" in log, log[-2000:]
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait(timeout=20)
        if daemon_pid:  # only left if the test failed
            with contextlib.suppress(ProcessLookupError):
                os.killpg(daemon_pid, signal.SIGKILL)
