"""The local server is as hostile as W&B by default, and the client loses nothing to it.

Each hostility is shown with the official SDK as referee (it meets the same offset shifts and
caps W&B's users report), then our client is shown to survive it. Expected run ids come from the
seed's inputs and the server's final state, never from the client under test.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import pytest
import requests

from wb_dagster.client.system_metrics import events_line_count, is_complete
from wb_dagster.testing import LocalWandbServer
from wb_dagster_tests.server.gql import gql
from wb_dagster_tests.support.clients import make_client, make_sdk_api

PROJECT = "me/churn"
SEEDED = [f"s{i:06d}" for i in range(300)]  # the scale seed's run ids
CHURN = {"project": "churn", "pages": 40, "create": 2, "create_state": "finished",
         "delete": 2, "heartbeat": 3}  # fmt: skip


def seed_runs(server: LocalWandbServer, n: int = 300) -> None:
    spec = {"project": PROJECT, "runs": n, "history_rows": 0, "exported": True}
    requests.post(f"{server.base_url}/_control/seed", json=spec, timeout=60).raise_for_status()


def surviving_seeded(server: LocalWandbServer) -> set[str]:
    """Seeded runs still on the server (read with churn off, by the SDK)."""
    server.clear_churn()
    return {r.id for r in make_sdk_api(server).runs(PROJECT, per_page=500)} & set(SEEDED)


def test_sdk_meets_wandb_offset_shifts_under_churn(empty_server: LocalWandbServer, sdk_env):
    """wandb#6614/#7666: with runs deleted and created between pages, W&B's own listing misses
    runs that existed all along (the right total, the wrong runs)."""
    seed_runs(empty_server)
    empty_server.add_churn([CHURN])
    listed = [r.id for r in make_sdk_api(empty_server).runs(PROJECT, per_page=20)]
    survivors = surviving_seeded(empty_server)
    assert survivors - set(listed), "the offset cursor should have skipped runs"


@pytest.mark.parametrize("how", ["iterate", "table"])
def test_client_lists_every_run_once_under_churn(empty_server: LocalWandbServer, how: str):
    seed_runs(empty_server)
    empty_server.set_hostility(first_cap=20)  # small pages for to_table() too
    empty_server.add_churn([CHURN])
    with make_client(empty_server) as client:
        runs = client.runs(PROJECT, per_page=20)
        listed = [r.id for r in runs] if how == "iterate" else runs.to_table()["id"].to_pylist()
    survivors = surviving_seeded(empty_server)
    assert len(survivors) < len(SEEDED)  # the churn did delete runs
    assert [k for k, n in Counter(listed).items() if n > 1] == []
    assert survivors <= set(listed)
    assert set(listed) <= set(SEEDED) | {f"churn-{i:05d}" for i in range(1, 200)}


def test_client_pages_a_second_holding_more_runs_than_a_page(empty_server: LocalWandbServer):
    seed = empty_server.seed
    same = [f"a{i:02d}" for i in range(45)]
    for run_id in same:  # 45 runs created within one second, then 10 later
        seed.create_run(PROJECT, run_id, created_at="2024-01-01T00:00:00.5Z")
    later = [f"b{i:02d}" for i in range(10)]
    for i, run_id in enumerate(later):
        seed.create_run(PROJECT, run_id, created_at=f"2024-01-01T00:00:{i + 1:02d}Z")
    with make_client(empty_server) as client:
        assert [r.id for r in client.runs(PROJECT, per_page=10)] == same + later


def test_times_are_zone_less_seconds_and_filters_take_wandb_spelling(demo_server, demo_client):
    fields = "createdAt heartbeatAt updatedAt"
    query = '{ project(name: "cifar", entityName: "wb-demo") { createdAt runs(first: 3) '
    reply = gql(demo_server, query + f"{{ edges {{ node {{ {fields} }} }} }} }} }}")
    project = reply["data"]["project"]
    times = [project["createdAt"]] + [
        v for e in project["runs"]["edges"] for v in e["node"].values()
    ]
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", t) for t in times), times
    newest = max(r.heartbeat_at for r in demo_client.runs("wb-demo/cifar"))
    after = demo_client.runs("wb-demo/cifar", filters={"heartbeatAt": {"$gt": newest}})
    assert len(list(after)) == 0  # whole seconds: the newest run is not after its own second
    same = demo_client.runs("wb-demo/cifar", filters={"heartbeatAt": {"$gte": newest}})
    assert newest in {r.heartbeat_at for r in same}
    epoch = gql(
        demo_server,
        'query($f: JSONString) { project(name: "cifar", entityName: "wb-demo") '
        "{ runs(filters: $f) { edges { cursor } } } }",
        f='{"createdAt": {"$gt": 1}}',
    )
    assert "fails on numbers" in epoch["errors"][0]["message"]


def test_connection_pages_are_capped(empty_server: LocalWandbServer):
    seed_runs(empty_server, 520)
    reply = gql(empty_server, '{ project(name: "churn", entityName: "me") { runs(first: 2000) '
                "{ edges { cursor } pageInfo { hasNextPage } } } }")  # fmt: skip
    runs = reply["data"]["project"]["runs"]
    assert (len(runs["edges"]), runs["pageInfo"]["hasNextPage"]) == (500, True)
    with make_client(empty_server) as client:  # pages of 500 asked, capped, paged on
        assert client.runs(PROJECT).to_table().num_rows == 520


def test_events_are_capped_and_the_client_says_so(empty_server: LocalWandbServer, sdk_env):
    """wandb#6501: sampled system metrics stop near 1,000 rows whatever ``samples`` asks."""
    seed = empty_server.seed
    run = seed.create_run(PROJECT, "sys", state="finished")
    rows = [{"_timestamp": 1.7e9 + i, "_runtime": float(i), "system.cpu": i % 100}
            for i in range(1500)]  # fmt: skip
    seed.log_system_metrics(run, rows)
    sdk_rows = (
        make_sdk_api(empty_server)
        .run(f"{PROJECT}/sys")
        .history(stream="events", samples=5000, pandas=False)
    )
    assert len(sdk_rows) == 1000
    with make_client(empty_server) as client:
        table = client.run(f"{PROJECT}/sys").system_metrics_table()
    assert (table.num_rows, events_line_count(table), is_complete(table)) == (1000, 1500, False)
    assert table["_runtime"].to_pylist()[:2] == [0.0, 2.0] and table["_runtime"][-1].as_py() == 1499
    empty_server.set_hostility(events_samples_cap=5000)  # the cap off: every row, complete
    with make_client(empty_server) as client:
        table = client.run(f"{PROJECT}/sys").system_metrics_table()
    assert (table.num_rows, is_complete(table)) == (1500, True)


def history_steps(server: LocalWandbServer, samples: int) -> list[Any]:
    reply = gql(server, 'query($s: Int) { project(name: "churn", entityName: "me") '
                '{ run(name: "long") { history(minStep: 0, maxStep: 5000, samples: $s) } } }',
                s=samples)  # fmt: skip
    return reply["data"]["project"]["run"]["history"]


def test_history_pages_are_capped_and_the_client_splits_them(empty_server: LocalWandbServer):
    seed = empty_server.seed
    run = seed.create_run(PROJECT, "long", state="finished")
    # dense steps then a sparse tail: windows sized by line count meet more rows than planned
    steps = list(range(2000)) + list(range(2000, 5000, 100))
    seed.append_history(run, [{"_step": s, "loss": s / 10} for s in steps])
    assert len(history_steps(empty_server, 5000)) == 1000  # asked 5,000: capped
    with make_client(empty_server, history_page_rows=4000) as client:  # wider than the cap
        table = client.run(f"{PROJECT}/long").history_table()
    assert table["_step"].to_pylist() == steps
