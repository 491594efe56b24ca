"""Issue 7, item 1: the fault matrix, injected through the local server's fault rules.

* Every fault kind on ~20% of the requests the assets make (GraphQL, file downloads, parquet
  exports): the client's results equal the fault-free ones.
* All kinds mixed on 20% of requests: every asset (runs, run_history, run_system_metrics,
  sweep_best_model) and both sensors store exactly what the fault-free pipeline stores.
* Permanent faults: a clear failure within the retry budget, and the files stored before are
  byte-for-byte intact (no temporary file left behind).
* GraphQL errors with partial data are answers, not transient faults (like wandb-core): the
  call fails at once with the server's message and the partial data is never used.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
import requests

from wb_dagster.client import CommError, RateLimitError, WandbClient
from wb_dagster.testing import LocalWandbServer
from wb_dagster.testing.seeds.demo import DEMO_RUNS_BY_ID, DEMO_SWEEP_ID, demo_files
from wb_dagster_tests.inprocess import evaluate_sensor, launch_requests

from .demo_assets import (
    PROJECT,
    RUN_SENSOR,
    RUNS,
    SWEEP_SENSOR,
    failure_message,
    fast_client,
    make_defs,
    materialize,
)
from .snapshots import raw_snapshot, store_snapshot

GRAPHQL = "POST /graphql"
DOWNLOADS = r"GET /(files|_history)/"
# one fault kind = what a hit does; "applies" = which requests it can hit
KINDS: dict[str, dict[str, Any]] = {
    "429-retry-after": {"status": 429, "headers": {"Retry-After": "0"}},
    "429-bare": {"status": 429},
    "429-ratelimit-headers": {
        "status": 429,
        "headers": {"RateLimit-Limit": "50", "RateLimit-Remaining": "0", "RateLimit-Reset": "0"},
    },
    "500": {"status": 500},
    "502": {"status": 502, "body": "<html>Bad Gateway</html>"},
    "503": {"status": 503},
    "504": {"status": 504, "body": ""},
    "reset": {"action": "reset"},
    "truncated": {"action": "truncate"},
    "malformed-json": {"status": 200, "body": '{"data": {"project": {"ru', "graphql_only": True},
    "slow": {"status": None, "delay_ms": 900},
}
HITS = 10**6  # "count" of the mixed rules: what is left of it tells how often each hit
SLOW_TIMEOUT = 0.5  # per-attempt timeout when the "slow" kind is active (< its delay)


def rules(kind: str, probability: float) -> list[dict[str, Any]]:
    spec = dict(KINDS[kind])
    graphql_only = spec.pop("graphql_only", False)
    targets = [GRAPHQL] if graphql_only else [GRAPHQL, DOWNLOADS]
    return [{"match": m, "probability": probability, **spec} for m in targets]


def observe(client: WandbClient, tmp: Path) -> dict[str, Any]:
    """What the assets read: run table, exported + live history, system metrics, a file, the
    sweep's best run."""
    out: dict[str, Any] = {"runs": client.runs(PROJECT).to_table()}
    out["history_exported"] = client.run(f"{PROJECT}/cifar001").history_table()
    out["history_live"] = client.run(f"{PROJECT}/cifar009").history_table()
    out["system"] = client.run(f"{PROJECT}/cifar010").system_metrics_table()
    f = client.run(f"{PROJECT}/cifar004").file("model-best.h5")
    f.download(root=str(tmp), replace=True).close()
    out["file"] = (tmp / "model-best.h5").read_bytes()
    best = client.sweep(f"{PROJECT}/{DEMO_SWEEP_ID}").best_run()
    out["best"] = best.id if best is not None else None
    return out


def assert_same(got: dict[str, Any], expected: dict[str, Any]) -> None:
    assert got.keys() == expected.keys()
    for name, value in expected.items():
        if isinstance(value, pa.Table):
            assert got[name].equals(value), name
        else:
            assert got[name] == value, name


@pytest.fixture
def expected(wb: LocalWandbServer, tmp_path: Path) -> dict[str, Any]:
    with fast_client(wb) as client:
        result = observe(client, tmp_path / "baseline")
    # the expected values themselves come from the seed's inputs where they exist
    assert result["file"] == demo_files(DEMO_RUNS_BY_ID["cifar004"])["model-best.h5"]
    assert result["history_exported"].num_rows == DEMO_RUNS_BY_ID["cifar001"].num_steps
    assert result["history_live"].num_rows == DEMO_RUNS_BY_ID["cifar009"].num_steps
    return result


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_client_reads_equal_fault_free_with_20_percent_faults(
    kind: str, wb: LocalWandbServer, expected: dict[str, Any], tmp_path: Path
) -> None:
    # the first request of each target always hits (not a vacuous pass), then 20% at random
    wb.add_faults([{**rule, "count": 1} for rule in rules(kind, 1.0)] + rules(kind, 0.2))
    wb.reset_stats()
    timeout = SLOW_TIMEOUT if kind == "slow" else 5.0
    with fast_client(wb, timeout=timeout, history_page_rows=400) as client:
        got = observe(client, tmp_path / "faulty")
        retries = client.transport.stats["retries"]
    assert_same(got, expected)
    assert retries >= len(rules(kind, 1.0))


def test_429_with_a_long_ratelimit_reset_holds_only_that_call(wb: LocalWandbServer) -> None:
    """Issue 18 D4 against the local server: one 429 asking for an hour fails its own call at
    once (the wait is beyond its budget); the same client keeps serving every other call."""
    wb.add_faults(
        [
            {
                "match": "Runs",
                "status": 429,
                "count": 1,
                "headers": {"RateLimit-Remaining": "0", "RateLimit-Reset": "3600"},
            }
        ]
    )
    client = fast_client(wb, retry_budget_s=5.0)
    started = time.monotonic()
    with pytest.raises(RateLimitError, match=r"listing runs of wb-demo/cifar"):
        client.runs(PROJECT).to_table()
    assert time.monotonic() - started < 2.0
    started = time.monotonic()
    assert client.run(f"{PROJECT}/cifar000").id == "cifar000"
    assert client.runs(PROJECT).to_table().num_rows == 12
    assert time.monotonic() - started < 2.0


def test_429_retry_after_is_honoured_and_persistent_429_is_rate_limit_error(
    wb: LocalWandbServer,
) -> None:
    wb.add_faults([{"match": "Run", "status": 429, "headers": {"Retry-After": "1"}, "count": 1}])
    started = time.monotonic()
    assert fast_client(wb).run(f"{PROJECT}/cifar000").id == "cifar000"
    assert time.monotonic() - started >= 0.95
    wb.add_faults([{"match": "Run", "status": 429}])
    started = time.monotonic()
    with pytest.raises(RateLimitError, match=r"fetching run wb-demo/cifar/cifar001.*rate limit"):
        fast_client(wb, retry_budget_s=1.0).run(f"{PROJECT}/cifar001")
    assert time.monotonic() - started < 2.0


def test_graphql_errors_with_partial_data_fail_at_once(wb: LocalWandbServer) -> None:
    partial = {
        "data": {"project": {"run": None, "id": "UHJvamVjdDox"}},
        "errors": [{"message": "upstream timeout reading run", "path": ["project", "run"]}],
    }
    wb.add_faults([{"match": "Run", "status": 200, "body": partial}])
    wb.reset_stats()
    with pytest.raises(CommError) as err:
        fast_client(wb).run(f"{PROJECT}/cifar001")
    # the server's message, where it applies, and not "not found" from the partial null run
    assert "project.run: upstream timeout reading run" in str(err.value)
    assert "fetching run wb-demo/cifar/cifar001" in str(err.value)
    assert "Could not find" not in str(err.value)
    assert wb.stats()["by_operation"].get("Run") == 1


def test_download_cut_mid_stream_is_retried_and_verified(
    wb: LocalWandbServer, tmp_path: Path
) -> None:
    wb.add_faults([{"match": r"GET /files/.*model-best", "action": "truncate", "count": 2}])
    client = fast_client(wb)
    f = client.run(f"{PROJECT}/cifar004").file("model-best.h5")
    f.download(root=str(tmp_path)).close()
    assert (tmp_path / "model-best.h5").read_bytes() == demo_files(DEMO_RUNS_BY_ID["cifar004"])[
        "model-best.h5"
    ]
    assert client.transport.stats["retries"] == 2
    # always cut: a clear error, and neither the target nor a temporary file is left
    wb.add_faults([{"match": r"GET /files/.*model-best", "action": "truncate"}])
    dest = tmp_path / "again"
    with pytest.raises(CommError, match=r"downloading model-best.h5 of run .*retry budget"):
        fast_client(wb, retry_budget_s=0.8).run(f"{PROJECT}/cifar004").file(
            "model-best.h5"
        ).download(root=str(dest))
    assert not dest.exists() or list(dest.rglob("*")) == []


@pytest.mark.parametrize("status", [403, 404])
def test_expired_parquet_url_asks_for_fresh_urls(
    status: int, wb: LocalWandbServer, expected: dict[str, Any], tmp_path: Path
) -> None:
    wb.add_faults([{"match": r"GET /_history/", "status": status, "count": 1}])
    wb.reset_stats()
    client = fast_client(wb)
    assert client.run(f"{PROJECT}/cifar001").history_table().equals(expected["history_exported"])
    # the export list was asked for again after the URL failed
    assert wb.stats()["by_operation"]["RunParquetHistory"] == 2
    export = client.run(f"{PROJECT}/cifar001").write_history_parquet(tmp_path / "h.parquet")
    assert export.rows == DEMO_RUNS_BY_ID["cifar001"].num_steps
    wb.add_faults([{"match": r"GET /_history/", "status": status}])
    with pytest.raises(
        CommError, match=rf"fresh URLs 2 times \(the export URL answered HTTP {status}"
    ):
        client.run(f"{PROJECT}/cifar002").history_table()


# -- the Dagster layer ------------------------------------------------------------------------


def run_pipeline(srv: LocalWandbServer, store: Path, instance: Any, **resource: Any) -> dict:
    """Both sensors' first tick with their requests executed, then the run table."""
    defs = make_defs(srv, store, **resource)
    out: dict[str, Any] = {}
    for sensor in (RUN_SENSOR, SWEEP_SENSOR):
        tick = evaluate_sensor(defs, sensor, instance, None)
        launched = launch_requests(defs, sensor, tick, instance)
        failed = [failure_message(r) for r in launched.results if not r.success]
        assert not failed, failed
        out[sensor] = sorted(r.run_key or "" for r in tick.run_requests or [])
    assert materialize(defs, instance, [RUNS]).success
    out["stored"] = store_snapshot(store)
    return out


def mixed_rules(total: float) -> list[dict[str, Any]]:
    """Every kind, together hitting about ``total`` of the requests (first match wins)."""
    per_rule = 1 - (1 - total) ** (1 / len(KINDS))
    return [{**rule, "count": HITS} for kind in sorted(KINDS) for rule in rules(kind, per_rule)]


def test_every_asset_and_sensor_equal_the_fault_free_run_under_20_percent_faults(
    wb: LocalWandbServer, tmp_path: Path
) -> None:
    import dagster as dg

    with dg.instance_for_test() as clean_instance:
        expected = run_pipeline(wb, tmp_path / "clean", clean_instance)
    wb.add_faults(mixed_rules(0.2))
    wb.reset_stats()
    with dg.instance_for_test() as faulty_instance:
        got = run_pipeline(wb, tmp_path / "faulty", faulty_instance, timeout=SLOW_TIMEOUT)
    assert got[RUN_SENSOR] == expected[RUN_SENSOR]
    assert got[SWEEP_SENSOR] == expected[SWEEP_SENSOR]
    assert got["stored"].keys() == expected["stored"].keys()
    for name, value in expected["stored"].items():
        assert got["stored"][name] == value, name
    stored = set(expected["stored"])
    assert "wandb/wb-demo/cifar/runs.parquet" in stored
    assert f"wandb/wb-demo/cifar/sweep_best_model/{DEMO_SWEEP_ID}/model-best.h5" in stored
    for asset in ("run_history", "run_system_metrics"):
        assert sum(n.startswith(f"wandb/wb-demo/cifar/{asset}/") for n in stored) == 11
    # about a fifth of the requests really failed, every kind at least once
    active = requests.get(f"{wb.base_url}/_control/faults", timeout=10).json()["faults"]
    hits = [HITS - rule["remaining"] for rule in active]
    served = wb.stats()["requests"]
    assert 0.1 * served < sum(hits) < 0.3 * served, (sum(hits), served)


# -- permanent faults: clear failure within the budget, previous files intact ------------------

BUDGET_S = 1.0
PERMANENT: dict[str, list[dict[str, Any]]] = {
    "5xx": [{"match": GRAPHQL, "status": 503}, {"match": DOWNLOADS, "status": 502}],
    "reset": [{"match": GRAPHQL, "action": "reset"}, {"match": DOWNLOADS, "action": "reset"}],
    "slow": [{"match": GRAPHQL, "status": None, "delay_ms": 1500}],
    "429": [{"match": GRAPHQL, "status": 429, "headers": {"Retry-After": "0"}}],
    "truncated-downloads": [{"match": DOWNLOADS, "action": "truncate"}],
    "partial-graphql": [
        {
            "match": GRAPHQL,
            "status": 200,
            "body": {"data": {"project": None}, "errors": [{"message": "internal: db gone"}]},
        }
    ],
}
# (what to materialize, the change on the server that forces a new write, fault, message)
CASES = [
    ("runs", "finish-running", "5xx", r"refreshing the run table of wb-demo/cifar: .*HTTP 503"),
    ("runs", "finish-running", "partial-graphql", r"run table .*internal: db gone"),
    ("history", "append", "reset", r"exporting run wb-demo/cifar/cifar001: .*connection error"),
    (
        "history",
        "append",
        "truncated-downloads",
        r"exporting run .*(download interrupted|body cut off)",
    ),
    ("history", "rewind", "slow", r"exporting run wb-demo/cifar/cifar001: .*no response within"),
    ("best_model", "new-best", "429", r"best model of sweep wb-demo/cifar/cifarswp: .*rate limit"),
    (
        "best_model",
        "new-best",
        "truncated-downloads",
        r"best model .*(download interrupted|body cut off)",
    ),
]


def change_server(srv: LocalWandbServer, change: str) -> None:
    seed, run = srv.seed, f"{PROJECT}/cifar001"
    if change == "finish-running":
        seed.finish_run(f"{PROJECT}/cifar009")
    elif change == "append":
        n = DEMO_RUNS_BY_ID["cifar001"].num_steps
        seed.resume_run(run)
        seed.append_history(run, [{"_step": n + i, "loss": 0.5} for i in range(20)])
        seed.finish_run(run)
    elif change == "rewind":
        seed.resume_run(run)
        seed.rewind_run(run, 700)
        seed.finish_run(run)
    elif change == "new-best":
        # cifar003 becomes the sweep's best run with a new model file
        seed.set_summary(f"{PROJECT}/cifar003", {"val_acc": 0.999})
        seed.add_file(f"{PROJECT}/cifar003", "model-best.h5", b"new weights" * 1000)


def selection(asset: str) -> tuple[list[Any], str | None]:
    import dagster as dg

    if asset == "runs":
        return [RUNS], None
    if asset == "history":
        return [dg.AssetKey(["wandb", "wb-demo", "cifar", "run_history"])], "cifar001"
    return [dg.AssetKey(["wandb", "wb-demo", "cifar", "sweep_best_model"])], DEMO_SWEEP_ID


@pytest.mark.parametrize(("asset", "change", "fault", "message"), CASES)
def test_permanent_faults_fail_clearly_within_budget_and_keep_previous_files(
    asset: str,
    change: str,
    fault: str,
    message: str,
    wb: LocalWandbServer,
    tmp_path: Path,
    instance: Any,
) -> None:
    store = tmp_path / "store"
    defs = make_defs(wb, store, retry_budget_s=BUDGET_S, timeout=SLOW_TIMEOUT)
    keys, partition = selection(asset)
    if partition == "cifar001":
        instance.add_dynamic_partitions("wandb_runs__wb_demo__cifar", ["cifar001"])
    if partition == DEMO_SWEEP_ID:
        instance.add_dynamic_partitions("wandb_sweeps__wb_demo__cifar", [DEMO_SWEEP_ID])
    assert materialize(defs, instance, keys, partition).success
    before = raw_snapshot(store)
    assert before
    change_server(wb, change)
    wb.add_faults(PERMANENT[fault])
    started = time.monotonic()
    result = materialize(defs, instance, keys, partition)
    elapsed = time.monotonic() - started
    assert not result.success
    text = failure_message(result)
    assert re.search(message, text), text
    assert "Traceback" not in text
    # the 1 s budget, not the default 60 s one, ended the retries (with room for Dagster's own
    # run overhead on a slow machine)
    assert elapsed < BUDGET_S + 10.0, elapsed
    # nothing half-written: the same files with the same bytes, no temporary sibling
    assert raw_snapshot(store) == before
    # and once the faults are gone the same materialization converges
    wb.clear_faults()
    assert materialize(defs, instance, keys, partition).success
    assert raw_snapshot(store) != before


def test_sensor_tick_under_permanent_faults_fails_and_keeps_its_cursor(
    wb: LocalWandbServer, tmp_path: Path, instance: Any
) -> None:
    defs = make_defs(wb, tmp_path / "store", retry_budget_s=BUDGET_S)
    first = evaluate_sensor(defs, RUN_SENSOR, instance, None)
    wb.seed.finish_run(f"{PROJECT}/cifar009")
    for rules_ in (PERMANENT["5xx"], PERMANENT["reset"], PERMANENT["partial-graphql"]):
        wb.clear_faults()
        wb.add_faults(rules_)
        started = time.monotonic()
        with pytest.raises(CommError, match=r"listing runs of wb-demo/cifar"):
            evaluate_sensor(defs, RUN_SENSOR, instance, first.cursor)
        assert time.monotonic() - started < BUDGET_S + 1.0
    wb.clear_faults()
    # the daemon keeps the previous cursor after a failed tick: the finished run is not lost
    after = evaluate_sensor(defs, RUN_SENSOR, instance, first.cursor)
    assert [r.partition_key for r in after.run_requests or [] if r.partition_key] == ["cifar009"]
