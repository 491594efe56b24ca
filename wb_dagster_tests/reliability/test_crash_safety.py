"""Issue 7, item 3: SIGKILL of a real W&B materialization mid-write keeps the previous file.

Extends ``dagster/test_dagster_storage.py`` (the IO manager's atomic write, killed with a toy
asset) to the W&B assets that stream their files: ``run_history`` (a run that grew) and
``sweep_best_model`` (a new best model). A subprocess materializes against the local server and
is killed mid-write: while a full export is half copied into place (a rewound run, the best
model), or before the footer of an appended file is written (a run that grew); the previous file
must be byte-for-byte intact, and the re-run converges to the server's new data and clears the
killed writer's temporary file.
"""

from __future__ import annotations

import os
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from wb_dagster.testing import LocalWandbServer
from wb_dagster.testing.seeds.demo import DEMO_RUNS_BY_ID, DEMO_SWEEP_ID
from wb_dagster_tests.support.crash import kill_mid_write

from .demo_assets import BEST, HISTORY, KEY_ENV, make_defs, materialize
from .snapshots import parquet_rows

KILLED_MATERIALIZATION = textwrap.dedent(
    """
    import shutil, sys, time
    import dagster as dg
    import pyarrow.parquet as pq

    def half_copy(src, dst, *args, **kwargs):
        data = open(src, "rb").read()
        with open(dst, "wb") as fh:
            fh.write(data[: len(data) // 2])
            fh.flush()
        print("MID-WRITE", flush=True)
        time.sleep(120)  # killed here by the test

    shutil.copyfile = half_copy  # how wb_dagster.storage moves a finished file into place

    close_writer = pq.ParquetWriter.close

    def close_without_footer(self):
        if ".tmp-" in str(getattr(self.where, "name", self.where)):  # the append's merged file
            self.where.flush()
            print("MID-WRITE", flush=True)
            time.sleep(120)  # killed here by the test
        return close_writer(self)

    pq.ParquetWriter.close = close_without_footer

    from wb_dagster.defs import build_wandb_defs
    from wb_dagster.resource import WandbResource

    base_url, store, key_path, partition, partitions_def = sys.argv[1:6]
    defs = build_wandb_defs(
        entity="wb-demo", project="cifar", storage_dir=store, retry_policy=None,
        resource=WandbResource(api_key=dg.EnvVar("{key_env}"), base_url=base_url),
    )
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(partitions_def, [partition])
        dg.materialize(list(defs.assets), selection=[dg.AssetKey(key_path.split("/"))],
                       partition_key=partition, instance=instance,
                       resources=dict(defs.resources))
    print("FINISHED", flush=True)
    """
).replace("{key_env}", KEY_ENV)

CASES = {
    "run_history": (HISTORY, "cifar001", "wandb_runs__wb_demo__cifar"),
    "run_history_rewound": (HISTORY, "cifar001", "wandb_runs__wb_demo__cifar"),
    "sweep_best_model": (BEST, DEMO_SWEEP_ID, "wandb_sweeps__wb_demo__cifar"),
}
NEW_MODEL = b"retrained weights " * 4096
N = DEMO_RUNS_BY_ID["cifar001"].num_steps
NEW_ROWS = [{"_step": N + i, "loss": 0.001 * i} for i in range(25)]
REWOUND_AT = N - 100  # rewound there and re-logged: the history is rewritten in full
RELOGGED = [{"_step": REWOUND_AT + i, "loss": 1.0 + i} for i in range(40)]


def change_server(srv: LocalWandbServer, asset: str) -> None:
    if asset == "run_history":
        run = "wb-demo/cifar/cifar001"
        srv.seed.resume_run(run)
        srv.seed.append_history(run, NEW_ROWS)
        srv.seed.finish_run(run)
    elif asset == "run_history_rewound":
        run = "wb-demo/cifar/cifar001"
        srv.seed.resume_run(run)
        srv.seed.rewind_run(run, REWOUND_AT)
        srv.seed.append_history(run, RELOGGED)
        srv.seed.finish_run(run)
    else:
        srv.seed.set_summary("wb-demo/cifar/cifar003", {"val_acc": 0.999})
        srv.seed.add_file("wb-demo/cifar/cifar003", "model-best.h5", NEW_MODEL)


def stored_file(store: Path, asset: str) -> Path:
    if asset.startswith("run_history"):
        return store / "wandb" / "wb-demo" / "cifar" / "run_history" / "cifar001.parquet"
    return (
        store / "wandb" / "wb-demo" / "cifar" / "sweep_best_model" / DEMO_SWEEP_ID / "model-best.h5"
    )


@pytest.mark.parametrize("asset", sorted(CASES))
def test_sigkill_mid_write_keeps_previous_file_and_rerun_converges(
    asset: str, wb: LocalWandbServer, tmp_path: Path, instance: Any
) -> None:
    key, partition, partitions_def = CASES[asset]
    store = tmp_path / "store"
    defs = make_defs(wb, store)
    instance.add_dynamic_partitions(partitions_def, [partition])
    assert materialize(defs, instance, [key], partition).success
    final = stored_file(store, asset)
    before = final.read_bytes()

    change_server(wb, asset)
    args = [wb.base_url, str(store), "/".join(key.path), partition, partitions_def]
    kill_mid_write(["-c", KILLED_MATERIALIZATION, *args], final)

    assert final.read_bytes() == before  # the previous file, intact and readable
    if asset.startswith("run_history"):
        assert len(parquet_rows(final)) == N
    leftovers = [p for p in final.parent.iterdir() if p.name.startswith(".")]
    assert len(leftovers) == 1
    # a later write clears the killed writer's temporary file once it is clearly stale
    old = time.time() - 3600
    os.utime(leftovers[0], (old, old))

    assert materialize(defs, instance, [key], partition).success
    if asset == "run_history":
        rows = parquet_rows(final)
        assert len(rows) == N + len(NEW_ROWS)
        assert [{"_step": r["_step"], "loss": r["loss"]} for r in rows[N:]] == NEW_ROWS
    elif asset == "run_history_rewound":
        rows = parquet_rows(final)
        assert len(rows) == REWOUND_AT + len(RELOGGED)
        assert [{"_step": r["_step"], "loss": r["loss"]} for r in rows[REWOUND_AT:]] == RELOGGED
    else:
        assert final.read_bytes() == NEW_MODEL
    assert [p.name for p in final.parent.iterdir() if p.name.startswith(".")] == []
