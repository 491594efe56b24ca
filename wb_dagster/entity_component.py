"""``WandbEntityComponent``: every project of a W&B entity, discovered, as one component.

A state-backed component (Dagster's ``StateBackedComponent``): the entity's project list is
fetched only when the state is refreshed (``dg utils refresh-defs-state``, or at ``dagster
dev`` start when ``defs_state.refresh_if_dev`` is true), written to the component's state, and
the definitions are built from that stored list, so loading them makes no network call. Each
project whose name matches one of ``projects`` and none of ``exclude_projects`` (``fnmatch``
globs, case-sensitive) gets the assets, checks, sensors and schedule of
:class:`~wb_dagster.component.WandbProjectComponent` under ``wandb/<project>/...``, with the
same options, and its own resource keys (``wandb__<project>``, ``wandb_io_manager__<project>``)
so projects never share a resource definition.

Example ``defs.yaml``::

    type: wb_dagster.WandbEntityComponent
    attributes:
      entity: my-team
      projects: ["cifar*", "imagenet"]
      exclude_projects: ["*-scratch"]
      storage_dir: s3://my-bucket/wandb
    requirements:
      env: [WANDB_API_KEY]

Example (Python, from a stored project list):
    >>> c = WandbEntityComponent(entity="team", projects=["c*"], exclude_projects=["*tmp"])
    >>> c.selected(["cifar", "ctmp", "mnist"])
    ['cifar']
    >>> c.resource_keys("cifar-10")
    ('wandb__team__cifar_10', 'wandb_io_manager__team__cifar_10')
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import json
import logging
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import dagster as dg
from dagster.components import DefsStateConfig, DefsStateConfigArgs, ResolvedDefsStateConfig
from pydantic import BaseModel, Field

from wb_dagster.client import WandbClient
from wb_dagster.component import WandbProjectComponent, WandbProjectOptions, _yaml_model
from wb_dagster.names import project_name

log = logging.getLogger(__name__)
STATE_VERSION = 1


def _default_state() -> DefsStateConfigArgs:
    # never refresh on load unless asked: loading the definitions must not call W&B
    return DefsStateConfigArgs(
        management_type=DefsStateConfigArgs.local_filesystem().management_type,
        refresh_if_dev=False,
    )


def read_state(state_path: Path) -> list[str]:
    """The project names a refresh stored (``ValueError`` naming the file if unreadable)."""
    try:
        doc = json.loads(state_path.read_text())
        return [str(p["name"]) for p in doc["projects"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(
            f"W&B project list {state_path} is unreadable ({exc}); run "
            "`dg utils refresh-defs-state` to fetch it again."
        ) from exc


class WandbEntityComponent(dg.StateBackedComponent, WandbProjectOptions, dg.Resolvable):
    """Every (selected) project of one W&B entity; options as ``WandbProjectComponent``'s."""

    entity: str = Field(description="W&B entity (user or team) whose projects are built.")
    projects: list[str] = Field(
        default_factory=lambda: ["*"],
        description="Glob patterns of the project names to build (default: all).",
    )
    exclude_projects: list[str] = Field(
        default_factory=list, description="Glob patterns of project names to leave out."
    )
    defs_state: ResolvedDefsStateConfig = Field(
        default_factory=_default_state,
        description="Where the discovered project list is stored (refresh it with "
        "`dg utils refresh-defs-state`).",
    )

    @classmethod
    def model(cls) -> type[BaseModel]:
        """The model ``defs.yaml`` attributes are validated with (refuses ``api_key``)."""
        return _yaml_model(super().model())

    @property
    def defs_state_config(self) -> DefsStateConfig:
        return DefsStateConfig.from_args(
            self.defs_state, default_key=f"WandbEntityComponent[{self.entity}]"
        )

    def selected(self, names: Iterable[str]) -> list[str]:
        """The names matching ``projects`` and no ``exclude_projects`` pattern, sorted."""
        return sorted(
            n
            for n in set(names)
            if any(fnmatch.fnmatchcase(n, p) for p in self.projects)
            and not any(fnmatch.fnmatchcase(n, p) for p in self.exclude_projects)
        )

    def resource_keys(self, project: str) -> tuple[str, str]:
        """(W&B resource key, IO manager key) of one project's definitions."""
        name = project_name(self.entity, project)
        return f"wandb__{name}", f"wandb_io_manager__{name}"

    def write_state_to_path(self, state_path: Path) -> None:
        key = os.environ.get(self.api_key_env)
        if not key:
            raise dg.DagsterInvariantViolationError(
                f"Listing the projects of W&B entity {self.entity!r} needs the API key in the "
                f"environment variable {self.api_key_env}, which is not set."
            )
        with WandbClient(api_key=key, base_url=self.base_url, entity=self.entity) as client:
            found = [
                {"name": p.name, "created_at": p.created_at} for p in client.projects(self.entity)
            ]
        state_path.parent.mkdir(parents=True, exist_ok=True)
        state_path.write_text(
            json.dumps(
                {
                    "version": STATE_VERSION,
                    "entity": self.entity,
                    "refreshed_at": dt.datetime.now(dt.UTC).isoformat(),
                    "projects": found,
                },
                indent=1,
            )
        )

    def build_defs_from_state(
        self, context: dg.ComponentLoadContext, state_path: Path | None
    ) -> dg.Definitions:
        if state_path is None or not state_path.exists():
            log.warning(
                "No stored project list for W&B entity %r yet: run `dg utils "
                "refresh-defs-state` to discover its projects.",
                self.entity,
            )
            return dg.Definitions()
        names = self.selected(read_state(state_path))
        options: dict[str, Any] = self.project_options()
        built = []
        for name in names:
            resource_key, io_manager_key = self.resource_keys(name)
            project = WandbProjectComponent(
                entity=self.entity,
                project=name,
                resource_key=resource_key,
                io_manager_key=io_manager_key,
                **options,
            )
            built.append(project.build_defs(context))
        return dg.Definitions.merge(*built) if built else dg.Definitions()
