"""``wb-dagster server``: JSON line first, serves, stops on SIGTERM, keeps data across restarts,
refuses non-loopback hosts, does not outlive a killed parent."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from wb_dagster.testing.seeds.demo import DEMO_ENTITY, DEMO_PROJECT, DEMO_RUNS
from wb_dagster_tests.support.polling import poll

CMD = [sys.executable, "-m", "wb_dagster.cli", "server"]


def spawn(command: list[str]) -> tuple[subprocess.Popen[str], dict]:
    """``command`` started; its first stdout line (the server's JSON line) parsed."""
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()  # type: ignore[union-attr]
    assert line, proc.stderr.read()  # type: ignore[union-attr]
    return proc, json.loads(line)


def start(*args: str) -> tuple[subprocess.Popen[str], dict]:
    return spawn([*CMD, *args])


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


PARENT_OF_BACKGROUND_SERVER = """
import json, time
from wb_dagster.server_process import ServerProcess
info = ServerProcess([]).start()
print(json.dumps({"base_url": info.base_url, "api_key": info.api_key}), flush=True)
time.sleep(120)  # until the test kills this process
"""


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(c) for c in path.read_text().split()] if path.exists() else []


def _serves(info: dict) -> bool:
    try:
        return graphql(info, "{ viewer { username } }") is not None
    except requests.ConnectionError:
        return False


@pytest.mark.parametrize(
    "parent",
    [[*CMD, "--port", "0"], [sys.executable, "-c", PARENT_OF_BACKGROUND_SERVER]],
    ids=["wb-dagster server", "ServerProcess"],
)
def test_server_stops_when_the_process_that_started_it_is_killed(parent: list[str]):
    # SIGKILL runs no handler and no finally: only the closed stdin pipe tells the server
    proc, info = spawn(parent)
    servers = _children(proc.pid)
    try:
        assert _serves(info)
        proc.kill()
        proc.wait(timeout=20)
        poll("the orphaned server to stop serving", lambda: not _serves(info), timeout_s=20)
    finally:
        for pid in servers:  # only if the test failed: do not leave the server behind
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
