"""``WandbClient``: the entry point, a drop-in for the parts of ``wandb.Api`` the guide uses.

Example:
    >>> from wb_dagster.client import WandbClient
    >>> client = WandbClient(api_key="k" * 40, base_url="http://127.0.0.1:9", entity="team")
    >>> client
    WandbClient(base_url='http://127.0.0.1:9', entity='team')
"""

from __future__ import annotations

import logging
import netrc
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any, Generic, TypeVar
from urllib.parse import urlsplit

from wb_dagster.client.analysis import create_run
from wb_dagster.client.artifacts import (
    Artifact,
    Artifacts,
    References,
    download_all,
    fetch_artifact,
    parse_artifact_path,
)
from wb_dagster.client.errors import AuthenticationError, CommError, NotFoundError
from wb_dagster.client.paths import (
    DEFAULT_BASE_URL,
    ObjectPath,
    app_url,
    parse_object_path,
    parse_project_path,
)
from wb_dagster.client.projects import Projects
from wb_dagster.client.queries import SERVER_FEATURES, VIEWER
from wb_dagster.client.run_listing import Runs
from wb_dagster.client.runs import Run, fetch_run_attrs
from wb_dagster.client.sweeps import Sweep, fetch_sweep_attrs, list_sweeps
from wb_dagster.client.transport import RetrySettings, Transport

log = logging.getLogger(__name__)
_V = TypeVar("_V")
CACHE_SIZE = 256  # runs/sweeps kept by run()/sweep() per client (most recently used)


class _RecentCache(Generic[_V]):
    """The ``size`` most recently used lookups (a long-lived process must not grow forever)."""

    def __init__(self, size: int = CACHE_SIZE) -> None:
        self.size = size
        self._items: OrderedDict[str, _V] = OrderedDict()

    def get(self, key: str) -> _V | None:
        value = self._items.get(key)
        if value is not None:
            self._items.move_to_end(key)
        return value

    def __setitem__(self, key: str, value: _V) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self.size:
            self._items.popitem(last=False)

    def __delitem__(self, key: str) -> None:
        del self._items[key]

    def __len__(self) -> int:
        return len(self._items)

    def items(self) -> list[tuple[str, _V]]:
        return list(self._items.items())

    def clear(self) -> None:
        self._items.clear()


_KEY_LIKE = re.compile(r"\s*[^\s/.:]{32,}\s*")


def check_base_url(base_url: str) -> str:
    """``base_url`` without trailing slash or ``/graphql`` (the API endpoint, which the client
    adds itself); ``ValueError`` naming it when it is not http(s) (unless it looks like an API
    key given in the wrong place) or has a query or fragment. Another path is kept as the prefix
    of a W&B server behind a reverse proxy, as the official SDK does.

    Example:
        >>> check_base_url("http://127.0.0.1:8080/"), check_base_url("https://api.wandb.ai/graphql")
        ('http://127.0.0.1:8080', 'https://api.wandb.ai')
    """
    parts = urlsplit(base_url.strip())
    if parts.scheme in ("http", "https") and parts.hostname and (parts.query or parts.fragment):
        raise ValueError(
            f"Invalid W&B base URL {base_url.strip()!r}: it has a query or fragment; give only "
            "the API host, e.g. https://api.wandb.ai (set base_url= or WANDB_BASE_URL)."
        )
    if parts.scheme not in ("http", "https") or not parts.hostname:
        # a long token without URL punctuation is most likely the key given in the wrong place
        key_like = _KEY_LIKE.fullmatch(base_url)
        shown = "(not shown: it looks like an API key)" if key_like else repr(base_url)
        raise ValueError(
            f"Invalid W&B base URL {shown}: expected http(s)://host[:port], e.g. "
            "https://api.wandb.ai (set base_url= or WANDB_BASE_URL)."
        )
    url = base_url.strip().rstrip("/")
    if url.lower().endswith("/graphql"):
        url = url[: -len("/graphql")].rstrip("/")
        log.info("base_url %s ends in /graphql: using %s (the client adds /graphql)", base_url, url)
    return url


def check_api_key(api_key: str) -> str:
    """``api_key`` without surrounding whitespace; ``ValueError`` (never showing the key) when
    it has a character HTTP basic auth cannot carry, e.g. a zero-width space pasted with it.

    Example:
        >>> check_api_key(" " + "k" * 40 + "\\n") == "k" * 40
        True
    """
    key = api_key.strip()
    for position, char in enumerate(key):
        if not "!" <= char <= "~":
            raise ValueError(
                f"The W&B API key has a character that cannot be sent (U+{ord(char):04X} at "
                f"position {position}): copy the key again from https://wandb.ai/authorize."
            )
    return key


def _netrc_key(base_url: str) -> str | None:
    host = urlsplit(base_url).hostname
    if not host:
        return None
    try:
        auth = netrc.netrc().authenticators(host)
    except (OSError, netrc.NetrcParseError):
        return None
    return auth[2] if auth else None


class WandbClient:
    """A W&B public-API client over ``requests`` (no ``wandb`` import, no sidecar process).

    It is the :class:`~wb_dagster.client.session.WandbSession` of every object it returns.

    Arguments default to ``WANDB_API_KEY`` (then ``~/.netrc``), ``WANDB_BASE_URL`` (then the
    official SDK's default host) and ``WANDB_ENTITY`` (then the key's default entity, asked on
    first need). Construction makes no request. ``max_concurrency`` bounds API requests in
    flight (and parallel history pages), ``download_concurrency`` file downloads (storage
    GETs: W&B serves them from signed storage URLs, not the rate-limited API, and a many-file
    artifact waits on latency); ``retry_budget_s`` bounds the total time spent retrying one
    call; ``timeout`` is per attempt. ``max_requests_per_s`` optionally paces all requests.

    Example (``client`` connected to the local server with the demo seed):
        >>> client.entity, client.run("wb-demo/cifar/cifar001").name
        ('wb-demo', 'baseline-bar-1')
    """

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        entity: str | None = None,
        timeout: float = 30.0,
        max_concurrency: int = 16,
        retry_budget_s: float = 60.0,
        verify: bool | str = True,
        *,
        project: str | None = None,
        max_requests_per_s: float | None = None,
        backoff_factor: float = 0.5,
        history_page_rows: int = 1_000,
        download_concurrency: int = 64,
    ) -> None:
        self.base_url = check_base_url(
            base_url or os.environ.get("WANDB_BASE_URL") or DEFAULT_BASE_URL
        )
        if verify is False:
            log.warning(
                "TLS certificate verification is OFF for %s (verify=False): answers could be "
                "forged by anyone on the network path. Use it only for a trusted test server, "
                "or pass verify='/path/to/ca-bundle.pem' instead.",
                self.base_url,
            )
        if api_key is not None and not api_key.strip():
            raise ValueError(
                "api_key is empty: pass the W&B API key (https://wandb.ai/authorize), or leave "
                "api_key unset to read WANDB_API_KEY; an empty key is never replaced silently."
            )
        key = api_key or os.environ.get("WANDB_API_KEY") or _netrc_key(self.base_url)
        key = check_api_key(key) if key else None
        self._entity = entity or os.environ.get("WANDB_ENTITY") or None
        self._project = project or os.environ.get("WANDB_PROJECT") or None
        self.timeout = timeout
        self.max_concurrency = max(1, int(max_concurrency))
        self.retry_budget_s = retry_budget_s
        self.history_page_rows = history_page_rows
        self.transport = Transport(
            api_key=key,
            base_url=self.base_url,
            timeout=timeout,
            max_concurrency=self.max_concurrency,
            download_concurrency=download_concurrency,
            retry=RetrySettings(budget_s=retry_budget_s, backoff_factor=backoff_factor),
            verify=verify,
            max_requests_per_s=max_requests_per_s,
        )
        self._lock = threading.Lock()
        self._default_entity: str | None = None
        self._server_features: dict[str, bool] | None = None
        self._runs: _RecentCache[Run] = _RecentCache()
        self._sweeps: _RecentCache[Sweep] = _RecentCache()

    def __repr__(self) -> str:
        return f"WandbClient(base_url={self.base_url!r}, entity={self._entity!r})"

    def __enter__(self) -> WandbClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close pooled connections."""
        self.transport.close()

    @property
    def app_url(self) -> str:
        """The W&B web app URL matching ``base_url``."""
        return app_url(self.base_url)

    @property
    def api_key_set(self) -> bool:
        """Whether a key was found (argument, ``WANDB_API_KEY`` or ``~/.netrc``)."""
        return self.transport._api_key is not None

    # -- identity ------------------------------------------------------------------------------

    def viewer(self) -> dict[str, Any]:
        """The user the API key belongs to (``id``, ``entity``, ``username``)."""
        data = self.transport.graphql(VIEWER, {}, what="checking the API key (viewer)")
        viewer = data.get("viewer")
        if not viewer:
            raise AuthenticationError(
                f"{self.base_url} did not recognise the API key: set a valid WANDB_API_KEY."
            )
        return viewer

    @property
    def default_entity(self) -> str | None:
        """The API key's default entity (one request, then cached)."""
        if self._default_entity is None:
            self._default_entity = self.viewer().get("entity")
        return self._default_entity

    @property
    def entity(self) -> str | None:
        """The configured entity, else the key's default entity."""
        return self._entity or self.default_entity

    def _entity_for(self, path: str) -> str | None:
        # only ask the server when the path does not name the entity
        if self._entity:
            return self._entity
        try:
            return parse_object_path(path, default_entity=None, default_project="\x00").entity
        except ValueError:
            return self.default_entity

    def server_feature(self, name: str) -> bool:
        """Whether the server enables a feature flag (unknown or failing query -> False)."""
        if self._server_features is None:
            try:
                data = self.transport.graphql(SERVER_FEATURES, {}, what="reading server features")
                features = (data.get("serverInfo") or {}).get("features") or []
                self._server_features = {f["name"]: bool(f.get("isEnabled")) for f in features}
            except CommError:
                self._server_features = {}
        return self._server_features.get(name, False)

    # -- lookups -------------------------------------------------------------------------------

    def flush(self) -> None:
        """Forget cached runs and sweeps (the next ``run()``/``sweep()`` refetches)."""
        with self._lock:
            self._runs.clear()
            self._sweeps.clear()

    def forget_run(self, path: Sequence[str]) -> None:
        """Drop every cached copy of the run at ``[entity, project, run_id]`` (however it was
        named to :meth:`run`): it was deleted or rewritten.

        Example (``client`` connected to the local server with the demo seed):
            >>> run = client.run("wb-demo/cifar/cifar001")
            >>> client.forget_run(run.path)
            >>> client.run("wb-demo/cifar/cifar001") is run
            False
        """
        with self._lock:
            for key in [k for k, v in self._runs.items() if v.path == list(path)]:
                del self._runs[key]

    def projects(self, entity: str | None = None, per_page: int = 200) -> Projects:
        """The projects of ``entity`` (default: the configured entity, else the key's own).

        Example (``client`` connected to the local server with the demo seed):
            >>> "cifar" in [p.name for p in client.projects("wb-demo")]
            True
        """
        entity = entity or self.entity
        if not entity:
            raise ValueError("projects() needs an entity: projects('my-team'), or set entity=")
        return Projects(self, entity, per_page=per_page)

    def runs(
        self,
        path: str | None = None,
        filters: dict[str, Any] | None = None,
        order: str = "+created_at",
        per_page: int = 50,
        include_sweeps: bool = True,
        lazy: bool = True,
    ) -> Runs:
        """Runs of ``entity/project`` matching MongoDB-style ``filters``, sorted by ``order``.

        ``include_sweeps`` and ``lazy`` are accepted for ``wandb.Api`` compatibility; runs
        always carry their config and summary (no per-run request) and load sweeps on access.
        """
        entity, project = self._project_parts(path, "runs")
        return Runs(self, entity, project, filters=filters, order=order, per_page=per_page)

    def _project_parts(self, path: str | None, method: str) -> tuple[str, str]:
        project_path = path or self._project
        if not project_path:
            raise ValueError(f"{method}() needs a project path: 'entity/project'")
        # only ask the server for the key's default entity when the path does not name one
        names_entity = "/" in project_path.strip("/")
        default = self._entity or (None if names_entity else self.default_entity)
        return parse_project_path(project_path, default_entity=default)

    def _resolve(self, path: str) -> ObjectPath:
        return parse_object_path(
            path, default_entity=self._entity_for(path), default_project=self._project
        )

    def run(self, path: str = "") -> Run:
        """One run by path (``entity/project/run_id`` and the other ``wandb.Api`` forms).

        Like ``wandb.Api`` the run is cached per client (the most recent ``CACHE_SIZE``): call
        :meth:`flush` or ``run.load(force=True)`` to see changes made since.
        """
        with self._lock:
            cached = self._runs.get(path)
        if cached is not None:
            return cached
        where = self._resolve(path)
        run = Run(self, where, fetch_run_attrs(self, where))
        with self._lock:
            self._runs[path] = run
        return run

    def create_run(
        self,
        path: str | None = None,
        job_type: str = "analysis",
        name: str | None = None,
        config: dict[str, Any] | None = None,
        summary: dict[str, Any] | None = None,
        tags: list[str] | None = None,
        notes: str | None = None,
        group: str | None = None,
        run_id: str | None = None,
        *,
        files: dict[str, Any] | None = None,
        tables: dict[str, Any] | None = None,
        table_format: str = "parquet",
    ) -> Run:
        """Create a finished run (e.g. an analysis run) in ``entity/project``, as ``wandb.init``
        would; with an existing ``run_id`` update that run instead. ``files``: {name: bytes or
        local path}; ``tables``: {name: DataFrame}. See :mod:`wb_dagster.client.analysis`."""
        run = create_run(
            self, path or self._project or "", job_type=job_type, name=name, config=config,
            summary=summary, tags=tags, notes=notes, group=group, run_id=run_id, files=files,
            tables=tables, table_format=table_format,
        )  # fmt: skip
        self.forget_run(run.path)  # cached copies of this run are stale now
        return run

    def sweep(self, path: str = "") -> Sweep:
        """One sweep by path (``entity/project/sweep_id``, ``entity/project/sweeps/id``, ...).

        Cached per client like :meth:`run`; :meth:`flush` forgets it.
        """
        with self._lock:
            cached = self._sweeps.get(path)
        if cached is not None:
            return cached
        where = self._resolve(path)
        attrs = fetch_sweep_attrs(self, where)
        if attrs is None:
            raise NotFoundError(
                f"Could not find sweep {where}: check the entity, project and sweep id."
            )
        sweep = Sweep(self, where, attrs)
        with self._lock:
            self._sweeps[path] = sweep
        return sweep

    def sweeps(
        self,
        path: str | None = None,
        per_page: int = 50,
        filters: dict[str, Any] | None = None,
    ) -> list[Sweep]:
        """All sweeps of ``entity/project``, optionally ``filters`` (W&B's filter syntax, e.g.
        ``{"state": "RUNNING"}``; needs W&B server 0.81.4 or newer, as in the SDK).

        Example (``client`` connected to the local server with the demo seed):
            >>> [s.id for s in client.sweeps("wb-demo/cifar", filters={"state": "FINISHED"})]
            ['cifarswp']
        """
        entity, project = self._project_parts(path, "sweeps")
        return list_sweeps(self, entity, project, per_page, filters)

    # -- artifacts -----------------------------------------------------------------------------

    def artifact(self, name: str, type: str | None = None) -> Artifact:
        """One artifact version: ``entity/project/collection:alias`` (``vN``, an alias, or
        nothing for ``latest``); a registry link via its registry project. ``type`` checks it.

        Example (``client`` connected to the local server with the demo seed):
            >>> client.artifact("wb-demo/cifar/no-such-model:v0")
            Traceback (most recent call last):
            ...
            wb_dagster.client.errors.NotFoundError: Could not find artifact wb-demo/cifar/...
        """
        names_entity = name.strip().count("/") == 2
        entity = self._entity or (None if names_entity else self.default_entity)
        art = fetch_artifact(self, parse_artifact_path(name, entity, self._project))
        if type is not None and art.type != type:
            raise ValueError(f"artifact {name!r} has type {art.type!r}, not {type!r}")
        return art

    def artifacts(
        self, type_name: str, name: str, per_page: int = 100, *, files_per_version: int = 100
    ) -> Artifacts:
        """The versions of collection ``entity/project/collection`` (newest first), paged
        lazily, each with its first ``files_per_version`` files (0: none, for a cheap
        listing): N versions cost about ``N / per_page`` requests."""
        entity, project, collection = self._collection_parts(name)
        return Artifacts(self, entity, project, type_name, collection, per_page, files_per_version)

    def _collection_parts(self, name: str) -> tuple[str, str, str]:
        parts = name.strip().strip("/").split("/")
        if len(parts) == 3:
            return parts[0], parts[1], parts[2]
        if len(parts) == 2 and self.entity:
            return self.entity, parts[0], parts[1]
        if len(parts) == 1 and self._project and self.entity:
            return self.entity, self._project, parts[0]
        raise ValueError(f"artifact collection {name!r}: expected 'entity/project/collection'")

    def download_artifacts(
        self, jobs: list[tuple[Artifact, str]], references: References = "fetch"
    ) -> int:
        """Download many versions, each into its own root, through one pool of
        ``download_concurrency`` workers; returns how many files were fetched (not already
        there). ``references`` as in :meth:`Artifact.download`.
        """
        return download_all(jobs, self.transport.download_concurrency, references)


__all__ = ["WandbClient"]
