"""The asset jobs the sensors and the schedule launch, one per asset family of a project.

Each runs its one step inside the run worker (``in_process_executor``): a W&B step already
works on many runs at once on threads, so the default multiprocess executor would only add a
second Python process per Dagster run. Because the executor belongs to these jobs, the
definitions can be merged with a user's own (and their executor) without conflict.

Example:
    >>> from wb_dagster.project import WandbProjectAssetsSpec
    >>> jobs = WandbJobs.build(WandbProjectAssetsSpec.build(entity="t", project="p"))
    >>> jobs.run_assets.name, jobs.runs.name, jobs.sweeps.name
    ('wandb_t__p__run_assets_job', 'wandb_t__p__runs_job', 'wandb_t__p__sweep_best_model_job')
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import dagster as dg

from wb_dagster.project import WandbProjectAssetsSpec
from wb_dagster.translator import AssetKind


@dataclass(frozen=True)
class WandbJobs:
    """The jobs of one project: per-run assets, the run table, the sweeps' best models."""

    run_assets: dg.UnresolvedAssetJobDefinition
    runs: dg.UnresolvedAssetJobDefinition
    sweeps: dg.UnresolvedAssetJobDefinition

    @classmethod
    def build(
        cls,
        p: WandbProjectAssetsSpec,
        run_kinds: Sequence[AssetKind] = ("run_history", "run_system_metrics"),
    ) -> WandbJobs:
        """Jobs over ``p``'s asset keys, named after the project; ``run_kinds``: the per-run
        assets the definitions hold (the run sensor's job materializes them all)."""

        def job(name: str, *kinds: AssetKind) -> dg.UnresolvedAssetJobDefinition:
            return dg.define_asset_job(
                name=f"wandb_{p.name}__{name}_job",
                selection=[p.key(kind) for kind in kinds],
                executor_def=dg.in_process_executor,
                description=f"W&B {name.replace('_', ' ')} of {p.path}.",
            )

        return cls(
            run_assets=job("run_assets", *run_kinds),
            runs=job("runs", "runs"),
            sweeps=job("sweep_best_model", "sweep_best_model"),
        )
