"""``LocalWandbServer``: the local W&B-compatible server, in a background thread.

Example:
    >>> import requests
    >>> with LocalWandbServer(seed="demo") as srv:
    ...     reply = requests.post(f"{srv.base_url}/graphql", auth=("api", srv.api_key),
    ...                           json={"query": "{ viewer { entity } }"})
    ...     (srv.entity, reply.json()["data"]["viewer"]["entity"])
    ('wb-demo', 'wb-demo')
"""

from __future__ import annotations

import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import uvicorn

from wb_dagster.testing.app import build_app
from wb_dagster.testing.hostility import ChurnRule, Hostility
from wb_dagster.testing.seeds.builder import SeedBuilder
from wb_dagster.testing.server_compat import ServerCompat
from wb_dagster.testing.server_state import ServerState
from wb_dagster.testing.store.backend import Backend
from wb_dagster.testing.store.run_lifecycle import CrashWatchdog, set_heartbeat_timeout

_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` keeps the server on this machine."""
    return host in _LOOPBACK or host.startswith("127.")


def apply_seed(backend: Backend, seed: str | None) -> None:
    """Apply a named seed (``"demo"`` or ``None``/``"none"``); a no-op if already applied."""
    if seed in (None, "none"):
        return
    if seed != "demo":
        raise ValueError(f"unknown seed {seed!r}; use 'demo' or 'none'")
    if backend.store.get_setting("seeded:demo"):
        return
    from wb_dagster.testing.seeds.demo import build_demo

    build_demo(SeedBuilder(backend))
    backend.store.set_setting("seeded:demo", "1")


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket (``port=0`` picks a free port)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(256)
    sock.set_inheritable(True)
    return sock


def make_uvicorn(state: ServerState) -> uvicorn.Server:
    config = uvicorn.Config(
        build_app(state),
        log_level="warning",
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=3,
        timeout_keep_alive=30,
    )
    return uvicorn.Server(config)


class LocalWandbServer:
    """A W&B-compatible server on loopback for tests and demos (a context manager).

    Args:
        seed: ``"demo"`` (see :mod:`wb_dagster.testing.seeds.demo`) or ``None``.
        data_dir: where the SQLite file, file blobs and history parts live; a temporary
            directory (deleted on stop) when omitted. Reusing a directory keeps its data.
        api_key: the key clients must send (Basic ``api:<key>``); random when omitted.
        latency_ms: delay added to every response.
        host, port: bind address (``port=0`` picks a free port).
        heartbeat_timeout_s: when given, a crash watchdog makes a ``running`` run that stays
            silent this long ``crashed`` (as W&B does for killed processes). Default ``None``:
            no watchdog, so seeded running runs (the demo's ``cifar009``) stay running.

    Attributes: ``base_url``, ``api_key``, ``entity`` (the viewer's default entity), ``seed``
    (a :class:`~wb_dagster.testing.seeds.builder.SeedBuilder`), ``backend``.

    Example:
        >>> with LocalWandbServer(seed="demo", latency_ms=5) as srv:
        ...     srv.add_faults([{"match": "Run", "status": 500, "count": 1}])
        ...     srv.base_url.startswith("http://127.0.0.1:"), srv.projects, srv.stats()["requests"]
        (True, ['wb-demo/cifar'], 0)
    """

    def __init__(
        self,
        seed: str | None = "demo",
        data_dir: str | Path | None = None,
        api_key: str | None = None,
        latency_ms: int = 0,
        host: str = "127.0.0.1",
        port: int = 0,
        heartbeat_timeout_s: float | None = None,
    ) -> None:
        self._seed_name = seed
        self._data_dir = Path(data_dir) if data_dir is not None else None
        self._api_key = api_key
        self._latency_ms = latency_ms
        self._host = host
        self._port = port
        self._heartbeat_timeout_s = heartbeat_timeout_s
        self._watchdog: CrashWatchdog | None = None
        self._tmp: str | None = None
        self._thread: threading.Thread | None = None
        self._uvicorn: uvicorn.Server | None = None
        self.state: ServerState | None = None
        self.base_url = ""

    # ------------------------------------------------------------ lifecycle
    def start(self) -> LocalWandbServer:
        if self._thread is not None:
            raise RuntimeError("server already started")
        if self._data_dir is None:
            self._tmp = tempfile.mkdtemp(prefix="wb-dagster-server-")
            data_dir = Path(self._tmp)
        else:
            data_dir = self._data_dir
        backend = Backend.open(data_dir, self._api_key)
        apply_seed(backend, self._seed_name)
        if self._heartbeat_timeout_s is not None:
            # opt-in: seeded "running" runs (e.g. the demo's) never heartbeat and must stay running
            set_heartbeat_timeout(backend.runs, self._heartbeat_timeout_s)
            self._watchdog = CrashWatchdog(backend.runs, backend.history)
            self._watchdog.start()
        self.state = ServerState(backend, latency_ms=self._latency_ms)
        sock = bind_socket(self._host, self._port)
        host, port = sock.getsockname()[:2]
        self.base_url = f"http://{host if ':' not in host else f'[{host}]'}:{port}"
        self._uvicorn = make_uvicorn(self.state)
        self._thread = threading.Thread(
            target=self._uvicorn.run,
            kwargs={"sockets": [sock]},
            daemon=True,
            name=f"wb-dagster-server-{port}",
        )
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._uvicorn.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the local W&B server did not start within 30 s")
            time.sleep(0.005)
        return self

    def stop(self) -> None:
        if self._uvicorn is not None:
            self._uvicorn.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._thread = None
        self._uvicorn = None
        if self._watchdog is not None:
            self._watchdog.stop()
            self._watchdog = None
        if self.state is not None:
            self.state.backend.close()
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def __enter__(self) -> LocalWandbServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:  # never shows the key
        entity = None if self.state is None else self.entity
        return f"LocalWandbServer(base_url={self.base_url!r}, entity={entity!r})"

    # ------------------------------------------------------------ accessors
    def _state(self) -> ServerState:
        if self.state is None:
            raise RuntimeError("the server is not running; use `with LocalWandbServer() as srv:`")
        return self.state

    @property
    def backend(self) -> Backend:
        return self._state().backend

    @property
    def api_key(self) -> str:
        return self.backend.api_key

    @property
    def entity(self) -> str:
        return self.backend.default_entity

    @property
    def projects(self) -> list[str]:
        """``"entity/project"`` of every project on the server."""
        return self.backend.runs.project_names()

    @property
    def seed(self) -> SeedBuilder:
        return SeedBuilder(self.backend)

    @property
    def data_dir(self) -> Path:
        return self.backend.store.root

    @property
    def latency_ms(self) -> int:
        return self._state().latency_ms

    @latency_ms.setter
    def latency_ms(self, value: int) -> None:
        self._state().latency_ms = value

    @property
    def compat(self) -> ServerCompat:
        """Which newer W&B API features the server pretends to lack (default: none); the same
        as ``GET``/``POST /_control/compat`` (see :mod:`wb_dagster.testing.server_compat`)."""
        return self.backend.compat

    @compat.setter
    def compat(self, value: ServerCompat) -> None:
        self.backend.compat = value

    # ------------------------------------------------------------ controls
    def add_faults(self, rules: Iterable[Mapping[str, Any]]) -> None:
        """Same as ``POST /_control/faults`` (see :mod:`wb_dagster.testing.faults`)."""
        self._state().faults.add(rules)

    def clear_faults(self) -> None:
        """Same as ``DELETE /_control/faults``."""
        self._state().faults.clear()

    def stats(self) -> dict[str, Any]:
        """Same as ``GET /_control/stats``."""
        return self._state().stats.snapshot()

    def reset_stats(self) -> None:
        self._state().stats.reset()

    def set_hostility(self, **knobs: Any) -> None:
        """Same as ``POST /_control/hostility`` (see :mod:`wb_dagster.testing.hostility`); no
        knobs restores W&B's behaviour (``DELETE``)."""
        store = self.backend.store
        base = {} if not knobs else store.hostility.model_dump()
        store.hostility = Hostility.model_validate({**base, **knobs})

    def add_churn(self, rules: Iterable[Mapping[str, Any]]) -> None:
        """Same as ``POST /_control/churn``: runs change between pages of a run listing."""
        self.backend.store.churn.add([ChurnRule.model_validate(r) for r in rules])

    def clear_churn(self) -> None:
        """Same as ``DELETE /_control/churn``."""
        self.backend.store.churn.clear()
