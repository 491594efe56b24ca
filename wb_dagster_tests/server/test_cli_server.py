"""``wb-dagster server``: JSON line first, serves, stops on SIGTERM, keeps data across restarts,
refuses non-loopback hosts."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import requests

from wb_dagster.testing.seeds.demo import DEMO_ENTITY, DEMO_PROJECT, DEMO_RUNS

CMD = [sys.executable, "-m", "wb_dagster.cli", "server"]


def start(*args: str) -> tuple[subprocess.Popen[str], dict]:
    proc = subprocess.Popen(
        [*CMD, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    line = proc.stdout.readline()  # type: ignore[union-attr]
    assert line, proc.stderr.read()  # type: ignore[union-attr]
    return proc, json.loads(line)


def stop(proc: subprocess.Popen[str]) -> int:
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()


def graphql(info: dict, query: str) -> dict:
    reply = requests.post(
        f"{info['base_url']}/graphql",
        json={"query": query},
        auth=("api", info["api_key"]),
        timeout=20,
    )
    return reply.json()


def test_server_cli_json_line_sigterm_and_restart(tmp_path: Path):
    data = tmp_path / "data"
    proc, info = start("--seed", "demo", "--port", "0", "--data", str(data))
    try:
        assert set(info) == {"base_url", "api_key", "entity", "projects"}
        assert info["entity"] == DEMO_ENTITY
        assert info["projects"] == [f"{DEMO_ENTITY}/{DEMO_PROJECT}"]
        count = graphql(info, '{ project(name: "cifar", entityName: "wb-demo") { runCount } }')
        assert count == {"data": {"project": {"runCount": len(DEMO_RUNS)}}}
        graphql(
            info,
            'mutation { upsertBucket(input: {name: "added", modelName: "cifar", '
            'entityName: "wb-demo", notes: "kept"}) { inserted } }',
        )
    finally:
        assert stop(proc) == 0

    proc, again = start("--seed", "demo", "--port", "0", "--data", str(data))
    try:
        assert again["api_key"] == info["api_key"]  # the key is kept with the data
        reply = graphql(
            again,
            '{ project(name: "cifar", entityName: "wb-demo") { runCount '
            'run(name: "added") { notes } } }',
        )
        assert reply["data"]["project"] == {
            "runCount": len(DEMO_RUNS) + 1,
            "run": {"notes": "kept"},
        }
    finally:
        assert stop(proc) == 0


def test_server_cli_refuses_remote_host():
    proc = subprocess.run(
        [*CMD, "--host", "0.0.0.0", "--port", "0"], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 2
    assert "--allow-remote" in proc.stderr
