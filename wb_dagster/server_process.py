"""The local W&B-compatible server (``wb_dagster.testing``) as a child process.

The Dagster layer never imports the server: ``wb-dagster server`` runs the server's own command
line (``python -m wb_dagster.testing``) in the foreground, and the demo starts it in the
background and learns its address, key, entity and projects from the JSON line it prints
first. Everything else goes over HTTP.

Example:
    >>> server_command(["--seed", "demo"])[1:]
    ['-m', 'wb_dagster.testing', '--seed', 'demo']
"""

from __future__ import annotations

import contextlib
import json
import selectors
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from types import FrameType
from typing import IO

SERVER_MODULE = "wb_dagster.testing"
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0
FORWARDED_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def server_command(args: Sequence[str]) -> list[str]:
    """The command line of the server with ``args`` (its own options), in this interpreter."""
    return [sys.executable, "-m", SERVER_MODULE, *args]


def _start(
    args: Sequence[str], *, stdout: int | None = None, new_session: bool = False
) -> subprocess.Popen[str]:
    """The server as our child, stopping when our end of its stdin closes: even a SIGKILL of
    this process, which no handler sees, does not leave it running."""
    return subprocess.Popen(
        server_command([*args, "--stop-on-stdin-eof"]),
        stdin=subprocess.PIPE,
        stdout=stdout,
        text=True,
        start_new_session=new_session,
    )


def _stop(proc: subprocess.Popen[str], timeout_s: float = STOP_TIMEOUT_S) -> int:
    """SIGTERM (the server's clean stop), a bounded wait, then SIGKILL; the exit status."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.terminate()
        try:
            return proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
    return proc.wait(timeout=timeout_s)


def run_in_foreground(args: Sequence[str]) -> int:
    """Run the server with ``args`` until it exits; return its exit status.

    SIGINT and SIGTERM sent to this process are passed on, so the server stops cleanly
    (exit status 0) however it is asked to; it never outlives this call.

    Example:
        >>> # run_in_foreground(["--seed", "demo", "--port", "8765"])  # until Ctrl-C
    """
    procs: list[subprocess.Popen[str]] = []

    def forward(signum: int, frame: FrameType | None) -> None:
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signum)

    main = threading.current_thread() is threading.main_thread()
    # installed before the child starts: a signal in between must not orphan it
    previous = {s: signal.signal(s, forward) for s in FORWARDED_SIGNALS} if main else {}
    try:
        procs.append(_start(args))
        return procs[0].wait()
    finally:
        if procs:
            _stop(procs[0])
        for signum, handler in previous.items():
            signal.signal(signum, handler)


@dataclass(frozen=True)
class ServerInfo:
    """What the server announces in its first stdout line.

    Example:
        >>> line = '{"base_url": "http://127.0.0.1:1", "api_key": "k", "entity": "e",'
        >>> ServerInfo.parse(line + ' "projects": ["e/p"]}').projects
        ('e/p',)
    """

    base_url: str
    api_key: str
    entity: str
    projects: tuple[str, ...]

    @classmethod
    def parse(cls, line: str) -> ServerInfo:
        """Read the JSON line (``ValueError`` when it is not the server's announcement)."""
        data = json.loads(line)
        if not isinstance(data, dict) or not {"base_url", "api_key", "entity"} <= set(data):
            raise ValueError(f"not the server's first line: {line[:200]!r}")
        return cls(
            base_url=str(data["base_url"]),
            api_key=str(data["api_key"]),
            entity=str(data["entity"]),
            projects=tuple(str(p) for p in data.get("projects") or ()),
        )


def _first_line(stream: IO[str], timeout_s: float) -> str:
    with selectors.DefaultSelector() as selector:
        selector.register(stream, selectors.EVENT_READ)
        if not selector.select(timeout_s):
            raise TimeoutError(f"the local W&B server printed nothing within {timeout_s:.0f}s")
    return stream.readline()


def _drain(stream: IO[str]) -> None:
    for _ in stream:  # later output is not read by anyone; a full pipe would block the server
        pass


class ServerProcess:
    """The server in the background on 127.0.0.1 (a free port), stopped on exit.

    It runs in its own session, so a Ctrl-C reaches this process only and the caller decides
    when the server stops (after whatever still talks to it).

    Example:
        >>> # with ServerProcess(["--seed", "demo"]) as server:
        >>> #     client = WandbClient(api_key=server.info.api_key, base_url=server.info.base_url)
    """

    def __init__(self, args: Sequence[str], *, start_timeout_s: float = START_TIMEOUT_S) -> None:
        self.args = ["--host", "127.0.0.1", "--port", "0", *args]
        self.start_timeout_s = start_timeout_s
        self.proc: subprocess.Popen[str] | None = None
        self._info: ServerInfo | None = None

    @property
    def info(self) -> ServerInfo:
        """The started server's address, key, entity and projects."""
        if self._info is None:
            raise RuntimeError("the local W&B server is not started")
        return self._info

    def start(self) -> ServerInfo:
        """Start the server and wait (bounded) for its announcement."""
        self.proc = _start(self.args, stdout=subprocess.PIPE, new_session=True)
        assert self.proc.stdout is not None
        try:
            line = _first_line(self.proc.stdout, self.start_timeout_s)
            if not line:
                raise RuntimeError(
                    f"the local W&B server exited with {self.proc.wait(timeout=STOP_TIMEOUT_S)} "
                    "before it started"
                )
            self._info = ServerInfo.parse(line)
        except BaseException:
            self.stop()
            raise
        threading.Thread(target=_drain, args=(self.proc.stdout,), daemon=True).start()
        return self._info

    def stop(self) -> None:
        """Stop the server (SIGTERM, bounded wait, SIGKILL); nothing happens when not started."""
        if self.proc is not None:
            _stop(self.proc)

    def __enter__(self) -> ServerProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
