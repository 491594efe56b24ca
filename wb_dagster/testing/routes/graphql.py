"""Route group ``POST /graphql``."""

from __future__ import annotations

import json

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from wb_dagster.testing.graphql.executor import execute_request
from wb_dagster.testing.routes.responses import json_response
from wb_dagster.testing.server_state import ServerState


def graphql_routes(state: ServerState) -> list[Route]:
    async def graphql(request: Request) -> Response:
        raw = await request.body()
        try:
            body = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError):
            return json_response(
                {
                    "errors": [
                        {
                            "message": "request body is not JSON; send "
                            '{"query": "...", "variables": {...}}'
                        }
                    ]
                },
                400,
            )
        base_url = str(request.base_url).rstrip("/")
        status, reply = await run_in_threadpool(execute_request, state.backend, base_url, body)
        return json_response(reply, status)

    return [Route("/graphql", graphql, methods=["POST"])]
