"""``run.delete(delete_artifacts=True)`` as the official SDK sends it: the run's logged
versions go with it (aliases and all) and ``api.artifact(...)`` then fails as on W&B; without
the flag they stay. Our client sends the same mutation. (The SDK's ``CommError`` is W&B's own
answer read by its ``_from_name``: no ``artifactCollectionMembership`` for the name.)"""

from __future__ import annotations

from typing import Any

import pytest
import wandb.errors

from wb_dagster.client import NotFoundError, WandbClient
from wb_dagster.testing import LocalWandbServer
from wb_dagster.testing.seeds.demo import DEMO_ENTITY, DEMO_PROJECT

PATH = f"{DEMO_ENTITY}/{DEMO_PROJECT}"


def log_version(server: LocalWandbServer, run_id: str, name: str) -> str:
    """A committed one-file version logged by ``run_id``, aliased ``best``; its full name."""
    backend = server.backend
    run = backend.runs.get_run(DEMO_ENTITY, DEMO_PROJECT, run_id)
    assert run is not None
    project_pk = backend.runs.ensure_project(DEMO_ENTITY, DEMO_PROJECT)
    backend.artifacts.seed_version(
        project_pk, "dataset", name, {"a.txt": name.encode()}, aliases=["best"], run_pk=run["pk"]
    )
    return f"{PATH}/{name}:v0"


def test_the_sdk_deletes_a_run_with_its_artifacts(server: LocalWandbServer, sdk_api: Any) -> None:
    gone = log_version(server, "cifar001", "deleted-with-run")
    kept = log_version(server, "cifar002", "kept-after-run")
    assert sdk_api.artifact(gone).logged_by().id == "cifar001"
    sdk_api.run(f"{PATH}/cifar001").delete(delete_artifacts=True)
    sdk_api.run(f"{PATH}/cifar002").delete()
    for name in (gone, f"{PATH}/deleted-with-run:best", f"{PATH}/deleted-with-run:latest"):
        with pytest.raises(wandb.errors.CommError, match=r"artifact membership .* not found"):
            sdk_api.artifact(name)
    assert sdk_api.artifact(kept).name == "kept-after-run:v0"


def test_our_client_deletes_a_run_with_its_artifacts(
    server: LocalWandbServer, client: WandbClient, sdk_api: Any
) -> None:
    gone = log_version(server, "cifar003", "ours-deleted-with-run")
    client.run(f"{PATH}/cifar003").delete(delete_artifacts=True)
    with pytest.raises(NotFoundError, match="Could not find artifact"):
        client.artifact(gone)
    with pytest.raises(wandb.errors.CommError, match=r"artifact membership .* not found"):
        sdk_api.artifact(gone)
