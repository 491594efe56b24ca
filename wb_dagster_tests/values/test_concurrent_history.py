"""D7: two syncs of one run's stored history at once (two materializations of one partition)
store each step once and lose none; the SDK's ``scan_history`` is the referee.

The interleaving is forced, not hoped for: the first sync is held right after it fetched its new
steps until the second one has fetched (or stored) its own.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from upath import UPath

from wb_dagster.assets.history_sync import HistorySync, sync_history
from wb_dagster.storage import read_table
from wb_dagster.testing import LocalWandbServer
from wb_dagster_tests.support.clients import make_client, make_sdk_api

RUN = "tester/conc/r1"


class HeldAfterExport:
    """A run whose ``write_history_parquet`` waits for ``release`` once it has written."""

    def __init__(self, run: Any, fetched: threading.Event, release: threading.Event) -> None:
        self._run, self._fetched, self._release = run, fetched, release

    def __getattr__(self, name: str) -> Any:
        return getattr(self._run, name)

    def write_history_parquet(self, *args: Any, **kwargs: Any) -> Any:
        export = self._run.write_history_parquet(*args, **kwargs)
        self._fetched.set()
        assert self._release.wait(30), "the test never released the held sync"
        return export


def _rows(lo: int, hi: int) -> list[dict[str, Any]]:
    return [{"_step": s, "loss": 1.0 / (s + 1), "_timestamp": 1.7e9 + s} for s in range(lo, hi)]


@pytest.fixture
def conc_server() -> Iterator[LocalWandbServer]:
    with LocalWandbServer(seed=None) as srv:
        srv.seed.viewer("tester", "tester")
        srv.seed.create_run("tester/conc", "r1")
        srv.seed.append_history(RUN, _rows(0, 100))
        yield srv


def _held_sync(
    server: LocalWandbServer, dest: UPath
) -> tuple[threading.Thread, threading.Event, threading.Event, list[HistorySync]]:
    fetched, release, out = threading.Event(), threading.Event(), []
    run = HeldAfterExport(make_client(server).run(RUN), fetched, release)
    thread = threading.Thread(target=lambda: out.append(sync_history(run, dest)))
    thread.start()
    assert fetched.wait(30), "the first sync never fetched"
    return thread, fetched, release, out


def _assert_stored_is_the_sdks(server: LocalWandbServer, dest: UPath, steps: int) -> None:
    stored = read_table(dest)
    sdk = [r for r in make_sdk_api(server).run(RUN).scan_history()]
    assert stored.column("_step").to_pylist() == list(range(steps))
    assert [r["_step"] for r in sdk] == list(range(steps))
    assert stored.column("loss").to_pylist() == [r["loss"] for r in sdk]


def test_two_appends_of_the_same_steps_store_each_step_once(
    conc_server: LocalWandbServer, sdk_env: Any, tmp_path: Path
) -> None:
    dest = UPath(tmp_path / "store" / "r1.parquet")
    assert sync_history(make_client(conc_server).run(RUN), dest).mode == "full"
    conc_server.seed.append_history(RUN, _rows(100, 200))
    held, _, release, out = _held_sync(conc_server, dest)  # fetched steps 100-199, holds
    try:
        # the second materialization runs through while the first holds its fetched steps
        assert sync_history(make_client(conc_server).run(RUN), dest).mode == "append"
    finally:
        release.set()
        held.join(30)
    assert out and out[0].mode == "append"
    _assert_stored_is_the_sdks(conc_server, dest, 200)


def test_a_slower_append_keeps_the_steps_a_faster_one_stored(
    conc_server: LocalWandbServer, sdk_env: Any, tmp_path: Path
) -> None:
    dest = UPath(tmp_path / "store" / "r1.parquet")
    sync_history(make_client(conc_server).run(RUN), dest)
    conc_server.seed.append_history(RUN, _rows(100, 200))
    held, _, release, out = _held_sync(conc_server, dest)  # fetched 100-199, holds
    try:
        conc_server.seed.append_history(RUN, _rows(200, 250))
        assert sync_history(make_client(conc_server).run(RUN), dest).stored.rows == 250
    finally:
        release.set()
        held.join(30)
    assert out and out[0].stored.rows == 250
    _assert_stored_is_the_sdks(conc_server, dest, 250)


HOLDER = """
import sys
import pyarrow as pa
from upath import UPath
from wb_dagster.storage import _writers_take_turns, write_table_atomic

dest = UPath(sys.argv[1])
with _writers_take_turns(dest):
    print("holding", flush=True)
    sys.stdin.readline()  # the test says when
    # the longer writer stores steps 0-299 while the other upsert waits for its turn
    write_table_atomic(pa.table({"_step": list(range(300)), "loss": [0.5] * 300}), dest)
"""


def test_an_upsert_waits_for_a_writer_in_another_process_and_keeps_its_steps(
    tmp_path: Path,
) -> None:
    """The race the forced interleavings above cannot reach: the shorter writer re-reads the
    stored file just before the longer one replaces it. On local storage they take turns."""
    import subprocess
    import sys

    import pyarrow as pa

    from wb_dagster.storage import upsert_steps_atomic, write_table_atomic

    dest = UPath(tmp_path / "r1.parquet")
    write_table_atomic(pa.table({"_step": list(range(100)), "loss": [1.0] * 100}), dest)
    part = UPath(tmp_path / "part.parquet")
    write_table_atomic(pa.table({"_step": list(range(100, 200)), "loss": [2.0] * 100}), part)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(dest)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
        done: list[Any] = []
        upsert = threading.Thread(target=lambda: done.append(upsert_steps_atomic(dest, part)))
        upsert.start()
        upsert.join(1.0)
        assert upsert.is_alive() and not done  # its turn has not come
        assert holder.stdin is not None
        holder.stdin.write("go\n")
        holder.stdin.flush()
        upsert.join(30)
        assert holder.wait(30) == 0
    finally:
        holder.kill()
    stored = read_table(dest)
    assert stored.column("_step").to_pylist() == list(range(300))  # none of 200-299 dropped
    assert stored.column("loss").to_pylist() == [0.5] * 100 + [2.0] * 100 + [0.5] * 100
