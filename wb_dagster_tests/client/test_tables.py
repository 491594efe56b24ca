"""Logged ``wandb.Table`` values read back as Arrow tables (``Run.table`` and friends).

The official SDK logs the Tables (``wandb.log`` at three steps, one set on the summary, one
from a DataFrame) against the local server; the expected rows are the test's own inputs, and
the referee is what an SDK user does by hand: download the run file the history value points
at with ``wandb.Api`` and read its JSON.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from wb_dagster.client import NotFoundError, WandbClient
from wb_dagster.client.tables import table_from_json
from wb_dagster.testing import LocalWandbServer
from wb_dagster_tests.support.clients import make_sdk_api
from wb_dagster_tests.support.sdk_process import run_sdk

COLUMNS = ["id", "label", "score", "ok", "tags", "maybe"]


def preds(step: int) -> list[list[Any]]:
    return [
        [i, f"class {i}", i * 0.5 + step, i % 2 == 0, [i, step], None if i == 1 else i * 1.5]
        for i in range(4)
    ]


SCRIPT = textwrap.dedent(
    """
    import json, sys
    import pandas as pd
    import wandb

    spec = json.loads(sys.argv[1])
    run = wandb.init(project="tables", entity=spec["entity"], name="tables-run")
    for step, data in enumerate(spec["preds"]):
        table = wandb.Table(columns=spec["columns"], data=data)
        wandb.log({"preds": table, "loss": 1 / (step + 1)})
    wandb.log({"frame": wandb.Table(dataframe=pd.DataFrame({"a": [1, 2], "b": ["x", "y"]}))})
    mixed = [["a", 1], ["b", True]]  # W&B refuses mixed columns unless asked to allow them
    run.summary["final"] = wandb.Table(columns=["k", "mixed"], data=mixed, allow_mixed_types=True)
    print(run.id)
    run.finish()
    """
)


@pytest.fixture(scope="module")
def logged(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalWandbServer, str]]:
    with LocalWandbServer(seed=None) as srv:
        home = tmp_path_factory.mktemp("tables")
        (home / "log_tables.py").write_text(SCRIPT)
        spec = {"entity": srv.entity, "columns": COLUMNS, "preds": [preds(s) for s in range(3)]}
        proc = run_sdk(srv, home, [str(home / "log_tables.py"), json.dumps(spec)])
        assert proc.returncode == 0, proc.stderr
        yield srv, f"{srv.entity}/tables/{proc.stdout.split()[-1]}"


def _client(srv: LocalWandbServer) -> WandbClient:
    return WandbClient(base_url=srv.base_url, api_key=srv.api_key)


def test_every_logged_table_key_is_found(logged: tuple[LocalWandbServer, str]) -> None:
    srv, path = logged
    assert _client(srv).run(path).table_keys() == ["final", "frame", "preds"]


def test_a_table_per_step_equals_what_was_logged_and_the_sdk_file(
    logged: tuple[LocalWandbServer, str], tmp_path: Path, sdk_env: Any
) -> None:
    srv, path = logged
    run = _client(srv).run(path)
    sdk_run = make_sdk_api(srv).run(path)
    # (the SDK 0.31 also yields step 3, which logged only "frame", with preds None)
    sdk_rows = sdk_run.scan_history(keys=["preds"])
    sdk_values = {r["_step"]: r["preds"] for r in sdk_rows if r["preds"] is not None}
    assert sorted(sdk_values) == [0, 1, 2]
    for step in range(3):
        table = run.table("preds", step=step)
        assert table.column_names == COLUMNS
        assert table.to_pylist() == [dict(zip(COLUMNS, row, strict=True)) for row in preds(step)]
        # the referee: the SDK user's manual path, the history value's file read as JSON
        with sdk_run.file(sdk_values[step]["path"]).download(root=str(tmp_path), replace=True):
            pass
        doc = json.loads((tmp_path / sdk_values[step]["path"]).read_text())
        assert table.to_pylist() == [dict(zip(doc["columns"], r, strict=True)) for r in doc["data"]]
    types = dict(zip(table.column_names, table.schema.types, strict=True))
    assert types == {
        "id": pa.int64(),
        "label": pa.string(),
        "score": pa.float64(),
        "ok": pa.bool_(),
        "tags": pa.list_(pa.int64()),
        "maybe": pa.float64(),
    }


def test_the_default_table_is_the_last_logged_and_history_concatenates_steps(
    logged: tuple[LocalWandbServer, str],
) -> None:
    srv, path = logged
    run = _client(srv).run(path)
    assert run.table("preds").to_pylist() == run.table("preds", step=2).to_pylist()
    every = run.table_history("preds")
    assert every.column_names == ["_step", *COLUMNS]
    assert every.column("_step").to_pylist() == [s for s in range(3) for _ in range(4)]
    assert every.drop_columns(["_step"]).to_pylist() == [
        dict(zip(COLUMNS, row, strict=True)) for s in range(3) for row in preds(s)
    ]
    frame = run.table("frame").to_pandas()
    assert frame.to_dict("list") == {"a": [1, 2], "b": ["x", "y"]}


def test_a_summary_only_table_and_a_mixed_column(logged: tuple[LocalWandbServer, str]) -> None:
    srv, path = logged
    run = _client(srv).run(path)
    final = run.table("final")
    assert final.column("k").to_pylist() == ["a", "b"]
    # a bool beside a number: neither value is turned into the other (the merge rule: text)
    assert pa.types.is_large_string(final.schema.field("mixed").type)
    assert final.column("mixed").to_pylist() == ["1", "true"]  # JSON text: json.loads gives 1, True
    assert run.table_history("final").column("_step").to_pylist() == [None, None]


def test_bad_keys_and_files_get_clear_errors(logged: tuple[LocalWandbServer, str]) -> None:
    srv, path = logged
    run = _client(srv).run(path)
    with pytest.raises(NotFoundError, match=r"logged no wandb.Table under 'loss'.*'preds'\]"):
        run.table("loss")
    with pytest.raises(NotFoundError, match="under 'preds' at 7"):
        run.table("preds", step=7)
    with pytest.raises(ValueError, match="every row of 'data' must be a list of 2 cells"):
        table_from_json('{"columns": ["a", "b"], "data": [[1]]}')
