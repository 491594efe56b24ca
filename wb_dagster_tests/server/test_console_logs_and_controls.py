"""Console-log paging, rewrites, formats and cap, and the edges of stopRun / rewindRun.

File_stream bodies are posted as wandb-core posts them (``output.log`` chunks with offsets);
the read-back goes through the official SDK's ``run.console_logs()``. The SDK-logged path end
to end is in ``sdk_logging/test_sdk_run_controls.py``.
"""

from __future__ import annotations

import json

import requests

from wb_dagster.testing import LocalWandbServer
from wb_dagster_tests.server.gql import gql
from wb_dagster_tests.support.clients import make_sdk_api

PROJECT = "logs"
TS = "2026-12-02T01:37:26.211592"


def post_output(server: LocalWandbServer, run: str, offset: int, lines: list[str]) -> dict:
    url = f"{server.base_url}/files/{server.entity}/{PROJECT}/{run}/file_stream"
    body = {"files": {"output.log": {"offset": offset, "content": lines}}}
    reply = requests.post(url, json=body, auth=("api", server.api_key), timeout=30)
    assert reply.status_code == 200, reply.text
    return reply.json()


def test_console_logs_pages_rewrites_formats_and_cap(empty_server, sdk_env) -> None:
    server = empty_server
    server.seed.create_run(f"{server.entity}/{PROJECT}", "long")
    post_output(server, "long", 0, [f"{TS} line {i}" for i in range(1205)])
    post_output(server, "long", 3, [f"{TS} rewritten"])  # wandb-core rewrites a line
    structured = {"level": "error", "ts": TS, "label": "rank-1", "content": "json line"}
    post_output(server, "long", 1205, [json.dumps(structured)])
    server.seed.create_run(f"{server.entity}/{PROJECT}", "seeded")
    server.seed.add_file(f"{server.entity}/{PROJECT}/seeded", "output.log", "first\nsecond\n")

    api = make_sdk_api(server)
    run = api.run(f"{server.entity}/{PROJECT}/long")
    server.reset_stats()
    lines = list(run.console_logs())
    assert len(lines) == 1206
    assert server.stats()["by_operation"]["RunConsoleLogPage"] == 2  # 1,000 per page at most
    assert [line.content for line in lines[2:5]] == ["line 2", "rewritten", "line 4"]
    assert [line.number for line in lines] == list(range(1206))
    last = lines[-1]
    assert (last.content, last.level, last.label) == ("json line", "error", "rank-1")
    assert lines[0].timestamp.isoformat() == "2026-12-02T01:37:26.211592+00:00"
    tail = list(run.console_logs(last=5000))  # capped: the newest 1,000
    assert [line.number for line in tail] == list(range(206, 1206))

    seeded = list(api.run(f"{server.entity}/{PROJECT}/seeded").console_logs())
    assert [(line.content, line.timestamp) for line in seeded] == [
        ("first", None),
        ("second", None),
    ]


STOPPED = """
query Stopped($project: String!, $run: String!) {
    project(name: $project) { run(name: $run) { id state stopped } }
}
"""
STOP = "mutation StopRun($id: ID!) { stopRun(input: {id: $id}) { success } }"
REWIND = """
mutation RewindRun($run: String!, $project: String, $metric: String!, $value: Float!) {
    rewindRun(input: {runName: $run, projectName: $project, metricName: $metric,
                      metricValue: $value}) { rewoundRun { state historyLineCount } }
}
"""


def test_stop_and_rewind_edges(empty_server) -> None:
    server = empty_server
    path = f"{server.entity}/{PROJECT}"
    server.seed.create_run(path, "done", state="finished")
    server.seed.create_run(path, "live")
    server.seed.append_history(f"{path}/live", [{"loss": float(i)} for i in range(6)])

    def run_info(name: str) -> dict:
        return gql(server, STOPPED, project=PROJECT, run=name)["data"]["project"]["run"]

    done = run_info("done")
    assert gql(server, STOP, id=done["id"])["data"]["stopRun"]["success"] is True
    assert run_info("done")["stopped"] is False  # not running: nothing to stop
    gql(server, STOP, id=run_info("live")["id"])
    assert run_info("live")["stopped"] is True
    assert post_output(server, "live", 0, [f"{TS} still here"]) == {"stopped": True}

    bad = gql(server, REWIND, run="live", project=PROJECT, metric="loss", value=1.0)
    assert "only supports metricName '_step'" in bad["errors"][0]["message"]
    missing = gql(server, REWIND, run="nope", project=PROJECT, metric="_step", value=1.0)
    assert "not found" in missing["errors"][0]["message"]
    rewound = gql(server, REWIND, run="live", project=PROJECT, metric="_step", value=2.0)
    assert rewound["data"]["rewindRun"]["rewoundRun"] == {
        "state": "running",
        "historyLineCount": 3,  # steps 0, 1, 2 kept
    }
    assert run_info("live")["stopped"] is False  # a rewound run logs on
