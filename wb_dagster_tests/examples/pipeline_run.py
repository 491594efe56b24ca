"""Materialize the W&B assets and the example pipeline end to end, as the sensors would.

Shared by the end-to-end test and the browser test (which needs a Dagster instance holding
real materializations to show).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import dagster as dg

from wb_dagster.defs import build_wandb_defs
from wb_dagster.testing import LocalWandbServer
from wb_dagster_tests.inprocess import assets_of, evaluate_sensor, launch_requests

ML_SELECTION = "key:ml/*"


@dataclass
class PipelineRun:
    """The definitions used and every in-process run that was executed, in order."""

    defs: dg.Definitions
    results: list[dg.ExecuteInProcessResult]

    def metadata(self, key: str) -> dict[str, Any]:
        """Metadata values of the latest materialization of ``key`` (``a/b/c``)."""
        asset_key = dg.AssetKey.from_user_string(key)
        for result in reversed(self.results):
            for event in reversed(result.get_asset_materialization_events()):
                mat = event.materialization
                if event.asset_key == asset_key and mat is not None:
                    return {k: v.value for k, v in mat.metadata.items()}
        raise KeyError(f"{key} was not materialized")


def wandb_and_pipeline_defs(
    srv: LocalWandbServer, storage_dir: str, project: str = "cifar"
) -> dg.Definitions:
    from ml_pipeline.definitions import build_ml_pipeline_defs

    entity = srv.entity
    # the key goes through an environment variable named for this server, as in production
    key_env = f"WB_DAGSTER_TEST_KEY_{urlsplit(srv.base_url).port}"
    os.environ[key_env] = srv.api_key
    wandb_defs = build_wandb_defs(
        entity=entity,
        project=project,
        api_key=dg.EnvVar(key_env),
        base_url=srv.base_url,
        storage_dir=storage_dir,
        retry_policy=None,
    )
    return build_ml_pipeline_defs(entity=entity, project=project, wandb_defs=wandb_defs)


def materialize_everything(
    defs: dg.Definitions, instance: dg.DagsterInstance, *, pipeline: bool = True
) -> PipelineRun:
    """``runs``; run-sensor tick + its runs; sweep-sensor tick + its runs; then ``ml/*``."""
    resources = dict(defs.resources or {})
    assets = assets_of(defs)
    graph = defs.resolve_asset_graph()
    runs_key = next(k for k in graph.get_all_asset_keys() if k.path[-1] == "runs")
    results = [dg.materialize(assets, selection=[runs_key], instance=instance, resources=resources)]
    for suffix in ("__run_sensor", "__sweep_sensor"):
        name = next(s.name for s in defs.sensors or [] if s.name.endswith(suffix))
        tick = evaluate_sensor(defs, name, instance, None)
        results += launch_requests(defs, name, tick, instance).results
    if pipeline:
        results.append(
            dg.materialize(
                assets,
                selection=ML_SELECTION,
                instance=instance,
                resources=resources,
                raise_on_error=False,
            )
        )
    failed = [r.run_id for r in results if not r.success]
    if failed:
        raise AssertionError(f"runs failed: {failed}")
    return PipelineRun(defs, results)
