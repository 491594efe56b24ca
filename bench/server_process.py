"""The local W&B-compatible server as a subprocess, with the control calls the bench needs.

Example:
    >>> with BenchServer(latency_ms=20) as srv:  # doctest: +SKIP
    ...     srv.seed({"project": "w1", "runs": 10})
    ...     srv.stats()["requests"]
    0
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from typing import Any

import psutil
import requests


class BenchServer:
    """``python -m wb_dagster.testing --seed none --latency-ms N --port 0`` on 127.0.0.1.

    The server's own command line (what ``wb-dagster server`` runs as its child), so that
    :attr:`pid` and :meth:`cpu_seconds` measure the server process itself.
    """

    def __init__(self, latency_ms: int = 20, data_dir: str | None = None) -> None:
        self.latency_ms = latency_ms
        self.data_dir = data_dir
        self.proc: subprocess.Popen[str] | None = None
        self.base_url = ""
        self.api_key = ""
        self.entity = ""
        self._http = requests.Session()

    def __enter__(self) -> BenchServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        cmd = [
            sys.executable, "-m", "wb_dagster.testing", "--seed", "none",
            "--host", "127.0.0.1", "--port", "0", "--latency-ms", str(self.latency_ms),
        ]  # fmt: skip
        if self.data_dir:
            cmd += ["--data", self.data_dir]
        env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_")}
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            code = self.proc.wait(10)
            raise RuntimeError(f"the local server exited with status {code} before it started")
        info = json.loads(line)
        self.base_url, self.api_key, self.entity = info["base_url"], info["api_key"], info["entity"]
        self._http.auth = ("api", self.api_key)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 10 s; safe to call twice."""
        proc, self.proc = self.proc, None
        self._http.close()
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server process so far (all its threads)."""
        t = psutil.Process(self.pid).cpu_times()
        return t.user + t.system

    def rss_bytes(self) -> int:
        return psutil.Process(self.pid).memory_info().rss

    def seed(self, spec: dict[str, Any]) -> dict[str, Any]:
        """``POST /_control/seed`` (see ``wb_dagster.testing.seeds.scale``)."""
        resp = self._http.post(f"{self.base_url}/_control/seed", json=spec, timeout=600)
        if resp.status_code != 200:
            raise RuntimeError(f"seeding {spec} failed: HTTP {resp.status_code} {resp.text[:500]}")
        return resp.json()

    def stats(self) -> dict[str, Any]:
        return self._http.get(f"{self.base_url}/_control/stats", timeout=30).json()

    def requests_served(self) -> int:
        return int(self.stats()["requests"])

    def file_stream(self, project: str, run_id: str, body: dict[str, Any]) -> None:
        """One ``file_stream`` request, as a live SDK run sends it (heartbeat, data, finish)."""
        url = f"{self.base_url}/files/{self.entity}/{project}/{run_id}/file_stream"
        resp = self._http.post(url, json=body, timeout=120)
        if resp.status_code != 200:
            raise RuntimeError(f"file_stream to {run_id} failed: {resp.status_code} {resp.text}")

    def finish_runs(self, project: str, run_ids: list[str]) -> None:
        """End running runs the way the SDK does (``complete`` + ``exitcode 0``)."""
        for run_id in run_ids:
            self.file_stream(project, run_id, {"complete": True, "exitcode": 0})
