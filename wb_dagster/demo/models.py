"""The demo's model step: the artifact sensor stores every version the training runs logged.

The training runs log their best model with ``wandb.log_model`` as versions of ``mlp-model``;
the artifact sensor of :func:`~wb_dagster.demo.definitions.model_artifact_spec` adds each
version as a partition and stores its files. This waits for all of them and prints where they
are and which run logged each.

Example (the printed lines)::

    [3b] model artifact wb-demo/cifar/mlp-model: 2 versions stored
          v0  model-best.h5  from run wb-demo/cifar/ab12cd34
"""

from __future__ import annotations

from collections.abc import Callable

import dagster as dg

from wb_dagster.client import WandbClient
from wb_dagster.dagster_process import wait_until
from wb_dagster.demo.definitions import model_artifact_spec

WAIT_S = 180.0


def stored_models(
    say: Callable[[str], None],
    client: WandbClient,
    instance: Callable[[], dg.DagsterInstance],
    entity: str,
    project: str,
) -> list[str]:
    """Wait until every logged version of the model artifact is a stored partition."""
    spec = model_artifact_spec(entity, project)
    versions = list(client.artifacts(spec.type, spec.path, files_per_version=10))
    if not versions:
        say(f"[3b] model artifact {spec.path}: no versions logged (skipped)")
        return []
    wanted = {a.version for a in versions}

    def done() -> set[str] | None:
        stored = instance().get_materialized_partitions(spec.key)
        return stored if wanted <= stored else None

    wait_until(f"the stored versions of {spec.path}", done, WAIT_S)
    say(f"[3b] model artifact {spec.path}: {len(wanted)} versions stored")
    for art in sorted(versions, key=lambda a: a.version_index):
        names = ", ".join(f.name for f in art.files())
        say(f"      {art.version}  {names}  from run {art.logged_by_path}")
    return sorted(wanted)
