"""The Starlette application of the local server: route groups plus one ASGI middleware.

The middleware, in order: counts the request (stats), adds ``--latency-ms``, applies fault
rules, then checks auth. Only ``/graphql`` needs auth (HTTP Basic ``api:<key>``); file,
upload, parquet and telemetry URLs behave like pre-signed URLs, and ``/_control`` is for tests
on loopback (from another host it needs the key too). Each route group lives in its own
``routes/`` module, so more (e.g. the logging path's ``file_stream``) can be added beside
them.

Example:
    >>> import tempfile, pathlib
    >>> from starlette.testclient import TestClient
    >>> from wb_dagster.testing.store.backend import Backend
    >>> state = ServerState(Backend.open(pathlib.Path(tempfile.mkdtemp()), api_key="k" * 40))
    >>> client = TestClient(build_app(state))
    >>> client.post("/graphql", json={"query": "{ viewer { id } }"}).status_code
    401
    >>> client.post("/graphql", json={"query": "{ viewer { entity } }"},
    ...             auth=("api", "k" * 40)).json()
    {'data': {'viewer': {'entity': 'local-user'}}}
    >>> state.backend.close()
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hmac
import ipaddress
import json
import socket
import struct
from typing import Any

from starlette.applications import Starlette
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from wb_dagster.testing.graphql.executor import operation_name_of
from wb_dagster.testing.routes.artifacts import artifact_routes
from wb_dagster.testing.routes.control import control_routes
from wb_dagster.testing.routes.file_stream import file_stream_routes
from wb_dagster.testing.routes.files import file_routes
from wb_dagster.testing.routes.graphql import graphql_routes
from wb_dagster.testing.routes.otel import otel_routes
from wb_dagster.testing.server_state import ServerState

_MAX_GRAPHQL_BODY = 64 * 1024 * 1024


def _needs_auth(method: str, path: str) -> bool:
    return path == "/graphql" or (method == "POST" and path.endswith("/file_stream"))


def _loopback_peer(scope: Scope) -> bool:
    client = scope.get("client")
    if not client:
        return False
    try:
        return ipaddress.ip_address(str(client[0]).split("%")[0]).is_loopback
    except ValueError:
        return False


def _authorized(scope: Scope, api_key: str) -> bool:
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            scheme, _, encoded = value.decode("latin-1").partition(" ")
            if scheme.lower() != "basic":
                return False
            try:
                user, _, key = base64.b64decode(encoded).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                return False
            return user == "api" and hmac.compare_digest(key.encode(), api_key.encode())
    return False


async def _send_json(send: Send, status: int, body: bytes, headers: dict[str, str]) -> None:
    raw_headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    raw_headers += [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body})


class ControlMiddleware:
    """Stats, latency, fault rules and auth in front of every route."""

    def __init__(self, app: ASGIApp, state: ServerState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"].startswith("/_control/"):
            # test controls: free on loopback, but a server bound with --allow-remote must not
            # hand its fault rules and seeding to anyone on the network without the key
            if _loopback_peer(scope) or _authorized(scope, self.state.backend.api_key):
                await self.app(scope, receive, send)
            else:
                message = "control endpoints need the API key when called from another host"
                body = json.dumps({"errors": [{"message": message}]}).encode()
                await _send_json(send, 401, body, {})
            return
        method, path = scope["method"], scope["path"]
        operation = None
        if method == "POST" and path == "/graphql":
            body = await _read_body(receive)
            operation = _operation(body)
            receive = _replay(body)
        self.state.stats.record(method, path, operation)
        if self.state.latency_ms:
            await asyncio.sleep(self.state.latency_ms / 1000)
        rule = self.state.faults.take(method, path, operation)
        if rule is not None:
            if rule.delay_ms:
                await asyncio.sleep(rule.delay_ms / 1000)
            if rule.action == "reset":
                await _reset_connection(send)
                return
            if rule.action == "truncate":
                send = _truncating(send, rule.truncate_bytes)
            elif rule.status is not None:
                await _send_json(send, rule.status, rule.response_body(), rule.headers)
                return
        if _needs_auth(method, path) and not _authorized(scope, self.state.backend.api_key):
            message = (
                "invalid or missing API key: send HTTP Basic auth 'api:<key>' with the key "
                "this server printed at start-up"
            )
            await _send_json(send, 401, json.dumps({"errors": [{"message": message}]}).encode(), {})
            return
        await self.app(scope, receive, send)


def _transport(send: Send) -> Any:
    # uvicorn's send is a bound method of its per-request cycle, which holds the connection
    return getattr(getattr(send, "__self__", None), "transport", None)


async def _reset_connection(send: Send) -> None:
    """Drop the client's connection with a TCP RST (SO_LINGER 0), no answer sent."""
    transport = _transport(send)
    if transport is None:
        raise ConnectionAbortedError("injected fault: connection reset")
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()
    await asyncio.sleep(0)  # let uvicorn see the disconnect (no 500 written, no error logged)


def _truncating(send: Send, limit: int | None) -> Send:
    """``send`` that forwards the real answer but cuts the connection after ``limit`` body
    bytes (default: half of ``Content-Length``, else half of the first body chunk)."""
    state: dict[str, Any] = {"limit": limit, "sent": 0, "cut": False}

    async def cut_send(message: Message) -> None:
        if state["cut"]:
            return
        if message["type"] == "http.response.start" and state["limit"] is None:
            for name, value in message.get("headers", []):
                if name.lower() == b"content-length":
                    state["limit"] = int(value) // 2
        if message["type"] != "http.response.body":
            await send(message)
            return
        body = message.get("body", b"")
        if state["limit"] is None:
            state["limit"] = len(body) // 2
        room = state["limit"] - state["sent"]
        if len(body) < room:
            state["sent"] += len(body)
            await send(message)
            return
        await send({"type": "http.response.body", "body": body[:room], "more_body": True})
        state["cut"] = True
        transport = _transport(send)
        if transport is None:
            raise ConnectionAbortedError("injected fault: response truncated")
        transport.abort()
        await asyncio.sleep(0)

    return cut_send


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > _MAX_GRAPHQL_BODY:
            break
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


def _operation(body: bytes) -> str | None:
    try:
        parsed: Any = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    if not isinstance(parsed, dict):
        return None
    name = parsed.get("operationName")
    if name:
        return str(name)
    query = parsed.get("query")
    return (operation_name_of(query) or "") if isinstance(query, str) else None


def build_app(state: ServerState) -> ASGIApp:
    """The ASGI app serving one backend."""
    routes = [
        *graphql_routes(state),
        *file_stream_routes(state),
        *file_routes(state),
        *artifact_routes(state),
        *otel_routes(),
        *control_routes(state),
    ]
    return ControlMiddleware(Starlette(routes=routes), state)
