"""Route group ``POST /sdk/otel/v1/*``: wandb-core's telemetry proxy, accepted and ignored."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


async def _ignore(request: Request) -> Response:
    await request.body()
    return Response(b"{}", 200, media_type="application/json")


def otel_routes() -> list[Route]:
    return [Route("/sdk/otel/v1/{rest:path}", _ignore, methods=["POST"])]
