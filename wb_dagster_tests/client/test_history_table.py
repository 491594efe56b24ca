"""Done-when 3: ``history_table`` equals the official SDK's ``scan_history`` (and the seeded rows)
for exported, live and partly exported runs, with awkward keys and values."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from wb_dagster.testing import LocalWandbServer
from wb_dagster_tests.support.clients import make_client, make_sdk_api
from wb_dagster_tests.support.history_rows import comparable_rows, flat_row, table_rows

HIST = {"_type": "histogram", "values": [1, 4, 2], "bins": [0.0, 0.5, 1.0, 1.5]}


def seeded_rows() -> list[dict[str, Any]]:
    """~120 rows with step gaps, NaN/Inf, nested/dotted/slashed/unicode keys, histograms and
    keys logged at different steps."""
    rows: list[dict[str, Any]] = []
    step = 0
    for i in range(120):
        step += 1 if i % 17 else 7  # gaps
        row: dict[str, Any] = {"_step": step, "_runtime": i * 0.5}
        if i % 10 == 9:
            row["eval/acc"] = i / 100  # only on eval steps
        else:
            row["loss"] = 1.0 / (i + 1)
            row["nested"] = {"a": i, "deep": {"b": f"v{i}"}}
            row["dotted.key"] = i * 2
            row["métrique ✓"] = -i
        if i == 30:
            row["loss"] = math.nan
        if i == 31:
            row["loss"] = math.inf
        if i == 32:
            row["loss"] = -math.inf
        if i % 25 == 0:
            row["hist"] = HIST
        rows.append(row)
    return rows


ROWS = seeded_rows()
RUNS = ("exported", "live", "mixed", "empty", "exported2")


@pytest.fixture(scope="module")
def hist_server() -> Iterator[LocalWandbServer]:
    with LocalWandbServer(seed=None) as srv:
        seed = srv.seed
        seed.viewer("tester", "tester")
        for run_id in RUNS:
            ref = seed.create_run("tester/hist", run_id)
            if run_id == "mixed":
                seed.append_history(ref, ROWS[:50])
                seed.export_history(ref)
                seed.append_history(ref, ROWS[50:])
            elif run_id == "exported2":  # two export parts plus nothing live
                seed.append_history(ref, ROWS[:60])
                seed.export_history(ref)
                seed.append_history(ref, ROWS[60:])
                seed.finish_run(ref)
            elif run_id != "empty":
                seed.append_history(ref, ROWS)
                if run_id == "exported":
                    seed.finish_run(ref)
        yield srv


@pytest.mark.parametrize("run_id", RUNS)
@pytest.mark.parametrize("page_rows", [2000, 7])
def test_history_table_equals_sdk_scan(
    hist_server: LocalWandbServer, sdk_env: Any, run_id: str, page_rows: int
) -> None:
    path = f"tester/hist/{run_id}"
    client = make_client(hist_server, history_page_rows=page_rows, max_concurrency=4)
    table = client.run(path).history_table()
    expected = comparable_rows(make_sdk_api(hist_server).run(path).scan_history())
    assert table_rows(table) == expected
    # and the seed's own inputs: one row per logged step, none missing
    seeded = [] if run_id == "empty" else [flat_row(r) for r in ROWS]
    assert table_rows(table) == seeded
    assert table.column_names[0] == "_step" and table.column("_step").type == pa.int64()
    if run_id != "empty":
        assert {"nested.a", "nested.deep.b", "dotted.key", "eval/acc", "métrique ✓", "hist"} <= set(
            table.column_names
        )
        assert table.column("loss").type == pa.float64()


def test_history_table_keys_and_range(hist_server: LocalWandbServer) -> None:
    run = make_client(hist_server, history_page_rows=11).run("tester/hist/mixed")
    table = run.history_table(keys=["eval/acc", "missing"], min_step=20, max_step=100)
    expected = [
        {"_step": float(r["_step"]), "eval/acc": r["eval/acc"]}
        for r in ROWS
        if "eval/acc" in r and 20 <= r["_step"] < 100
    ]
    assert table.column_names == ["_step", "eval/acc", "missing"]
    assert table_rows(table) == expected


@pytest.mark.parametrize("run_id", ["exported", "live", "mixed", "empty"])
def test_streaming_parquet_and_batches(
    hist_server: LocalWandbServer, tmp_path: Path, run_id: str
) -> None:
    run = make_client(hist_server, history_page_rows=9).run(f"tester/hist/{run_id}")
    full = run.history_table()
    export = run.write_history_parquet(tmp_path / "out" / "h.parquet")
    written = pq.read_table(tmp_path / "out" / "h.parquet")
    assert table_rows(written) == table_rows(full)
    assert export.rows == full.num_rows
    assert export.source == {"exported": "exported", "live": "live", "mixed": "mixed"}.get(
        run_id, "live"
    )
    if full.num_rows:
        assert export.min_step == ROWS[0]["_step"] and export.max_step == ROWS[-1]["_step"]
    batches = list(run.iter_history_batches())
    assert sum(b.num_rows for b in batches) == full.num_rows
    if batches:
        assert len({b.schema for b in batches}) == 1
    # incremental: from a later step only
    later = run.write_history_parquet(tmp_path / "later.parquet", min_step=100)
    expected_later = 0 if run_id == "empty" else sum(1 for r in ROWS if r["_step"] >= 100)
    assert later.rows == expected_later
