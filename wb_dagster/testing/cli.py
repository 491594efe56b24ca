"""``wb-dagster server``: run the local W&B-compatible server in the foreground.

The first stdout line is one JSON object (flushed before serving)::

    {"base_url": "http://127.0.0.1:54321", "api_key": "...", "entity": "wb-demo",
     "projects": ["wb-demo/cifar"]}

then the server runs until SIGINT/SIGTERM (or, with ``--stop-on-stdin-eof``, until its stdin
closes: a parent holding the pipe stops it even by dying). Point the official SDK or
``WandbClient`` at it with ``WANDB_BASE_URL=<base_url>`` and ``WANDB_API_KEY=<api_key>``.
Restarting with the same ``--data`` directory keeps the data and the key.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
import tempfile
import threading
from pathlib import Path
from types import FrameType
from typing import IO

import uvicorn

from wb_dagster.testing.server import apply_seed, bind_socket, is_loopback, make_uvicorn
from wb_dagster.testing.server_state import ServerState
from wb_dagster.testing.store.backend import Backend
from wb_dagster.testing.store.run_lifecycle import CrashWatchdog, set_heartbeat_timeout


def _stop_at_eof(stream: IO[str], server: uvicorn.Server) -> None:
    for _ in stream:  # a parent's SIGKILL closes the pipe; nothing else is expected on it
        pass
    server.should_exit = True


def run_server(args: argparse.Namespace) -> int:
    """Serve until asked to stop; ``args`` from :func:`wb_dagster.testing.__main__.build_parser`."""
    if not is_loopback(args.host) and not args.allow_remote:
        print(
            f"refusing to bind {args.host!r}: the local server has no TLS and test-only control "
            "endpoints; bind 127.0.0.1 (default) or pass --allow-remote",
            file=sys.stderr,
        )
        return 2
    tmp: tempfile.TemporaryDirectory[str] | None = None
    if args.data:
        data_dir = Path(args.data)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="wb-dagster-server-")
        data_dir = Path(tmp.name)
    try:
        backend = Backend.open(data_dir, args.api_key)
        apply_seed(backend, args.seed)
        state = ServerState(backend, latency_ms=args.latency_ms or 0)
        sock = bind_socket(args.host, args.port)
        host, port = sock.getsockname()[:2]
        shown_host = f"[{host}]" if ":" in host else host
        line = {
            "base_url": f"http://{shown_host}:{port}",
            "api_key": backend.api_key,
            "entity": backend.default_entity,
            "projects": backend.runs.project_names(),
        }
        server = make_uvicorn(state)
        # our own handlers, installed before the JSON line: uvicorn's would re-raise the signal
        # after shutdown (exit status -15 instead of a clean 0)
        server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign,assignment]

        def _request_stop(signum: int, frame: FrameType | None) -> None:
            server.should_exit = True

        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, _request_stop)
        if args.stop_on_stdin_eof:
            threading.Thread(target=_stop_at_eof, args=(sys.stdin, server), daemon=True).start()
        print(json.dumps(line), flush=True)
        # opt-in (a --heartbeat-timeout flag): seeded running runs never heartbeat
        timeout = args.heartbeat_timeout
        watchdog = None
        if timeout is not None:
            set_heartbeat_timeout(backend.runs, timeout)
            watchdog = CrashWatchdog(backend.runs, backend.history)  # silent running -> crashed
            watchdog.start()
        server.run(sockets=[sock])  # returns after SIGINT/SIGTERM once requests are finished
        if watchdog is not None:
            watchdog.stop()
        backend.close()
        return 0
    finally:
        if tmp is not None:
            tmp.cleanup()
