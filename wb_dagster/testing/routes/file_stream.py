"""Route group ``POST /files/<entity>/<project>/<run>/file_stream`` (a live SDK run's data).

Body format and semantics: :mod:`wb_dagster.testing.store.file_stream`.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from wb_dagster.testing.routes.responses import json_response
from wb_dagster.testing.server_state import ServerState
from wb_dagster.testing.store.file_stream import FileStreamError, FileStreamWriter, parse_body
from wb_dagster.testing.store.history import HistoryError


def file_stream_routes(state: ServerState) -> list[Route]:
    backend = state.backend
    writer = FileStreamWriter(
        backend.runs, backend.history, backend.files, backend.console, backend.stops
    )

    async def file_stream(request: Request) -> Response:
        p = request.path_params
        raw = await request.body()
        try:
            body = parse_body(raw, request.headers.get("content-encoding"))
            reply = await run_in_threadpool(writer.apply, p["entity"], p["project"], p["run"], body)
        except (FileStreamError, HistoryError) as exc:
            return json_response({"error": str(exc)}, 400)
        except LookupError as exc:
            return json_response({"error": str(exc)}, 404)
        return json_response(reply)

    return [
        Route("/files/{entity}/{project}/{run}/file_stream", file_stream, methods=["POST"]),
    ]
