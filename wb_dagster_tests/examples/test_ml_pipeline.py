"""The example ML pipeline materializes end to end against the local W&B server.

Expected values come from the demo seed's inputs (``wb_dagster.testing.seeds.demo``) and from
the official ``wandb`` SDK reading back what the pipeline wrote.
"""

from __future__ import annotations

import base64
import io
import json
import re
import struct
import zlib
from pathlib import Path

import dagster as dg
import pandas as pd
import pyarrow.parquet as pq
import pytest

from wb_dagster.testing.seeds.demo import (
    DEMO_RUNS,
    DEMO_RUNS_BY_ID,
    DEMO_SWEEP_ID,
    demo_files,
    demo_history,
    demo_summary,
)
from wb_dagster_tests.examples.pipeline_run import materialize_everything, wandb_and_pipeline_defs
from wb_dagster_tests.inprocess import assets_of
from wb_dagster_tests.support.clients import make_sdk_api

TOP_K = 5  # LearningCurvesConfig default


def _expected_board() -> list[str]:
    finished = [r for r in DEMO_RUNS if r.state == "finished"]
    return [r.run_id for r in sorted(finished, key=lambda r: -demo_summary(r)["val_acc"])]


def _png_size(png: bytes) -> tuple[int, int]:
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    length, kind = struct.unpack(">I4s", png[8:16])
    assert kind == b"IHDR"
    data = png[16 : 16 + length]
    assert struct.unpack(">I", png[16 + length : 20 + length])[0] == zlib.crc32(kind + data)
    width, height = struct.unpack(">II", data[:8])
    return width, height


# matplotlib's default colour cycle (tab10), in plot order
CYCLE = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189)]


def _curve_pixels(png: bytes) -> list[int]:
    """Pixels near each of the first TOP_K cycle colours."""
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    pixels = [image.getpixel((x, y)) for y in range(image.height) for x in range(image.width)]
    near = lambda px, c: sum(abs(a - b) for a, b in zip(px, c, strict=True)) < 40  # noqa: E731
    return [sum(near(px, color) for px in pixels) for color in CYCLE[:TOP_K]]


@pytest.fixture
def pipeline(server, tmp_path):
    (tmp_path / "dagster_home").mkdir()
    with dg.instance_for_test(temp_dir=str(tmp_path / "dagster_home")) as instance:
        defs = wandb_and_pipeline_defs(server, str(tmp_path / "store"))
        yield materialize_everything(defs, instance), tmp_path / "store"


def test_lineage_runs_from_wandb_assets_to_the_findings():
    from ml_pipeline.definitions import build_ml_pipeline_defs

    graph = build_ml_pipeline_defs(entity="team", project="cifar").resolve_asset_graph()
    parents = {
        k.to_user_string(): sorted(p.to_user_string() for p in graph.get(k).parent_keys)
        for k in graph.get_all_asset_keys()
        if k.path[0] == "ml"
    }
    assert parents == {
        "ml/cifar/leaderboard": ["wandb/team/cifar/runs"],
        "ml/cifar/learning_curves": ["ml/cifar/leaderboard", "wandb/team/cifar/run_history"],
        "ml/cifar/promoted_model": ["ml/cifar/leaderboard", "wandb/team/cifar/sweep_best_model"],
        "ml/cifar/wandb_findings": [
            "ml/cifar/leaderboard",
            "ml/cifar/learning_curves",
            "ml/cifar/promoted_model",
        ],
        "ml/cifar/analysis_report": [
            "ml/cifar/leaderboard",
            "ml/cifar/learning_curves",
            "ml/cifar/promoted_model",
        ],
    }


def test_pipeline_end_to_end(pipeline, server, sdk_env):
    run, store = pipeline
    expected = _expected_board()

    # leaderboard: finished runs by final val_acc, stored as parquet with table metadata
    board = pq.read_table(store / "ml" / "cifar" / "leaderboard.parquet").to_pandas()
    assert board["id"].tolist() == expected
    assert board["rank"].tolist() == list(range(1, len(expected) + 1))
    assert board["val_acc"].tolist() == [
        demo_summary(DEMO_RUNS_BY_ID[i])["val_acc"] for i in expected
    ]
    assert board["config.lr"].tolist() == [DEMO_RUNS_BY_ID[i].lr for i in expected]
    meta = run.metadata("ml/cifar/leaderboard")
    assert meta["dagster/row_count"] == len(expected)
    assert "config.optimizer" in [c.name for c in meta["dagster/column_schema"].columns]
    assert meta["best_run"] == expected[0]

    # learning curves: every val_acc row of the top runs' histories, and a PNG plot
    curves = pq.read_table(store / "ml" / "cifar" / "learning_curves.parquet").to_pandas()
    for run_id in expected[:TOP_K]:
        rows = [r for r in demo_history(DEMO_RUNS_BY_ID[run_id]) if "val_acc" in r]
        got = curves[curves["run_id"] == run_id]
        assert got["_step"].tolist() == [r["_step"] for r in rows]
        assert got["value"].tolist() == [r["val_acc"] for r in rows]
    assert sorted(curves["run_id"].unique()) == sorted(expected[:TOP_K])
    meta = run.metadata("ml/cifar/learning_curves")
    match = re.search(r"data:image/png;base64,([A-Za-z0-9+/=]+)", meta["plot"])
    assert match, meta["plot"][:200]
    png = base64.b64decode(match.group(1))
    assert _png_size(png) == (720, 400)
    # each top run drawn as a curve (a legend sample alone has about 50 such pixels)
    assert all(n >= 100 for n in _curve_pixels(png)), _curve_pixels(png)
    assert Path(meta["plot_path"]).read_bytes() == png
    for run_id in expected[:TOP_K]:
        assert f"**{run_id}**" in meta["plot"]  # legend

    # promoted model: the sweep's best run by its metric (val_acc, maximize), bytes as in W&B
    sweep_runs = [r for r in DEMO_RUNS if r.sweep == DEMO_SWEEP_ID and r.state == "finished"]
    best = max(sweep_runs, key=lambda r: demo_summary(r)["val_acc"])
    model_dir = store / "ml" / "cifar" / "promoted_model"
    assert (model_dir / "model-best.h5").read_bytes() == demo_files(best)["model-best.h5"]
    card = json.loads((model_dir / "model_card.json").read_text())
    assert (card["run_id"], card["sweep_id"]) == (best.run_id, DEMO_SWEEP_ID)
    assert card["leaderboard_rank"] == expected.index(best.run_id) + 1

    # write-back, read by the official SDK: summary keys and files on the best run
    api = make_sdk_api(server)
    wb_run = api.run(f"wb-demo/cifar/{expected[0]}")
    assert wb_run.summary["dagster_leaderboard_rank"] == 1
    assert wb_run.summary["dagster_promoted"] is (best.run_id == expected[0])
    assert wb_run.summary["dagster_curves_compared"] == TOP_K
    assert wb_run.summary["val_acc"] == demo_summary(DEMO_RUNS_BY_ID[expected[0]])["val_acc"]
    names = {f.name for f in wb_run.files()}
    assert {"dagster/leaderboard.csv", "dagster/learning_curves.png", "model-best.h5"} <= names
    root = sdk_env.home / "dl"
    wb_run.file("dagster/learning_curves.png").download(root=str(root))
    assert (root / "dagster" / "learning_curves.png").read_bytes() == png
    wb_run.file("dagster/leaderboard.csv").download(root=str(root))
    csv = pd.read_csv(io.StringIO((root / "dagster" / "leaderboard.csv").read_text()))
    assert csv["id"].tolist() == expected

    # analysis run, read by the official SDK: job type, lineage to the ranked runs, plot file
    meta = run.metadata("ml/cifar/analysis_report")
    report = api.run(f"wb-demo/cifar/{meta['wandb/run_id']}")
    assert report.job_type == "analysis" and report.state == "finished"
    assert report.config["lineage"]["wandb_runs"] == [f"wb-demo/cifar/{i}" for i in expected]
    assert report.summary["best_run"] == expected[0]
    assert report.summary["promoted_run"] == best.run_id
    assert {"learning_curves.png", "leaderboard.parquet"} <= {f.name for f in report.files()}


def test_learning_curves_fail_clearly_without_histories(server, tmp_path):
    defs = wandb_and_pipeline_defs(server, str(tmp_path / "store"))
    assets, resources = assets_of(defs), dict(defs.resources or {})
    (tmp_path / "dagster_home").mkdir()
    with dg.instance_for_test(temp_dir=str(tmp_path / "dagster_home")) as instance:
        dg.materialize(
            assets,
            selection='key:"wandb/wb-demo/cifar/runs"',
            instance=instance,
            resources=resources,
        )
        result = dg.materialize(
            assets,
            selection="key:ml/cifar/leaderboard or key:ml/cifar/learning_curves",
            instance=instance,
            resources=resources,
            raise_on_error=False,
        )
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    message = failure.step_failure_data.error.message
    assert "materialize wandb/wb-demo/cifar/run_history first" in message


@pytest.mark.parametrize("module", ["ml_pipeline.charts", "ml_pipeline.assets"])
def test_example_docstrings_run(module):
    import doctest
    import importlib

    outcome = doctest.testmod(importlib.import_module(module))
    assert outcome.attempted > 0 and outcome.failed == 0
