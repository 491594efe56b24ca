"""The ``Mutation`` root: every mutation resolver, gathered from the modules that own them.

The mutation modules import the read resolvers (to answer with a ``Run`` or ``Sweep``); this
table sits above them all, so nothing below needs to know the root. Artifact mutations are
installed on the schema itself (:mod:`~wb_dagster.testing.graphql.artifact_resolvers`).

Example:
    >>> import tempfile, pathlib
    >>> from wb_dagster.testing.store.backend import Backend
    >>> backend = Backend.open(pathlib.Path(tempfile.mkdtemp()), api_key="k" * 40)
    >>> sorted(mutation_root(Ctx(backend, "http://h")))[:3]
    ['agentHeartbeat', 'createAgent', 'createRunFiles']
    >>> backend.close()
"""

from __future__ import annotations

from typing import Any

from wb_dagster.testing.graphql.context import Ctx
from wb_dagster.testing.graphql.run_control_mutations import run_control_mutations
from wb_dagster.testing.graphql.run_mutations import run_mutations
from wb_dagster.testing.graphql.sweep_mutations import sweep_mutations


def mutation_root(ctx: Ctx) -> dict[str, Any]:
    """The root object of a mutation, for one request."""
    return {
        **sweep_mutations(ctx),
        **run_control_mutations(ctx),
        **run_mutations(ctx),
    }
