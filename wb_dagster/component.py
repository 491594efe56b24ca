"""``WandbProjectComponent``: one W&B project as a YAML-configured Dagster component.

The API key is given only as the *name* of an environment variable (``api_key_env``), turned
into ``dg.EnvVar`` inside :meth:`build_defs`, so its value never enters the code-location
snapshot (a ``{{ env.WANDB_API_KEY }}`` template would put the plain value there). An
``api_key:`` attribute, or a key given as ``api_key_env``, is refused with an error that does
not contain it.

Example ``defs.yaml``::

    type: wb_dagster.WandbProjectComponent
    attributes:
      entity: my-team
      project: cifar
      storage_dir: s3://my-bucket/wandb
    requirements:
      env: [WANDB_API_KEY]

Example (Python):
    >>> c = WandbProjectComponent(entity="wb-demo", project="cifar", storage_dir="/tmp/wb")
    >>> c.api_key_env
    'WANDB_API_KEY'
"""

from __future__ import annotations

import functools
import json
import re
from typing import Any

import dagster as dg
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from wb_dagster.defs import DEFAULT_INCLUDE, INCLUDE_CHOICES, build_wandb_defs
from wb_dagster.sensors.batches import DEFAULT_BATCH_SIZE
from wb_dagster.translator import DagsterWandbTranslator, WandbAssetProps

# upper case only: W&B keys have lower-case letters, so a key given here is always refused
_ENV_NAME = re.compile(r"[A-Z_][A-Z0-9_]*")


def _check_api_key_env(name: str) -> str:
    if not _ENV_NAME.fullmatch(name):
        raise ValueError(
            "api_key_env must be the upper-case name of an environment variable that holds the "
            "W&B API key (such as WANDB_API_KEY), not the key itself"
        )
    return name


def _refuse_api_key(data: Any) -> Any:
    if isinstance(data, dict) and "api_key" in data:
        # dropped in place: Dagster re-renders the error with its input (hide_input=False)
        data.pop("api_key")
        raise ValueError(
            "api_key is not an attribute: keep the W&B API key out of defs.yaml; put it in an "
            "environment variable and name that variable with api_key_env (default WANDB_API_KEY)"
        )
    return data


@functools.cache
def _yaml_model(derived: type[BaseModel]) -> type[BaseModel]:
    # Dagster derives the YAML model from the fields only; this subclass adds the check that
    # turns `api_key:` into a clear error without the key in it
    return type(
        derived.__name__,
        (derived,),
        {
            "_refuse_api_key": model_validator(mode="before")(_refuse_api_key),
            "__module__": __name__,
        },
    )


class _ComponentTranslator(DagsterWandbTranslator):
    def __init__(self, component: WandbProjectComponent) -> None:
        self._component = component

    def get_asset_spec(self, props: WandbAssetProps) -> dg.AssetSpec:
        return self._component.get_asset_spec(props)


class WandbScaffoldParams(BaseModel):
    """What ``dg scaffold defs wb_dagster.WandbProjectComponent`` asks for (all optional).

    Example:
        >>> WandbScaffoldParams(entity="my-team").api_key_env
        'WANDB_API_KEY'
    """

    entity: str | None = Field(default=None, description="W&B entity (user or team).")
    project: str | None = Field(default=None, description="W&B project name.")
    api_key_env: str = Field(
        default="WANDB_API_KEY", description="Environment variable holding the API key."
    )


def scaffold_defs_yaml(params: WandbScaffoldParams) -> str:
    """The commented ``defs.yaml`` the ``dg`` scaffolder writes for ``params``.

    Example:
        >>> print(scaffold_defs_yaml(WandbScaffoldParams(entity="t", project="p")).splitlines()[0])
        type: wb_dagster.WandbProjectComponent
    """
    # checked here, not by a validator: dg prints a validator's input, which could be a key
    _check_api_key_env(params.api_key_env)
    return _DEFS_YAML.format(
        entity=json.dumps(params.entity or "my-team"),
        project=json.dumps(params.project or "my-project"),
        api_key_env=params.api_key_env,
    )


_DEFS_YAML = """\
type: wb_dagster.WandbProjectComponent
attributes:
  entity: {entity}  # the W&B user or team that owns the project
  project: {project}
  # the *name* of the environment variable holding the API key, never the key itself
  api_key_env: {api_key_env}
  # base_url: https://my-wandb.example.com   # default: WANDB_BASE_URL, else W&B cloud
  # storage_dir: s3://my-bucket/wandb        # default: the Dagster instance's storage
  # sensor_running: true                     # the run and sweep sensors start STOPPED
  # sensor_interval_seconds: 120
  # batch_size: 100                          # W&B runs stored per Dagster run
  # runs_schedule: "0 3 * * *"               # full run-table refresh; null for none
requirements:
  env: [{api_key_env}]
"""


class WandbProjectScaffolder(dg.Scaffolder[WandbScaffoldParams]):
    """Writes a commented ``defs.yaml`` for ``dg scaffold defs wb_dagster.WandbProjectComponent``.

    Example (shell)::

        dg scaffold defs wb_dagster.WandbProjectComponent wandb_cifar \\
            --entity my-team --project cifar --api-key-env WANDB_API_KEY
    """

    @classmethod
    def get_scaffold_params(cls) -> type[WandbScaffoldParams]:
        return WandbScaffoldParams

    def scaffold(self, request: dg.ScaffoldRequest[WandbScaffoldParams]) -> None:
        if request.scaffold_format != "yaml":
            raise ValueError(
                "WandbProjectComponent scaffolds YAML only: run dg scaffold defs without "
                "--format python, or call build_wandb_defs(...) from Python instead"
            )
        request.target_path.mkdir(parents=True, exist_ok=True)
        (request.target_path / "defs.yaml").write_text(scaffold_defs_yaml(request.params))


class WandbProjectOptions(dg.Model):
    """What every W&B project's definitions are built with (shared by the project and the
    entity component; see ``build_wandb_defs`` for each option).

    Example:
        >>> WandbProjectOptions().include
        ['runs', 'run_history', 'run_system_metrics', 'sweep_best_model']
    """

    api_key_env: str = Field(
        default="WANDB_API_KEY",
        description="Name of the environment variable holding the API key (never the key).",
    )
    base_url: str | None = Field(
        default=None, description="W&B API host; default WANDB_BASE_URL, else W&B cloud."
    )
    storage_dir: str | None = Field(
        default=None,
        description="Storage root (directory or fsspec URL such as s3://bucket/prefix); "
        "default: the Dagster instance's storage directory.",
    )
    storage_options: dict[str, Any] | None = Field(
        default=None, description="fsspec options for the storage root (endpoint_url, ...)."
    )
    key_prefix: list[str] = Field(default_factory=lambda: ["wandb"])
    group_name: str | None = Field(
        default=None, description="Default: wandb_<entity>__<project> (see wb_dagster.names)."
    )
    include: list[str] = Field(
        default_factory=lambda: list(DEFAULT_INCLUDE),
        description=f"Assets to build, from {list(INCLUDE_CHOICES)}.",
    )
    pool: str | None = Field(default="wandb_api", description="Concurrency pool of W&B steps.")
    sensor_enabled: bool = Field(default=True, description="Include the run and sweep sensors.")
    sensor_running: bool = Field(
        default=False, description="Start the sensors RUNNING (default STOPPED: opt in)."
    )
    sensor_interval_seconds: int = 120
    max_runs_per_tick: int = 500
    batch_size: int = Field(
        default=DEFAULT_BATCH_SIZE, ge=1, description="W&B runs stored per Dagster run."
    )
    runs_schedule: str | None = Field(
        default="0 3 * * *", description="Cron of the full run-table refresh; null for none."
    )
    best_model_pattern: str = "model-best.*"
    deleted_runs: bool = Field(
        default=False,
        description="Add the deleted-runs sensor and the stored_runs_exist check.",
    )

    model_config = ConfigDict(hide_input_in_errors=True)

    _valid_api_key_env = field_validator("api_key_env")(_check_api_key_env)

    def project_options(self) -> dict[str, Any]:
        """These options as keyword arguments of another component of this module."""
        return {name: getattr(self, name) for name in WandbProjectOptions.model_fields}


@dg.scaffold_with(WandbProjectScaffolder)
class WandbProjectComponent(dg.Component, WandbProjectOptions, dg.Resolvable):
    """Assets, checks, sensors and schedule of one W&B project (see ``build_wandb_defs``).

    Subclass and override :meth:`get_asset_spec` to customise specs from Python; from YAML use
    the standard ``post_processing`` block (``type: wb_dagster.component.WandbProjectComponent``
    with these fields as ``attributes``).

    Example:
        >>> component = WandbProjectComponent(entity="wb-demo", project="cifar")
        >>> defs = dg.build_defs_for_component(component)
        >>> sorted(k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys())[:2]
        ['wandb/wb-demo/cifar/project', 'wandb/wb-demo/cifar/run_history']
    """

    entity: str = Field(description="W&B entity (user or team) owning the project.")
    project: str = Field(description="W&B project name.")
    resource_key: str = Field(
        default="wandb", description="Resource key of the project's W&B resource."
    )
    io_manager_key: str = Field(
        default="wandb_io_manager", description="Resource key of the project's IO manager."
    )

    @classmethod
    def model(cls) -> type[BaseModel]:
        """The model ``defs.yaml`` attributes are validated with (refuses ``api_key``)."""
        return _yaml_model(super().model())

    def get_asset_spec(self, props: WandbAssetProps) -> dg.AssetSpec:
        """Spec of one asset; override to customise keys, owners, tags..."""
        return DagsterWandbTranslator().get_asset_spec(props)

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        status = (
            dg.DefaultSensorStatus.RUNNING
            if self.sensor_running
            else dg.DefaultSensorStatus.STOPPED
        )
        return build_wandb_defs(
            entity=self.entity,
            project=self.project,
            api_key=dg.EnvVar(self.api_key_env),
            base_url=self.base_url,
            storage_dir=self.storage_dir,
            storage_options=self.storage_options,
            translator=_ComponentTranslator(self),
            key_prefix=self.key_prefix,
            group_name=self.group_name,
            include=self.include,
            pool=self.pool,
            sensor=self.sensor_enabled,
            sweep_sensor=self.sensor_enabled,
            sensor_status=status,
            sensor_interval_seconds=self.sensor_interval_seconds,
            max_runs_per_tick=self.max_runs_per_tick,
            batch_size=self.batch_size,
            runs_schedule=self.runs_schedule,
            best_model_pattern=self.best_model_pattern,
            resource_key=self.resource_key,
            io_manager_key=self.io_manager_key,
            deleted_runs=self.deleted_runs,
        )
