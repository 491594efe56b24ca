"""A writer SIGKILLed in the middle of a write (the crash-safety tests' common harness).

The writer is a Python script that prints ``MID-WRITE`` once a temporary sibling of its
destination (``.<name>.tmp-*``) holds part of the data, then keeps writing until killed.

Example::

    before = dest.read_bytes()
    kill_mid_write([str(writer_script), str(tmp_path)], dest)
    assert dest.read_bytes() == before  # the atomic replace never happened
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path


def kill_mid_write(argv: list[str], dest: Path) -> None:
    """Run ``python *argv`` until it prints ``MID-WRITE``, check that a half-written temporary
    sibling of ``dest`` exists, then SIGKILL it."""
    proc = subprocess.Popen(
        [sys.executable, *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "DAGSTER_HOME": ""},
    )
    try:
        deadline = time.monotonic() + 90
        line = ""
        while time.monotonic() < deadline:
            line = proc.stdout.readline()  # type: ignore[union-attr]
            if not line or "MID-WRITE" in line:
                break
        assert "MID-WRITE" in line, "the writer never reached the middle of its write"
        partial = [p for p in dest.parent.iterdir() if p.name.startswith(f".{dest.name}.tmp-")]
        assert partial and partial[0].stat().st_size > 0  # a half-written temporary file exists
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
