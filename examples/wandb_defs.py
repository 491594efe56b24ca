"""Example code location for ``workspace.yaml``: one W&B project as Dagster assets.

* Real W&B: set ``WANDB_API_KEY``, ``WANDB_ENTITY`` and ``WANDB_PROJECT`` (and ``WANDB_BASE_URL``
  for a dedicated instance).
* Otherwise the local W&B-compatible server with the demo seed is used:
  ``wb-dagster server --seed demo --port 8765 --api-key <40+ chars>`` in another terminal, and
  ``WANDB_API_KEY=<the same key>`` for Dagster (or ``WANDB_BASE_URL`` for another address).

Storage: ``WB_DAGSTER_STORAGE`` (a directory or ``s3://...``), default ``./wb_dagster_storage``.
Loading makes no network call, so ``dagster definitions validate -w workspace.yaml`` works
offline.
"""

from __future__ import annotations

import os

import dagster as dg

from wb_dagster.defs import build_wandb_defs

LOCAL_SERVER_URL = "http://127.0.0.1:8765"


@dg.definitions
def defs() -> dg.Definitions:
    entity, project = os.environ.get("WANDB_ENTITY"), os.environ.get("WANDB_PROJECT")
    real = bool(os.environ.get("WANDB_API_KEY") and entity and project)
    return build_wandb_defs(
        entity=entity if real and entity else "wb-demo",
        project=project if real and project else "cifar",
        api_key=dg.EnvVar("WANDB_API_KEY"),
        base_url=os.environ.get("WANDB_BASE_URL") or (None if real else LOCAL_SERVER_URL),
        storage_dir=os.environ.get("WB_DAGSTER_STORAGE", "wb_dagster_storage"),
    )
