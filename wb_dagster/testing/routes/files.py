"""Route group for bytes: run file downloads, upload PUTs and exported history parquet files.

These URLs need no auth (the SDK treats them like pre-signed storage URLs) and support
``Range`` requests (``206`` + ``Content-Range``), streamed from disk.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

from wb_dagster.testing.routes.responses import json_response
from wb_dagster.testing.server_state import ServerState


def _not_found(what: str) -> Response:
    return json_response({"errors": [{"message": f"{what} not found"}]}, 404)


def file_routes(state: ServerState) -> list[Route]:
    backend = state.backend

    def _run(request: Request) -> dict | None:
        p = request.path_params
        return backend.runs.get_run(p["entity"], p["project"], p["run"])

    async def download(request: Request) -> Response:
        run = _run(request)
        name = request.path_params["name"]
        record = None if run is None else backend.files.get(run["pk"], name)
        if record is None:
            return _not_found(f"file {name!r}")
        return FileResponse(
            backend.files.blob_path(record.pk),
            media_type=record.mimetype,
            headers={"Content-MD5": record.md5},
        )

    async def upload(request: Request) -> Response:
        run = _run(request)
        name = request.path_params["name"]
        if run is None:
            return _not_found("run")
        record = await backend.files.put_stream(run["pk"], name, request.stream())
        backend.runs.touch(run["pk"])
        return json_response({"name": record.name, "md5": record.md5, "size": record.size_bytes})

    async def history_part(request: Request) -> Response:
        run = _run(request)
        part = (
            None
            if run is None
            else backend.history.part_by_file(run["pk"], request.path_params["file"])
        )
        if part is None:
            return _not_found("history export")
        return FileResponse(part.parquet_path, media_type="application/vnd.apache.parquet")

    prefix = "/{entity}/{project}/{run}"
    return [
        Route(f"/files{prefix}/{{name:path}}", download, methods=["GET", "HEAD"]),
        Route(f"/_upload{prefix}/{{name:path}}", upload, methods=["PUT"]),
        Route(f"/_history{prefix}/{{file}}", history_part, methods=["GET", "HEAD"]),
    ]
