"""Route group ``/_control/*``: test controls (fault rules, request stats, scale seeding).

* ``POST /_control/faults`` with a JSON list of rules (see :mod:`~wb_dagster.testing.faults`);
  ``GET`` lists them with their remaining counts; ``DELETE`` removes them all.
* ``GET /_control/stats`` -> ``{"requests": N, "by_operation": {...}, "by_route": {...}}``;
  ``DELETE`` resets the counters.
* ``POST /_control/seed`` with a scale spec (see :mod:`~wb_dagster.testing.seeds.scale`).
* ``POST /_control/compat`` with ``{"lacks_sweep_filters": bool, "lacks_sweep_fields": bool,
  "lacks_delete_artifacts": bool}`` makes the server answer like an older W&B server (see
  :mod:`~wb_dagster.testing.server_compat`); ``GET`` reads it, ``DELETE`` restores the default.
* ``GET/POST/DELETE /_control/hostility``: show, change (a JSON object of knobs) or reset the
  W&B-like hostilities (see :mod:`~wb_dagster.testing.hostility`); ``POST/DELETE
  /_control/churn``: add churn rules (a JSON object or list) or remove them.
"""

from __future__ import annotations

import dataclasses
import json

from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from wb_dagster.testing.hostility import ChurnRule, Hostility
from wb_dagster.testing.routes.responses import json_response
from wb_dagster.testing.server_compat import ServerCompat
from wb_dagster.testing.server_state import ServerState


def _bad(message: str) -> Response:
    return json_response({"errors": [{"message": message}]}, 400)


def control_routes(state: ServerState) -> list[Route]:
    async def faults(request: Request) -> Response:
        if request.method == "DELETE":
            state.faults.clear()
            return json_response({"faults": []})
        if request.method == "GET":
            return json_response({"faults": state.faults.active()})
        try:
            rules = json.loads(await request.body())
        except json.JSONDecodeError as exc:
            return _bad(f"body is not JSON: {exc}")
        if isinstance(rules, dict):
            rules = [rules]
        if not isinstance(rules, list):
            return _bad("send a JSON list of fault rules")
        try:
            state.faults.add(rules)
        except ValidationError as exc:
            return _bad(f"invalid fault rule: {exc}")
        return json_response({"faults": state.faults.active()})

    async def stats(request: Request) -> Response:
        if request.method == "DELETE":
            state.stats.reset()
        return json_response(state.stats.snapshot())

    async def seed(request: Request) -> Response:
        from wb_dagster.testing.seeds.scale import ScaleSpec, seed_scale

        try:
            spec = ScaleSpec.model_validate_json(await request.body())
        except ValidationError as exc:
            return _bad(f"invalid seed spec: {exc}")
        result = await run_in_threadpool(seed_scale, state.backend, spec)
        return json_response(result)

    async def compat(request: Request) -> Response:
        if request.method == "DELETE":
            state.backend.compat = ServerCompat()
        elif request.method == "POST":
            try:
                state.backend.compat = ServerCompat(**json.loads(await request.body()))
            except (json.JSONDecodeError, TypeError) as exc:
                fields = ", ".join(f.name for f in dataclasses.fields(ServerCompat))
                return _bad(f"send a JSON object with boolean fields of {fields}: {exc}")
        return json_response(dataclasses.asdict(state.backend.compat))

    store = state.backend.store

    async def hostility(request: Request) -> Response:
        if request.method == "DELETE":
            store.hostility = Hostility()
        elif request.method == "POST":
            try:
                changes = json.loads(await request.body())
                store.hostility = Hostility.model_validate(
                    {**store.hostility.model_dump(), **changes}
                )
            except (ValueError, TypeError) as exc:
                return _bad(f"invalid hostility knobs ({exc}); send e.g. {{'first_cap': 10}}")
        return json_response(store.hostility.model_dump())

    async def churn(request: Request) -> Response:
        if request.method == "DELETE":
            store.churn.clear()
            return json_response({"rules": 0})
        try:
            raw = json.loads(await request.body())
            rules = [ChurnRule.model_validate(r) for r in (raw if isinstance(raw, list) else [raw])]
        except (ValueError, TypeError) as exc:
            return _bad(f"invalid churn rule ({exc}); send e.g. {{'project': 'p', 'create': 1}}")
        store.churn.add(rules)
        return json_response({"rules": len(store.churn.rules)})

    return [
        Route("/_control/hostility", hostility, methods=["GET", "POST", "DELETE"]),
        Route("/_control/churn", churn, methods=["POST", "DELETE"]),
        Route("/_control/faults", faults, methods=["GET", "POST", "DELETE"]),
        Route("/_control/compat", compat, methods=["GET", "POST", "DELETE"]),
        Route("/_control/stats", stats, methods=["GET", "DELETE"]),
        Route("/_control/seed", seed, methods=["POST"]),
    ]
