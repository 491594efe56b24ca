"""Protocol details: GraphQL envelope quirks, auth, file/parquet URLs with Range, history
sampling, control endpoints (faults, stats, seed) and latency."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import time

import pyarrow.parquet as pq
import requests

from wb_dagster.testing.seeds.demo import (
    DEMO_RUNNING_RUN,
    DEMO_RUNS_BY_ID,
    DEMO_SWEEP_ID,
    demo_files,
    demo_history,
)
from wb_dagster_tests.server.gql import gql

RUN_Q = 'project(name: "cifar", entityName: "wb-demo") { run(name: $name) { %s } }'


def run_field(server, name, selection, **variables):
    decls = ", ".join(["$name: String!", *(f"${k}: {t}" for k, (t, _) in variables.items())])
    query = f"query Q({decls}) {{ {RUN_Q % selection} }}"
    reply = gql(server, query, name=name, **{k: v for k, (_, v) in variables.items()})
    assert "errors" not in reply, reply
    return reply["data"]["project"]["run"]


def test_envelope_quirks(demo_server):
    doc = (
        "#graphql\nquery Viewer($p: String,) { viewer { ...V } project(name: $p) { name } }\n"
        "fragment V on User { entity username }"
    )
    reply = requests.post(
        f"{demo_server.base_url}/graphql",
        json={"query": doc, "variables": {"extra": 1, "p": "cifar"}, "operationName": ""},
        auth=("api", demo_server.api_key),
        timeout=10,
    ).json()
    assert reply == {
        "data": {
            "viewer": {"entity": "wb-demo", "username": "wb-demo"},
            "project": {"name": "cifar"},
        }
    }
    intro = gql(demo_server, '{ __type(name: "Run") { fields { name } } }')
    assert "projectId" in [f["name"] for f in intro["data"]["__type"]["fields"]]


def test_auth_required_with_errors_body(demo_server):
    url = f"{demo_server.base_url}/graphql"
    for auth in (None, ("api", "w" * 40), ("user", demo_server.api_key)):
        reply = requests.post(url, json={"query": "{ viewer { id } }"}, auth=auth, timeout=10)
        assert reply.status_code == 401
        assert "API key" in reply.json()["errors"][0]["message"]
        assert demo_server.api_key not in reply.text
    otel = requests.post(f"{demo_server.base_url}/sdk/otel/v1/metrics", data=b"", timeout=10)
    assert otel.status_code == 200


def test_validation_error_shape(demo_server):
    reply = gql(demo_server, "{ viewer { nope } }")
    err = reply["errors"][0]
    assert "nope" in err["message"] and err["locations"] == [{"line": 1, "column": 12}]


def test_history_pages_int64_and_exclusive_max(demo_server):
    rows = run_field(
        demo_server,
        "cifar000",
        "history(minStep: $lo, maxStep: $hi, samples: $n)",
        lo=("Int64", 1990),
        hi=("Int64", 2000),
        n=("Int", 1000),
    )["history"]
    want = demo_history(DEMO_RUNS_BY_ID["cifar000"])[1990:2000]
    assert [json.loads(r) for r in rows] == want


def test_history_sampling_keeps_first_and_last(demo_server):
    rows = run_field(demo_server, "cifar001", "history(samples: $n)", n=("Int", 7))["history"]
    seeded = demo_history(DEMO_RUNS_BY_ID["cifar001"])
    got = [json.loads(r) for r in rows]
    assert len(got) == 7
    assert got[0] == seeded[0] and got[-1] == seeded[-1]
    assert all(row == seeded[row["_step"]] for row in got)


def test_sampled_history_inclusive_max_and_all_keys(demo_server):
    spec = json.dumps({"keys": ["_step", "val_acc"], "minStep": 99, "maxStep": 299, "samples": 10})
    got = run_field(
        demo_server, "cifar000", "sampledHistory(specs: [$s])", s=("JSONString!", spec)
    )["sampledHistory"]
    seeded = demo_history(DEMO_RUNS_BY_ID["cifar000"])
    assert got == [[{"_step": s, "val_acc": seeded[s]["val_acc"]} for s in (99, 199, 299)]]


def test_parquet_export_and_range_requests(demo_server):
    run = run_field(
        demo_server,
        "cifar000",
        "parquetHistory(liveKeys: $k) { parquetUrls liveData }",
        k=("[String!]!", ["_step"]),
    )["parquetHistory"]
    assert run["liveData"] == []
    (url,) = run["parquetUrls"]
    whole = requests.get(url, timeout=10)  # no auth: behaves like a pre-signed URL
    assert whole.status_code == 200
    table = pq.read_table(io.BytesIO(whole.content))
    assert table.schema.field("_step").type == "int64" and table.column_names[0] == "_step"
    assert table.num_rows == DEMO_RUNS_BY_ID["cifar000"].num_steps
    assert table.column("loss").to_pylist()[:3] == [
        r["loss"] for r in demo_history(DEMO_RUNS_BY_ID["cifar000"])[:3]
    ]
    head = requests.get(url, headers={"Range": "bytes=0-0"}, timeout=10)
    assert head.status_code == 206
    assert head.headers["Content-Range"] == f"bytes 0-0/{len(whole.content)}"
    tail = requests.get(url, headers={"Range": "bytes=-8"}, timeout=10)
    assert tail.status_code == 206 and tail.content == whole.content[-8:]
    assert tail.content.endswith(b"PAR1")


def test_live_run_has_only_live_data(demo_server):
    run = run_field(
        demo_server,
        DEMO_RUNNING_RUN,
        "parquetHistory(liveKeys: $k) { parquetUrls liveData }",
        k=("[String!]!", ["_step"]),
    )["parquetHistory"]
    n = DEMO_RUNS_BY_ID[DEMO_RUNNING_RUN].num_steps
    assert run == {"parquetUrls": [], "liveData": [{"_step": s} for s in range(n)]}


def test_file_urls_range_and_md5(demo_server):
    run = run_field(
        demo_server,
        "cifar004",
        "fileCount files(names: $n) { edges { node { name url sizeBytes md5 mimetype } } }",
        n=("[String]", ["model-best.h5"]),
    )
    node = run["files"]["edges"][0]["node"]
    data = demo_files(DEMO_RUNS_BY_ID["cifar004"])["model-best.h5"]
    assert run["fileCount"] == len(demo_files(DEMO_RUNS_BY_ID["cifar004"]))
    assert node["sizeBytes"] == len(data)
    assert node["md5"] == base64.b64encode(hashlib.md5(data).digest()).decode()
    assert node["mimetype"] == "application/x-hdf5"
    assert requests.get(node["url"], timeout=10).content == data
    part = requests.get(node["url"], headers={"Range": "bytes=10-19"}, timeout=10)
    assert part.status_code == 206 and part.content == data[10:20]
    assert part.headers["Content-Range"] == f"bytes 10-19/{len(data)}"
    missing = requests.get(node["url"] + ".nope", timeout=10)
    assert missing.status_code == 404 and "not found" in missing.json()["errors"][0]["message"]


def test_project_sweeps_listing(demo_server):
    reply = gql(
        demo_server,
        '{ project(name: "cifar", entityName: "wb-demo") { sweeps { edges { node '
        "{ name state method runCount bestLoss } } pageInfo { hasNextPage } } } }",
    )
    (edge,) = reply["data"]["project"]["sweeps"]["edges"]
    assert edge["node"]["name"] == DEMO_SWEEP_ID
    assert (edge["node"]["state"], edge["node"]["method"], edge["node"]["runCount"]) == (
        "FINISHED",
        "bayes",
        6,
    )


def test_control_faults_stats_and_latency(server):
    base = server.base_url
    rule = {"match": "Viewer", "status": 503, "body": {"errors": [{"message": "down"}]}, "count": 2}
    assert requests.post(f"{base}/_control/faults", json=[rule], timeout=10).status_code == 200
    requests.delete(f"{base}/_control/stats", timeout=10)
    doc = "query Viewer { viewer { entity } }"
    statuses = [
        requests.post(
            f"{base}/graphql", json={"query": doc}, auth=("api", server.api_key), timeout=10
        ).status_code
        for _ in range(3)
    ]
    assert statuses == [503, 503, 200]
    stats = requests.get(f"{base}/_control/stats", timeout=10).json()
    assert stats["by_operation"] == {"Viewer": 3} and stats["requests"] == 3
    requests.post(f"{base}/_control/faults", json=[{"match": "GET /files/", "status": 418}])
    assert requests.get(f"{base}/files/wb-demo/cifar/cifar000/output.log").status_code == 418
    requests.delete(f"{base}/_control/faults", timeout=10)
    assert requests.get(f"{base}/files/wb-demo/cifar/cifar000/output.log").status_code == 200
    bad = requests.post(f"{base}/_control/faults", json=[{"status": 500}], timeout=10)
    assert bad.status_code == 400 and "match" in bad.json()["errors"][0]["message"]
    server.latency_ms = 300
    start = time.monotonic()
    requests.get(f"{base}/files/wb-demo/cifar/cifar000/output.log", timeout=10)
    assert time.monotonic() - start >= 0.3


def test_control_seed_scale(empty_server):
    spec = {"project": "me/scale", "runs": 250, "history_rows": 30, "history_keys": 3}
    reply = requests.post(f"{empty_server.base_url}/_control/seed", json=spec, timeout=60)
    assert reply.json()["runs"] == 250
    data = gql(
        empty_server,
        '{ project(name: "scale", entityName: "me") { runCount '
        'run(name: "s000249") { state historyLineCount historyKeys } } }',
    )["data"]["project"]
    assert data["runCount"] == 250
    assert data["run"]["state"] == "finished" and data["run"]["historyLineCount"] == 30
    assert set(data["run"]["historyKeys"]["keys"]) == {
        "_step",
        "_runtime",
        "_timestamp",
        "metric_00",
        "metric_01",
        "metric_02",
    }
    bad = requests.post(f"{empty_server.base_url}/_control/seed", json={"runs": 1}, timeout=10)
    assert bad.status_code == 400 and "project" in bad.json()["errors"][0]["message"]
