"""The Dagster UI, in headless Chromium, shows the W&B assets, their lineage into the example
pipeline, a materialization's metadata (row count, column schema, the learning-curve plot) and
the sensors. Screenshots are saved as artifacts (see ``conftest.py``).

Expected values come from the demo seed's inputs and from the asset graph as designed.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from wb_dagster.testing.seeds.demo import DEMO_RUNS, demo_summary
from wb_dagster_tests.support.polling import poll
from wb_dagster_tests.ui.dagster_dev import DagsterUI

WANDB_ASSETS = ["project", "runs", "run_history", "run_system_metrics", "sweep_best_model"]
PIPELINE_ASSETS = [
    "leaderboard",
    "learning_curves",
    "promoted_model",
    "wandb_findings",
    "analysis_report",
]
# child -> parents, as the pipeline is designed (examples/ml_pipeline/assets.py)
EDGES = {
    "wandb/wb-demo/cifar/runs": {"wandb/wb-demo/cifar/project"},
    "ml/cifar/leaderboard": {"wandb/wb-demo/cifar/runs"},
    "ml/cifar/learning_curves": {"ml/cifar/leaderboard", "wandb/wb-demo/cifar/run_history"},
    "ml/cifar/promoted_model": {"ml/cifar/leaderboard", "wandb/wb-demo/cifar/sweep_best_model"},
    "ml/cifar/wandb_findings": {
        "ml/cifar/leaderboard",
        "ml/cifar/learning_curves",
        "ml/cifar/promoted_model",
    },
    "ml/cifar/analysis_report": {
        "ml/cifar/leaderboard",
        "ml/cifar/learning_curves",
        "ml/cifar/promoted_model",
    },
}
SENSORS = ["wandb_wb_demo__cifar__run_sensor", "wandb_wb_demo__cifar__sweep_sensor"]
ASSET_PATH = re.compile(r"^[\w.-]+( / [\w.-]+)+$")
LOAD_TIMEOUT_S = 60.0


def _text(page: Any) -> str:
    return str(page.inner_text("body"))


def _wait_for_lines(page: Any, what: str, ok: Any) -> list[str]:
    """Poll the page's text until ``ok(lines)``; return the lines."""

    def check() -> list[str] | None:
        lines = [line.strip() for line in _text(page).splitlines() if line.strip()]
        return lines if ok(lines) else None

    return poll(what, check, LOAD_TIMEOUT_S)


def _listed_after(lines: list[str], heading: str) -> set[str]:
    """Asset paths listed right under ``heading`` ("a / b / c" -> "a/b/c")."""
    if heading not in lines:
        return set()
    found = set()
    for line in lines[lines.index(heading) + 1 :]:
        if not ASSET_PATH.match(line):
            break
        found.add(line.replace(" / ", "/"))
    return found


def _shot(page: Any, artifacts_dir: Path, name: str) -> Path:
    path = artifacts_dir / f"{name}.png"
    page.screenshot(path=str(path), full_page=False)
    assert path.stat().st_size > 10_000, f"{path} looks empty"
    return path


def test_lineage_graph_shows_wandb_assets_feeding_the_pipeline(
    dagster_ui: DagsterUI, page: Any, artifacts_dir: Path
):
    page.goto(
        f"{dagster_ui.url}/assets/ml/cifar/wandb_findings"
        "?view=lineage&lineageScope=upstream&lineageDepth=5"
    )
    shown = ["project", "runs", "run_history", "sweep_best_model", *PIPELINE_ASSETS[:4]]
    _wait_for_lines(
        page,
        "the upstream lineage graph of wandb_findings",
        lambda lines: all(
            name in lines for name in [*shown, "wandb_wb_demo__cifar", "ml_pipeline"]
        ),
    )
    # the graph draws one SVG path per edge; the upstream graph has at least these 9 edges
    poll(
        "the lineage edges to be drawn",
        lambda: page.locator("svg path[d^='M']").count() >= 9,
        LOAD_TIMEOUT_S,
    )
    # every materialized asset turns green once its status has loaded (project is external)
    poll(
        "the 7 materialized assets of the graph to show as materialized (green)",
        lambda: page.locator("[style*='--color-accent-green']").count() >= 7,
        LOAD_TIMEOUT_S,
    )
    _shot(page, artifacts_dir, "lineage_graph")


def test_catalog_lists_every_wandb_and_pipeline_asset(
    dagster_ui: DagsterUI, page: Any, artifacts_dir: Path
):
    page.goto(f"{dagster_ui.url}/assets")
    keys = [f"wandb/wb-demo/cifar/{a}" for a in WANDB_ASSETS] + [
        f"ml/cifar/{a}" for a in PIPELINE_ASSETS
    ]
    lines = _wait_for_lines(
        page,
        "every asset in the catalog",
        lambda lines: (
            all(k.replace("/", " / ") in lines for k in keys)
            and "Loading..." not in lines
            and lines.count("Materialized") >= 6
        ),
    )
    assert {"wandb", "ml_pipeline", "wandb_wb_demo__cifar"} <= set(lines)  # locations and group
    # one run_history / run_system_metrics partition per run that ended (the sensor's work)
    ended = sum(r.state != "running" for r in DEMO_RUNS)
    assert lines.count(f"{ended} partitions") == 2
    _shot(page, artifacts_dir, "catalog")


@pytest.mark.parametrize("child", sorted(EDGES))
def test_asset_page_lists_its_lineage_edges(dagster_ui: DagsterUI, page: Any, child: str):
    page.goto(f"{dagster_ui.url}/assets/{child}")
    lines = _wait_for_lines(
        page,
        f"the upstream assets of {child}",
        lambda lines: _listed_after(lines, "Upstream assets") >= EDGES[child],
    )
    assert _listed_after(lines, "Upstream assets") == EDGES[child]
    downstream = {c for c, parents in EDGES.items() if child in parents}
    if downstream:
        assert _listed_after(lines, "Downstream assets") >= downstream


def test_runs_materialization_shows_row_count_and_column_schema(
    dagster_ui: DagsterUI, page: Any, artifacts_dir: Path
):
    page.goto(f"{dagster_ui.url}/assets/wandb/wb-demo/cifar/runs")
    expected_rows = str(len(DEMO_RUNS))
    lines = _wait_for_lines(
        page,
        "the row count and columns of wandb/wb-demo/cifar/runs",
        lambda lines: (
            "Row count" in lines
            and lines[lines.index("Row count") + 1] == expected_rows
            and "summary.val_acc" in lines
        ),
    )
    for column in ("id", "state", "created_at", "config.lr", "config.optimizer", "summary.loss"):
        assert column in lines
    assert "Sensors" in lines  # the automation panel names the run sensor
    _shot(page, artifacts_dir, "runs_metadata")


def test_learning_curve_plot_is_rendered_from_metadata(
    dagster_ui: DagsterUI, page: Any, artifacts_dir: Path
):
    page.goto(f"{dagster_ui.url}/assets/ml/cifar/learning_curves")
    page.locator("tr", has=page.get_by_text("plot", exact=True)).get_by_text(
        "[Show Markdown]"
    ).click()
    image = page.locator("img[src^='data:image/png;base64,']")
    image.wait_for()
    poll("the plot image to decode", lambda: image.evaluate("e => e.complete"), LOAD_TIMEOUT_S)
    # the browser decoded our PNG at its real size (a broken PNG has naturalWidth 0)
    assert image.evaluate("e => [e.naturalWidth, e.naturalHeight]") == [720, 400]
    finished = [r for r in DEMO_RUNS if r.state == "finished"]
    top5 = sorted(finished, key=lambda r: -demo_summary(r)["val_acc"])[:5]
    dialog = _text(page)
    for run in top5:
        assert f"{run.run_id}: final val_acc = " in dialog, run.run_id
    _shot(page, artifacts_dir, "learning_curves_plot")


def test_automation_page_shows_the_sensors(dagster_ui: DagsterUI, page: Any, artifacts_dir: Path):
    page.goto(f"{dagster_ui.url}/automation")
    lines = _wait_for_lines(
        page, "the W&B sensors on the automation page", lambda lines: set(SENSORS) <= set(lines)
    )
    assert "wandb_wb_demo__cifar__runs_schedule" in lines
    _shot(page, artifacts_dir, "sensors")
