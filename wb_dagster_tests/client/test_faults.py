"""Done-when 4: under the server's fault rules every call either recovers (same data as without
faults) or fails with a clear ``CommError`` within the retry budget."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from wb_dagster.client import CommError, RateLimitError
from wb_dagster.testing import LocalWandbServer
from wb_dagster_tests.support.clients import make_client
from wb_dagster_tests.support.history_rows import table_rows

RUN = "wb-demo/cifar/cifar001"


def ops(server: LocalWandbServer, name: str) -> int:
    return int(server.stats()["by_operation"].get(name, 0))


def test_429_with_retry_after_recovers(server: LocalWandbServer) -> None:
    expected = make_client(server).runs("wb-demo/cifar").to_table()
    server.add_faults(
        [{"match": "Runs", "status": 429, "headers": {"Retry-After": "1"}, "count": 1}]
    )
    started = time.monotonic()
    got = make_client(server).runs("wb-demo/cifar").to_table()
    assert time.monotonic() - started >= 0.95  # waited as told
    assert got.equals(expected)


def test_5xx_bursts_on_history_pages_and_exports_recover(server: LocalWandbServer) -> None:
    client = make_client(server, history_page_rows=300)
    live = client.run("wb-demo/cifar/cifar009").history_table()
    exported = client.run(RUN).history_table()
    server.add_faults(
        [
            {"match": "HistoryPage", "status": 502, "count": 3},
            {"match": "HistoryPage", "status": 503, "probability": 0.3, "count": 5},
            {"match": r"GET /_history/.*\.parquet$", "status": 500, "count": 2},
        ]
    )
    client = make_client(server, history_page_rows=300)
    assert table_rows(client.run("wb-demo/cifar/cifar009").history_table()) == table_rows(live)
    assert table_rows(client.run(RUN).history_table()) == table_rows(exported)


def test_slow_responses_beyond_timeout_are_retried(server: LocalWandbServer) -> None:
    expected = make_client(server).run(RUN).config
    server.add_faults([{"match": "Run", "status": None, "delay_ms": 1500, "count": 1}])
    client = make_client(server, timeout=0.6)
    assert client.run(RUN).config == expected


def test_always_slow_fails_within_budget(server: LocalWandbServer) -> None:
    server.add_faults([{"match": "Run", "status": None, "delay_ms": 3000}])
    client = make_client(server, timeout=0.5, retry_budget_s=2.0)
    started = time.monotonic()
    with pytest.raises(CommError, match=r"fetching run wb-demo/cifar/cifar001.*retry budget 2 s"):
        client.run(RUN)
    assert time.monotonic() - started < 3.5


def test_malformed_json_recovers(server: LocalWandbServer) -> None:
    expected = [r.id for r in make_client(server).runs("wb-demo/cifar")]
    server.add_faults([{"match": "Runs", "status": 200, "body": "{not json", "count": 2}])
    assert [r.id for r in make_client(server).runs("wb-demo/cifar")] == expected


def test_graphql_errors_fail_fast_with_message(server: LocalWandbServer) -> None:
    server.add_faults(
        [{"match": "Run", "status": 200, "body": {"errors": [{"message": "boom: db locked"}]}}]
    )
    server.reset_stats()
    with pytest.raises(CommError, match=r"fetching run .*boom: db locked") as err:
        make_client(server).run(RUN)
    assert err.value.exc is not None
    assert ops(server, "Run") == 1  # a GraphQL error is an answer: not retried


def test_persistent_5xx_is_comm_error_within_budget(server: LocalWandbServer) -> None:
    server.add_faults([{"match": "Run", "status": 500}])
    started = time.monotonic()
    with pytest.raises(CommError, match="HTTP 500") as err:
        make_client(server, retry_budget_s=1.5).run(RUN)
    assert time.monotonic() - started < 2.5
    assert server.api_key not in str(err.value)


def test_persistent_429_is_rate_limit_error(server: LocalWandbServer) -> None:
    server.add_faults([{"match": "Runs", "status": 429, "headers": {"Retry-After": "0.3"}}])
    with pytest.raises(RateLimitError):
        len(make_client(server, retry_budget_s=1.5).runs("wb-demo/cifar"))


def test_mutations_retry_only_when_safe(server: LocalWandbServer) -> None:
    run = make_client(server).run(RUN)
    run.config["lr"] = 0.9
    server.add_faults([{"match": "UpsertBucket", "status": 500, "count": 1}])
    server.reset_stats()
    # upsertBucket with the whole merged config is idempotent: retried and applied once
    run.update()
    assert make_client(server).run(RUN).config["lr"] == 0.9
    server.add_faults([{"match": "DeleteRun", "status": 500, "count": 1}])
    server.reset_stats()
    with pytest.raises(CommError, match="not retried automatically"):
        run.delete()
    assert ops(server, "DeleteRun") == 1
    assert make_client(server).run(RUN).id == "cifar001"  # still there


def test_file_download_recovers_and_verifies(server: LocalWandbServer, tmp_path: Path) -> None:
    client = make_client(server)
    server.add_faults([{"match": r"GET /files/.*\.h5$", "status": 503, "count": 2}])
    f = client.run(RUN).file("model-best.h5")
    f.download(root=tmp_path).close()
    assert (tmp_path / "model-best.h5").stat().st_size == f.size
