"""What ``wandb.init()`` runs get from the server beyond history: display names, console logs,
rewinding (``resume_from``) and stopping (``run.stop()``), plus ``api.projects()``.

Two SDK processes (``sdk_run_controls.py``) log three runs; the expected values are the literals
that script logs. The read-back goes through the official ``wandb.Api`` (and our client).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from wb_dagster.client import WandbClient
from wb_dagster.testing import LocalWandbServer
from wb_dagster_tests.support.clients import make_sdk_api
from wb_dagster_tests.support.sdk_process import run_sdk

SCRIPT = Path(__file__).with_name("sdk_run_controls.py")
PROJECT = "controls"
GENERATED_NAME = re.compile(r"^[a-z]+-[a-z]+-[0-9]+$")


class Logged:
    def __init__(self, server: LocalWandbServer, result: dict[str, Any], proc: Any) -> None:
        self.server, self.result, self.proc = server, result, proc
        self.entity = result["entity"]
        self.stats = server.stats()  # requests by operation and route, for failure messages

    def stop_diagnostics(self) -> str:
        """What the stopped run's process printed and what the server was asked."""
        return f"stderr: {self.proc.stderr[-3000:]!r}; server saw {self.stats}"

    def path(self, key: str) -> str:
        return f"{self.entity}/{PROJECT}/{self.result[key]}"


@pytest.fixture(scope="module")
def logged(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Logged]:
    with LocalWandbServer(seed=None) as server:
        home = tmp_path_factory.mktemp("sdk-controls")
        started = datetime.now(UTC)
        result: dict[str, Any] = {"started": started}
        for mode in ("log", "stop"):
            out = home / f"{mode}.json"
            proc = run_sdk(server, home / mode, [str(SCRIPT), mode, PROJECT, str(out)], 60)
            result.update(json.loads(out.read_text()))
            if mode == "log":
                assert proc.returncode == 0, proc.stderr
        yield Logged(server, result, proc)


@pytest.fixture
def api(logged: Logged, sdk_env: Any) -> Any:
    return make_sdk_api(logged.server)


def test_unnamed_run_gets_a_wandb_style_display_name(logged: Logged, api: Any) -> None:
    name = logged.result["unnamed_name"]  # wandb.run.name inside the logging process
    assert GENERATED_NAME.match(name), name
    assert name != logged.result["unnamed_id"]
    assert name.endswith("-1")  # the project's first run
    assert api.run(logged.path("unnamed_id")).name == name
    # the rewound run keeps its name; the next new run is the project's second
    assert logged.result["rewound_name"] == name
    stopped = api.run(logged.path("stopped_id")).name
    assert GENERATED_NAME.match(stopped) and stopped.endswith("-2"), stopped
    client = WandbClient(api_key=logged.server.api_key, base_url=logged.server.base_url)
    assert client.run(logged.path("unnamed_id")).name == name


def test_console_logs_return_what_the_run_printed(logged: Logged, api: Any) -> None:
    run = api.run(logged.path("unnamed_id"))
    lines = list(run.console_logs())
    assert [line.content for line in lines] == ["alpha line", "beta line", "gamma warning"]
    assert [line.number for line in lines] == [0, 1, 2]
    assert [line.level for line in lines] == ["", "", "error"]  # stderr is "error"
    window = (logged.result["started"], datetime.now(UTC) + timedelta(seconds=1))
    for line in lines:
        assert line.timestamp is not None and window[0] <= line.timestamp <= window[1], line
    # small pages follow the cursor; the tail is one request
    assert [line.content for line in run.console_logs(per_page=2)] == [
        "alpha line",
        "beta line",
        "gamma warning",
    ]
    assert [line.content for line in run.console_logs(last=2)] == ["beta line", "gamma warning"]
    # the stopped run printed nothing but its interrupt's traceback, on stderr
    tail = list(api.run(logged.path("stopped_id")).console_logs())
    assert tail, f"the stopped run printed nothing; {logged.stop_diagnostics()}"
    assert tail[0].content == "Traceback (most recent call last):"
    assert tail[-1].content == "KeyboardInterrupt"
    assert {line.level for line in tail} == {"error"}


def test_resume_from_rewinds_history_and_the_run_continues(logged: Logged, api: Any) -> None:
    run = api.run(logged.path("unnamed_id"))
    rows = [(r["_step"], r["loss"]) for r in run.scan_history()]
    assert rows == [(0, 1.0), (1, 2.0), (2, 3.0), (3, 30.0), (4, 40.0)]
    assert run.state == "finished"
    assert run.summary["loss"] == 40.0
    assert run.lastHistoryStep == 4


def test_run_stop_interrupts_the_logging_process(logged: Logged, api: Any) -> None:
    after = logged.result["interrupted_after_s"]
    assert after is not None, (
        f"the SDK never interrupted the stopped run; {logged.stop_diagnostics()}"
    )
    assert after < 10, f"the stop took {after:.1f} s to reach the run"
    assert logged.proc.returncode != 0  # the script ended with KeyboardInterrupt
    assert api.run(logged.path("stopped_id")).state == "killed"
    assert api.run(logged.path("unnamed_id")).state == "finished"  # only that run


def test_sdk_lists_and_reads_projects(logged: Logged, api: Any) -> None:
    projects = {p.name: p for p in api.projects(logged.entity)}
    assert PROJECT in projects
    project = projects[PROJECT]
    assert project.entity == logged.entity
    assert project.is_benchmark is False
    assert api.project(PROJECT, entity=logged.entity).name == PROJECT
    assert len(api.project(PROJECT, entity=logged.entity).sweeps()) == 0
