"""The code location ``wb-dagster demo`` runs under ``dagster dev``, configured by environment.

The demo starts ``dagster dev -m wb_dagster.demo.definitions`` with the variables from
:func:`demo_env` (entity, project, server URL, storage root, sensor interval, batch size) and
the API key in :data:`DEMO_KEY_ENV`, which the definitions only name (``dg.EnvVar``): the key
never enters Dagster's snapshots. Both sensors start RUNNING and tick every few seconds.

Example:
    >>> env = demo_env(entity="wb-demo", project="cifar", base_url="http://127.0.0.1:1",
    ...                storage="/tmp/wb")
    >>> env["WB_DAGSTER_DEMO_INTERVAL"], env["WB_DAGSTER_DEMO_BATCH_SIZE"]
    ('5', '4')
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import dagster as dg

from wb_dagster.assets.artifacts import WandbArtifactSpec, build_wandb_artifact_asset
from wb_dagster.defs import build_wandb_defs
from wb_dagster.demo.training import MODEL_ARTIFACT
from wb_dagster.sensors.artifacts import build_wandb_artifact_sensor

DEMO_KEY_ENV = "WB_DAGSTER_DEMO_API_KEY"
ENV_PREFIX = "WB_DAGSTER_DEMO_"
DEFAULT_INTERVAL_S = 5
DEFAULT_BATCH_SIZE = 4  # a few W&B runs per Dagster run: batches show, and runs overlap


def demo_env(
    *,
    entity: str,
    project: str,
    base_url: str,
    storage: str,
    interval_s: int = DEFAULT_INTERVAL_S,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> dict[str, str]:
    """The environment variables :func:`defs` reads (everything but the API key).

    Example:
        >>> demo_env(entity="e", project="p", base_url="u", storage="s")["WB_DAGSTER_DEMO_PROJECT"]
        'p'
    """
    values = {
        "ENTITY": entity,
        "PROJECT": project,
        "BASE_URL": base_url,
        "STORAGE": storage,
        "INTERVAL": str(interval_s),
        "BATCH_SIZE": str(batch_size),
    }
    return {ENV_PREFIX + name: value for name, value in values.items()}


def _setting(env: Mapping[str, str], name: str) -> str:
    value = env.get(ENV_PREFIX + name)
    if not value:
        raise dg.DagsterInvariantViolationError(
            f"wb_dagster.demo.definitions needs {ENV_PREFIX + name} (set by `wb-dagster demo`)"
        )
    return value


def model_artifact_spec(entity: str, project: str) -> WandbArtifactSpec:
    """The collection the demo's training runs log their models to (one partition a version).

    >>> model_artifact_spec("wb-demo", "cifar").key.to_user_string()
    'wandb/wb-demo/cifar/artifacts/mlp-model'
    """
    return WandbArtifactSpec.build(f"{entity}/{project}/{MODEL_ARTIFACT}", type="model")


def demo_defs(env: Mapping[str, str]) -> dg.Definitions:
    """The demo's definitions: every asset, the sensors RUNNING on a short interval.

    Example:
        >>> d = demo_defs(demo_env(entity="wb-demo", project="cifar", base_url="u", storage="s"))
        >>> sorted((s.name, s.minimum_interval_seconds) for s in d.sensors)[2]
        ('wandb_wb_demo__cifar__sweep_sensor', 5)
    """
    interval = int(_setting(env, "INTERVAL"))
    model = model_artifact_spec(_setting(env, "ENTITY"), _setting(env, "PROJECT"))
    models = dg.Definitions(
        assets=[build_wandb_artifact_asset(model)],
        sensors=[
            build_wandb_artifact_sensor(
                model,
                minimum_interval_seconds=interval,
                default_status=dg.DefaultSensorStatus.RUNNING,
            )
        ],
    )
    project = build_wandb_defs(
        entity=_setting(env, "ENTITY"),
        project=_setting(env, "PROJECT"),
        api_key=dg.EnvVar(DEMO_KEY_ENV),
        base_url=_setting(env, "BASE_URL"),
        storage_dir=_setting(env, "STORAGE"),
        sensor_status=dg.DefaultSensorStatus.RUNNING,
        sensor_interval_seconds=interval,
        sweep_sensor_interval_seconds=interval,
        batch_size=int(_setting(env, "BATCH_SIZE")),
    )
    return dg.Definitions.merge(project, models)


@dg.definitions
def defs() -> dg.Definitions:
    """What ``dagster dev -m wb_dagster.demo.definitions`` loads (from ``os.environ``)."""
    return demo_defs(os.environ)
