"""Issue 18 transport rows against the local server: a ``base_url`` with a path (D11), an
export URL answering HTML (D12), an empty API key, and run-table integers beyond 2**53
logged by the official SDK (the SDK's own read is the referee)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from wb_dagster.client import CommError, WandbClient
from wb_dagster.testing import LocalWandbServer
from wb_dagster_tests.support.clients import make_sdk_api
from wb_dagster_tests.support.sdk_process import log_spec

EXPORTED_RUN = "wb-demo/cifar/cifar001"


def test_base_url_ending_in_graphql_is_the_api_host(demo_server: LocalWandbServer) -> None:
    client = WandbClient(api_key=demo_server.api_key, base_url=f"{demo_server.base_url}/graphql/")
    assert client.base_url == demo_server.base_url
    assert client.run(EXPORTED_RUN).id == "cifar001"


def test_base_url_with_another_path_says_where_the_api_was_missing(
    demo_server: LocalWandbServer,
) -> None:
    client = WandbClient(api_key=demo_server.api_key, base_url=f"{demo_server.base_url}/api/v1")
    with pytest.raises(CommError) as err:
        client.run(EXPORTED_RUN)
    text = str(err.value)
    assert f"no W&B API at {demo_server.base_url}/api/v1/graphql" in text
    assert "base_url must be the API host" in text
    assert demo_server.api_key not in text


def test_base_url_with_a_query_is_refused() -> None:
    with pytest.raises(ValueError, match="query or fragment"):
        WandbClient(api_key="k" * 40, base_url="https://api.wandb.ai/?org=x")


def test_an_empty_api_key_is_an_error_not_a_fallback(
    demo_server: LocalWandbServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WANDB_API_KEY", demo_server.api_key)  # must not be used silently
    with pytest.raises(ValueError, match="api_key is empty") as err:
        WandbClient(api_key="", base_url=demo_server.base_url)
    assert demo_server.api_key not in str(err.value)


@pytest.mark.parametrize("read", ["history_table", "scan_history"])
def test_an_export_answering_html_names_the_run_and_the_url(
    server: LocalWandbServer, read: str
) -> None:
    page = "<html><body>Sign in to continue</body></html>"
    server.add_faults(
        [
            {
                "match": "GET /_history/.*",
                "status": 200,
                "headers": {"Content-Type": "text/html"},
                "body": page,
            }
        ]
    )
    run = WandbClient(api_key=server.api_key, base_url=server.base_url).run(EXPORTED_RUN)
    with pytest.raises(CommError) as err:
        if read == "history_table":
            run.history_table()
        else:
            list(run.scan_history())
    text = str(err.value)
    assert f"history export of run {EXPORTED_RUN}" in text
    assert f"{server.base_url}/_history/wb-demo/cifar/cifar001/" in text
    assert "not a parquet file" in text and "<html>" in text


def test_run_table_to_pandas_keeps_ints_beyond_2_53(
    empty_server: LocalWandbServer, tmp_path: Path, sdk_env: object
) -> None:
    big = 2**53 + 1
    for i, summary in enumerate([{"big": big, "seed": -(2**62) - 3}, {"other": 1}]):
        log_spec(
            empty_server,
            tmp_path / f"sdk{i}",
            {"project": "ints", "entity": "me", "rows": [{"x": 1}], "summary": summary},
        )
    sdk = {r.id: dict(r.summary) for r in make_sdk_api(empty_server).runs("me/ints")}
    assert [v["big"] for v in sdk.values() if "big" in v] == [big]

    client = WandbClient(api_key=empty_server.api_key, base_url=empty_server.base_url)
    frame = client.runs("me/ints").to_pandas().set_index("id")
    for run_id, summary in sdk.items():
        for key in ("big", "seed"):
            ours: Any = frame.at[run_id, f"summary.{key}"]
            if key in summary:
                assert int(ours) == summary[key], (run_id, key)
            else:
                assert ours is None or str(ours) == "<NA>", (run_id, key)
