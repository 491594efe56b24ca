"""Pure value handling: config unwrapping, flattening, histograms, read-modify-write changes."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pyarrow as pa
import pytest
import wandb

from wb_dagster.client import histogram, is_histogram
from wb_dagster.client.changes import diff
from wb_dagster.client.encoding import encode_value
from wb_dagster.client.flatten import concat_tables, flatten_dict, rows_to_table
from wb_dagster.client.history import parse_history_lines, step_windows
from wb_dagster.client.run_listing import run_table
from wb_dagster.client.runs import unwrap_config


def test_config_unwrapping_matches_sdk_rules() -> None:
    stored = {
        "lr": {"value": 0.01, "desc": None},
        "layers": {"value": {"n": 3}},
        "legacy": 5,  # not wrapped: left as is
        "_wandb": {"value": {"cli_version": "0.31.0"}},
        "wandb_version": {"value": 1},
    }
    user, raw = unwrap_config(stored)
    assert user == {"lr": 0.01, "layers": {"n": 3}, "legacy": 5}
    assert raw["_wandb"] == {"cli_version": "0.31.0"}
    assert raw["wandb_version"] == 1
    assert raw["lr"] == 0.01


def test_flatten_dotted_and_typed_values() -> None:
    hist = {"_type": "histogram", "values": [1], "bins": [0.0, 1.0]}
    flat = flatten_dict({"a": {"b": {"c": 1}}, "x.y": 2, "h": hist, "e": {}})
    assert flat == {"a.b.c": 1, "x.y": 2, "h": hist, "e": {}}


def test_rows_to_table_union_nulls_and_fallbacks() -> None:
    hist = {"_type": "histogram", "values": [1, 2], "bins": [0.0, 0.5, 1.0]}
    rows = [
        {"_step": 0, "loss": 1, "nested": {"a": 1.5}, "h": hist, "mixed": 1},
        {"_step": 1, "acc": 0.5, "loss": float("nan"), "mixed": "text"},
        {"_step": 2, "loss": float("inf"), "nested": {"b": "x"}},
    ]
    table = rows_to_table(rows)
    assert table.column_names[0] == "_step"
    assert set(table.column_names) == {"_step", "loss", "acc", "nested.a", "nested.b", "h", "mixed"}
    assert table.column("_step").type == pa.int64()
    loss = table.column("loss").to_pylist()
    assert loss[0] == 1 and math.isnan(loss[1]) and loss[2] == math.inf
    assert table.column("acc").to_pylist() == [None, 0.5, None]
    assert table.column("nested.a").to_pylist() == [1.5, None, None]
    assert json.loads(table.column("h").to_pylist()[0]) == hist
    assert [None if v is None else json.loads(v) for v in table.column("mixed").to_pylist()] == [
        1,
        "text",
        None,
    ]


def test_concat_tables_widens_and_aligns() -> None:
    a = rows_to_table([{"_step": 0, "x": 1}])
    b = rows_to_table([{"_step": 1, "x": 2.5, "y": "s"}])
    out = concat_tables([a, b])
    assert out.column("x").type == pa.float64()
    assert out.to_pylist() == [{"_step": 0, "x": 1.0, "y": None}, {"_step": 1, "x": 2.5, "y": "s"}]


def test_run_table_columns_and_flattening() -> None:
    node = {
        "name": "abc",
        "displayName": "brave-fox",
        "state": "finished",
        "createdAt": "2024-01-01T10:00:00",
        "heartbeatAt": "2024-01-01T11:00:00Z",
        "tags": ["a"],
        "user": {"username": "u"},
        "historyLineCount": 3,
        "historyKeys": {"lastStep": 2},
        "config": json.dumps({"opt": {"value": {"lr": 0.1}}, "_wandb": {"value": {}}}),
        "summaryMetrics": json.dumps({"loss": 0.5, "_wandb": {"runtime": 3}}),
    }
    table = run_table([node, {"name": "def", "config": None, "summaryMetrics": None}])
    assert table.column_names[:13] == [
        "id", "name", "state", "created_at", "heartbeat_at", "tags", "group", "job_type",
        "sweep", "commit", "user", "history_line_count", "last_step",
    ]  # fmt: skip
    row = table.to_pylist()[0]
    assert row["config.opt.lr"] == 0.1
    assert "config._wandb" not in table.column_names
    assert row["summary.loss"] == 0.5 and row["summary._wandb.runtime"] == 3
    assert row["last_step"] == 2 and table.to_pylist()[1]["last_step"] == -1
    assert str(row["created_at"]) == "2024-01-01 10:00:00+00:00"


def test_histogram_matches_wandb_encoding() -> None:
    data = [1, 2, 2, 3, 3, 3]
    expected = wandb.Histogram(data, num_bins=3).to_json()
    assert histogram(data, num_bins=3) == expected
    assert histogram(np.array(data), num_bins=3) == expected
    assert encode_value({"h": wandb.Histogram(data, num_bins=3)}) == {"h": expected}
    assert is_histogram(expected)
    with pytest.raises(ValueError, match="len"):
        histogram(np_histogram=([1, 2], [0.0, 1.0]))


def test_encode_numpy_values() -> None:
    assert encode_value({"a": np.float32(0.5), "b": np.arange(3), "c": (1, 2)}) == {
        "a": 0.5,
        "b": [0, 1, 2],
        "c": [1, 2],
    }
    with pytest.raises(TypeError, match="cannot store"):
        encode_value(object())


def test_change_applies_only_what_was_edited() -> None:
    read = {"lr": 0.1, "bs": 32, "gone": 1}
    edited = {"lr": 0.2, "bs": 32, "new": {"x": 1}}
    change = diff(read, edited)
    assert change.set == {"lr": 0.2, "new": {"x": 1}} and change.removed == ["gone"]
    # a key written by someone else since we read survives
    assert change.apply({"lr": 0.1, "bs": 64, "gone": 1, "other": 7}) == {
        "lr": 0.2,
        "bs": 64,
        "other": 7,
        "new": {"x": 1},
    }
    assert not diff({"x": float("nan")}, {"x": float("nan")})


def test_history_lines_and_windows() -> None:
    lines = ['{"_step": 0, "a": NaN, "b": Infinity}', '{"_step": 1, "c": {"d": -Infinity}}']
    rows = parse_history_lines(lines)
    assert math.isnan(rows[0]["a"]) and rows[0]["b"] == math.inf
    assert rows[1]["c"]["d"] == -math.inf
    windows = step_windows(5, 105, 100, 30)
    assert windows[0][0] == 5 and windows[-1][1] == 105
    assert all(a < b for a, b in windows) and all(
        w1[1] == w2[0] for w1, w2 in itertools.pairwise(windows)
    )
    assert len(windows) == 4
    assert step_windows(3, 3, 10, 10) == []
