"""Issue 18's value defects, each against the official SDK's reads of SDK-logged runs.

Each test failed before the value model (docs/values.md) was applied everywhere.
"""

from __future__ import annotations

import json
from typing import Any

import dagster as dg
import pyarrow as pa
import pytest

from wb_dagster.defs import build_wandb_defs
from wb_dagster_tests.support.clients import make_sdk_api

from .logged_values import BOOLS_RUN, PROJECT, RUNS, TAGS, Logged
from .referee import decoded_rows, flat, rows_equal, sdk_dict, strict_equal


def _sdk_run(logged: Logged, run_id: str) -> Any:
    return make_sdk_api(logged.server).run(f"{logged.path}/{run_id}")


def _sdk_scan(logged: Logged, run_id: str) -> list[dict[str, Any]]:
    """The SDK's ``scan_history`` rows, each step once (0.31 repeats the page straddling the
    export boundary, wandb-protocol.md §4.2)."""
    by_step: dict[int, dict[str, Any]] = {}
    for row in _sdk_run(logged, run_id).scan_history():
        by_step.setdefault(row["_step"], dict(row))
    return [by_step[s] for s in sorted(by_step)]


def _column(table: pa.Table, name: str) -> list[Any]:
    rows = decoded_rows(table.select(["_step", name]))
    return [r.get(name) for r in rows]


def test_d1_incremental_run_table_keeps_lists(logged: Logged, sdk_env: Any) -> None:
    """The stored table read back from parquet (list items named ``element``) merged with fresh
    rows keeps ``tags`` and list-valued config as lists, equal to the SDK's."""
    merged = logged.runs_merged_b
    assert pa.types.is_list(merged.schema.field("tags").type)
    assert pa.types.is_list(merged.schema.field("config.layers").type)
    rows = {r["id"]: r for r in merged.to_pylist()}
    assert set(rows) == {*RUNS, BOOLS_RUN}
    for run_id in RUNS:
        sdk = _sdk_run(logged, run_id)
        assert rows[run_id]["tags"] == sdk.tags == TAGS
        assert rows[run_id]["config.layers"] == sdk.config["layers"] == [64, 32]
    # and the history of a run with an exported and a live part keeps a list key a list
    table = logged.client.run(f"{logged.path}/mixed").history_table()
    assert table.schema.field("keep").type == pa.list_(pa.int64())
    sdk_keep = [r["keep"] for r in _sdk_scan(logged, "mixed")]
    assert table.column("keep").to_pylist() == sdk_keep == [[0, 1], [1, 2], [2], [3, 4], [5]]


@pytest.mark.parametrize("run_id", RUNS)
def test_d2_type_flip_after_resume_on_stored_history(
    logged: Logged, sdk_env: Any, run_id: str
) -> None:
    """A key logged as a list, then as text after a resume: the stored history is appended
    (not failing), and holds every value as the SDK reads it."""
    first, after_resume = logged.syncs_a[run_id], logged.syncs_c[run_id]
    assert not isinstance(after_resume, Exception), after_resume
    assert not isinstance(first, Exception) and first.mode == "full"
    assert after_resume.mode == "append"
    stored = logged.stored_history(run_id)
    sdk_rows = _sdk_scan(logged, run_id)
    assert _column(stored, "lst") == [r.get("lst") for r in sdk_rows]
    assert _column(stored, "li") == [r.get("li") for r in sdk_rows]
    assert [v for v in _column(stored, "lst") if v is not None] == [[1, 2], [3], "text", "more"]


def test_d5_flat_dotted_key_beside_nested_key(logged: Logged, sdk_env: Any) -> None:
    """``a.b`` and ``{"a": {"b"}}`` are both kept: history, config and summary."""
    sdk = _sdk_run(logged, "live")
    table = logged.client.run(f"{logged.path}/live").history_table()
    sdk_rows = _sdk_scan(logged, "live")[:2]
    assert _column(table, "a.b")[:2] == [r["a.b"] for r in sdk_rows] == [1, 3]
    assert _column(table, "a")[:2] == [sdk_dict(r["a"]) for r in sdk_rows] == [{"b": 2}, {"b": 4}]
    row = next(r for r in decoded_rows(logged.runs_full_b) if r["id"] == "live")
    assert row["config.a.b"] == sdk.config["a.b"] == 1
    assert row["config.a"] == sdk_dict(sdk.config["a"]) == {"b": 2}
    assert row["summary.a.b"] == sdk.summary["a.b"] == 3
    assert row["summary.a"] == sdk_dict(sdk.summary["a"]) == {"b": 4}


def test_d6_whitespace_and_unicode_keys(
    logged: Logged,
    sdk_env: Any,
    tmp_path: Any,
    instance: dg.DagsterInstance,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Keys with surrounding whitespace or unicode: summary reads, history columns, and the
    ``run_history`` asset."""
    sdk = _sdk_run(logged, "live")
    ours = logged.client.run(f"{logged.path}/live")
    # the SDK's own HTTPSummary strips keys on lookup, so dict(sdk.summary) raises KeyError
    # for such keys: its raw _json_dict is the referee
    raw = sdk.summary._json_dict
    assert raw[" padded "] == 2.5
    assert strict_equal(dict(ours.summary), {k: sdk_dict(v) for k, v in raw.items()})
    assert ours.summary[" padded "] == 2.5
    table = ours.history_table()
    assert _column(table, " padded ")[:2] == [1.5, 2.5]
    assert _column(table, "métrique ✓")[:2] == [1, 2]
    row = next(r for r in logged.runs_full_b.to_pylist() if r["id"] == "live")
    assert row["config. pad "] == sdk.config[" pad "] == "x"
    monkeypatch.setenv("WB_VALUES_TEST_KEY", logged.server.api_key)
    defs = build_wandb_defs(
        entity=logged.server.entity,
        project=PROJECT,
        api_key=dg.EnvVar("WB_VALUES_TEST_KEY"),
        base_url=logged.server.base_url,
        storage_dir=str(tmp_path / "store"),
    )
    assets = [a for a in defs.assets or [] if isinstance(a, dg.AssetsDefinition)]
    history = next(a for a in assets for k in a.keys if k.path[-1] == "run_history")
    history_key = next(k for k in history.keys if k.path[-1] == "run_history")
    assert isinstance(history.partitions_def, dg.DynamicPartitionsDefinition)
    assert history.partitions_def.name is not None
    instance.add_dynamic_partitions(history.partitions_def.name, ["live"])
    result = dg.materialize(
        assets,
        selection=[history_key],
        partition_key="live",
        instance=instance,
        resources=dict(defs.resources or {}),
    )
    assert result.success
    stored = next(
        e for e in result.get_asset_materialization_events() if e.asset_key == history_key
    )
    assert stored.materialization.metadata["rows"].value == 5


@pytest.mark.parametrize("run_id", [BOOLS_RUN, *RUNS])
def test_d8_bools_beside_numbers(logged: Logged, sdk_env: Any, run_id: str) -> None:
    """A key logged as False, True, 0.5, 1: every path gives the SDK's values, bools as bools."""
    sdk = [r.get("flag") for r in _sdk_scan(logged, run_id)]
    table = logged.client.run(f"{logged.path}/{run_id}").history_table()
    got = _column(table, "flag")
    assert len(got) == len(sdk) and all(strict_equal(a, b) for a, b in zip(got, sdk, strict=True))
    if run_id in ("live", BOOLS_RUN):
        assert got[:4] == [False, True, 0.5, 1] and isinstance(got[0], bool)


@pytest.mark.parametrize("run_id", RUNS)
def test_d9_scan_history_after_type_changes(logged: Logged, sdk_env: Any, run_id: str) -> None:
    """``scan_history`` yields W&B's values (not JSON text) after a resume changed types."""
    sdk = _sdk_scan(logged, run_id)
    ours = list(logged.client.run(f"{logged.path}/{run_id}").scan_history())
    assert not rows_equal([flat(r) for r in ours], [flat(r) for r in sdk])
    step3 = next(r for r in ours if r["_step"] == 3)
    assert step3["lst"] == "text"
    if run_id != "exported":  # a live row (the local server exports such a part as JSON text)
        assert strict_equal(step3["n"], {"x": 1})


def test_json_text_cells_parse_back(logged: Logged) -> None:
    """Every cell of a JSON-text column is JSON, strings included (quoted)."""
    table = logged.client.run(f"{logged.path}/live").history_table()
    assert pa.types.is_large_string(table.schema.field("lst").type)
    raw = [v for v in table.column("lst").to_pylist() if v is not None]
    assert raw == ["[1,2]", "[3]", '"text"', '"more"']
    assert [json.loads(v) for v in raw] == [[1, 2], [3], "text", "more"]
