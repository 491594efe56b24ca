"""``DagsterWandbTranslator``: how W&B objects become Dagster asset specs.

Override :meth:`DagsterWandbTranslator.get_asset_spec` to change keys, groups, owners, tags or
descriptions; the asset factories and sensors use whatever keys it returns.

Example:
    >>> import dagster as dg
    >>> class MyTranslator(DagsterWandbTranslator):
    ...     def get_asset_spec(self, props):
    ...         spec = super().get_asset_spec(props)
    ...         return spec.replace_attributes(key=dg.AssetKey(["ml", *spec.key.path[1:]]))
    >>> props = WandbAssetProps(kind="runs", entity="team", project="cifar")
    >>> MyTranslator().get_asset_spec(props).key.path
    ['ml', 'team', 'cifar', 'runs']
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import dagster as dg

from wb_dagster.names import key_part, project_name

AssetKind = Literal[
    "project",
    "runs",
    "run_history",
    "run_system_metrics",
    "run_console_logs",
    "run_tables",
    "sweep_best_model",
]

_DESCRIPTIONS: dict[str, str] = {
    "project": "The W&B project {entity}/{project} (external: logged to by training code).",
    "runs": "One row per run of {entity}/{project}: id, name, state, timestamps, tags, group, "
    "job type, sweep, commit, user, flattened config.* and summary.*.",
    "run_history": "Full, unsampled metric history of one run of {entity}/{project} "
    "(one row per step; partition = run id).",
    "run_system_metrics": "System metrics (CPU, GPU, memory...) of one run of "
    "{entity}/{project} (partition = run id).",
    "run_console_logs": "Captured console output (stdout/stderr lines) of one run of "
    "{entity}/{project} (partition = run id).",
    "run_tables": "Every wandb.Table logged by one run of {entity}/{project}, one parquet file "
    "per key with its steps (partition = run id).",
    "sweep_best_model": "Model file(s) of the best finished run of one sweep of "
    "{entity}/{project} (partition = sweep id), md5-verified.",
}


@dataclass(frozen=True)
class WandbAssetProps:
    """What the translator knows about one asset: its kind and W&B project.

    Example:
        >>> WandbAssetProps(kind="runs", entity="wb-demo", project="cifar").default_key
        AssetKey(['wandb', 'wb-demo', 'cifar', 'runs'])
        >>> WandbAssetProps(kind="runs", entity="team", project="my runs").default_key
        AssetKey(['wandb', 'team', 'my.20runs', 'runs'])
    """

    kind: AssetKind
    entity: str
    project: str
    key_prefix: tuple[str, ...] = field(default=("wandb",))
    group_name: str | None = None

    @property
    def default_key(self) -> dg.AssetKey:
        """``[*key_prefix, <entity>, <project>, <kind>]``, e.g. ``wandb/wb-demo/cifar/runs``.

        Entity and project are written by :func:`wb_dagster.names.key_part` (the names
        themselves unless Dagster refuses a character in them).
        """
        return dg.AssetKey(
            [*self.key_prefix, key_part(self.entity), key_part(self.project), self.kind]
        )


class DagsterWandbTranslator:
    """Maps :class:`WandbAssetProps` to ``dg.AssetSpec``; subclass to customise.

    Example:
        >>> DagsterWandbTranslator().get_asset_spec(
        ...     WandbAssetProps(kind="run_history", entity="t", project="p")).key.to_user_string()
        'wandb/t/p/run_history'
    """

    def get_asset_spec(self, props: WandbAssetProps) -> dg.AssetSpec:
        """The spec of one asset; deps, partitions and IO are set by the factories."""
        kinds = {"wandb"} if props.kind == "project" else {"wandb", "parquet"}
        return dg.AssetSpec(
            key=props.default_key,
            description=_DESCRIPTIONS[props.kind].format(
                entity=props.entity, project=props.project
            ),
            group_name=props.group_name or f"wandb_{project_name(props.entity, props.project)}",
            kinds=kinds,
            metadata={"wandb/entity": props.entity, "wandb/project": props.project},
        )
