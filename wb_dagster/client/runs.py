"""``Run``: one run, with ``wandb.Api``-compatible attributes plus Arrow history.

``Run`` mirrors the SDK: ``id`` is the short run id, ``name``/``display_name`` the display name,
``storage_id`` the GraphQL id, ``config`` the unwrapped user config (``_wandb`` and
``wandb_version`` only in ``rawconfig``), ``summary`` a dict-like :class:`Summary`, ``sweep`` a
``Sweep`` (``sweep_name`` its id string). Listing always requests the full fields, so reading
``config``/``summary`` of listed runs (:mod:`~wb_dagster.client.run_listing`) costs no extra
request.

Example (``client`` connected to the local server with the demo seed):
    >>> run = client.run("wb-demo/cifar/cifar000")
    >>> run.config["optimizer"], run.state, run.history_table().num_rows
    ('sgd', 'finished', 2000)
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from wb_dagster.client.artifacts import RunArtifactsMixin
from wb_dagster.client.changes import Change, RunUpdate, diff
from wb_dagster.client.encoding import last_step, loads_object
from wb_dagster.client.errors import CommError, NotFoundError, unexpected_shape
from wb_dagster.client.files import File, Files, upload_file
from wb_dagster.client.history_scan import HistoryScan
from wb_dagster.client.paths import ObjectPath
from wb_dagster.client.queries import (
    DELETE_RUN,
    DELETE_RUN_WITH_ARTIFACTS,
    RUN,
    RUN_EVENTS,
    RUN_FULL_HISTORY,
    RUN_HISTORY_KEYS,
    RUN_SAMPLED_HISTORY,
)
from wb_dagster.client.run_updates import (
    EDITABLE_FIELDS,
    merge_config,
    read_config_and_summary,
    upsert_run,
    write_summary,
)
from wb_dagster.client.summary import Summary

# pyarrow (and modules built on it) load on first use: import + first request ~0.1 s (bench W7)
if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from wb_dagster.client.console_logs import ConsoleLogs
    from wb_dagster.client.history import HistoryReader
    from wb_dagster.client.history_export import HistoryExport
    from wb_dagster.client.session import SweepRef, WandbSession

WANDB_INTERNAL_KEYS = frozenset({"_wandb", "wandb_version"})


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


def fetch_run_attrs(session: WandbSession, path: ObjectPath) -> dict[str, Any]:
    """The fields of the run at ``path`` (``NotFoundError`` when there is none).

    Example (``client`` connected to the local server with the demo seed):
        >>> fetch_run_attrs(client, ObjectPath("wb-demo", "cifar", "cifar001"))["displayName"]
        'baseline-bar-1'
    """
    data = session.transport.graphql(
        RUN,
        {"entity": path.entity, "project": path.project, "name": path.id},
        what=f"fetching run {path}",
    )
    project = data.get("project")
    run = project.get("run") if isinstance(project, dict) else None
    if (project is not None and not isinstance(project, dict)) or not isinstance(run, dict | None):
        raise unexpected_shape(
            session.base_url, f"fetching run {path}", "project.run is not an object"
        )
    if run is None:
        raise NotFoundError(
            f"Could not find run {path}: check the entity, project and run id (the id is "
            "the short id in the run's URL, not its display name)."
        )
    return run


class Run(RunArtifactsMixin):
    """One W&B run, with the attributes of ``wandb.Api().run()`` (see the module docstring).

    Example (``client`` connected to the local server with the demo seed):
        >>> run = client.run("wb-demo/cifar/cifar001")
        >>> run.id, run.name, run.path
        ('cifar001', 'baseline-bar-1', ['wb-demo', 'cifar', 'cifar001'])
    """

    def __init__(self, client: WandbSession, path: ObjectPath, attrs: dict[str, Any]) -> None:
        self.client = client
        self._entity = path.entity
        self.project = path.project
        self._sweep: SweepRef | None = None
        self._metadata: dict[str, Any] | None = None
        self._set_attrs(attrs)

    # -- loading -----------------------------------------------------------------------------

    def _set_attrs(self, attrs: dict[str, Any]) -> None:
        self._attrs = dict(attrs)
        raw = loads_object(self._attrs.get("config"))
        self._raw_config_json = raw
        self._config, self._rawconfig = unwrap_config(raw)
        self._config_base = copy.deepcopy(self._config)
        self._summary = Summary(
            self._write_summary, loads_object(self._attrs.get("summaryMetrics"))
        )
        self._system_metrics = loads_object(self._attrs.get("systemMetrics"))
        self._fields_base = copy.deepcopy({k: self._attrs.get(k) for k in EDITABLE_FIELDS})

    def load(self, force: bool = False) -> dict[str, Any]:
        """(Re)fetch the run from the server; local unsent edits are discarded."""
        if force or not self._attrs.get("id"):
            self._set_attrs(fetch_run_attrs(self.client, self._path()))
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

        return property(get, put if key in EDITABLE_FIELDS else None, doc=doc)

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
            RUN_HISTORY_KEYS,
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
    def sweep(self) -> SweepRef | None:
        """The run's sweep (the client's cached :class:`~wb_dagster.client.sweeps.Sweep`,
        loaded on first access), or None. Typed as the :class:`SweepRef` part of it, because
        ``sweeps.py`` lists runs and so cannot be imported here."""
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
                RUN_SAMPLED_HISTORY, {**variables, "specs": [spec]}, what=what
            )
            run = (data.get("project") or {}).get("run") or {}
            lines = (run.get("sampledHistory") or [[]])[0] or []
        else:
            from wb_dagster.client.history import parse_history_lines

            field = "history" if stream == "default" else "events"
            query = RUN_FULL_HISTORY if field == "history" else RUN_EVENTS
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
        from wb_dagster.client.history_export import iter_batches

        return iter_batches(self._reader(), min_step, max_step)

    def write_history_parquet(self, dest: Any, min_step: int = 0) -> HistoryExport:
        """Stream the history from ``min_step`` into one parquet file (path, UPath or file)."""
        from wb_dagster.client.history_export import write_parquet

        return write_parquet(self._reader(), dest, min_step)

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
        from wb_dagster.client.tables import history_refs, latest_ref, read_tables

        if step is None:
            return read_tables(self, [latest_ref(self, key)])[0]
        at_step = [r for r in history_refs(self, key) if r.step == step]
        if not at_step:
            raise NotFoundError(f"Run {self} logged no wandb.Table under {key!r} at {step}.")
        return read_tables(self, at_step)[0]

    def table_history(self, key: str) -> pa.Table:
        """Every ``wandb.Table`` logged under ``key``, concatenated, ``_step`` first."""
        from wb_dagster.client.tables import concat_steps, history_refs, latest_ref, read_tables

        refs = history_refs(self, key) or [latest_ref(self, key)]
        return concat_steps(refs, read_tables(self, refs))

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
        return self.file(upload_file(self, path, root))

    # -- writes --------------------------------------------------------------------------------

    def pending_update(self) -> tuple[Change, Change, dict[str, Any]]:
        """(config change, summary change, changed fields) not yet sent."""
        fields = {
            k: self._attrs.get(k)
            for k in EDITABLE_FIELDS
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
        raw, summary_now = read_config_and_summary(self.client, self._path())
        merged_config = merge_config(raw, config_change) if config_change else None
        config_after = unwrap_config(merged_config)[0] if merged_config is not None else None
        summary_after = summary_change.apply(summary_now) if summary_change else None
        if dry_run:
            return RunUpdate(config_change, summary_change, fields, config_after, summary_after)
        if config_change or fields:
            bucket = upsert_run(
                self.client, self.storage_id, fields, merged_config, f"updating run {self}"
            )
            if bucket:
                pending_summary = self._summary._json_dict
                self._set_attrs(bucket)
                self._summary._json_dict.clear()
                self._summary._json_dict.update(pending_summary)
        if summary_change:
            self._summary.mark_saved(self._write_summary(summary_change, summary_now))
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
            current = read_config_and_summary(self.client, self._path())[1]
        merged = change.apply(current)
        write_summary(self.client, self.storage_id, merged, f"updating the summary of run {self}")
        return merged

    def delete(self, delete_artifacts: bool = False) -> None:
        """Delete the run (not retried automatically on server errors)."""
        self.client.transport.graphql(
            DELETE_RUN_WITH_ARTIFACTS if delete_artifacts else DELETE_RUN,
            {"id": self.storage_id, **({"deleteArtifacts": True} if delete_artifacts else {})},
            what=f"deleting run {self}",
            idempotent=False,
        )
        self.client.forget_run(self.path)
