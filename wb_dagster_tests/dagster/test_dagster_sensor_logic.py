"""Run-sensor tick logic on in-memory runs: dedupe, resume, per-tick cap, time budget, faults.

End-to-end sensor behaviour against the local server is in test_dagster_end_to_end.py; here the
listing is a small in-memory stand-in that applies the filter shapes the sensor sends (heartbeat
window, open ids, resume point), in created order as the sensor asks.
"""

import datetime as dt
import json
from types import SimpleNamespace
from typing import Any

from wb_dagster.project import WandbProjectAssetsSpec
from wb_dagster.sensors.runs import (
    RunSensorCursor,
    listing_filters,
    scan_runs,
)

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
P = WandbProjectAssetsSpec.build(entity="team", project="proj")


def run(
    run_id: str, state: str, minute: int, lines: int = 10, created: int | None = None
) -> SimpleNamespace:
    hb = (T0 + dt.timedelta(minutes=minute)).isoformat()
    made = (T0 + dt.timedelta(minutes=minute if created is None else created)).isoformat()
    return SimpleNamespace(
        id=run_id, state=state, heartbeat_at=hb, created_at=made, history_line_count=lines
    )


def _ts(value: str) -> dt.datetime:
    parsed = dt.datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def listing(runs: list[SimpleNamespace], filters: dict[str, Any]) -> list[SimpleNamespace]:
    """The server's answer to the sensor's query, in created order."""

    def match(r: SimpleNamespace, f: dict[str, Any]) -> bool:
        if not f:
            return True
        if "$or" in f:
            return any(match(r, g) for g in f["$or"])
        if "$and" in f:
            return all(match(r, g) for g in f["$and"])
        if "heartbeatAt" in f:
            return _ts(r.heartbeat_at) >= _ts(f["heartbeatAt"]["$gte"])
        if "createdAt" in f:
            return _ts(r.created_at) >= _ts(f["createdAt"]["$gte"])
        return r.id in f["name"]["$in"]

    return sorted((r for r in runs if match(r, filters)), key=lambda r: (r.created_at, r.id))


def tick(runs, cursor, *, cap=100, lookback=60.0, deadline=float("inf"), clock=lambda: 0.0):
    return scan_runs(
        listing(runs, listing_filters(cursor, lookback)),
        cursor,
        lookback_s=lookback,
        max_changes=cap,
        deadline=deadline,
        clock=clock,
    )


def test_first_tick_requests_terminal_runs_and_remembers_open_ones():
    runs = [run("a", "finished", 1), run("b", "running", 2), run("c", "crashed", 3)]
    scan = tick(runs, RunSensorCursor())
    assert [(c.run_id, c.state) for c in scan.changes] == [("a", "finished"), ("c", "crashed")]
    assert set(scan.cursor.open) == {"b"}
    assert scan.cursor.watermark == "2026-01-01T00:03:00"


def test_unchanged_runs_are_never_requested_again():
    runs = [run("a", "finished", 1), run("c", "failed", 3)]
    first = tick(runs, RunSensorCursor())
    second = tick(runs, first.cursor)
    third = tick(runs, RunSensorCursor.parse(second.cursor.dump()))
    assert [c.run_id for c in first.changes] == ["a", "c"]
    assert second.changes == [] and third.changes == []


def test_resumed_run_is_requested_again_with_a_new_run_key():
    runs = [run("a", "finished", 1)]
    first = tick(runs, RunSensorCursor())
    resumed = [run("a", "running", 30, lines=15, created=1)]
    during = tick(resumed, first.cursor)
    assert during.changes == [] and "a" in during.cursor.open
    done = tick([run("a", "finished", 40, lines=20, created=1)], during.cursor)
    assert [c.run_id for c in done.changes] == ["a"]
    assert done.changes[0].run_key != first.changes[0].run_key
    assert done.changes[0].run_key.startswith("a:")


def test_run_that_finished_without_a_new_heartbeat_is_found_through_the_open_list():
    # a crash detected server-side may not move the heartbeat past the watermark
    runs = [run("a", "running", 1), run("b", "finished", 50)]
    first = tick(runs, RunSensorCursor(), lookback=60.0)
    assert [c.run_id for c in first.changes] == ["b"] and set(first.cursor.open) == {"a"}
    later = tick([run("a", "crashed", 1), run("b", "finished", 50)], first.cursor, lookback=60.0)
    assert [c.run_id for c in later.changes] == ["a"]
    assert later.cursor.open == {}


def test_per_tick_cap_drains_everything_exactly_once():
    runs = [run(f"r{i}", "finished", i) for i in range(7)]
    cursor, requested, ticks = RunSensorCursor(), [], 0
    while ticks < 10:
        scan = tick(runs, cursor, cap=3, lookback=0.0)
        ticks += 1
        requested += [c.run_id for c in scan.changes]
        cursor = RunSensorCursor.parse(scan.cursor.dump())
        assert len(scan.changes) <= 3
        if not scan.changes:
            break
    assert requested == [f"r{i}" for i in range(7)]
    assert ticks == 4


def test_time_budget_stops_the_tick_and_the_next_tick_continues():
    runs = [run(f"r{i}", "finished", i) for i in range(5)]
    now = [0.0]

    def clock() -> float:
        now[0] += 10.0  # every run costs 10 s of the budget
        return now[0]

    first = tick(runs, RunSensorCursor(), deadline=25.0, clock=clock)
    assert first.stopped_by == "budget"
    assert [c.run_id for c in first.changes] == ["r0", "r1"]  # clock at 10, 20; stop at 30
    rest = tick(runs, first.cursor)
    assert [c.run_id for c in rest.changes] == ["r2", "r3", "r4"]


def test_unreadable_cursor_restarts_from_the_beginning():
    assert RunSensorCursor.parse("{not json").watermark is None
    assert RunSensorCursor.parse(json.dumps({"v": 99, "watermark": "x"})).watermark is None


class FakeClient:
    def __init__(self, runs, fail: bool = False):
        self._runs, self.fail = runs, fail
        self.queries: list[dict] = []

    def runs(self, path, filters=None, order="+created_at", per_page=50):
        self.queries.append((path, filters, order))
        if self.fail:
            raise ConnectionError("W&B unavailable")
        found = listing(self._runs, filters or {})
        return SimpleNamespace(iter_changes=lambda: iter(found))
