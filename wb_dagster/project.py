"""``WandbProjectAssetsSpec``: the resolved asset keys and partitions of one W&B project.

The translator may rename every key, so factories, sensors and checks look keys up here
instead of recomputing them.

Example:
    >>> p = WandbProjectAssetsSpec.build(entity="wb-demo", project="cifar")
    >>> p.key("run_history").to_user_string(), p.runs_partitions.name
    ('wandb/wb-demo/cifar/run_history', 'wandb_runs__wb_demo__cifar')
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import get_args

import dagster as dg

from wb_dagster.names import check_wandb_name, project_name
from wb_dagster.partitions import runs_partitions_def, sweeps_partitions_def
from wb_dagster.translator import AssetKind, DagsterWandbTranslator, WandbAssetProps

ALL_KINDS: tuple[AssetKind, ...] = get_args(AssetKind)


@dataclass(frozen=True)
class WandbProjectAssetsSpec:
    """Specs (from the translator), keys and partition definitions of one W&B project.

    Example:
        >>> p = WandbProjectAssetsSpec.build(entity="wb-demo", project="cifar", key_prefix=["ml"])
        >>> p.key("run_history").to_user_string(), p.runs_partitions.name
        ('ml/wb-demo/cifar/run_history', 'wandb_runs__wb_demo__cifar')
    """

    entity: str
    project: str
    specs: dict[AssetKind, dg.AssetSpec]
    runs_partitions: dg.DynamicPartitionsDefinition
    sweeps_partitions: dg.DynamicPartitionsDefinition

    @classmethod
    def build(
        cls,
        *,
        entity: str,
        project: str,
        translator: DagsterWandbTranslator | None = None,
        key_prefix: Sequence[str] = ("wandb",),
        group_name: str | None = None,
    ) -> WandbProjectAssetsSpec:
        """Ask ``translator`` for every asset spec of ``entity/project``."""
        try:
            check_wandb_name("entity", entity)
            check_wandb_name("project", project)
        except ValueError as exc:
            raise dg.DagsterInvalidDefinitionError(str(exc)) from None
        translator = translator or DagsterWandbTranslator()
        specs = {
            kind: translator.get_asset_spec(
                WandbAssetProps(
                    kind=kind,
                    entity=entity,
                    project=project,
                    key_prefix=tuple(key_prefix),
                    group_name=group_name,
                )
            )
            for kind in ALL_KINDS
        }
        return cls(
            entity=entity,
            project=project,
            specs=specs,
            runs_partitions=runs_partitions_def(entity, project),
            sweeps_partitions=sweeps_partitions_def(entity, project),
        )

    @property
    def path(self) -> str:
        """``entity/project`` as W&B paths spell it."""
        return f"{self.entity}/{self.project}"

    @property
    def name(self) -> str:
        """``entity/project`` as a definition-name fragment (``names.project_name``)."""
        return project_name(self.entity, self.project)

    @property
    def runs_partitions_name(self) -> str:
        """Storage name of the run partitions in the Dagster instance."""
        return str(self.runs_partitions.name)

    def key(self, kind: AssetKind) -> dg.AssetKey:
        """The asset key of ``kind`` after translation."""
        return self.specs[kind].key
