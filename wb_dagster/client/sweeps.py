"""Sweeps: ``Sweep`` (config, runs, ``best_run``) as ``wandb.Api().sweep()`` returns it.

Example (``client`` connected to the local server with the demo seed):
    >>> sweep = client.sweep("wb-demo/cifar/cifarswp")
    >>> sweep.config["metric"], sweep.best_run().id
    ({'goal': 'maximize', 'name': 'val_acc'}, 'cifar007')
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from wb_dagster.client.errors import AuthenticationError, CommError, NotFoundError, RateLimitError
from wb_dagster.client.paths import ObjectPath
from wb_dagster.client.queries import (
    GET_SWEEP,
    GET_SWEEP_LEGACY,
    GET_SWEEPS,
    GET_SWEEPS_LEGACY,
    GET_SWEEPS_UNFILTERED,
)
from wb_dagster.client.run_listing import Runs
from wb_dagster.client.runs import Run

if TYPE_CHECKING:
    from wb_dagster.client.session import WandbSession

_RUN_COLUMNS = frozenset({"createdAt", "updatedAt", "name", "sweep"})


def format_order_key(key: str) -> str:
    """Normalise a sort key the way ``wandb``'s sweeps do (bare names mean summary metrics).

    Example:
        >>> format_order_key("val_loss"), format_order_key("+config.lr"), format_order_key("a.b")
        ('-summary_metrics.val_loss', '+config.lr', '-summary_metrics.a.b')
    """
    direction = "-"
    if key.startswith(("+", "-")):
        direction, key = key[0], key[1:]
    parts = key.split(".")
    if len(parts) == 1:
        if key not in _RUN_COLUMNS:
            return f"{direction}summary_metrics.{key}"
        return f"{direction}{key}"
    if parts[0] not in ("config", "summary_metrics", "tags"):
        return f"{direction}summary_metrics.{key}"
    return f"{direction}{key}"


class Sweep:
    """A sweep: ``id`` (short sweep id), ``name``, ``state``, ``config`` (dict), ``runs``.

    Example (``client`` connected to the local server with the demo seed):
        >>> sweep = client.sweep("wb-demo/cifar/cifarswp")
        >>> sweep.name, sweep.state, len(sweep.runs)
        ('cifar-bayes', 'FINISHED', 6)
    """

    def __init__(self, client: WandbSession, path: ObjectPath, attrs: dict[str, Any]) -> None:
        self.client = client
        self.entity = path.entity
        self.project = path.project
        self.id = path.id
        self._attrs = attrs
        self._config: dict[str, Any] | None = None
        self.runs = Runs(
            client,
            self.entity,
            self.project,
            filters={"$and": [{"sweep": self.id}]},
            order="+created_at",
            per_page=10,
        )

    def __repr__(self) -> str:
        return f"<Sweep {self.entity}/{self.project}/{self.id} ({self.state})>"

    storage_id = property(lambda self: self._attrs.get("id"))
    state = property(lambda self: self._attrs.get("state"))
    method = property(lambda self: self._attrs.get("method"))
    description = property(lambda self: self._attrs.get("description"))
    best_loss = property(lambda self: self._attrs.get("bestLoss"))
    created_at = property(lambda self: self._attrs.get("createdAt"))
    updated_at = property(lambda self: self._attrs.get("updatedAt"))
    run_count = property(lambda self: self._attrs.get("runCount"))
    expected_run_count = property(lambda self: self._attrs.get("runCountExpected"))

    @property
    def config(self) -> dict[str, Any]:
        """The sweep configuration (parsed from W&B's YAML text)."""
        if self._config is None:
            raw = self._attrs.get("config")
            if isinstance(raw, dict):
                self._config = raw
            else:
                import yaml

                loaded = yaml.safe_load(raw) if raw else None
                self._config = loaded if isinstance(loaded, dict) else {}
        return self._config

    @property
    def name(self) -> str:
        """Display name, else the configured name, else the id (as ``wandb``)."""
        return self._attrs.get("displayName") or self.config.get("name") or self.id

    @property
    def path(self) -> list[str]:
        return [self.entity, self.project, self.id]

    @property
    def url(self) -> str:
        return f"{self.client.app_url}/{self.entity}/{self.project}/sweeps/{self.id}"

    @property
    def order(self) -> str | None:
        """The sort key implied by the config's ``metric`` (minimize -> ``+``), or None."""
        metric = self.config.get("metric")
        if isinstance(metric, dict) and metric.get("name"):
            sign = "+" if metric.get("goal", "minimize") == "minimize" else "-"
            return format_order_key(sign + str(metric["name"]))
        return None

    def best_run(self, order: str | None = None) -> Run | None:
        """The sweep's best run by ``order`` (default: the config's metric and goal).

        Without an order and a metric it returns the most recent run, as ``wandb`` does; None
        when the sweep has no runs.
        """
        key = format_order_key(order) if order else self.order
        runs = Runs(
            self.client,
            self.entity,
            self.project,
            filters={"$and": [{"sweep": self.id}]},
            order=key if key else "-created_at",
            per_page=1,
        )
        try:
            return runs[0]
        except IndexError:
            return None


def _rejected(exc: CommError) -> bool:
    """Whether a failure may be an older server refusing newer fields (the SDK falls back on
    any failure; credentials, missing objects and rate limits are not worth a second query)."""
    return not isinstance(exc, AuthenticationError | NotFoundError | RateLimitError)


def fetch_sweep_attrs(client: WandbSession, where: ObjectPath) -> dict[str, Any] | None:
    """A sweep's fields (``GetSweep``), or, if the server refuses them, the five an older W&B
    server has (``GetSweepLegacy``), as the SDK falls back; None when there is no such sweep."""
    variables = {"entity": where.entity, "project": where.project, "name": where.id}
    what = f"fetching sweep {where}"
    try:
        data = client.transport.graphql(GET_SWEEP, variables, what=what)
    except CommError as exc:
        if not _rejected(exc):
            raise
        data = client.transport.graphql(GET_SWEEP_LEGACY, variables, what=what)
    attrs = (data.get("project") or {}).get("sweep")
    return attrs if isinstance(attrs, dict) else None


def list_sweeps(
    client: WandbSession,
    entity: str,
    project: str,
    per_page: int,
    filters: Mapping[str, Any] | None,
) -> list[Sweep]:
    """Every sweep of a project, filtered server-side by ``filters`` (W&B's run-filter
    syntax). A server that refuses the query is asked again without ``filters`` (W&B servers
    before 0.81.4 lack them; a filtered listing then raises rather than silently returning
    every sweep, as the SDK does), then with the legacy fields."""
    what = f"listing sweeps of {entity}/{project}"
    attempts = [GET_SWEEPS, GET_SWEEPS_UNFILTERED, GET_SWEEPS_LEGACY]
    base = {"entity": entity, "project": project, "perPage": per_page}
    out: list[Sweep] = []
    cursor: str | None = None
    while True:
        query = attempts[0]
        extra = {"filters": json.dumps(dict(filters or {}))} if query is GET_SWEEPS else {}
        try:
            data = client.transport.graphql(query, {**base, **extra, "cursor": cursor}, what=what)
        except CommError as exc:
            if len(attempts) == 1 or not _rejected(exc):
                raise
            if filters and query is GET_SWEEPS:
                raise CommError(
                    f"{what} with filters {dict(filters)}: the server refused the query "
                    f"({exc.message}); sweep filters need W&B server 0.81.4 or newer: list "
                    "without filters and select the sweeps yourself",
                    exc=exc,
                ) from exc
            attempts.pop(0)
            continue
        proj = data.get("project")
        if proj is None:
            raise NotFoundError(f"Could not find project {entity}/{project}.")
        conn = proj.get("sweeps") or {}
        for edge in conn.get("edges") or []:
            node = edge.get("node") or {}
            out.append(Sweep(client, ObjectPath(entity, project, str(node.get("name"))), node))
        info = conn.get("pageInfo") or {}
        if not info.get("hasNextPage") or not info.get("endCursor"):
            return out
        cursor = info["endCursor"]
