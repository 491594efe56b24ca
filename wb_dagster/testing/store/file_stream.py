"""The file_stream endpoint: how a live SDK run sends history, summary, system metrics and logs.

``POST /files/<entity>/<project>/<run>/file_stream`` (JSON, gzip when ``Content-Encoding: gzip``)
with a body like::

    {"files": {"wandb-history.jsonl": {"offset": 0, "content": ["{\\"loss\\": 1, \\"_step\\": 0}"]},
               "wandb-events.jsonl":  {"offset": 0, "content": ["{\\"system.cpu\\": 12.5, ...}"]},
               "wandb-summary.json":  {"offset": 0, "content": ["{\\"loss\\": 1, ...}"]},
               "output.log":          {"offset": 0, "content": ["2026-01-01T00:00:00 line"]}},
     "uploaded": ["config.yaml"], "complete": true, "exitcode": 0}

Every key is optional; a body without any is a heartbeat. Semantics (wandb-protocol.md §9):

* history / events lines are append-only; ``offset`` is the index of the first line, so a
  retried chunk (offset below the stored line count) only appends the lines not yet stored;
* ``wandb-summary.json`` carries the whole latest summary (replaces the stored one);
* ``output.log`` lines may be rewritten (same offset sent again, the later one wins); each
  line is also kept as a console line (:mod:`~wb_dagster.testing.store.console_logs`, read by
  ``run.console_logs()``); once the SDK lists ``output.log`` in ``uploaded`` (its PUT of the
  whole file), that copy of the file is kept;
* ``complete`` + ``exitcode`` end the run (``finished`` / ``failed``, history exported);
* every request is a heartbeat: it bumps ``heartbeatAt``; a request without ``complete`` for
  an ended run (resumed, or a crashed run that was only cut off) makes it ``running`` again.

The reply is ``{}`` (any JSON object is accepted by wandb-core), or ``{"stopped": true}`` once
the run was asked to stop (``stopRun``, :mod:`~wb_dagster.testing.graphql.run_control_mutations`):
wandb-core reads that key.
Malformed bodies get a 400 that says what is wrong; a 5xx would make wandb-core retry the same
chunk for days.
"""

from __future__ import annotations

import gzip
import json
import logging
import zlib
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from wb_dagster.testing.store.console_logs import OUTPUT_FILE, ConsoleLogStore
from wb_dagster.testing.store.files import FileStore
from wb_dagster.testing.store.history import HistoryStore
from wb_dagster.testing.store.run_lifecycle import TERMINAL_STATES, finish_run
from wb_dagster.testing.store.runs import RunStore
from wb_dagster.testing.store.stop_flags import StopFlags

logger = logging.getLogger(__name__)

HISTORY_FILE = "wandb-history.jsonl"
EVENTS_FILE = "wandb-events.jsonl"
SUMMARY_FILE = "wandb-summary.json"


class FileChunk(BaseModel):
    """Lines of one streamed file starting at line ``offset``."""

    model_config = ConfigDict(extra="ignore")
    offset: int = 0
    content: list[str] = Field(default_factory=list)


class FileStreamRequest(BaseModel):
    """One file_stream request body."""

    model_config = ConfigDict(extra="ignore")
    files: dict[str, FileChunk] = Field(default_factory=dict)
    uploaded: list[str] | None = None
    complete: bool | None = None
    exitcode: int | None = None
    preempting: bool | None = None


class FileStreamError(ValueError):
    """A body the endpoint cannot use (the reply is a 400 with this message)."""


def parse_body(raw: bytes, content_encoding: str | None) -> FileStreamRequest:
    """Decode (gzip if announced) and validate a request body.

    >>> parse_body(b'{"files": {"output.log": {"offset": 2, "content": ["x"]}}}', None).files
    {'output.log': FileChunk(offset=2, content=['x'])}
    """
    if (content_encoding or "").lower() == "gzip":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise FileStreamError(
                f"body announced as gzip could not be decompressed: {exc}"
            ) from exc
    try:
        return FileStreamRequest.model_validate_json(raw or b"{}")
    except ValidationError as exc:
        raise FileStreamError(
            f"file_stream body is not of the expected shape ({exc.error_count()} error(s): "
            f"{exc.errors()[0]['loc']}: {exc.errors()[0]['msg']}); expected "
            '{"files": {name: {"offset": int, "content": [str, ...]}}, "complete": bool, ...}'
        ) from exc


def _parse_lines(name: str, lines: list[str]) -> list[dict[str, Any]]:
    rows = []
    for i, line in enumerate(lines):
        try:
            row = json.loads(line)  # accepts the NaN / Infinity tokens wandb-core writes
        except json.JSONDecodeError as exc:
            raise FileStreamError(f"{name} line {i} is not JSON: {exc}") from exc
        if not isinstance(row, dict):
            raise FileStreamError(f"{name} line {i} is not a JSON object")
        rows.append(row)
    return rows


def _unseen(chunk: FileChunk, stored: int) -> list[str]:
    """The chunk's lines at indices >= ``stored`` (a retried chunk repeats earlier lines)."""
    return chunk.content[max(0, stored - chunk.offset) :]


class FileStreamWriter:
    """Applies file_stream requests to the server's stores."""

    def __init__(
        self,
        runs: RunStore,
        history: HistoryStore,
        files: FileStore,
        console: ConsoleLogStore,
        stops: StopFlags,
    ) -> None:
        self.runs = runs
        self.history = history
        self.files = files
        self.console = console
        self.stops = stops

    def apply(
        self, entity: str, project: str, run_name: str, request: FileStreamRequest
    ) -> dict[str, Any]:
        """Store one request and return the reply; raises ``LookupError`` if the run does not
        exist."""
        run = self.runs.get_run(entity, project, run_name)
        if run is None:
            raise LookupError(
                f"run {entity}/{project}/{run_name} does not exist; the SDK creates it with "
                "upsertBucket before streaming"
            )
        pk = int(run["pk"])
        fields: dict[str, Any] = {}
        if run["state"] in TERMINAL_STATES and not request.complete:
            # data for an ended run: it was resumed (or a crashed one was only cut off)
            fields["state"] = "running"
            self.stops.clear(pk)
        if request.preempting:
            fields["state"] = "preempting"
        with self.runs.store.write():
            history_chunk = request.files.get(HISTORY_FILE)
            if history_chunk is not None:
                self._append_history(pk, history_chunk, int(run["history_line_count"]))
            events_chunk = request.files.get(EVENTS_FILE)
            if events_chunk is not None:
                lines = _unseen(events_chunk, int(run["events_line_count"]))
                self.runs.append_events(pk, _parse_lines(EVENTS_FILE, lines))
            summary_chunk = request.files.get(SUMMARY_FILE)
            if summary_chunk is not None and summary_chunk.content:
                summary = _parse_lines(SUMMARY_FILE, summary_chunk.content[-1:])[0]
                fields["summary"] = json.dumps(summary)
            output_chunk = request.files.get(OUTPUT_FILE)
            # once the SDK has uploaded its own output.log (listed in `uploaded`), that copy wins
            uploaded = OUTPUT_FILE in (request.uploaded or [])
            if output_chunk is not None and output_chunk.content:
                self.console.write(pk, output_chunk.offset, output_chunk.content)
                if not uploaded:
                    self._write_output(pk, output_chunk)
            self.runs.update_run(pk, fields)  # also the heartbeat
            stopped = self.stops.is_stopped(pk)
            if request.complete:
                finish_run(self.runs, self.history, pk, request.exitcode, stopped=stopped)
        return {"stopped": True} if stopped else {}

    def _append_history(self, pk: int, chunk: FileChunk, stored: int) -> None:
        rows = _parse_lines(HISTORY_FILE, _unseen(chunk, stored))
        last_step = int(self.runs.get_run_by_pk(pk)["last_step"])  # type: ignore[index]
        fresh = []
        for row in rows:
            step = row.get("_step")
            if isinstance(step, int | float) and step <= last_step:
                # wandb-core never sends an old step; if it does (e.g. a replayed chunk after a
                # rewind) dropping the row beats a 4xx that would stall the run's upload
                logger.warning("run #%d: dropping history row at old step %s", pk, step)
                continue
            if isinstance(step, int | float):
                last_step = int(step)
            fresh.append(row)
        self.history.append_rows(pk, fresh)

    def _write_output(self, pk: int, chunk: FileChunk) -> None:
        existing = self.files.get(pk, OUTPUT_FILE)
        lines: list[str] = []
        if existing is not None:
            lines = self.files.blob_path(existing.pk).read_text(errors="replace").splitlines()
        if chunk.offset > len(lines):
            lines.extend([""] * (chunk.offset - len(lines)))
        lines[chunk.offset : chunk.offset + len(chunk.content)] = chunk.content
        self.files.put(pk, OUTPUT_FILE, ("\n".join(lines) + "\n").encode())


def history_tail(history: HistoryStore, run_pk: int, last_step: int) -> str:
    """``historyTail``: JSON list holding the run's last history row (as a JSON string).

    A resuming SDK continues at that row's ``_step + 1`` and ``_runtime``.
    """
    if last_step < 0:
        return "[]"
    return json.dumps(history.page(run_pk, last_step, last_step + 1, None))


def events_tail(runs: RunStore, run_pk: int) -> str:
    """``eventsTail``: JSON list holding the run's last system-metrics row (as a JSON string)."""
    row = (
        runs.store.conn()
        .execute("SELECT row FROM events WHERE run_pk = ? ORDER BY seq DESC LIMIT 1", (run_pk,))
        .fetchone()
    )
    return json.dumps([] if row is None else [row[0]])
