"""Runs listing: MongoDB-style filters, order, cursors (W&B's offsets by default, which shift when
runs change between pages; stable keyset cursors behind a test knob) and clear errors for
invalid input. Expected ids come from the demo seed's inputs."""

from __future__ import annotations

import pytest

from wb_dagster.testing.seeds.demo import DEMO_RUNS, DEMO_SWEEP_ID, demo_summary
from wb_dagster.testing.store.database import format_time
from wb_dagster_tests.server.gql import all_run_ids, gql, runs_page

PROJECT = "wb-demo/cifar"


def ids(pred):
    return [r.run_id for r in DEMO_RUNS if pred(r)]


FILTER_CASES = [
    ({"state": "finished"}, ids(lambda r: r.state == "finished")),
    ({"state": {"$ne": "finished"}}, ids(lambda r: r.state != "finished")),
    (
        {"$or": [{"config.experiment_name": "foo"}, {"config.experiment_name": "baz"}]},
        ids(lambda r: r.experiment_name in {"foo", "baz"}),
    ),
    (
        {"config.experiment_name": {"$in": ["bar"]}},
        ids(lambda r: r.experiment_name == "bar"),
    ),
    (
        {"config.experiment_name.value": {"$nin": ["bar", "foo"]}},
        ids(lambda r: r.experiment_name == "baz"),
    ),
    ({"config.lr": {"$gt": 0.01}}, ids(lambda r: r.lr > 0.01)),
    ({"config.lr.value": {"$gte": 0.01}}, ids(lambda r: r.lr >= 0.01)),
    (
        {"config.batch_size": {"$lt": 128, "$gte": 64}},
        ids(lambda r: 64 <= r.batch_size < 128),
    ),
    ({"config.lr": {"$lte": 0.001}}, ids(lambda r: r.lr <= 0.001)),
    ({"config.augmentation.flip": True}, ids(lambda r: r.flip)),
    ({"sweep": DEMO_SWEEP_ID}, ids(lambda r: r.sweep == DEMO_SWEEP_ID)),
    ({"sweep": {"$exists": False}}, ids(lambda r: r.sweep is None)),
    ({"displayName": {"$regex": "^resnet-"}}, ids(lambda r: r.display_name.startswith("resnet-"))),
    ({"display_name": "sweep-bar-2"}, ["cifar007"]),
    ({"name": {"$in": ["cifar001", "cifar011"]}}, ["cifar001", "cifar011"]),
    ({"tags": "augmented"}, ids(lambda r: "augmented" in r.tags)),
    (
        {"tags": {"$in": ["diverged", "baseline"]}},
        ids(lambda r: {"diverged", "baseline"} & set(r.tags)),
    ),
    ({"tags": {"$nin": ["sweep", "resnet"]}}, ids(lambda r: not {"sweep", "resnet"} & set(r.tags))),
    (
        {"$or": [{"tags": None}, {"tags": {"$ne": "sweep"}}]},
        ids(lambda r: "sweep" not in r.tags),
    ),
    (
        {"$nor": [{"state": "finished"}, {"jobType": "eval"}]},
        ids(lambda r: r.state != "finished" and r.job_type != "eval"),
    ),
    (
        {"$and": [{"group": "exp-foo"}, {"state": "finished"}]},
        ids(lambda r: r.group == "exp-foo" and r.state == "finished"),
    ),
    (
        {"summary_metrics.best_val_acc": {"$gt": 0.85}},
        ids(lambda r: demo_summary(r)["best_val_acc"] > 0.85),
    ),
    (
        {"createdAt": {"$gt": "2024-03-01T19:00:00Z"}},
        ids(lambda r: format_time(r.created_at) > "2024-03-01T19:00:00.000000Z"),
    ),
    (
        {"created_at": {"$lte": "2024-03-01T15:00:00+02:00"}},
        ids(lambda r: format_time(r.created_at) <= "2024-03-01T13:00:00.000000Z"),
    ),
    (
        {"heartbeatAt": {"$gte": "2024-03-01T21:00:00"}},
        ids(lambda r: format_time(r.heartbeat_at) >= "2024-03-01T21:00:00.000000Z"),
    ),
    ({"username": "wb-demo"}, ids(lambda r: True)),
    ({"username": "someone-else"}, []),
]


@pytest.mark.parametrize(("filters", "want"), FILTER_CASES)
def test_filters_select_the_seeded_runs(demo_server, filters, want):
    assert want or filters == {"username": "someone-else"}  # cases are not vacuous
    assert all_run_ids(demo_server, PROJECT, filters, "+created_at", per_page=4) == want
    count = runs_page(demo_server, PROJECT, filters)["data"]["project"]["runCount"]
    assert count == len(want)


ORDER_CASES = [
    ("+created_at", [r.run_id for r in DEMO_RUNS]),
    ("-createdAt", [r.run_id for r in reversed(DEMO_RUNS)]),
    ("+heartbeat_at", [r.run_id for r in sorted(DEMO_RUNS, key=lambda r: r.heartbeat_at)]),
    ("+config.lr", [r.run_id for r in sorted(DEMO_RUNS, key=lambda r: r.lr)]),
    ("-config.lr.value", [r.run_id for r in sorted(DEMO_RUNS, key=lambda r: -r.lr)]),
    (
        "+summary_metrics.val_acc",
        [r.run_id for r in sorted(DEMO_RUNS, key=lambda r: demo_summary(r)["val_acc"])],
    ),
    ("-name", [r.run_id for r in reversed(DEMO_RUNS)]),
    (
        # ties (3 runs per name) keep insertion order: the tiebreak is deterministic
        "+config.experiment_name",
        [r.run_id for r in sorted(DEMO_RUNS, key=lambda r: (r.experiment_name, r.index))],
    ),
]


@pytest.mark.parametrize(("order", "want"), ORDER_CASES)
def test_order_is_exact_across_pages(demo_server, order, want):
    assert all_run_ids(demo_server, PROJECT, None, order, per_page=5) == want


def test_missing_values_sort_last(server):
    server.seed.create_run(PROJECT, "nosummary", created_at="2024-01-01T00:00:00Z")
    got = all_run_ids(server, PROJECT, None, "-summary_metrics.val_acc", per_page=5)
    assert got[-1] == "nosummary" and len(got) == len(DEMO_RUNS) + 1


def test_offset_cursors_shift_like_wandb(empty_server):
    """wandb#6614: cursors are base64("arrayconnection:N"); a run deleted before the cursor makes
    the next page skip one, a run created before it makes the next page repeat one."""
    import base64

    seed = empty_server.seed
    for i in range(6):
        seed.create_run("me/p", f"r{i}", created_at=f"2024-01-01T00:0{i}:00Z")
    first = runs_page(empty_server, "me/p", None, "+created_at", per_page=3)["data"]["project"]
    cursor = first["runs"]["edges"][-1]["cursor"]
    assert base64.b64decode(cursor) == b"arrayconnection:2"
    seed.delete_run("me/p/r0")
    page = runs_page(empty_server, "me/p", None, "+created_at", 3, cursor)["data"]["project"]
    assert [e["node"]["name"] for e in page["runs"]["edges"]] == ["r4", "r5"]  # r3 skipped
    seed.create_run("me/p", "early", created_at="2023-01-01T00:00:00Z")
    page = runs_page(empty_server, "me/p", None, "+created_at", 3, cursor)["data"]["project"]
    assert [e["node"]["name"] for e in page["runs"]["edges"]] == ["r3", "r4", "r5"]
    # a cursor is only an offset: it does not know the order it was made for
    page = runs_page(empty_server, "me/p", None, "-created_at", 3, cursor)["data"]["project"]
    assert [e["node"]["name"] for e in page["runs"]["edges"]] == ["r2", "r1", "early"]


def test_keyset_cursor_pages_survive_inserts_and_deletes(empty_server):
    empty_server.set_hostility(offset_cursors=False)
    seed = empty_server.seed
    project = "me/paging"
    for i in range(20):
        seed.create_run(project, f"r{i:02d}", created_at=f"2024-01-01T00:{i:02d}:00Z")
    first = runs_page(empty_server, project, None, "+created_at", per_page=5)["data"]["project"]
    page1 = [e["node"]["name"] for e in first["runs"]["edges"]]
    assert page1 == [f"r{i:02d}" for i in range(5)]
    cursor = first["runs"]["edges"][-1]["cursor"]
    # between pages: delete a seen run and an unseen one, insert before and after the cursor
    seed.delete_run(f"{project}/r02")
    seed.delete_run(f"{project}/r10")
    seed.create_run(project, "early", created_at="2024-01-01T00:01:30Z")
    seed.create_run(project, "late", created_at="2024-01-01T00:12:30Z")
    seed.create_run(project, "tie", created_at="2024-01-01T00:04:00Z")  # same time as r04
    rest: list[str] = []
    for _ in range(10):
        page = runs_page(empty_server, project, None, "+created_at", 5, cursor)["data"]["project"]
        rest += [e["node"]["name"] for e in page["runs"]["edges"]]
        if not page["runs"]["pageInfo"]["hasNextPage"]:
            break
        cursor = page["runs"]["edges"][-1]["cursor"]
    want_rest = ["tie"] + [f"r{i:02d}" for i in range(5, 20) if i != 10]
    want_rest.insert(want_rest.index("r13"), "late")
    assert rest == want_rest
    assert len(set(page1 + rest)) == len(page1 + rest)


def test_keyset_cursor_survives_deletion_of_the_cursor_run(empty_server):
    empty_server.set_hostility(offset_cursors=False)
    seed = empty_server.seed
    for i in range(6):
        seed.create_run("me/p", f"r{i}", created_at=f"2024-01-01T00:0{i}:00Z")
    first = runs_page(empty_server, "me/p", None, "+created_at", per_page=3)["data"]["project"]
    cursor = first["runs"]["edges"][-1]["cursor"]
    seed.delete_run("me/p/r2")
    page = runs_page(empty_server, "me/p", None, "+created_at", 3, cursor)["data"]["project"]
    assert [e["node"]["name"] for e in page["runs"]["edges"]] == ["r3", "r4", "r5"]
    assert page["runs"]["pageInfo"]["hasNextPage"] is False


@pytest.mark.parametrize(
    ("filters", "order", "message"),
    [
        ({"state": {"$foo": 1}}, None, "unsupported operator '$foo'"),
        ({"id": "cifar000"}, None, "filter the run id with 'name'"),
        ({"bogus_field": 1}, None, "unknown run filter field 'bogus_field'"),
        ({"config.lr": {"$in": 0.1}}, None, "expected a list"),
        ({"$or": {"state": "x"}}, None, "$or expects a list"),
        ({"createdAt": {"$gt": "yesterday"}}, None, "is not an ISO-8601 time"),
        ({"state": {"$gt": None}}, None, "cannot compare with null"),
        (None, "+bogus", "unsupported order '+bogus'"),
    ],
)
def test_invalid_filters_and_orders_get_clear_errors(demo_server, filters, order, message):
    reply = runs_page(demo_server, PROJECT, filters, order)
    assert message in reply["errors"][0]["message"]
    assert reply["errors"][0]["path"][0] == "project"


def test_filters_not_json_and_bad_cursor(demo_server):
    reply = gql(
        demo_server,
        'query($f: JSONString) { project(name: "cifar", entityName: "wb-demo") '
        "{ runs(filters: $f) { edges { cursor } } } }",
        f="{not json",
    )
    assert "filters is not valid JSON" in reply["errors"][0]["message"]
    reply = runs_page(demo_server, PROJECT, cursor="bm9wZQ==")
    assert "invalid cursor" in reply["errors"][0]["message"]
    demo_server.set_hostility(offset_cursors=False)
    try:
        good = runs_page(demo_server, PROJECT, order="+created_at", per_page=1)
        cursor = good["data"]["project"]["runs"]["edges"][0]["cursor"]
        reply = runs_page(demo_server, PROJECT, order="-created_at", cursor=cursor)
        assert "restart paging" in reply["errors"][0]["message"]
    finally:
        demo_server.set_hostility()


def test_heartbeat_filter_uses_an_index(empty_server):
    from wb_dagster.testing.store.run_filters import compile_filters, order_by_sql, parse_order

    where = compile_filters({"heartbeatAt": {"$gt": "2024-01-01T00:00:00Z"}}, whole_seconds=True)
    order = parse_order("+heartbeat_at")
    conn = empty_server.backend.store.conn()
    plan = " ".join(
        str(row[3])
        for row in conn.execute(
            f"EXPLAIN QUERY PLAN SELECT r.pk FROM runs r WHERE r.project_pk = ? AND "
            f"{where.where} ORDER BY {order_by_sql(order)} LIMIT 50",
            [1, *where.params],
        )
    )
    assert "runs_by_heartbeat" in plan, plan
