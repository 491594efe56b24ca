"""merge_runs: stored and fresh rows whose column types conflict still merge."""

import pyarrow as pa

from wb_dagster.assets.runs_table import merge_runs


def test_a_list_meeting_a_string_merges_as_json_text_instead_of_failing():
    stored = pa.table({"id": ["a"], "created_at": [1], "config.layers": [[64, 128]]})
    fresh = pa.table({"id": ["b"], "created_at": [2], "config.layers": ["resnet18"]})
    merged = merge_runs(stored, fresh)
    assert merged.column("id").to_pylist() == ["a", "b"]
    # every cell of a JSON-text column is JSON, the string included: json.loads gives it back
    assert merged.column("config.layers").to_pylist() == ["[64,128]", '"resnet18"']


def test_ints_meeting_floats_widen_and_fresh_rows_replace_stored_ones():
    stored = pa.table({"id": ["a", "b"], "created_at": [1, 2], "config.lr": [1, 2]})
    fresh = pa.table({"id": ["b"], "created_at": [2], "config.lr": [0.5]})
    merged = merge_runs(stored, fresh)
    assert merged.column("config.lr").to_pylist() == [1.0, 0.5]
