"""Run one measurement in a fresh worker process and watch it from outside.

The worker (:mod:`bench.worker`) times its own workload and writes a JSON result file. From
here we add what it cannot see itself: the peak RSS of its whole process tree (the official
SDK's ``wandb-core`` sidecar is a child process), the requests the server served and the
server's CPU time while the worker ran.

Peak RSS = max over 10 ms polls of the summed RSS of the worker and all its descendants, and
at least the worker's own ``ru_maxrss`` (exact, reported by the worker).
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from bench.server_process import BenchServer

REPO = Path(__file__).resolve().parent.parent
POLL_S = 0.01


@dataclass
class Measurement:
    """One worker run: its own figures plus what was observed from outside."""

    workload: str
    side: str
    wall_s: float
    peak_rss: int
    requests: int
    server_cpu_s: float
    proc_wall_s: float
    check: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


class TreeRssPoller:
    """Polls the summed RSS of a process and its descendants in a background thread."""

    def __init__(self, pid: int) -> None:
        self.root = psutil.Process(pid)  # Popen has not reaped it yet, so this cannot fail
        self.peak = 0
        self.peak_children = 0
        self.seen: dict[int, psutil.Process] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> TreeRssPoller:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def reap_leftovers(self) -> list[int]:
        """Kill descendants that outlived the worker (e.g. an orphaned sidecar); their pids."""
        left = []
        for pid, proc in self.seen.items():
            if pid == self.root.pid:
                continue
            try:
                if proc.is_running():
                    proc.kill()
                    left.append(pid)
            except psutil.Error:
                pass
        return left

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                procs = [self.root, *self.root.children(recursive=True)]
            except psutil.Error:
                return
            total = children = 0
            for proc in procs:
                self.seen.setdefault(proc.pid, proc)
                try:
                    rss = proc.memory_info().rss
                except psutil.Error:
                    continue
                total += rss
                if proc.pid != self.root.pid:
                    children += rss
            self.peak = max(self.peak, total)
            self.peak_children = max(self.peak_children, children)
            self._stop.wait(POLL_S)


def settle(max_s: float = 2.0, busy_percent: float = 50.0) -> float:
    """Wait (bounded) until the machine's CPU use drops below ``busy_percent``; returns the
    last reading. Lets memory freed by the previous worker (GBs for the SDK in W2) be reclaimed
    before the next measurement starts."""
    deadline = time.monotonic() + max_s
    busy = psutil.cpu_percent(interval=0.2)
    while busy >= busy_percent and time.monotonic() < deadline:
        busy = psutil.cpu_percent(interval=0.2)
    return busy


def kill_tree(pid: int) -> None:
    """Kill a process and every descendant (used on errors and Ctrl-C)."""
    try:
        root = psutil.Process(pid)
        procs = [*root.children(recursive=True), root]
    except psutil.Error:
        return
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(procs, timeout=10)


def worker_env(scratch: Path, sdk: bool) -> dict[str, str]:
    """Environment of a worker: no inherited ``WANDB_*``; the SDK gets fresh dirs."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    if sdk:
        # as W&B's guide and our tests run it: isolated home/cache/dirs, no error reporting
        dirs = {
            "HOME": scratch / "home",
            "WANDB_CACHE_DIR": scratch / "wandb-cache",
            "WANDB_DIR": scratch / "wandb-dir",
            "WANDB_CONFIG_DIR": scratch / "wandb-config",
            "WANDB_DATA_DIR": scratch / "wandb-data",
        }
        for name, path in dirs.items():
            path.mkdir(parents=True, exist_ok=True)
            env[name] = str(path)
        env["WANDB_ERROR_REPORTING"] = "false"
        env["WANDB_SILENT"] = "true"
    return env


def run_worker(
    server: BenchServer,
    workload: str,
    side: str,
    params: dict[str, Any],
    *,
    timeout_s: float = 900.0,
    profile_to: Path | None = None,
) -> Measurement:
    """Run ``bench.worker`` for (workload, side) and measure it.

    With ``profile_to`` the worker runs under pyinstrument (``pip install pyinstrument``) and
    its text profile is written there (timings are then inflated; use only to find causes).
    """
    with tempfile.TemporaryDirectory(prefix=f"wb-bench-{workload}-") as tmp:
        scratch = Path(tmp)
        result_path = scratch / "result.json"
        spec = {
            "workload": workload,
            "side": side,
            "base_url": server.base_url,
            "api_key": server.api_key,
            "entity": server.entity,
            "scratch": str(scratch),
            "result": str(result_path),
            "params": params,
        }
        spec_path = scratch / "spec.json"
        spec_path.write_text(json.dumps(spec))
        sdk = side.startswith("sdk")
        env = worker_env(scratch, sdk)
        cpu_busy_before = settle()
        before_requests = server.requests_served()
        before_cpu = server.cpu_seconds()
        started = time.perf_counter()
        cmd = [sys.executable, "-m", "bench.worker", str(spec_path)]
        if profile_to is not None:
            cmd[1:1] = ["-m", "pyinstrument", "--renderer", "text", "-o", str(profile_to)]
        proc = subprocess.Popen(
            cmd,
            cwd=str(REPO),
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        poller = TreeRssPoller(proc.pid)
        try:
            with poller:
                output, _ = proc.communicate(timeout=timeout_s)
        except BaseException:
            kill_tree(proc.pid)
            poller.reap_leftovers()
            raise
        leftovers = poller.reap_leftovers()
        proc_wall = time.perf_counter() - started
        server_cpu = server.cpu_seconds() - before_cpu
        served = server.requests_served() - before_requests
        if proc.returncode != 0 or not result_path.exists():
            raise RuntimeError(
                f"worker {workload}/{side} failed (exit {proc.returncode}):\n{output[-4000:]}"
            )
        result = json.loads(result_path.read_text())
    return Measurement(
        workload=workload,
        side=side,
        wall_s=result["wall_s"],
        peak_rss=max(poller.peak, int(result.get("maxrss", 0))),
        requests=served,
        server_cpu_s=round(server_cpu, 3),
        proc_wall_s=round(proc_wall, 3),
        check=result.get("check", {}),
        extra={
            **result.get("extra", {}),
            "children_peak_rss": poller.peak_children,
            "leftover_pids": leftovers,
            "cpu_busy_before": cpu_busy_before,
        },
    )
