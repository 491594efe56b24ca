"""Many W&B runs per Dagster run: contiguous partition-key ranges of the run partitions.

A Dagster run costs a process, event writes and (on Kubernetes) a pod, so the run sensor asks
for one run per *batch* of W&B runs while every W&B run stays its own partition. A batch is a
``RunRequest`` over a partition key range (Dagster's ``dagster/asset_partition_range_*`` tags):
a range covers every key between its ends in the dynamic partitions' insertion order, so a
batch only ever spans keys that are adjacent in that order. New keys are added in the order
given, after every existing key, so one tick's new runs form one stretch; a re-requested run
(resumed, rewound) falls where its key already is.

The plan is a pure function of the changed run ids and the stored key order: a tick evaluated
again after a daemon crash plans the same batches, whose ``run_key`` Dagster then deduplicates.

Example:
    >>> plan_batches(["c", "a", "x", "y"], existing=["a", "b", "c"], max_batch=2)
    [['a'], ['c', 'x'], ['y']]
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import dagster as dg

from wb_dagster.sensors.fingerprints import short_digest

RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"
DEFAULT_BATCH_SIZE = 100


def plan_batches(
    run_ids: Iterable[str], *, existing: Sequence[str], max_batch: int
) -> list[list[str]]:
    """Split ``run_ids`` into contiguous stretches of the key order, at most ``max_batch`` each.

    ``existing`` is the partitions' current key order; ids not in it are appended in the order
    given (as the sensor's add request will). Each batch is in key order.

    Example:
        >>> plan_batches(["b", "d"], existing=["a", "b", "c", "d"], max_batch=10)
        [['b'], ['d']]
    """
    if max_batch < 1:
        raise ValueError(f"max_batch must be at least 1, got {max_batch}")
    ids = list(dict.fromkeys(run_ids))
    position = {key: i for i, key in enumerate(existing)}
    for run_id in ids:
        position.setdefault(run_id, len(position))
    wanted = sorted(ids, key=position.__getitem__)
    batches: list[list[str]] = []
    for run_id in wanted:
        last = batches[-1] if batches else None
        if last and len(last) < max_batch and position[last[-1]] + 1 == position[run_id]:
            last.append(run_id)
        else:
            batches.append([run_id])
    return batches


def batch_run_key(run_keys: Iterable[str]) -> str:
    """One ``run_key`` for a batch: a digest of its runs' own keys (order-free).

    Example:
        >>> batch_run_key(["b:2", "a:1"]) == batch_run_key(["a:1", "b:2"])
        True
    """
    digest = short_digest(sorted(run_keys), sep="\n", length=16)
    return f"batch:{digest}"


def batch_request(
    batch: Sequence[str], *, run_keys: Mapping[str, str], job_name: str
) -> dg.RunRequest:
    """The ``RunRequest`` of one batch: a single partition, or a key range with a batch key.

    Example:
        >>> r = batch_request(["a", "b"], run_keys={"a": "a:1", "b": "b:1"}, job_name="j")
        >>> r.tags[RANGE_START_TAG], r.tags[RANGE_END_TAG], r.partition_key
        ('a', 'b', None)
    """
    if len(batch) == 1:
        (run_id,) = batch
        return dg.RunRequest(
            run_key=run_keys[run_id],
            partition_key=run_id,
            job_name=job_name,
            tags={"wandb/runs": "1", "wandb/run_id": run_id},
        )
    return dg.RunRequest(
        run_key=batch_run_key(run_keys[r] for r in batch),
        job_name=job_name,
        tags={
            RANGE_START_TAG: batch[0],
            RANGE_END_TAG: batch[-1],
            "wandb/runs": str(len(batch)),
        },
    )
