"""SeedBuilder run lifecycle as clients see it: live vs exported history, finish, resume,
rewind, state changes, delete; every change bumps heartbeatAt."""

from __future__ import annotations

import json

import pytest
import requests

from wb_dagster_tests.server.gql import gql
from wb_dagster_tests.support.clients import make_sdk_api

RUN_STATE_Q = """
query($e: String!, $p: String!, $r: String!) {
  project(name: $p, entityName: $e) { run(name: $r) {
    state heartbeatAt historyLineCount historyKeys
    parquetHistory(liveKeys: ["_step"]) { parquetUrls liveData }
    history(minStep: 0, maxStep: 1000, samples: 1000)
  } }
}
"""


def snapshot(server, path):
    e, p, r = path.split("/")
    reply = gql(server, RUN_STATE_Q, e=e, p=p, r=r)
    assert "errors" not in reply, reply
    return reply["data"]["project"]["run"]


def steps_of(history):
    return [json.loads(r)["_step"] for r in history]


def test_live_finish_resume_rewind_delete(empty_server):
    seed = empty_server.seed
    run = seed.create_run("me/proj", "r1", config={"lr": 0.1})
    heartbeats = [snapshot(empty_server, run.path)["heartbeatAt"]]

    seed.append_history(run, [{"loss": float(i)} for i in range(10)])
    s = snapshot(empty_server, run.path)
    assert s["state"] == "running" and s["parquetHistory"]["parquetUrls"] == []
    assert s["parquetHistory"]["liveData"] == [{"_step": i} for i in range(10)]
    heartbeats.append(s["heartbeatAt"])

    seed.finish_run(run)
    s = snapshot(empty_server, run.path)
    assert s["state"] == "finished" and s["parquetHistory"]["liveData"] == []
    assert len(s["parquetHistory"]["parquetUrls"]) == 1
    assert steps_of(s["history"]) == list(range(10))
    heartbeats.append(s["heartbeatAt"])

    seed.resume_run(run)
    seed.append_history(run, [{"loss": 10.0, "acc": 0.5}, {"_step": 20, "loss": 20.0}])
    s = snapshot(empty_server, run.path)
    assert s["state"] == "running"
    # exported and live steps never overlap; history() returns all rows in range
    assert s["parquetHistory"]["liveData"] == [{"_step": 10}, {"_step": 20}]
    assert [json.loads(r) for r in s["history"][-2:]] == [
        {"_step": 10, "loss": 10.0, "acc": 0.5},
        {"_step": 20, "loss": 20.0},
    ]
    assert s["historyLineCount"] == 12 and s["historyKeys"]["lastStep"] == 20
    heartbeats.append(s["heartbeatAt"])

    with pytest.raises(ValueError, match="not after the run's last step 20"):
        seed.append_history(run, [{"_step": 15, "loss": 1.0}])

    seed.rewind_run(run, 15)
    s = snapshot(empty_server, run.path)
    assert steps_of(s["history"]) == list(range(11))
    assert s["historyKeys"]["lastStep"] == 10
    heartbeats.append(s["heartbeatAt"])

    old_urls = s["parquetHistory"]["parquetUrls"]
    seed.rewind_run(run, 5)
    s = snapshot(empty_server, run.path)
    assert steps_of(s["history"]) == list(range(5))
    assert s["parquetHistory"]["liveData"] == []
    assert s["parquetHistory"]["parquetUrls"] != old_urls  # a rewritten export gets a new URL
    assert requests.get(old_urls[0], timeout=10).status_code == 404
    assert s["historyLineCount"] == 5 and s["historyKeys"]["keys"]["loss"]["typeCounts"] == [
        {"type": "number", "count": 5}
    ]
    heartbeats.append(s["heartbeatAt"])

    seed.set_state(run, "crashed")
    s = snapshot(empty_server, run.path)
    assert s["state"] == "crashed"
    heartbeats.append(s["heartbeatAt"])
    # W&B serves whole seconds (no zone): changes within one second share a heartbeat
    assert heartbeats == sorted(heartbeats) and all(len(h) == 19 for h in heartbeats)

    seed.delete_run(run)
    reply = gql(
        empty_server,
        '{ project(name: "proj", entityName: "me") { runCount run(name: "r1") { id } } }',
    )
    assert reply["data"]["project"] == {"runCount": 0, "run": None}


def test_seeded_exported_history_via_sdk(empty_server, sdk_env):
    import pyarrow as pa

    seed = empty_server.seed
    run = seed.create_run("me/proj", "big")
    table = pa.table(
        {"_step": pa.array(range(3000), pa.int64()), "x": [i * 0.5 for i in range(3000)]}
    )
    seed.add_exported_history(run, table)
    seed.finish_run(run)
    rows = list(make_sdk_api(empty_server).run(run.path).scan_history(page_size=1000))
    assert rows == [{"_step": i, "x": i * 0.5} for i in range(3000)]


def test_files_and_sweeps_seeding(empty_server):
    seed = empty_server.seed
    run = seed.create_run("me/proj", "r1", sweep="sw1")
    seed.create_sweep(
        "me/proj", "sw1", {"method": "grid", "metric": {"name": "acc", "goal": "minimize"}}
    )
    seed.set_summary(run, {"acc": 0.25})
    seed.add_file(run, "dir/a.txt", "hello")
    reply = gql(
        empty_server,
        '{ project(name: "proj", entityName: "me") { sweep(sweepName: "sw1") { method '
        'bestLoss runCount } run(name: "r1") { sweepName files { edges { node { name sizeBytes '
        "} } } } } }",
    )
    project = reply["data"]["project"]
    assert project["sweep"] == {"method": "grid", "bestLoss": 0.25, "runCount": 1}
    assert project["run"]["files"]["edges"] == [{"node": {"name": "dir/a.txt", "sizeBytes": 5}}]
