"""Dynamic partitions for W&B runs and sweeps, one definition per W&B project.

The partition definition's name is its storage key in the Dagster instance, so it embeds the
entity and project: two projects never share partition keys.

Example:
    >>> runs_partitions_def("wb-demo", "cifar").name
    'wandb_runs__wb_demo__cifar'
"""

from __future__ import annotations

import re

import dagster as dg

_UNSAFE = re.compile(r"[^A-Za-z0-9_]+")


def safe_name(text: str) -> str:
    """``text`` reduced to ``[A-Za-z0-9_]`` (what Dagster accepts in op and definition names)."""
    return _UNSAFE.sub("_", text).strip("_") or "x"


def runs_partitions_def(entity: str, project: str) -> dg.DynamicPartitionsDefinition:
    """One partition per W&B run id of ``entity/project`` (added by the run sensor)."""
    return dg.DynamicPartitionsDefinition(
        name=f"wandb_runs__{safe_name(entity)}__{safe_name(project)}"
    )


def sweeps_partitions_def(entity: str, project: str) -> dg.DynamicPartitionsDefinition:
    """One partition per W&B sweep id of ``entity/project`` (added by the sweep sensor)."""
    return dg.DynamicPartitionsDefinition(
        name=f"wandb_sweeps__{safe_name(entity)}__{safe_name(project)}"
    )
