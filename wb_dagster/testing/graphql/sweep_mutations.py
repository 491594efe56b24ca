"""Sweep mutations: ``upsertSweep`` (``wandb.sweep``), ``createAgent`` and ``agentHeartbeat``
(``wandb.agent``), over the server's own sweep controller (:mod:`~wb_dagster.testing.store.sweeps`).

Example:
    >>> import tempfile, pathlib
    >>> from wb_dagster.testing.store.backend import Backend
    >>> backend = Backend.open(pathlib.Path(tempfile.mkdtemp()), api_key="k" * 40)
    >>> sorted(sweep_mutations(Ctx(backend, "http://h")))
    ['agentHeartbeat', 'createAgent', 'upsertSweep']
    >>> backend.close()
"""

from __future__ import annotations

import json
from typing import Any

from graphql import GraphQLError

from wb_dagster.testing.graphql.context import Ctx
from wb_dagster.testing.graphql.ids import BadIdError, decode_id
from wb_dagster.testing.graphql.nodes import sweep_node
from wb_dagster.testing.store.sweeps import SweepAgents, SweepConfigError, commands_json


def sweep_mutations(ctx: Ctx) -> dict[str, Any]:
    """Resolvers of ``upsertSweep``, ``createAgent`` and ``agentHeartbeat``."""
    backend = ctx.backend
    agents = SweepAgents(backend.runs)

    def upsert_sweep(info: Any, input: dict[str, Any]) -> dict[str, Any]:
        entity = input.get("entityName") or backend.default_entity
        project = input.get("projectName") or "uncategorized"
        name = None
        if input.get("id"):
            try:
                name, project, entity = decode_id(input["id"], "Sweep")[:3]
            except (BadIdError, ValueError) as exc:
                raise GraphQLError(f"{exc}; use the sweep's `id` from a sweep query") from exc
            existing = agents.find_sweep(entity, project, name)
            if existing is None:
                raise GraphQLError(f"sweep {entity}/{project}/{name} not found")
        else:
            existing = None
        config = input.get("config") or (existing or {}).get("config")
        if not config:
            raise GraphQLError("upsertSweep needs `config` (the sweep configuration as YAML)")
        try:
            name = agents.upsert_sweep(
                entity,
                project,
                config,
                name=name,
                display_name=input.get("displayName"),
                description=input.get("description"),
                state=input.get("state") or (existing or {}).get("state"),
            )
        except SweepConfigError as exc:
            raise GraphQLError(str(exc)) from exc
        row = agents.find_sweep(entity, project, name)
        return {
            "sweep": None if row is None else sweep_node(ctx, row),
            "configValidationWarnings": [],
            "inserted": existing is None,
        }

    def create_agent(info: Any, input: dict[str, Any]) -> dict[str, Any]:
        entity = input.get("entityName") or backend.default_entity
        project = input.get("projectName") or "uncategorized"
        try:
            agent = agents.create_agent(entity, project, input["sweep"])
        except LookupError as exc:
            raise GraphQLError(f"{exc}; create it with wandb.sweep() first") from exc
        return {"agent": {"id": agent.id, "name": agent.id}}

    def agent_heartbeat(info: Any, input: dict[str, Any]) -> dict[str, Any]:
        try:
            run_state = json.loads(input.get("runState") or "{}")
        except json.JSONDecodeError as exc:
            raise GraphQLError(f"runState is not valid JSON: {exc}") from exc
        try:
            commands = agents.heartbeat(input["id"], run_state or {})
        except (LookupError, SweepConfigError) as exc:
            raise GraphQLError(str(exc)) from exc
        agent = {"id": input["id"], "name": input["id"]}
        return {"agent": agent, "commands": commands_json(commands)}

    return {
        "upsertSweep": upsert_sweep,
        "createAgent": create_agent,
        "agentHeartbeat": agent_heartbeat,
    }
