"""Sweeps created by the SDK and the agents that run them (``wandb.sweep`` + ``wandb.agent``).

The SDK's agent asks the server what to run: ``createAgent`` registers it, then it polls
``agentHeartbeat(runState)`` and gets back a JSON list of commands, e.g.
``[{"type": "run", "run_id": "ab12cd34", "args": {"lr": {"value": 0.1}}}]``. The run it then
starts with ``wandb.init()`` carries the sweep id, so it becomes one of the sweep's runs.

This server is its own sweep controller for ``grid`` (every combination, last parameter
fastest, then ``exit``) and ``random`` (and ``bayes``, treated as random: seeded draws from
``values`` / ``value`` / ``min``+``max`` / ``distribution``). One command per heartbeat, only
when the agent reports no queued or running run.

Example:
    >>> points = list(grid_points({"parameters": {"a": {"values": [1, 2]}, "b": {"value": 0}}}))
    >>> points
    [{'a': 1, 'b': 0}, {'a': 2, 'b': 0}]
"""

from __future__ import annotations

import itertools
import json
import math
import random
import secrets
import string
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import yaml

from wb_dagster.testing.store.runs import RunStore

_ID_ALPHABET = string.ascii_lowercase + string.digits


class SweepConfigError(ValueError):
    """A sweep configuration this server cannot run."""


def new_id(length: int = 8) -> str:
    """A random id like W&B's run and sweep ids (lower-case letters and digits)."""
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(length))


def parse_sweep_config(text: str) -> dict[str, Any]:
    """Parse the YAML (or JSON) sweep config the SDK sends."""
    try:
        config = yaml.safe_load(text or "")
    except yaml.YAMLError as exc:
        raise SweepConfigError(f"sweep config is not valid YAML: {exc}") from exc
    if not isinstance(config, dict):
        raise SweepConfigError("sweep config must be a mapping with 'method' and 'parameters'")
    return config


def _grid_values(name: str, spec: Any) -> list[Any]:
    if isinstance(spec, dict) and "values" in spec:
        return list(spec["values"])
    if isinstance(spec, dict) and "value" in spec:
        return [spec["value"]]
    raise SweepConfigError(
        f"grid sweep parameter {name!r} needs 'values' or 'value' (got {spec!r})"
    )


def grid_points(config: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every combination of a grid sweep's parameters, last parameter varying fastest."""
    params = config.get("parameters") or {}
    names = list(params)
    choices = [_grid_values(n, params[n]) for n in names]
    for values in itertools.product(*choices):
        yield dict(zip(names, values, strict=True))


def grid_size(config: dict[str, Any]) -> int:
    """Number of runs of a grid sweep.

    >>> grid_size({"parameters": {"a": {"values": [1, 2]}, "b": {"values": [3, 4, 5]}}})
    6
    """
    return math.prod(len(_grid_values(n, s)) for n, s in (config.get("parameters") or {}).items())


def random_point(config: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """One random draw from a sweep's parameter specs."""
    point = {}
    for name, spec in (config.get("parameters") or {}).items():
        if not isinstance(spec, dict):
            raise SweepConfigError(f"sweep parameter {name!r} must be a mapping, got {spec!r}")
        if "values" in spec:
            point[name] = rng.choice(list(spec["values"]))
        elif "value" in spec:
            point[name] = spec["value"]
        elif "min" in spec and "max" in spec:
            lo, hi = spec["min"], spec["max"]
            dist = spec.get("distribution", "")
            if dist.startswith("log_uniform"):
                # log_uniform_values: bounds are values; log_uniform: bounds are exponents
                a, b = (math.log(lo), math.log(hi)) if dist == "log_uniform_values" else (lo, hi)
                point[name] = math.exp(rng.uniform(a, b))
            elif isinstance(lo, int) and isinstance(hi, int) and dist in ("", "int_uniform"):
                point[name] = rng.randint(lo, hi)
            else:
                point[name] = rng.uniform(lo, hi)
        else:
            raise SweepConfigError(
                f"sweep parameter {name!r} needs 'values', 'value' or 'min'/'max' (got {spec!r})"
            )
    return point


@dataclass(frozen=True)
class Agent:
    """A registered agent: which sweep it works for."""

    id: str
    entity: str
    project: str
    sweep: str


class SweepAgents:
    """Sweep creation, agent registration and the commands handed to agents.

    Agents and each sweep's count of handed-out runs live in the store's settings table, so a
    fresh instance per request sees them (and a restarted server continues a sweep).
    """

    def __init__(self, runs: RunStore) -> None:
        self.runs = runs

    def upsert_sweep(
        self,
        entity: str,
        project: str,
        config_text: str,
        *,
        name: str | None = None,
        display_name: str | None = None,
        description: str | None = None,
        state: str | None = None,
    ) -> str:
        """Create (or update) a sweep from its YAML config; returns the sweep id."""
        config = parse_sweep_config(config_text)
        method = str(config.get("method") or "random")
        expected = grid_size(config) if method == "grid" else config.get("run_cap")
        sweep_name = name or new_id()
        self.runs.upsert_sweep(
            entity,
            project,
            sweep_name,
            {
                "display_name": display_name or config.get("name"),
                "method": method,
                "state": (state or "RUNNING").upper(),
                "description": description or config.get("description"),
                "config": config_text,
                "run_count_expected": expected,
            },
        )
        return sweep_name

    def create_agent(self, entity: str, project: str, sweep: str) -> Agent:
        """Register an agent for an existing sweep (``LookupError`` if there is none)."""
        if self.find_sweep(entity, project, sweep) is None:
            raise LookupError(f"sweep {entity}/{project}/{sweep} does not exist")
        agent = Agent(new_id(), entity, project, sweep)
        record = {"entity": entity, "project": project, "sweep": sweep}
        self.runs.store.set_setting(f"agent:{agent.id}", json.dumps(record))
        return agent

    def find_sweep(self, entity: str, project: str, sweep: str) -> dict[str, Any] | None:
        project_row = self.runs.get_project(entity, project)
        return None if project_row is None else self.runs.get_sweep(int(project_row["pk"]), sweep)

    def heartbeat(self, agent_id: str, run_state: dict[str, Any]) -> list[dict[str, Any]]:
        """The commands for an agent that reports ``run_state`` (its queued/running runs)."""
        record = self.runs.store.get_setting(f"agent:{agent_id}")
        if record is None:
            raise LookupError(f"agent {agent_id!r} is not registered; call createAgent first")
        agent = Agent(agent_id, **json.loads(record))
        if run_state:
            return []  # one run at a time per agent
        sweep = self.find_sweep(agent.entity, agent.project, agent.sweep)
        if sweep is None:
            raise LookupError(f"sweep {agent.entity}/{agent.project}/{agent.sweep} was deleted")
        if sweep["state"] not in ("RUNNING", "PENDING"):
            return [{"type": "exit"}]
        config = parse_sweep_config(sweep["config"])
        counter = f"sweep_issued:{sweep['project_pk']}:{agent.sweep}"
        with self.runs.store.write():  # read-modify-write of the counter, atomically
            issued = int(self.runs.store.get_setting(counter) or 0)
            point = self._point(config, agent.sweep, issued)
            if point is not None:
                self.runs.store.set_setting(counter, str(issued + 1))
        if point is None:
            finish_sweep_if_done(self.runs, int(sweep["project_pk"]), agent.sweep)
            return [{"type": "exit"}]
        return [
            {
                "type": "run",
                "run_id": new_id(),
                "args": {k: {"value": v} for k, v in point.items()},
                "program": config.get("program"),
            }
        ]

    @staticmethod
    def _point(config: dict[str, Any], sweep: str, issued: int) -> dict[str, Any] | None:
        if config.get("method") == "grid":
            points = list(grid_points(config))
            return points[issued] if issued < len(points) else None
        cap = config.get("run_cap")
        if cap and issued >= int(cap):
            return None
        # seeded by sweep and draw number: reproducible, independent of server restarts
        return random_point(config, random.Random(f"{sweep}:{issued}"))


def commands_json(commands: list[dict[str, Any]]) -> str:
    """``agentHeartbeat.commands`` is a JSON string."""
    return json.dumps(commands)


def finish_sweep_if_done(runs: RunStore, project_pk: int, sweep_name: str) -> bool:
    """Mark a grid sweep ``FINISHED`` once every point was handed out and no run is running.

    Called when one of its runs ends; returns whether the sweep was finished now.
    """
    sweep = runs.get_sweep(project_pk, sweep_name)
    if sweep is None or sweep["state"] != "RUNNING" or sweep["method"] != "grid":
        return False
    issued = int(runs.store.get_setting(f"sweep_issued:{project_pk}:{sweep_name}") or 0)
    if issued < grid_size(parse_sweep_config(sweep["config"])):
        return False
    active = (
        runs.store.conn()
        .execute(
            "SELECT 1 FROM runs WHERE project_pk = ? AND sweep_name = ? "
            "AND state IN ('running', 'pending', 'preempting') LIMIT 1",
            (project_pk, sweep_name),
        )
        .fetchone()
    )
    if active:
        return False
    _set_sweep_state(runs, sweep, "FINISHED")
    return True


def _set_sweep_state(runs: RunStore, sweep: dict[str, Any], state: str) -> None:
    kept = ("display_name", "method", "description", "config", "created_at", "run_count_expected")
    fields = {k: sweep[k] for k in kept} | {"state": state}
    runs.upsert_sweep(sweep["entity"], sweep["project"], sweep["name"], fields)
