"""Runs: ``Run`` (one run, ``wandb.Api``-compatible attributes plus Arrow history) and ``Runs``.

``Run`` mirrors the SDK: ``id`` is the short run id, ``name``/``display_name`` the display name,
``storage_id`` the GraphQL id, ``config`` the unwrapped user config (``_wandb`` and
``wandb_version`` only in ``rawconfig``), ``summary`` a dict-like :class:`Summary`, ``sweep`` a
:class:`Sweep` (``sweep_name`` its id string). Listing always requests the full fields, so reading
``config``/``summary`` of listed runs costs no extra request.

Example (``client`` connected to the local server with the demo seed):
    >>> run = client.run("wb-demo/cifar/cifar000")
    >>> run.config["optimizer"], run.state, run.history_table().num_rows
    ('sgd', 'finished', 2000)
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from wb_dagster.client import queries
from wb_dagster.client.artifacts import RunArtifactsMixin
from wb_dagster.client.changes import Change, RunUpdate, diff
from wb_dagster.client.encoding import dumps, encode_value, last_step, loads_object
from wb_dagster.client.errors import CommError, NotFoundError
from wb_dagster.client.exact_pandas import to_pandas_exact
from wb_dagster.client.files import File, Files
from wb_dagster.client.paging import LazyPages
from wb_dagster.client.paths import ObjectPath
from wb_dagster.client.run_pages import RunPager
from wb_dagster.client.summary import Summary
from wb_dagster.client.timestamps import to_utc

# pyarrow (and modules built on it) load on first use: import + first request ~0.1 s (bench W7)
if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from wb_dagster.client.api import WandbClient
    from wb_dagster.client.console_logs import ConsoleLogs
    from wb_dagster.client.history import HistoryExport, HistoryReader
    from wb_dagster.client.sweeps import Sweep

WANDB_INTERNAL_KEYS = frozenset({"_wandb", "wandb_version"})
# run attributes written back by update(): python name -> (GraphQL field, mutation variable)
_EDITABLE = {
    "displayName": "display_name",
    "description": "description",
    "notes": "notes",
    "tags": "tags",
    "group": "groupName",
    "jobType": "jobType",
}


def unwrap_config(raw: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split a stored config into (user config, raw config) the way the SDK does.

    Any value that is a dict with a ``"value"`` key is unwrapped; ``_wandb`` and
    ``wandb_version`` go to the raw config only (which also holds the user keys).

    Example:
        >>> unwrap_config({"lr": {"value": 0.1, "desc": None}, "_wandb": {"value": {"t": 1}},
        ...                "plain": 3})
        ({'lr': 0.1, 'plain': 3}, {'_wandb': {'t': 1}, 'lr': 0.1, 'plain': 3})
    """
    user: dict[str, Any] = {}
    internal: dict[str, Any] = {}
    for key, value in raw.items():
        target = internal if key in WANDB_INTERNAL_KEYS else user
        target[key] = value["value"] if isinstance(value, dict) and "value" in value else value
    return user, {**internal, **user}


def unexpected_shape(client: WandbClient, what: str, detail: str) -> CommError:
    """The error for an answer that is JSON but not shaped like W&B's."""
    return CommError(
        f"{what}: unexpected response from {client.base_url} ({detail}). Check that base_url "
        "is a W&B API server; if it is, the server version may not be supported."
    )


class Run(RunArtifactsMixin):
    """One W&B run, with the attributes of ``wandb.Api().run()`` (see the module docstring).

    Example (``client`` connected to the local server with the demo seed):
        >>> run = client.run("wb-demo/cifar/cifar001")
        >>> run.id, run.name, run.path
        ('cifar001', 'baseline-bar-1', ['wb-demo', 'cifar', 'cifar001'])
    """

    def __init__(self, client: WandbClient, path: ObjectPath, attrs: dict[str, Any]) -> None:
        self.client = client
        self._entity = path.entity
        self.project = path.project
        self._sweep: Sweep | None = None
        self._metadata: dict[str, Any] | None = None
        self._set_attrs(attrs)

    # -- loading -----------------------------------------------------------------------------

    def _set_attrs(self, attrs: dict[str, Any]) -> None:
        self._attrs = dict(attrs)
        raw = loads_object(self._attrs.get("config"))
        self._raw_config_json = raw
        self._config, self._rawconfig = unwrap_config(raw)
        self._config_base = copy.deepcopy(self._config)
        self._summary = Summary(self, loads_object(self._attrs.get("summaryMetrics")))
        self._system_metrics = loads_object(self._attrs.get("systemMetrics"))
        self._fields_base = copy.deepcopy({k: self._attrs.get(k) for k in _EDITABLE})

    def load(self, force: bool = False) -> dict[str, Any]:
        """(Re)fetch the run from the server; local unsent edits are discarded."""
        if force or not self._attrs.get("id"):
            self._set_attrs(self.client._fetch_run_attrs(self._path()))
        return self._attrs

    def _path(self) -> ObjectPath:
        return ObjectPath(self.entity, self.project, self.id)

    def __repr__(self) -> str:
        return f"<Run {self.entity}/{self.project}/{self.id} ({self.state})>"

    def __str__(self) -> str:
        return f"{self.entity}/{self.project}/{self.id}"

    # -- attributes ----------------------------------------------------------------------------

    @property
    def entity(self) -> str:
        return self._entity

    @property
    def id(self) -> str:
        """The short run id (the ``name`` field in GraphQL)."""
        return str(self._attrs.get("name"))

    @property
    def storage_id(self) -> str:
        """The opaque GraphQL id used by mutations."""
        return str(self._attrs.get("id"))

    @property
    def name(self) -> str | None:
        """The display name (settable; sent by ``update()``)."""
        return self._attrs.get("displayName")

    @name.setter
    def name(self, value: str) -> None:
        self._attrs["displayName"] = value

    display_name = name

    def _field(key: str, doc: str) -> property:  # type: ignore[misc]
        def get(self: Run) -> Any:
            return self._attrs.get(key)

        def put(self: Run, value: Any) -> None:
            self._attrs[key] = value

        return property(get, put if key in _EDITABLE else None, doc=doc)

    state = _field("state", "running, finished, crashed, failed, killed, ...")
    tags = _field("tags", "list of tags (settable)")
    group = _field("group", "run group (settable)")
    job_type = _field("jobType", "job type (settable)")
    notes = _field("notes", "notes (settable)")
    description = _field("description", "description (settable)")
    commit = _field("commit", "git commit")
    created_at = _field("createdAt", "ISO-8601 creation time, as W&B returns it")
    heartbeat_at = _field("heartbeatAt", "ISO-8601 time of the last heartbeat")
    sweep_name = _field("sweepName", "id of the sweep this run belongs to, or None")
    read_only = _field("readOnly", "whether the run is read-only")
    user = _field("user", "{'name': ..., 'username': ...} of the run's creator")
    del _field

    @property
    def history_line_count(self) -> int:
        return int(self._attrs.get("historyLineCount") or 0)

    @property
    def history_keys(self) -> dict[str, Any]:
        keys = self._attrs.get("historyKeys")
        if isinstance(keys, str):
            keys = loads_object(keys)
        return keys if isinstance(keys, dict) else {}

    @property
    def last_history_step(self) -> int:
        """``historyKeys.lastStep`` as loaded with the run (-1 when the run has no history)."""
        return last_step(self.history_keys)

    @property
    def lastHistoryStep(self) -> int:
        """The last history step, asked fresh from the server (like ``wandb``)."""
        data = self.client.transport.graphql(
            queries.RUN_HISTORY_KEYS,
            {"entity": self.entity, "project": self.project, "name": self.id},
            what=f"reading history keys of run {self}",
        )
        run = (data.get("project") or {}).get("run") or {}
        return last_step(run.get("historyKeys"))

    @property
    def project_internal_id(self) -> int | None:
        pid = self._attrs.get("projectId")
        return int(pid) if pid is not None else None

    @property
    def config(self) -> dict[str, Any]:
        """User config, unwrapped (edit it, then ``update()``)."""
        return self._config

    @property
    def rawconfig(self) -> dict[str, Any]:
        return self._rawconfig

    @property
    def summary(self) -> Summary:
        return self._summary

    @property
    def summary_metrics(self) -> dict[str, Any]:
        return self._summary._json_dict

    @property
    def system_metrics(self) -> dict[str, Any]:
        return self._system_metrics

    @property
    def path(self) -> list[str]:
        return [self.entity, self.project, self.id]

    @property
    def url(self) -> str:
        from urllib.parse import quote

        parts = [quote(p, safe="") for p in (self.entity, self.project)]
        return f"{self.client.app_url}/{parts[0]}/{parts[1]}/runs/{quote(self.id, safe='')}"

    @property
    def sweep(self) -> Sweep | None:
        """The run's sweep (loaded on first access), or None."""
        if self._sweep is None and self.sweep_name:
            self._sweep = self.client.sweep(f"{self.entity}/{self.project}/{self.sweep_name}")
        return self._sweep

    @property
    def metadata(self) -> dict[str, Any] | None:
        """Parsed ``wandb-metadata.json`` (None when absent or unreadable, like ``wandb``)."""
        if self._metadata is None:
            try:
                data = self.file("wandb-metadata.json").read_bytes()
                self._metadata = json.loads(data)
            except (CommError, ValueError):
                return None
        return self._metadata

    # -- history -------------------------------------------------------------------------------

    def _reader(self) -> HistoryReader:
        from wb_dagster.client.history import HistoryReader

        return HistoryReader(
            self.client.transport,
            self._path(),
            workers=self.client.max_concurrency,
            page_rows=self.client.history_page_rows,
        )

    def history(
        self,
        samples: int = 500,
        keys: list[str] | None = None,
        x_axis: str = "_step",
        pandas: bool = True,
        stream: str = "default",
    ) -> pd.DataFrame | list[dict[str, Any]]:
        """Sampled history, exactly like ``wandb``'s ``Run.history`` (server-side sampling).

        With ``keys`` only rows holding every key are returned (W&B's semantics); use
        :meth:`history_table` for the full, unsampled union of keys.
        """
        variables = {"entity": self.entity, "project": self.project, "name": self.id}
        what = f"reading sampled history of run {self}"
        if keys is not None and not isinstance(keys, list):
            raise ValueError("keys must be a list of strings")
        if keys and stream != "default":
            raise ValueError("keys can only be used with stream='default'")
        if keys:
            spec = json.dumps({"keys": [x_axis, *keys], "samples": samples})
            data = self.client.transport.graphql(
                queries.RUN_SAMPLED_HISTORY, {**variables, "specs": [spec]}, what=what
            )
            run = (data.get("project") or {}).get("run") or {}
            lines = (run.get("sampledHistory") or [[]])[0] or []
        else:
            from wb_dagster.client.history import parse_history_lines

            field = "history" if stream == "default" else "events"
            query = queries.RUN_FULL_HISTORY if field == "history" else queries.RUN_EVENTS
            data = self.client.transport.graphql(
                query, {**variables, "samples": samples}, what=what
            )
            run = (data.get("project") or {}).get("run") or {}
            lines = parse_history_lines(run.get(field) or [])
        if pandas:
            import pandas as pd

            return pd.DataFrame.from_records(lines)
        return lines

    def scan_history(
        self,
        keys: list[str] | None = None,
        page_size: int = 1000,
        min_step: int = 0,
        max_step: int | None = None,
    ) -> HistoryScan:
        """Every history row in ``[min_step, max_step)``, like ``wandb``'s ``scan_history``.

        Rows are W&B rows (nested dicts stay nested), each step once (the SDK repeats the page
        straddling the export boundary; we do not). With ``keys`` rows are projected to
        ``_step`` + keys and, exactly as wandb 0.31 does, exported steps are all returned (None
        for keys a step did not log) while live steps are returned only if they hold every key.
        For a consistent union of keys use :meth:`history_table`.
        """
        if keys is not None and not isinstance(keys, list):
            raise ValueError("keys must be a list of strings")
        return HistoryScan(self._reader(), keys, page_size, min_step, max_step)

    def history_table(
        self, keys: Sequence[str] | None = None, min_step: int = 0, max_step: int | None = None
    ) -> pa.Table:
        """The full, unsampled history as a ``pyarrow.Table``: one row per logged step.

        Columns are the union of keys (nulls where a step did not log a key), ``_step`` int64
        first, nested keys dotted, typed values (histograms) as W&B JSON text. With ``keys``,
        the columns are ``_step`` + keys and rows are the steps that logged any of them.
        """
        return self._reader().table(keys, min_step, max_step)

    def history_rows(self, min_step: int, max_step: int) -> list[dict[str, Any]]:
        """Every row logged at steps ``[min_step, max_step)``, exported or not, from one live
        ``history`` page (no parquet download): cheap for a few steps, e.g. to check one row.

        Example (``client`` connected to the local server with the demo seed):
            >>> [r["_step"] for r in client.run("wb-demo/cifar/cifar000").history_rows(5, 8)]
            [5, 6, 7]
        """
        return self._reader().live_page((min_step, max_step))

    def iter_history_batches(
        self, min_step: int = 0, max_step: int | None = None
    ) -> Iterator[pa.RecordBatch]:
        """The same rows as :meth:`history_table` as record batches of one schema, spooled
        through a temporary directory so memory stays bounded."""
        return self._reader().batches(min_step, max_step)

    def write_history_parquet(self, dest: Any, min_step: int = 0) -> HistoryExport:
        """Stream the history from ``min_step`` into one parquet file (path, UPath or file)."""
        return self._reader().write_parquet(dest, min_step)

    def system_metrics_table(self) -> pa.Table:
        """Every system-metrics event row (``system.*``, ``_timestamp``, ``_runtime``); W&B caps
        them (see :mod:`wb_dagster.client.system_metrics` for the completeness metadata)."""
        from wb_dagster.client.system_metrics import read_system_metrics

        variables = {"entity": self.entity, "project": self.project, "name": self.id}
        return read_system_metrics(
            self.client.transport, variables, f"reading system metrics of run {self}"
        )

    def console_logs(self, *, per_page: int = 1000, last: int | None = None) -> ConsoleLogs:
        """Captured stdout/stderr lines, oldest first (``last=N``: the newest N), as ``wandb``."""
        from wb_dagster.client.console_logs import ConsoleLogs

        return ConsoleLogs(self, per_page=per_page, last=last)

    # -- logged wandb.Table values (see tables.py) ----------------------------------------------

    def table_keys(self) -> list[str]:
        """Keys under which this run logged a ``wandb.Table`` (history or summary)."""
        from wb_dagster.client.tables import table_keys

        return table_keys(self.history_keys, self.summary_metrics)

    def table(self, key: str, step: int | None = None) -> pa.Table:
        """The ``wandb.Table`` logged under ``key`` at ``step`` (default: the summary's, i.e.
        the last one logged), with W&B's column types; ``.to_pandas()`` for a DataFrame."""
        from wb_dagster.client import tables

        if step is None:
            return tables.read_tables(self, [tables.latest_ref(self, key)])[0]
        at_step = [r for r in tables.history_refs(self, key) if r.step == step]
        if not at_step:
            raise NotFoundError(f"Run {self} logged no wandb.Table under {key!r} at {step}.")
        return tables.read_tables(self, at_step)[0]

    def table_history(self, key: str) -> pa.Table:
        """Every ``wandb.Table`` logged under ``key``, concatenated, ``_step`` first."""
        from wb_dagster.client import tables

        refs = tables.history_refs(self, key) or [tables.latest_ref(self, key)]
        return tables.concat_steps(refs, tables.read_tables(self, refs))

    # -- files ---------------------------------------------------------------------------------

    def files(
        self, names: list[str] | None = None, pattern: str | None = None, per_page: int = 50
    ) -> Files:
        """The run's files; ``names`` exact, or ``pattern`` in SQL LIKE syntax (``%.png``)."""
        return Files(self, names, pattern, per_page)

    def file(self, name: str) -> File:
        """One file by exact name; ``NotFoundError`` if the run has none by that name."""
        for f in Files(self, [name]):
            if f.name == name:
                return f
        raise NotFoundError(f"Run {self} has no file named {name!r}: list them with run.files().")

    def upload_file(self, path: str, root: str = ".") -> File:
        """Upload a local file; it is stored under its path relative to ``root``."""
        root_abs = os.path.abspath(root)
        name = os.path.relpath(os.path.abspath(path), root_abs).replace(os.sep, "/")
        if name.startswith("../") or name == "..":
            raise ValueError(f"{path!r} is not inside root {root!r}; pass a root that contains it")
        transport = self.client.transport
        what = f"uploading {name} to run {self}"
        data = transport.graphql(
            queries.CREATE_RUN_FILES,
            {"entity": self.entity, "project": self.project, "run": self.id, "files": [name]},
            what=what,
        )
        result = data.get("createRunFiles") or {}
        if not result.get("runID"):
            raise CommError(
                f"Error uploading files to {self}. Check that this project exists and you have "
                "access to this entity and project."
            )
        (info,) = result.get("files") or [{}]
        headers = dict(
            (h.split(":", 1)[0].strip(), h.split(":", 1)[1].strip())
            for h in result.get("uploadHeaders") or []
            if ":" in h
        )
        transport.put_file(info["uploadUrl"], os.path.join(root_abs, name), headers, what=what)
        if self.client.server_feature("MARK_RUN_FILES_UPLOADED"):
            transport.graphql(
                queries.MARK_RUN_FILES_UPLOADED,
                {"entity": self.entity, "project": self.project, "run": self.id, "files": [name]},
                what=what,
            )
        return self.file(name)

    # -- writes --------------------------------------------------------------------------------

    def _server_state(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """(raw stored config JSON, summary) as the server holds them now."""
        data = self.client.transport.graphql(
            queries.RUN_CONFIG_AND_SUMMARY,
            {"entity": self.entity, "project": self.project, "name": self.id},
            what=f"reading the current config of run {self}",
        )
        run = (data.get("project") or {}).get("run")
        if run is None:
            raise NotFoundError(f"Could not find run {self}: was it deleted?")
        return loads_object(run.get("config")), loads_object(run.get("summaryMetrics"))

    @staticmethod
    def _merge_config(raw: dict[str, Any], change: Change) -> dict[str, Any]:
        merged = dict(raw)
        for key in change.removed:
            merged.pop(key, None)
        for key, value in change.set.items():
            old = merged.get(key)
            desc = old.get("desc") if isinstance(old, dict) and "value" in old else None
            merged[key] = {"value": encode_value(value), "desc": desc}
        return merged

    def pending_update(self) -> tuple[Change, Change, dict[str, Any]]:
        """(config change, summary change, changed fields) not yet sent."""
        fields = {
            k: self._attrs.get(k)
            for k in _EDITABLE
            if self._attrs.get(k) != self._fields_base.get(k)
        }
        return diff(self._config_base, self._config), self._summary.pending(), fields

    def update(self, *, dry_run: bool = False) -> RunUpdate:
        """Write local edits (config, summary, name, tags, notes, group, job type) to W&B.

        Only what changed since the run was read is sent, merged onto the server's *current*
        config and summary (read-modify-write), so keys written elsewhere meanwhile survive.
        ``dry_run=True`` returns the change and the merged result without writing anything.
        """
        config_change, summary_change, fields = self.pending_update()
        if not (config_change or summary_change or fields):
            return RunUpdate(config_change, summary_change, fields, applied=not dry_run)
        raw, summary_now = self._server_state()
        config_after = None
        if config_change:
            config_after = unwrap_config(self._merge_config(raw, config_change))[0]
        summary_after = summary_change.apply(summary_now) if summary_change else None
        if dry_run:
            return RunUpdate(config_change, summary_change, fields, config_after, summary_after)
        if config_change or fields:
            variables: dict[str, Any] = {"id": self.storage_id}
            for key, var in _EDITABLE.items():
                if key in fields:
                    variables[var] = fields[key]
            if config_change:
                variables["config"] = dumps(self._merge_config(raw, config_change))
            data = self.client.transport.graphql(
                queries.UPSERT_RUN, variables, what=f"updating run {self}"
            )
            bucket = (data.get("upsertBucket") or {}).get("bucket")
            if bucket:
                pending_summary = self._summary._json_dict
                self._set_attrs(bucket)
                self._summary._json_dict.clear()
                self._summary._json_dict.update(pending_summary)
        if summary_change:
            self._summary._reset(self._write_summary(summary_change, summary_now))
        return RunUpdate(
            config_change, summary_change, fields, config_after, summary_after, applied=True
        )

    def save(self) -> RunUpdate:
        """Alias of :meth:`update` (as in ``wandb``)."""
        return self.update()

    def _write_summary(
        self, change: Change, current: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        if current is None:
            current = self._server_state()[1]
        merged = change.apply(current)
        data = self.client.transport.graphql(
            queries.UPSERT_SUMMARY,
            {"id": self.storage_id, "summaryMetrics": dumps(merged)},
            what=f"updating the summary of run {self}",
        )
        bucket = (data.get("upsertBucket") or {}).get("bucket") or {}
        if not bucket.get("id"):
            raise CommError(f"updating the summary of run {self}: the server returned no run")
        return merged

    def delete(self, delete_artifacts: bool = False) -> None:
        """Delete the run (not retried automatically on server errors)."""
        self.client.transport.graphql(
            queries.DELETE_RUN_WITH_ARTIFACTS if delete_artifacts else queries.DELETE_RUN,
            {"id": self.storage_id, **({"deleteArtifacts": True} if delete_artifacts else {})},
            what=f"deleting run {self}",
            idempotent=False,
        )
        self.client._forget_run(self)


class HistoryScan:
    """An iterable over history rows (re-iterating starts a new scan).

    Example (``client`` connected to the local server with the demo seed):
        >>> scan = client.run("wb-demo/cifar/cifar001").scan_history(keys=["loss"])
        >>> next(iter(scan))
        {'_step': 0, 'loss': 2.3}
    """

    def __init__(
        self,
        reader: HistoryReader,
        keys: list[str] | None,
        page_size: int,
        min_step: int,
        max_step: int | None,
    ) -> None:
        self._args = (reader, keys, page_size, min_step, max_step)
        self._it: Iterator[dict[str, Any]] | None = None

    def __iter__(self) -> Iterator[dict[str, Any]]:
        reader, keys, page_size, min_step, max_step = self._args
        self._it = reader.scan(keys, page_size, min_step, max_step)
        return self._it

    def __next__(self) -> dict[str, Any]:
        if self._it is None:
            iter(self)
        assert self._it is not None
        return next(self._it)


# -- listing --------------------------------------------------------------------------------------

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
        client: WandbClient,
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
        self._pager = self._new_pager(queries.RUNS)

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
            raise unexpected_shape(self.client, what, "project.runs.edges is not a list")
        nodes = [e["node"] for e in edges if e.get("node")]
        if not all(isinstance(n, dict) for n in nodes):
            raise unexpected_shape(self.client, what, "a run node is not an object")
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

    def _all_nodes(self, document: str = queries.RUNS) -> list[dict[str, Any]]:
        if not self._more and document == queries.RUNS:
            return [r._attrs for r in self.objects]
        return self._new_pager(document).all_nodes(max(self.per_page, 500))

    def iter_changes(self) -> Iterator[Run]:
        """The runs with only what a change detector reads (id, state, createdAt, heartbeatAt,
        historyLineCount, historyKeys), one page at a time: no config, summary or metrics."""
        pager, path = (
            self._new_pager(queries.RUN_CHANGES),
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

        nodes = self._all_nodes(queries.RUN_STATES)
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
