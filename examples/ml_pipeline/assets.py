"""A downstream ML pipeline on top of one W&B project's assets (see ``build_ml_pipeline_assets``).

Lineage (W&B assets come from ``build_wandb_defs``; the rest is this module)::

    wandb/<p>/runs ────────────► ml/<p>/leaderboard ──┬─► ml/<p>/learning_curves ──┐
    wandb/<p>/run_history ─────────────────────────────┘                           │
    wandb/<p>/sweep_best_model ─► ml/<p>/promoted_model ◄── leaderboard             │
                                        │                                          ▼
                                        └─────────────► ml/<p>/wandb_findings ◄────┘
                                                        ml/<p>/analysis_report (W&B analysis run)

The W&B assets are read from their storage (``WandbParquetIOManager.path_for``) and declared
with ``deps``, not as inputs: that way this pipeline also works as its own code location next
to the W&B one (an input would need the upstream definition in the same location), and it reads
only the columns and runs it needs instead of every run's history. Between its own assets it
uses ordinary inputs through the same IO manager.
"""

import base64
import datetime as dt
import json
import math
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd
import pyarrow.parquet as pq
from pydantic import Field
from upath import UPath

from wb_dagster import WandbParquetIOManager, WandbProjectAssetsSpec, WandbResource
from wb_dagster.writeback.analysis_runs import publish_analysis_run

from .charts import MAX_SERIES, Series, learning_curves_png

GROUP = "ml_pipeline"
ANALYSIS_JOB_TYPE = "analysis"
SUMMARY_PREFIX = "dagster_"


class LeaderboardConfig(dg.Config):
    """Run config of ``leaderboard``: which summary metric ranks the runs."""

    metric: str = Field(default="val_acc", description="Summary metric that ranks runs.")
    goal: str = Field(default="maximize", description="'maximize' or 'minimize'.")


class LearningCurvesConfig(dg.Config):
    """Run config of ``learning_curves``."""

    metric: str = Field(default="val_acc", description="History key to plot against _step.")
    top_k: int = Field(default=5, ge=1, le=MAX_SERIES, description="Leaderboard runs to plot.")


class PromoteConfig(dg.Config):
    """Run config of ``promoted_model``."""

    sweep_id: str | None = Field(
        default=None,
        description="Sweep whose best model to promote; default: the sweep whose best model "
        "was materialized last.",
    )


def _read_parquet(path: UPath, columns: Sequence[str] | None = None) -> pd.DataFrame:
    with path.open("rb") as fh:
        return pq.read_table(fh, columns=list(columns) if columns else None).to_pandas()


def _storage(context: Any, key: str) -> WandbParquetIOManager:
    io = getattr(context.resources, key)
    if not isinstance(io, WandbParquetIOManager):
        raise dg.Failure(f"resource {key!r} must be a WandbParquetIOManager, got {type(io)}")
    return io


def _markdown_table(frame: pd.DataFrame, rows: int = 10) -> str:
    head = frame.head(rows)
    cells = [[f"{v:.4f}" if isinstance(v, float) else str(v) for v in r] for r in head.values]
    lines = ["| " + " | ".join(map(str, head.columns)) + " |", "|" + "---|" * len(head.columns)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in cells])


def rank_runs(runs: pd.DataFrame, metric: str, goal: str) -> pd.DataFrame:
    """Finished training runs ranked by ``summary.<metric>`` (rank 1 = best).

    Analysis runs (``job_type == "analysis"``) and runs without the metric are left out.

    >>> runs = pd.DataFrame({"id": ["a", "b", "c"], "name": ["a", "b", "c"],
    ...     "state": ["finished", "finished", "running"], "job_type": ["train"] * 3,
    ...     "sweep": [None, "s", None], "summary.acc": [0.5, 0.9, 0.99]})
    >>> rank_runs(runs, "acc", "maximize")[["rank", "id", "acc"]].values.tolist()
    [[1, 'b', 0.9], [2, 'a', 0.5]]
    """
    if goal not in ("maximize", "minimize"):
        raise dg.Failure(f"leaderboard goal must be 'maximize' or 'minimize', got {goal!r}")
    column = f"summary.{metric}"
    if column not in runs.columns:
        raise dg.Failure(
            f"The run table has no column {column!r}: no run logged {metric!r}. "
            "Set LeaderboardConfig(metric=...) to a logged summary metric."
        )
    keep = (runs["state"] == "finished") & runs[column].notna()
    if "job_type" in runs.columns:
        keep &= runs["job_type"].fillna("") != ANALYSIS_JOB_TYPE
    board = runs.loc[keep].sort_values(column, ascending=goal == "minimize", kind="stable")
    config_cols = [c for c in runs.columns if c.startswith("config.") and "._" not in c]
    board = board[["id", "name", "sweep", column, *config_cols]].rename(columns={column: metric})
    board.insert(0, "rank", range(1, len(board) + 1))
    return board.reset_index(drop=True)


def leaderboard_metric(board: pd.DataFrame) -> str:
    """The ranking metric of a leaderboard (its columns: rank, id, name, sweep, <metric>, ...)."""
    return str(board.columns[4])


def build_ml_pipeline_assets(
    p: WandbProjectAssetsSpec,
    *,
    resource_key: str = "wandb",
    io_manager_key: str = "wandb_io_manager",
    key_prefix: Sequence[str] = ("ml",),
) -> list[dg.AssetsDefinition]:
    """Leaderboard, learning curves, promoted model, W&B write-back and analysis report of ``p``.

    Example:
        >>> p = WandbProjectAssetsSpec.build(entity="wb-demo", project="cifar")
        >>> [a.key.path[-1] for a in build_ml_pipeline_assets(p)][:3]
        ['leaderboard', 'learning_curves', 'promoted_model']
    """
    prefix = [*key_prefix, p.project]
    runs_key, history_key, best_key = (
        p.key("runs"),
        p.key("run_history"),
        p.key("sweep_best_model"),
    )
    common: dict[str, Any] = {
        "key_prefix": prefix,
        "group_name": GROUP,
        "io_manager_key": io_manager_key,
    }

    @dg.asset(
        **common,
        deps=[runs_key],
        required_resource_keys={io_manager_key},
        kinds={"pandas"},
        description=f"Finished runs of {p.path} ranked by a summary metric.",
    )
    def leaderboard(
        context: dg.AssetExecutionContext, config: LeaderboardConfig
    ) -> dg.Output[pd.DataFrame]:
        path = _storage(context, io_manager_key).path_for(runs_key, instance=context.instance)
        if not path.exists():
            raise dg.Failure(
                f"{runs_key.to_user_string()} is not materialized yet ({path} is missing); "
                "materialize it first."
            )
        board = rank_runs(_read_parquet(path), config.metric, config.goal)
        meta: dict[str, Any] = {
            "metric": config.metric,
            "goal": config.goal,
            "preview": dg.MetadataValue.md(_markdown_table(board)),
        }
        if len(board):
            meta["best_run"] = str(board.at[0, "id"])
            meta["best_value"] = dg.MetadataValue.float(float(board[config.metric].iloc[0]))
        return dg.Output(board, metadata=meta)

    @dg.asset(
        **common,
        deps=[history_key],
        required_resource_keys={io_manager_key},
        kinds={"pandas"},
        description="Learning curves of the leaderboard's top runs from their stored "
        "W&B history, plotted (PNG) in the materialization metadata.",
    )
    def learning_curves(
        context: dg.AssetExecutionContext, config: LearningCurvesConfig, leaderboard: pd.DataFrame
    ) -> dg.Output[pd.DataFrame]:
        storage = _storage(context, io_manager_key)
        frames, series, missing = [], [], []
        for run_id in leaderboard["id"].head(config.top_k):
            path = storage.path_for(history_key, str(run_id), instance=context.instance)
            if not path.exists():
                missing.append(str(run_id))
                continue
            history = _read_parquet(path)
            if config.metric not in history.columns:
                missing.append(str(run_id))
                continue
            curve = history[["_step", config.metric]].dropna()
            curve = curve.rename(columns={config.metric: "value"}).assign(run_id=str(run_id))
            frames.append(curve[["run_id", "_step", "value"]])
            series.append(Series(str(run_id), curve["_step"].tolist(), curve["value"].tolist()))
        if missing:
            context.log.warning(
                f"no stored {config.metric!r} history for {missing}: materialize their "
                f"{history_key.to_user_string()} partitions to include them"
            )
        if not series:
            raise dg.Failure(
                f"None of the top {config.top_k} runs has a stored history with "
                f"{config.metric!r}; materialize {history_key.to_user_string()} first."
            )
        curves = pd.concat(frames, ignore_index=True)
        png = learning_curves_png(series, metric=config.metric)
        png_path = storage.path_for(context.asset_key, instance=context.instance, extension=".png")
        png_path.parent.mkdir(parents=True, exist_ok=True)
        png_path.write_bytes(png)
        legend = "\n".join(
            f"- **{s.label}**: final {config.metric} = {s.ys[-1]:.4f}" for s in series
        )
        image = base64.b64encode(png).decode("ascii")
        plot = (
            f"**{config.metric}** by step, top {len(series)} runs\n\n"
            f"![learning curves](data:image/png;base64,{image})\n\n{legend}"
        )
        return dg.Output(
            curves,
            metadata={
                "plot": dg.MetadataValue.md(plot),
                "plot_path": dg.MetadataValue.path(str(png_path)),
                "runs_plotted": dg.MetadataValue.json([s.label for s in series]),
                "metric": config.metric,
            },
        )

    @dg.asset(
        **common,
        deps=[best_key],
        required_resource_keys={io_manager_key},
        kinds={"pandas"},
        description="The best model of a sweep copied to the production folder, with a "
        "model card (source run, metric, md5, leaderboard rank).",
    )
    def promoted_model(
        context: dg.AssetExecutionContext, config: PromoteConfig, leaderboard: pd.DataFrame
    ) -> dg.Output[pd.DataFrame]:
        storage = _storage(context, io_manager_key)
        record = _latest_best_model(context.instance, best_key, config.sweep_id)
        mat = record.asset_materialization
        assert mat is not None and mat.partition is not None
        meta: dict[str, Any] = {k: v.value for k, v in mat.metadata.items()}
        sweep_id, run_id = mat.partition, str(meta["best_run"])
        source = storage.path_for(best_key, sweep_id, instance=context.instance, extension="")
        target = storage.path_for(context.asset_key, instance=context.instance, extension="")
        target.mkdir(parents=True, exist_ok=True)
        files = [str(n) for n in meta.get("files", [])]
        for name in files:
            dest = target.joinpath(*name.split("/"))
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(source.joinpath(*name.split("/")).read_bytes())
        ranks = leaderboard.loc[leaderboard["id"] == run_id, "rank"].tolist()
        card: dict[str, Any] = {
            "sweep_id": sweep_id,
            "run_id": run_id,
            "metric": str(meta.get("metric")),
            "value": float(meta["value"]) if "value" in meta else math.nan,
            "leaderboard_rank": int(ranks[0]) if ranks else -1,
            "files": json.dumps(files),
            "source": str(source),
            "promoted_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        }
        target.joinpath("model_card.json").write_text(json.dumps(card, indent=2))
        context.log.info(f"promoted {files} of run {run_id} (sweep {sweep_id}) to {target}")
        return dg.Output(
            pd.DataFrame([card]),
            metadata={
                "run_id": run_id,
                "sweep_id": sweep_id,
                "leaderboard_rank": card["leaderboard_rank"],
                "model_dir": dg.MetadataValue.path(str(target)),
                "files": dg.MetadataValue.json(files),
            },
        )

    @dg.asset(
        **common,
        required_resource_keys={resource_key, io_manager_key},
        kinds={"wandb"},
        description="Writes the findings back on the best W&B run: summary keys "
        f"({SUMMARY_PREFIX}*) and the leaderboard CSV and learning-curve PNG as run files.",
    )
    def wandb_findings(
        context: dg.AssetExecutionContext,
        leaderboard: pd.DataFrame,
        learning_curves: pd.DataFrame,
        promoted_model: pd.DataFrame,
    ) -> dg.MaterializeResult:
        if leaderboard.empty:
            raise dg.Failure("The leaderboard is empty: there is no best run to annotate.")
        wandb: WandbResource = getattr(context.resources, resource_key)
        client = wandb.get_client()
        best_id = str(leaderboard.at[0, "id"])
        run = client.run(f"{p.path}/{best_id}")
        promoted_run = str(promoted_model.at[0, "run_id"])
        run.summary[f"{SUMMARY_PREFIX}leaderboard_rank"] = 1
        run.summary[f"{SUMMARY_PREFIX}promoted"] = promoted_run == best_id
        run.summary[f"{SUMMARY_PREFIX}curves_compared"] = int(learning_curves["run_id"].nunique())
        run.summary.update()
        storage = _storage(context, io_manager_key)
        png = storage.path_for(
            p_key(prefix, "learning_curves"), instance=context.instance, extension=".png"
        )
        uploaded = []
        with tempfile.TemporaryDirectory(prefix="wb-findings-") as tmp:
            root = Path(tmp)
            (root / "dagster").mkdir()
            (root / "dagster" / "leaderboard.csv").write_text(leaderboard.to_csv(index=False))
            (root / "dagster" / "learning_curves.png").write_bytes(png.read_bytes())
            for name in ("leaderboard.csv", "learning_curves.png"):
                uploaded.append(run.upload_file(str(root / "dagster" / name), root=tmp).name)
        context.log.info(f"annotated {run.url}: summary + {uploaded}")
        return dg.MaterializeResult(
            metadata={
                "wandb/run_url": dg.MetadataValue.url(run.url),
                "wandb/run_id": best_id,
                "uploaded_files": dg.MetadataValue.json(uploaded),
                "summary_keys": dg.MetadataValue.json(
                    sorted(k for k in run.summary if k.startswith(SUMMARY_PREFIX))
                ),
            }
        )

    @dg.asset(
        **common,
        required_resource_keys={resource_key, io_manager_key},
        kinds={"wandb"},
        description="The leaderboard published to W&B as an analysis run (job_type "
        "'analysis'), with lineage to its source runs and the learning-curve plot attached.",
    )
    def analysis_report(
        context: dg.AssetExecutionContext,
        leaderboard: pd.DataFrame,
        learning_curves: pd.DataFrame,
        promoted_model: pd.DataFrame,
    ) -> Iterator[dg.Output[pd.DataFrame]]:
        storage_png = _png_bytes(context, io_manager_key, p_key(prefix, "learning_curves"))
        metric = leaderboard_metric(leaderboard)
        summary = {
            "best_run": str(leaderboard.at[0, "id"]) if len(leaderboard) else None,
            f"best_{metric}": float(leaderboard[metric].iloc[0]) if len(leaderboard) else None,
            "promoted_run": str(promoted_model.at[0, "run_id"]),
            "runs_ranked": len(leaderboard),
            "curves_compared": int(learning_curves["run_id"].nunique()),
        }
        files = {"learning_curves.png": storage_png} if storage_png is not None else None
        yield from publish_analysis_run(
            context,
            getattr(context.resources, resource_key),
            project=p.path,
            result=leaderboard,
            summary=summary,
            source_runs=leaderboard["id"].tolist(),
            files=files,
            tags=["dagster", "leaderboard"],
            table_name="leaderboard",
            output_name="result",
        )

    return [leaderboard, learning_curves, promoted_model, wandb_findings, analysis_report]


def p_key(prefix: Sequence[str], name: str) -> dg.AssetKey:
    """Asset key ``prefix/name`` of one of this pipeline's assets."""
    return dg.AssetKey([*prefix, name])


def _png_bytes(context: Any, io_manager_key: str, key: dg.AssetKey) -> bytes | None:
    io = getattr(context.resources, io_manager_key, None)
    if not isinstance(io, WandbParquetIOManager):
        return None
    path = io.path_for(key, instance=context.instance, extension=".png")
    return path.read_bytes() if path.exists() else None


def _latest_best_model(
    instance: dg.DagsterInstance, key: dg.AssetKey, sweep_id: str | None
) -> dg.EventLogRecord:
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=key, asset_partitions=[sweep_id] if sweep_id else None),
        limit=1,
    ).records
    if not records:
        which = f"partition {sweep_id!r} of " if sweep_id else ""
        raise dg.Failure(
            f"No materialization of {which}{key.to_user_string()} yet: materialize the sweep's "
            "best model first (the sweep sensor launches it when a sweep finishes)."
        )
    return records[0]
