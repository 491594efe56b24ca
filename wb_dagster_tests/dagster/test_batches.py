"""Batch planning (pure logic): contiguous stretches of the dynamic partitions' key order.

What the daemon does with the plan (ranged runs, one partition per W&B run) is proven in
``test_daemon_sensors.py``; these cases pin the plan itself.
"""

from __future__ import annotations

import pytest

from wb_dagster.sensors.batches import (
    RANGE_END_TAG,
    RANGE_START_TAG,
    batch_request,
    batch_run_key,
    plan_batches,
)


def test_new_runs_form_one_stretch_split_at_the_batch_size():
    new = [f"r{i}" for i in range(7)]
    assert plan_batches(new, existing=["old0", "old1"], max_batch=3) == [
        ["r0", "r1", "r2"],
        ["r3", "r4", "r5"],
        ["r6"],
    ]


def test_a_range_never_spans_a_key_that_was_not_asked_for():
    existing = ["a", "b", "c", "d", "e"]
    batches = plan_batches(["e", "a", "b", "d"], existing=existing, max_batch=10)
    assert batches == [["a", "b"], ["d", "e"]]
    for batch in batches:  # every key between the ends was requested
        first, last = existing.index(batch[0]), existing.index(batch[-1])
        assert existing[first : last + 1] == batch


def test_existing_and_new_keys_join_when_adjacent():
    assert plan_batches(["n1", "z"], existing=["a", "z"], max_batch=5) == [["z", "n1"]]


def test_the_plan_is_the_same_when_a_tick_is_evaluated_again():
    args = (["x", "c", "y", "a"], ["a", "b", "c"])
    first = plan_batches(args[0], existing=args[1], max_batch=2)
    assert plan_batches(list(args[0]), existing=list(args[1]), max_batch=2) == first
    keys = {r: f"{r}:fp" for r in args[0]}
    assert [batch_run_key(keys[r] for r in b) for b in first] == [
        batch_run_key(keys[r] for r in b)
        for b in plan_batches(*args[:1], existing=args[1], max_batch=2)
    ]


def test_duplicates_are_requested_once_and_bad_sizes_refused():
    assert plan_batches(["a", "a", "b"], existing=[], max_batch=5) == [["a", "b"]]
    with pytest.raises(ValueError, match="max_batch must be at least 1"):
        plan_batches(["a"], existing=[], max_batch=0)


def test_requests_carry_a_range_or_a_single_partition():
    keys = {"a": "a:1", "b": "b:2", "c": "c:3"}
    ranged = batch_request(["a", "b", "c"], run_keys=keys, job_name="job")
    assert (ranged.tags[RANGE_START_TAG], ranged.tags[RANGE_END_TAG]) == ("a", "c")
    assert ranged.partition_key is None and ranged.tags["wandb/runs"] == "3"
    assert ranged.run_key == batch_run_key(["c:3", "a:1", "b:2"])
    single = batch_request(["b"], run_keys=keys, job_name="job")
    assert (single.partition_key, single.run_key, single.job_name) == ("b", "b:2", "job")
    # a run that changes again gets a new key, so Dagster's permanent dedup never hides it
    assert batch_run_key(["a:1", "b:2"]) != batch_run_key(["a:1", "b:9"])
