"""Dynamic partitions for W&B runs and sweeps, one definition per W&B project.

The partition definition's name is its storage key in the Dagster instance, so it embeds the
entity and project (see :func:`wb_dagster.names.project_name`): two projects never share
partition keys.

Example:
    >>> runs_partitions_def("wb-demo", "cifar").name
    'wandb_runs__wb_demo__cifar'
"""

from __future__ import annotations

import dagster as dg

from wb_dagster.names import project_name


def runs_partitions_def(entity: str, project: str) -> dg.DynamicPartitionsDefinition:
    """One partition per W&B run id of ``entity/project`` (added by the run sensor)."""
    return dg.DynamicPartitionsDefinition(name=f"wandb_runs__{project_name(entity, project)}")


def sweeps_partitions_def(entity: str, project: str) -> dg.DynamicPartitionsDefinition:
    """One partition per W&B sweep id of ``entity/project`` (added by the sweep sensor)."""
    return dg.DynamicPartitionsDefinition(name=f"wandb_sweeps__{project_name(entity, project)}")
