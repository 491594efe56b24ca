"""Two upserts of one stored history at once, without a lock: no step lost, none duplicated.

The race is forced, not hoped for: writer A has merged with the stored file and is about to
replace it when writer B (fewer steps read, more steps stored) runs from start to end. A must
see that the object changed and merge again with B's file. Run on ``memory://``, on S3 (moto on
loopback, where the identity is the ETag) and on a local root with the lock bypassed. Without
the re-check the same interleaving loses B's newer steps (the last test shows it).
"""

from __future__ import annotations

import contextlib
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest
from upath import UPath

import wb_dagster.storage as storage
from wb_dagster.storage import (
    StoredFileChanged,
    read_table,
    stored_identity,
    upsert_steps_atomic,
    write_table_atomic,
)

STORED, A_NEW, B_NEW = (0, 100), (100, 200), (100, 250)  # B read later: it has more steps


def _table(lo: int, hi: int, loss: float) -> pa.Table:
    return pa.table({"_step": list(range(lo, hi)), "loss": [loss] * (hi - lo)})


@pytest.fixture(params=["memory", "s3", "local"])
def root(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[UPath]:
    """A storage root on which writers do not take turns."""
    if request.param == "memory":
        path = UPath(f"memory://upserts-{uuid.uuid4().hex[:8]}")
        yield path
        path.fs.rm(path.path, recursive=True)
        return
    if request.param == "s3":
        url, options = request.getfixturevalue("s3_bucket")
        yield UPath(url, **options)
        return
    # local: the advisory lock would make A and B take turns; bypassed to reach the race
    monkeypatch.setattr(storage, "_writers_take_turns", lambda dest: contextlib.nullcontext())
    yield UPath(tmp_path)


def _parts(root: UPath) -> tuple[UPath, UPath, UPath]:
    stored, a, b = root / "r1.parquet", root / "a.parquet", root / "b.parquet"
    write_table_atomic(_table(*STORED, 1.0), stored)
    write_table_atomic(_table(*A_NEW, 2.0), a)
    write_table_atomic(_table(*B_NEW, 3.0), b)
    return stored, a, b


def _race(monkeypatch: pytest.MonkeyPatch, stored: UPath, a: UPath, b: UPath) -> int:
    """A merges, then waits right before its replace check until B has run through; returns
    how often A asked for the stored object's identity."""
    merged, b_done = threading.Event(), threading.Event()
    real = storage.stored_identity
    calls = {"a": 0}
    writer_a: list[threading.Thread] = []

    def identity(path: UPath) -> tuple[str, ...] | None:
        if writer_a and threading.current_thread() is writer_a[0]:
            calls["a"] += 1
            if calls["a"] == 2:  # A's check before its first replace
                merged.set()
                assert b_done.wait(30), "writer B never finished"
        return real(path)

    monkeypatch.setattr(storage, "stored_identity", identity)
    errors: list[BaseException] = []

    def run_a() -> None:
        try:
            upsert_steps_atomic(stored, a)
        except BaseException as exc:  # reported by the test thread
            errors.append(exc)

    writer_a.append(threading.Thread(target=run_a))
    writer_a[0].start()
    try:
        assert merged.wait(30), "writer A never merged"
        assert upsert_steps_atomic(stored, b).rows == B_NEW[1]  # B replaces the file first
    finally:
        b_done.set()
        writer_a[0].join(30)
    assert not errors, errors
    return calls["a"]


def test_a_slower_writer_merges_again_and_keeps_the_faster_ones_steps(
    root: UPath, monkeypatch: pytest.MonkeyPatch
) -> None:
    stored, a, b = _parts(root)
    assert _race(monkeypatch, stored, a, b) == 4, "A merged once more, after B's replace"
    table = read_table(stored)
    steps = table.column("_step").to_pylist()
    assert steps == list(range(B_NEW[1])), "every step once, none lost"
    # A's replace came last: its steps are A's; B's newer steps beyond A's are kept
    assert table.column("loss").to_pylist() == [1.0] * 100 + [2.0] * 100 + [3.0] * 50
    assert sorted(p.name for p in root.iterdir()) == ["a.parquet", "b.parquet", "r1.parquet"]


def test_the_same_race_without_the_check_loses_the_faster_writers_steps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The interleaving above is a real race: with an identity that never changes, A's merge
    from before B's replace wins and B's steps 200-249 are gone."""
    monkeypatch.setattr(storage, "_writers_take_turns", lambda dest: contextlib.nullcontext())
    stored, a, b = _parts(UPath(tmp_path))
    real = storage.stored_identity
    monkeypatch.setattr(storage, "stored_identity", lambda path: ("same",) if real(path) else None)
    assert _race(monkeypatch, stored, a, b) == 2  # A replaced at once
    assert read_table(stored).column("_step").to_pylist() == list(range(A_NEW[1]))


def test_a_file_that_keeps_changing_fails_naming_it_and_stays_intact(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    root = UPath(f"memory://upserts-{uuid.uuid4().hex[:8]}")
    stored, a, _ = _parts(root)
    before = stored_identity(stored)
    ticks = iter(range(10**6))
    monkeypatch.setattr(storage, "stored_identity", lambda path: (str(next(ticks)),))
    with pytest.raises(StoredFileChanged, match=rf"{stored}.*{storage.UPSERT_ATTEMPTS} times"):
        upsert_steps_atomic(stored, a)
    monkeypatch.undo()
    assert stored_identity(stored) == before
    assert read_table(stored).column("_step").to_pylist() == list(range(*STORED))
    assert sorted(p.name for p in root.iterdir()) == ["a.parquet", "b.parquet", "r1.parquet"]
    root.fs.rm(root.path, recursive=True)
