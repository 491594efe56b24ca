"""Route group for artifact bytes: file and manifest uploads (PUT) and downloads (GET).

Like W&B's signed storage URLs these need no auth. Files are addressed by their hex MD5
(``/_artifact_files/<hex md5>/<file name>``); an upload whose bytes do not match the MD5 in
its URL is refused with 400. W&B's own storage-layout paths (``/artifacts/<entity>/<hex>``,
``/artifactsV2/<region>/.../<hex>/<name>``), which the SDK falls back to, serve the same bytes.
Downloads support ``Range`` and answer ``ETag`` / ``Content-MD5``.
"""

from __future__ import annotations

import base64

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

from wb_dagster.testing.routes.responses import json_response
from wb_dagster.testing.server_state import ServerState
from wb_dagster.testing.store.artifacts import ArtifactError

_SMALL = 256 * 1024


def _b64(hexed: str) -> str | None:
    try:
        raw = bytes.fromhex(hexed)
    except ValueError:
        return None
    return base64.b64encode(raw).decode() if len(raw) == 16 else None


def _error(message: str, status: int) -> Response:
    return json_response({"errors": [{"message": message}]}, status)


def artifact_routes(state: ServerState) -> list[Route]:
    store = state.backend.artifacts

    def _blob(request: Request, hexed: str) -> Response:
        md5 = _b64(hexed)
        if md5 is None or not store.has_blob(md5):
            return _error(f"artifact file {hexed!r} not found", 404)
        path = store.blob_path(md5)
        headers = {"Content-MD5": md5, "ETag": f'"{hexed}"'}
        if "range" not in request.headers and path.stat().st_size <= _SMALL:
            # one read, no thread hops: small files are most of a many-file artifact's cost
            return Response(
                path.read_bytes(), media_type="application/octet-stream", headers=headers
            )
        return FileResponse(path, media_type="application/octet-stream", headers=headers)

    async def download(request: Request) -> Response:
        return _blob(request, request.path_params["hex"])

    async def download_v1(request: Request) -> Response:
        return _blob(request, request.path_params["hex"])

    async def download_v2(request: Request) -> Response:
        parts = request.path_params["rest"].split("/")
        return _blob(request, parts[-2] if len(parts) >= 2 else "")

    async def upload(request: Request) -> Response:
        md5 = _b64(request.path_params["hex"])
        if md5 is None:
            return _error("the upload URL does not name an MD5 digest", 400)
        try:
            size = await store.put_blob_stream(md5, request.stream())
        except ArtifactError as exc:
            return _error(str(exc), 400)
        return json_response({"md5": md5, "size": size})

    async def manifest_put(request: Request) -> Response:
        pk = int(request.path_params["pk"])
        if store.get(pk) is None:
            return _error(f"artifact {pk} not found", 404)
        try:
            store.put_manifest(pk, await request.body())
        except ArtifactError as exc:
            return _error(str(exc), 400)
        return json_response({"ok": True})

    async def manifest_get(request: Request) -> Response:
        pk = int(request.path_params["pk"])
        path = store.manifest_path(pk)
        if store.get(pk) is None or not path.exists():
            return _error(f"manifest of artifact {pk} not found", 404)
        return FileResponse(path, media_type="application/json")

    return [
        Route("/_artifact_files/{hex}/{name:path}", download, methods=["GET", "HEAD"]),
        Route("/_artifact_upload/{hex}", upload, methods=["PUT"]),
        Route("/_artifact_manifest/{pk:int}", manifest_put, methods=["PUT"]),
        Route("/_artifact_manifest/{pk:int}", manifest_get, methods=["GET", "HEAD"]),
        Route("/artifacts/{entity}/{hex}", download_v1, methods=["GET", "HEAD"]),
        Route("/artifactsV2/{rest:path}", download_v2, methods=["GET", "HEAD"]),
    ]
