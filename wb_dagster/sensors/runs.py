"""The run sensor: W&B runs that ended become partitions and batched run requests.

Run sensor, each tick (one listing, a few light pages):

* list runs with ``heartbeatAt >= watermark - lookback`` (a run's heartbeat moves when it logs,
  finishes, crashes or is resumed), plus the runs last seen unfinished, asked by name. The
  listing is in created order, paged by a ``createdAt`` filter (:mod:`wb_dagster.client.run_pages`):
  never on the moving heartbeat, never trusting W&B's offset cursors, which skip a run whenever
  one is created, deleted or re-ordered between pages; only the fields a fingerprint needs;
* a tick stopped by its budget or cap keeps its place (``resume``: the created time reached)
  and the next tick continues the same pass; the watermark advances only when a pass ends, to
  the newest heartbeat seen in the pass's first tick, so a run changing during a long pass is
  listed again by the next one;
* a run in a terminal state (finished, crashed, failed, killed) whose fingerprint
  (state, heartbeat, history line count) is new becomes a dynamic partition, keyed
  ``f"{run_id}:{fingerprint}"``: a resumed or rewound run refreshes again, an unchanged one
  never (Dagster keeps run keys forever; a batch's key is a digest of its runs' keys);
* stops at a time budget (well under the 60 s tick limit) or a per-tick cap and keeps its
  place in a small JSON cursor; a failing tick raises, so the cursor is not advanced and no
  run is lost;
* the changed runs are requested in batches (one Dagster run per contiguous stretch of up to
  ``batch_size`` partitions, see :mod:`wb_dagster.sensors.batches`), each W&B run its own partition;
* when something changed, also requests a refresh of the ``runs`` table.

The W&B resource is read from ``context.resources`` (the daemon binds the sensor's
``required_resource_keys`` there, not as keyword arguments).

Example:
    >>> from wb_dagster.project import WandbProjectAssetsSpec
    >>> p = WandbProjectAssetsSpec.build(entity="wb-demo", project="cifar")
    >>> build_wandb_run_sensor(p).name
    'wandb_wb_demo__cifar__run_sensor'
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import dagster as dg
from pydantic import BaseModel, Field, ValidationError

from wb_dagster.assets.runs_table import TERMINAL_STATES
from wb_dagster.client.deadline import time_budget
from wb_dagster.client.errors import CommError, TimeBudgetExceeded
from wb_dagster.client.run_pages import with_condition
from wb_dagster.client.timestamps import to_utc, wandb_time
from wb_dagster.jobs import WandbJobs
from wb_dagster.project import WandbProjectAssetsSpec
from wb_dagster.resource import resource_from
from wb_dagster.sensors.batches import DEFAULT_BATCH_SIZE, batch_request, plan_batches
from wb_dagster.sensors.fingerprints import run_fingerprint, short_digest
from wb_dagster.sensors.tick_budget import tick_retry_s

if TYPE_CHECKING:
    from wb_dagster.client import WandbClient

CURSOR_VERSION = 1
MAX_OPEN_RUNS = 1000


class RunSensorCursor(BaseModel):
    """Progress of the run sensor, stored as compact JSON in the tick record.

    Example:
        >>> cursor = RunSensorCursor(watermark="2024-03-01T00:00:00+00:00", open={"r1": ""})
        >>> RunSensorCursor.parse(cursor.dump()) == cursor, RunSensorCursor.parse("junk").open
        (True, {})
    """

    v: int = CURSOR_VERSION
    watermark: str | None = Field(default=None, description="newest heartbeat processed (UTC)")
    seen: dict[str, list[str]] = Field(
        default_factory=dict, description="run id -> [fingerprint, heartbeat] inside the lookback"
    )
    open: dict[str, str] = Field(
        default_factory=dict, description="run id -> heartbeat of runs seen unfinished"
    )
    resume: str | None = Field(
        default=None, description="createdAt reached by a pass that a tick's budget or cap cut"
    )
    mark: str | None = Field(
        default=None, description="newest heartbeat seen in the first tick of the current pass"
    )

    @classmethod
    def parse(cls, raw: str | None, log: Any = None) -> RunSensorCursor:
        """Decode a stored cursor; an unreadable one restarts from scratch (logged)."""
        if not raw:
            return cls()
        try:
            cursor = cls.model_validate_json(raw)
            if cursor.v == CURSOR_VERSION:
                return cursor
        except (ValidationError, ValueError):
            pass
        if log is not None:
            log.warning("W&B run sensor: unreadable cursor, restarting from the first run")
        return cls()

    def dump(self) -> str:
        """The cursor as the JSON text :meth:`parse` reads."""
        return self.model_dump_json()


@dataclass(frozen=True)
class RunChange:
    """One finished run to (re-)materialize."""

    run_id: str
    fingerprint: str
    state: str

    @property
    def run_key(self) -> str:
        return f"{self.run_id}:{self.fingerprint}"


@dataclass
class RunScan:
    """Outcome of one tick's scan: changes to request and the cursor to store."""

    changes: list[RunChange] = field(default_factory=list)
    cursor: RunSensorCursor = field(default_factory=RunSensorCursor)
    scanned: int = 0
    stopped_by: str | None = None  # "budget" | "cap" | None


def listing_filters(cursor: RunSensorCursor, lookback_s: float) -> dict[str, Any]:
    """The W&B ``filters`` of a tick's listing (times in W&B's own spelling).

    Example:
        >>> f = listing_filters(RunSensorCursor(watermark="2024-03-01T00:02:00", open={"r1": ""},
        ...                                     resume="2024-02-01T00:00:00"), 120)
        >>> f["$and"][0]["$or"][0]["heartbeatAt"], f["$and"][1]["createdAt"]
        ({'$gte': '2024-03-01T00:00:00'}, {'$gte': '2024-02-01T00:00:00'})
    """
    resume = {"createdAt": {"$gte": cursor.resume}} if cursor.resume else None
    if cursor.watermark is None:
        return with_condition({}, resume)
    since = to_utc(cursor.watermark)
    assert since is not None
    recent: dict[str, Any] = {"heartbeatAt": {"$gte": wandb_time(since - _delta(lookback_s))}}
    if cursor.open:
        recent = {"$or": [recent, {"name": {"$in": sorted(cursor.open)}}]}
    return with_condition(recent, resume)


def newest_heartbeat(client: WandbClient, project_path: str) -> dt.datetime | None:
    """The newest heartbeat of any run of the project (one run asked for, no paging)."""
    runs = client.runs(project_path, order="-heartbeat_at", per_page=1).iter_changes()
    latest = next(iter(runs), None)
    return to_utc(getattr(latest, "heartbeat_at", None)) if latest is not None else None


def _delta(seconds: float) -> dt.timedelta:
    return dt.timedelta(seconds=seconds)


def scan_runs(
    runs: Iterable[Any],
    cursor: RunSensorCursor,
    *,
    lookback_s: float,
    max_changes: int,
    deadline: float,
    clock: Callable[[], float] = time.monotonic,
    pass_mark: Callable[[], dt.datetime | None] | None = None,
) -> RunScan:
    """Walk ``runs`` (created order) and decide what to request; pure apart from ``clock``.

    ``pass_mark`` gives the project's newest heartbeat; it is asked (once) only when a pass
    needs more than this tick, so that runs changing meanwhile are found by the next pass.
    """
    seen = {k: list(v) for k, v in cursor.seen.items()}
    open_runs = dict(cursor.open)
    scan = RunScan()
    requested: set[str] = set()
    listed: set[str] = set()
    newest: dt.datetime | None = None
    reached: str | None = None
    boundary: set[str] = set()  # the runs created in the second the pass stopped in
    for run in _until_out_of_time(runs, scan):
        if clock() >= deadline:
            scan.stopped_by = "budget"
            break
        run_id = str(run.id)
        state = str(getattr(run, "state", "") or "")
        hb = to_utc(getattr(run, "heartbeat_at", None))
        hb_text = wandb_time(hb) if hb else ""
        if state in TERMINAL_STATES:
            fp = run_fingerprint(run)
            if seen.get(run_id, [None])[0] != fp and run_id not in requested:
                if len(scan.changes) >= max_changes:
                    scan.stopped_by = "cap"
                    break
                scan.changes.append(RunChange(run_id, fp, state))
                requested.add(run_id)
            seen[run_id] = [fp, hb_text]
            open_runs.pop(run_id, None)
        else:
            open_runs[run_id] = hb_text
        listed.add(run_id)
        created = getattr(run, "created_at", None)
        if created and created != reached:
            reached, boundary = created, set()
        boundary.add(run_id)
        scan.scanned += 1
        if hb is not None and (newest is None or hb > newest):
            newest = hb
    if scan.stopped_by is not None and not cursor.resume and pass_mark is not None:
        try:
            latest = pass_mark()  # the pass goes on next tick: mark where W&B is now
        except (CommError, TimeBudgetExceeded):
            latest = None  # then the first tick's newest heartbeat: later, but never wrong
        newest = latest if latest and (newest is None or latest > newest) else newest
    listing = _Listed(listed, reached, boundary, newest)
    scan.cursor = _next_cursor(cursor, scan, seen, open_runs, listing, lookback_s)
    return scan


@dataclass(frozen=True)
class _Listed:
    """What one tick's listing reached: ids, the last created second and its ids, the newest
    heartbeat."""

    ids: set[str]
    reached: str | None
    boundary: set[str]
    newest: dt.datetime | None


def _next_cursor(
    cursor: RunSensorCursor,
    scan: RunScan,
    seen: dict[str, list[str]],
    open_runs: dict[str, str],
    listed: _Listed,
    lookback_s: float,
) -> RunSensorCursor:
    mark = to_utc(cursor.mark) if cursor.resume and cursor.mark else listed.newest
    watermark = to_utc(cursor.watermark) if cursor.watermark else None
    resume: str | None = None
    if scan.stopped_by is None:  # the pass ended: the next one starts from its first tick
        if mark is not None and (watermark is None or mark > watermark):
            watermark = mark
        mark = None
        if cursor.resume is None:
            # every open run was asked for by name in this one tick: one not listed is deleted
            open_runs = {k: v for k, v in open_runs.items() if k in listed.ids}
    else:
        resume = listed.reached or cursor.resume
        if mark is not None:
            # the pass ends with the watermark at ``mark``: the next one lists nothing older
            # than its lookback, and this one lists again only the second it stopped in
            floor = wandb_time(mark - _delta(lookback_s))
            seen = {k: v for k, v in seen.items() if v[1] >= floor or k in listed.boundary}
    if watermark is not None:
        floor = wandb_time(watermark - _delta(lookback_s))
        # runs older than the lookback window are not listed again unless their heartbeat moves
        seen = {k: v for k, v in seen.items() if v[1] >= floor}
    if len(open_runs) > MAX_OPEN_RUNS:
        open_runs = dict(sorted(open_runs.items(), key=lambda kv: kv[1])[-MAX_OPEN_RUNS:])
    return RunSensorCursor(
        watermark=wandb_time(watermark) if watermark else None,
        seen=seen,
        open=open_runs,
        resume=resume,
        mark=wandb_time(mark) if mark else None,
    )


def _until_out_of_time(runs: Iterable[Any], scan: RunScan) -> Iterator[Any]:
    """``runs`` until a page misses the tick's time budget (then the scan stops as "budget").

    Nothing read yet: the tick fails with the error, so the cursor stays where it was.
    """
    try:
        yield from runs
    except TimeBudgetExceeded:
        if not scan.scanned:
            raise
        scan.stopped_by = "budget"


def build_wandb_run_sensor(
    p: WandbProjectAssetsSpec,
    *,
    resource_key: str = "wandb",
    name: str | None = None,
    minimum_interval_seconds: int = 120,
    default_status: dg.DefaultSensorStatus = dg.DefaultSensorStatus.STOPPED,
    max_runs_per_tick: int = 500,
    tick_budget_seconds: float = 40.0,
    lookback_seconds: float = 120.0,
    page_size: int = 200,
    refresh_runs_table: bool = True,
    batch_size: int = DEFAULT_BATCH_SIZE,
    jobs: WandbJobs | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> dg.SensorDefinition:
    """Sensor launching ``run_history`` / ``run_system_metrics`` for runs that finished.

    STOPPED by default (it spends W&B API quota); turn it on in the UI or with
    ``default_status=dg.DefaultSensorStatus.RUNNING``. Up to ``batch_size`` W&B runs share
    one Dagster run (each still its own partition). ``jobs``: the project's jobs, when the
    definitions hold them already (one object per job name).

    Example:
        >>> from wb_dagster.project import WandbProjectAssetsSpec
        >>> p = WandbProjectAssetsSpec.build(entity="team", project="cifar")
        >>> s = build_wandb_run_sensor(p, max_runs_per_tick=100)
        >>> s.default_status.value
        'STOPPED'
    """
    jobs = jobs or WandbJobs.build(p)
    targets = [jobs.run_assets, jobs.runs] if refresh_runs_table else [jobs.run_assets]

    @dg.sensor(
        name=name or f"wandb_{p.name}__run_sensor",
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=default_status,
        jobs=targets,
        required_resource_keys={resource_key},
        description=f"Finished runs of {p.path} -> per-run partitions and materializations.",
    )
    def _run_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        deadline = clock() + tick_budget_seconds
        cursor = RunSensorCursor.parse(context.cursor, context.log)
        # one call's retries must leave the tick time to end before Dagster's 60 s limit
        resource = resource_from(context.resources, resource_key)
        client = resource.get_client(max_retry_s=tick_retry_s(tick_budget_seconds))
        # every request of the tick ends within its budget, however slowly W&B answers
        with time_budget(tick_budget_seconds):
            runs = client.runs(
                p.path,
                filters=listing_filters(cursor, lookback_seconds),
                order="+created_at",
                per_page=page_size,
            )
            scan = scan_runs(
                runs.iter_changes(),
                cursor,
                lookback_s=lookback_seconds,
                max_changes=max_runs_per_tick,
                deadline=deadline,
                clock=clock,
                pass_mark=lambda: newest_heartbeat(client, p.path),
            )
        # the key order is needed only to batch changes (a quiet tick reads nothing more)
        existing = (
            context.instance.get_dynamic_partitions(p.runs_partitions_name) if scan.changes else []
        )
        return sensor_result(p, scan, jobs, refresh_runs_table, existing, batch_size)

    return _run_sensor


def sensor_result(
    p: WandbProjectAssetsSpec,
    scan: RunScan,
    jobs: WandbJobs,
    refresh_runs_table: bool,
    existing: Sequence[str],
    batch_size: int,
) -> dg.SensorResult:
    """The ``SensorResult`` for one scan (partitions, batched run requests, observation, cursor).

    ``existing`` is the run partitions' key order; new run ids are added after it in scan order.
    """
    run_ids = list(dict.fromkeys(c.run_id for c in scan.changes))
    known = set(existing)
    new_keys = [r for r in run_ids if r not in known]
    run_keys = {c.run_id: c.run_key for c in scan.changes}
    requests = [
        batch_request(batch, run_keys=run_keys, job_name=jobs.run_assets.name)
        for batch in plan_batches(run_ids, existing=existing, max_batch=batch_size)
    ]
    if scan.changes and refresh_runs_table:
        digest = short_digest((c.run_key for c in scan.changes), sep=",")
        requests.append(
            dg.RunRequest(run_key=f"runs:{scan.cursor.watermark}:{digest}", job_name=jobs.runs.name)
        )
    events = []
    if scan.changes:
        events.append(
            dg.AssetObservation(
                asset_key=p.key("project"),
                metadata={
                    "finished_runs_seen": dg.MetadataValue.int(len(scan.changes)),
                    "watermark": scan.cursor.watermark or "",
                },
            )
        )
    return dg.SensorResult(
        run_requests=requests,
        dynamic_partitions_requests=[p.runs_partitions.build_add_request(new_keys)]
        if new_keys
        else [],
        asset_events=events,
        cursor=scan.cursor.dump(),
        skip_reason=None if scan.changes else f"no newly finished runs ({scan.scanned} scanned)",
    )
