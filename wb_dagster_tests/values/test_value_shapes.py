"""Randomized shapes (seeded, bounded): 300 keys of random names and value kinds, about a third
changing kind at some step, logged by the SDK into three runs (see logged_values.py). Every path
must give the SDK's values, value by value, and the documented column kinds:

* live history (``history_table`` of a run never exported), exported history (two parts), a
  run with an exported and a live part, each also read in pages of 2 rows;
* the streamed parquet export (``write_history_parquet``) and the stored history after an
  append equal the full read;
* ``scan_history`` equals the SDK's;
* the incremental run table (stored, read back, merged with fresh rows) equals the full one,
  and its config/summary columns equal the SDK's ``run.config`` / ``run.summary``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from wb_dagster_tests.support.clients import make_client, make_sdk_api

from .logged_values import CASES, RUNS, Logged
from .referee import decoded_rows, flat, kind_problems, rows_equal, sdk_dict, strict_equal


def _sdk_rows(logged: Logged, run_id: str) -> list[dict[str, Any]]:
    run = make_sdk_api(logged.server).run(f"{logged.path}/{run_id}")
    by_step: dict[int, dict[str, Any]] = {}
    for row in run.scan_history():  # 0.31 repeats the page straddling the export boundary
        by_step.setdefault(row["_step"], flat(dict(row)))
    return [by_step[s] for s in sorted(by_step)]


def _cases_only(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in r.items() if k == "_step" or k.startswith("c")} for r in rows]


def test_there_are_a_few_hundred_cases() -> None:
    kinds_change = sum(len({type(v) for v in c.values.values()}) > 1 for c in CASES)
    assert len(CASES) == 300 and kinds_change > 50


@pytest.mark.parametrize("run_id", RUNS)
def test_history_table_is_the_sdks_values(logged: Logged, sdk_env: Any, run_id: str) -> None:
    sdk = _sdk_rows(logged, run_id)
    for page_rows in (10_000, 2):
        client = make_client(logged.server, history_page_rows=page_rows)
        table = client.run(f"{logged.path}/{run_id}").history_table()
        assert not rows_equal(_cases_only(decoded_rows(table)), _cases_only(sdk))
        assert not kind_problems(table, sdk)
        client.close()


@pytest.mark.parametrize("run_id", RUNS)
def test_exports_and_stored_appends_equal_the_full_read(
    logged: Logged, tmp_path: Path, run_id: str
) -> None:
    full = logged.client.run(f"{logged.path}/{run_id}").history_table()
    written = logged.client.run(f"{logged.path}/{run_id}").write_history_parquet(
        tmp_path / "h.parquet"
    )
    streamed = pq.read_table(tmp_path / "h.parquet")
    stored = logged.stored_history(run_id)
    assert written.rows == full.num_rows == stored.num_rows == 5
    for other in (streamed, stored):
        assert _schema(other) == _schema(full)
        assert not rows_equal(decoded_rows(other), decoded_rows(full))


def _schema(table: pa.Table) -> dict[str, pa.DataType]:
    return {f.name: f.type for f in table.schema}


@pytest.mark.parametrize("run_id", RUNS)
def test_scan_history_is_the_sdks(logged: Logged, sdk_env: Any, run_id: str) -> None:
    ours = [flat(r) for r in logged.client.run(f"{logged.path}/{run_id}").scan_history()]
    assert not rows_equal(ours, _sdk_rows(logged, run_id))


def test_live_and_exported_reads_agree_where_the_sdks_do(logged: Logged, sdk_env: Any) -> None:
    """The same logged data gives the same table from every source, for every key the SDK
    itself reads alike from each (the local server exports a key whose kinds mix within one
    part as JSON text, which the SDK then yields as text)."""
    sdk = {run_id: _sdk_rows(logged, run_id) for run_id in RUNS}
    agree = [
        c.key
        for c in CASES
        if all(
            strict_equal([r.get(c.key) for r in sdk["live"]], [r.get(c.key) for r in sdk[o]])
            for o in RUNS
        )
        and not any(isinstance(v, dict) for v in c.values.values())
    ]
    assert len(agree) > 100
    tables = {r: logged.client.run(f"{logged.path}/{r}").history_table() for r in RUNS}
    for run_id in ("mixed", "exported"):
        for key in agree:
            live, other = tables["live"], tables[run_id]
            assert key in live.column_names and key in other.column_names, key
            assert live.schema.field(key).type == other.schema.field(key).type, key
            assert live.column(key).to_pylist() == other.column(key).to_pylist() or strict_equal(
                live.column(key).to_pylist(), other.column(key).to_pylist()
            ), key


def test_incremental_run_table_equals_the_full_one(logged: Logged) -> None:
    merged, full = logged.runs_merged_b, logged.runs_full_b
    assert _schema(merged) == _schema(full)
    by_id = {r["id"]: r for r in decoded_rows(full)}
    for row in decoded_rows(merged):
        want = by_id[row["id"]]
        assert set(row) == set(want)
        assert all(strict_equal(row[k], want[k]) for k in row), row["id"]


def test_run_table_config_and_summary_are_the_sdks(logged: Logged, sdk_env: Any) -> None:
    api = make_sdk_api(logged.server)
    rows = decoded_rows(logged.client.runs(logged.path).to_table())
    assert len(rows) == 4  # the three runs and the bools run
    for row in rows:
        sdk = api.run(f"{logged.path}/{row['id']}")
        config = {k: sdk_dict(v) for k, v in sdk.config.items()}
        summary = {k: sdk_dict(v) for k, v in sdk.summary._json_dict.items()}
        want = {
            **flat(config, "config."),
            **flat({k: v for k, v in summary.items() if not k.startswith("_")}, "summary."),
        }
        got = {k: v for k, v in row.items() if k.startswith(("config.", "summary."))}
        got = {k: v for k, v in got.items() if not k.startswith("summary._")}
        assert set(got) == set(want)
        bad = [k for k in want if not strict_equal(got[k], want[k])]
        assert not bad, [(k, got[k], want[k]) for k in bad[:5]]
