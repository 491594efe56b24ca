"""``Runs``: a project's runs matching filters, paged lazily, and the run table built from them.

Listing always requests the full fields, so reading ``config``/``summary`` of listed runs costs no
extra request; :meth:`Runs.to_state_table` and :meth:`Runs.iter_changes` ask for less.

Example (``client`` connected to the local server with the demo seed):
    >>> runs = client.runs("wb-demo/cifar", filters={"state": "finished"})
    >>> runs.to_table().column_names[:3]
    ['id', 'name', 'state']
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from wb_dagster.client.encoding import last_step, loads_object
from wb_dagster.client.errors import NotFoundError, unexpected_shape
from wb_dagster.client.exact_pandas import to_pandas_exact
from wb_dagster.client.paging import LazyPages
from wb_dagster.client.paths import ObjectPath
from wb_dagster.client.queries import RUN_CHANGES, RUN_STATES, RUNS
from wb_dagster.client.run_pages import RunPager
from wb_dagster.client.runs import Run, unwrap_config
from wb_dagster.client.timestamps import to_utc

# pyarrow loads on first use: import + first request ~0.1 s (bench W7)
if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from wb_dagster.client.session import WandbSession

RUN_TABLE_COLUMNS = (
    "id", "name", "state", "created_at", "heartbeat_at", "tags", "group", "job_type", "sweep",
    "commit", "user", "history_line_count", "last_step",
)  # fmt: skip


class Runs(LazyPages[Run]):
    """Runs of a project matching ``filters``, in ``order``, fetched lazily ``per_page`` at a time.

    Iterable, indexable and sized (``len()`` is the server's count). ``to_table()`` /
    ``to_pandas()`` build the run table in one pass over the pages.

    Example (``client`` connected to the local server with the demo seed):
        >>> runs = client.runs("wb-demo/cifar", filters={"state": "finished"})
        >>> len(runs), runs.to_table().num_rows, runs[0].state
        (9, 9, 'finished')
    """

    def __init__(
        self,
        client: WandbSession,
        entity: str,
        project: str,
        filters: dict[str, Any] | None = None,
        order: str | None = "+created_at",
        per_page: int = 50,
    ) -> None:
        super().__init__()
        self.client = client
        self.entity = entity
        self.project = project
        self.filters = filters or {}
        self.order = order
        self.per_page = per_page
        # the project's run count, unfiltered, once a state listing has asked for it
        self.project_run_count: int | None = None
        self._pager = self._new_pager(RUNS)

    def _new_pager(self, document: str) -> RunPager:
        def fetch(filters: dict[str, Any], cursor: Any, first: int) -> Any:
            return self._page(cursor, first, document, filters)

        return RunPager(fetch, self.filters, self.order)

    def __repr__(self) -> str:
        return f"<Runs {self.entity}/{self.project}>"

    def _page(
        self, cursor: str | None, per_page: int, document: str, filters: dict[str, Any]
    ) -> tuple[list[dict[str, Any]], Any, bool]:
        data = self.client.transport.graphql(
            document,
            {
                "entity": self.entity,
                "project": self.project,
                "order": self.order,
                "filters": json.dumps(filters),
                "perPage": per_page,
                "cursor": cursor,
            },
            what=f"listing runs of {self.entity}/{self.project}",
        )
        project = data.get("project")
        if project is None:
            raise NotFoundError(
                f"Could not find project {self.entity}/{self.project}: check the entity and "
                "project names (and that this API key can see them)."
            )
        what = f"listing runs of {self.entity}/{self.project}"
        conn = project.get("runs") if isinstance(project, dict) else None
        edges = conn.get("edges") if isinstance(conn, dict) else None
        if not isinstance(edges, list) or not all(isinstance(e, dict) for e in edges):
            raise unexpected_shape(self.client.base_url, what, "project.runs.edges is not a list")
        nodes = [e["node"] for e in edges if e.get("node")]
        if not all(isinstance(n, dict) for n in nodes):
            raise unexpected_shape(self.client.base_url, what, "a run node is not an object")
        if "runCount" in project and filters is self.filters:  # the listing's, not a page's
            self._count = int(project.get("runCount") or 0)
        if project.get("projectRunCount") is not None:
            self.project_run_count = int(project["projectRunCount"])
        next_cursor = edges[-1].get("cursor") if edges else None
        more = bool(((conn or {}).get("pageInfo") or {}).get("hasNextPage")) and bool(edges)
        return nodes, next_cursor, more

    def _load_page(self) -> None:
        nodes = self._pager.next_page(self.per_page)
        self._more = self._pager.more
        path = ObjectPath(self.entity, self.project, "")
        self.objects.extend(Run(self.client, path, node) for node in nodes)

    def _all_nodes(self, document: str = RUNS) -> list[dict[str, Any]]:
        if not self._more and document == RUNS:
            return [r._attrs for r in self.objects]
        return self._new_pager(document).all_nodes(max(self.per_page, 500))

    def iter_changes(self) -> Iterator[Run]:
        """The runs with only what a change detector reads (id, state, createdAt, heartbeatAt,
        historyLineCount, historyKeys), one page at a time: no config, summary or metrics."""
        pager, path = (
            self._new_pager(RUN_CHANGES),
            ObjectPath(self.entity, self.project, ""),
        )
        while pager.more:
            yield from (Run(self.client, path, n) for n in pager.next_page(self.per_page))

    def to_table(self) -> pa.Table:
        """The run table: one row per run, fixed columns then ``config.*`` and ``summary.*``.

        Fixed columns: ``id`` (short run id), ``name`` (display name), ``state``, ``created_at``
        and ``heartbeat_at`` (timestamp[us, UTC]), ``tags`` (list<string>), ``group``,
        ``job_type``, ``sweep`` (sweep id), ``commit``, ``user`` (username),
        ``history_line_count``, ``last_step`` (-1 without history). Config values are unwrapped;
        nested dicts are flattened with dots; see :mod:`wb_dagster.client.flatten`.
        """
        nodes = self._all_nodes()
        return run_table(nodes)

    def to_pandas(self) -> pd.DataFrame:
        """:meth:`to_table` as a pandas DataFrame (integers exact, see ``exact_pandas``)."""
        return to_pandas_exact(self.to_table())

    def to_state_table(self) -> pa.Table:
        """``id``, ``state``, ``heartbeat_at``, ``history_line_count``: a cheap probe of changes.

        The listing asks for these fields (and ``createdAt``, to page) alone: no config, summary
        or system metrics, so probing hundreds of runs costs about as much as reading a few.

        Example (``client`` connected to the local server with the demo seed):
            >>> probe = client.runs("wb-demo/cifar", filters={"state": "running"})
            >>> probe.to_state_table().to_pydict()["id"]
            ['cifar009']
        """
        import pyarrow as pa

        nodes = self._all_nodes(RUN_STATES)
        return pa.table(
            {
                "id": pa.array([n.get("name") for n in nodes], type=pa.string()),
                "state": pa.array([n.get("state") for n in nodes], type=pa.string()),
                "heartbeat_at": pa.array(
                    [to_utc(n.get("heartbeatAt")) for n in nodes],
                    type=pa.timestamp("us", tz="UTC"),
                ),
                "history_line_count": pa.array(
                    [int(n.get("historyLineCount") or 0) for n in nodes], type=pa.int64()
                ),
            }
        )


def run_table(nodes: Sequence[dict[str, Any]]) -> pa.Table:
    """Build the run table from Run nodes of the listing query."""
    import pyarrow as pa

    from wb_dagster.client.flatten import rows_to_columns

    str_col = pa.string()
    fixed: dict[str, pa.Array] = {
        "id": pa.array([n.get("name") for n in nodes], type=str_col),
        "name": pa.array([n.get("displayName") for n in nodes], type=str_col),
        "state": pa.array([n.get("state") for n in nodes], type=str_col),
        "created_at": pa.array(
            [to_utc(n.get("createdAt")) for n in nodes], type=pa.timestamp("us", tz="UTC")
        ),
        "heartbeat_at": pa.array(
            [to_utc(n.get("heartbeatAt")) for n in nodes], type=pa.timestamp("us", tz="UTC")
        ),
        "tags": pa.array([list(n.get("tags") or []) for n in nodes], type=pa.list_(str_col)),
        "group": pa.array([n.get("group") for n in nodes], type=str_col),
        "job_type": pa.array([n.get("jobType") for n in nodes], type=str_col),
        "sweep": pa.array([n.get("sweepName") for n in nodes], type=str_col),
        "commit": pa.array([n.get("commit") for n in nodes], type=str_col),
        "user": pa.array([(n.get("user") or {}).get("username") for n in nodes], type=str_col),
        "history_line_count": pa.array(
            [int(n.get("historyLineCount") or 0) for n in nodes], type=pa.int64()
        ),
        "last_step": pa.array([last_step(n.get("historyKeys")) for n in nodes], type=pa.int64()),
    }
    configs = [unwrap_config(loads_object(n.get("config")))[0] for n in nodes]
    summaries = [loads_object(n.get("summaryMetrics")) for n in nodes]
    # nested dicts are flattened column-wise over all runs, so that a literal dotted key and a
    # nested path of the same name are told apart the same way in every row (flatten.py)
    config_cols = rows_to_columns(configs, prefix="config.")
    summary_cols = rows_to_columns(summaries, prefix="summary.")
    # a key null in every run has no column: a stored table merged with fresh rows (where it
    # may be null only there) must equal the table read in full
    values = {k: a for k, a in {**config_cols, **summary_cols}.items() if a.null_count < len(a)}
    return pa.table({**fixed, **values})
