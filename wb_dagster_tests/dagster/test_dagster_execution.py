"""Execution modes: the multiprocess executor (a fresh client per step process), S3 storage for
streamed per-run files, and the demo command."""

import hashlib
import io
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator

import dagster as dg
import pandas as pd
import pyarrow.parquet as pq
import pytest
import requests

from wb_dagster.defs import build_wandb_defs
from wb_dagster.demo.run import run_demo
from wb_dagster.demo.training import grid_points
from wb_dagster.testing import LocalWandbServer
from wb_dagster.testing.seeds.demo import (
    DEMO_RUNNING_RUN,
    DEMO_RUNS,
    DEMO_RUNS_BY_ID,
    DEMO_SWEEP_ID,
)

KEY_ENV = "WB_DAGSTER_TEST_KEY"

MP_DEFS = textwrap.dedent(
    """
    import os
    import dagster as dg
    import pyarrow as pa
    from wb_dagster.defs import build_wandb_defs

    @dg.asset(ins={"runs": dg.AssetIn(key=["wandb", "wb-demo", "cifar", "runs"])})
    def run_count(runs: pa.Table) -> pa.Table:
        return pa.table({"runs": [runs.num_rows], "pid": [os.getpid()]})

    defs = dg.Definitions.merge(
        build_wandb_defs(
            entity="wb-demo", project="cifar", api_key=dg.EnvVar("WB_DAGSTER_TEST_KEY"),
            base_url=os.environ["WB_TEST_BASE_URL"], storage_dir=os.environ["WB_TEST_STORE"],
        ),
        dg.Definitions(assets=[run_count], executor=dg.multiprocess_executor,
                       resources={"io_manager": dg.FilesystemIOManager(
                           base_dir=os.environ["WB_TEST_STORE"])}),
    )
    """
)


@pytest.fixture
def wb_server(monkeypatch) -> Iterator[LocalWandbServer]:
    with LocalWandbServer(seed="demo", heartbeat_timeout_s=10**9) as srv:
        monkeypatch.setenv(KEY_ENV, srv.api_key)
        yield srv


def test_multiprocess_executor_runs_steps_in_their_own_processes(wb_server, tmp_path):
    (tmp_path / "mp_defs.py").write_text(MP_DEFS)
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_")}
    env.update(
        DAGSTER_HOME=str(home),
        WB_TEST_BASE_URL=wb_server.base_url,
        WB_TEST_STORE=str(tmp_path / "store"),
        WB_DAGSTER_TEST_KEY=wb_server.api_key,
    )
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "dagster",
            "asset",
            "materialize",
            "-f",
            "mp_defs.py",
            "--select",
            "wandb/wb-demo/cifar/runs,run_count",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "multiprocess" in proc.stderr
    runs = pq.read_table(tmp_path / "store" / "wandb" / "wb-demo" / "cifar" / "runs.parquet")
    assert sorted(runs.column("id").to_pylist()) == sorted(r.run_id for r in DEMO_RUNS)
    import pickle

    count = pickle.loads((tmp_path / "store" / "run_count").read_bytes())
    assert count.column("runs").to_pylist() == [len(DEMO_RUNS)]
    assert count.column("pid").to_pylist() != [os.getpid()]


def test_per_run_files_stream_into_s3(wb_server, s3_bucket, instance):
    url, options = s3_bucket
    defs = build_wandb_defs(
        entity="wb-demo",
        project="cifar",
        api_key=dg.EnvVar(KEY_ENV),
        base_url=wb_server.base_url,
        storage_dir=url,
        storage_options=options,
    )
    instance.add_dynamic_partitions("wandb_runs__wb_demo__cifar", ["cifar000"])
    result = dg.materialize(
        list(defs.assets),
        selection=[
            dg.AssetKey(["wandb", "wb-demo", "cifar", "run_history"]),
            dg.AssetKey(["wandb", "wb-demo", "cifar", "run_system_metrics"]),
        ],
        partition_key="cifar000",
        instance=instance,
        resources=dict(defs.resources),
    )
    assert result.success
    import s3fs

    fs = s3fs.S3FileSystem(**options)
    base = url.removeprefix("s3://")
    table = pq.read_table(
        io.BytesIO(fs.cat(f"{base}/wandb/wb-demo/cifar/run_history/cifar000.parquet"))
    )
    assert table.num_rows == DEMO_RUNS_BY_ID["cifar000"].num_steps
    assert table.column("_step").to_pylist() == list(range(table.num_rows))
    assert fs.exists(f"{base}/wandb/wb-demo/cifar/run_system_metrics/cifar000.parquet")
    leftovers = [p for p in fs.find(base) if "/." in p]
    assert leftovers == []


def _record_sdk_logging(monkeypatch) -> list:
    """Record what the demo's training script logs through the official SDK."""
    import wb_dagster.demo.training as training

    logged: list = []
    real = training.populate_with_sdk

    def recording(*args, **kwargs):
        result = real(*args, **kwargs)
        logged.append(result)
        return result

    monkeypatch.setattr(training, "populate_with_sdk", recording)
    return logged


def test_demo_runs_on_the_daemon_and_stores_exactly_the_ended_runs(tmp_path, monkeypatch):
    logged = _record_sdk_logging(monkeypatch)
    out = io.StringIO()
    assert run_demo(str(tmp_path / "demo"), out=out) == 0, out.getvalue()[-4000:]
    text = out.getvalue()
    (sdk,) = logged
    assert len(sdk.run_ids) == 2 and len(sdk.sweep_run_ids) == len(list(grid_points()))
    ended_at_start = {r.run_id for r in DEMO_RUNS if r.state in {"finished", "crashed", "failed"}}
    assert DEMO_RUNNING_RUN not in ended_at_start
    ended_later = {*sdk.run_ids, *sdk.sweep_run_ids, DEMO_RUNNING_RUN}
    expected = ended_at_start | ended_later
    history = dg.AssetKey(["wandb", "wb-demo", "cifar", "run_history"])
    system = dg.AssetKey(["wandb", "wb-demo", "cifar", "run_system_metrics"])
    sweep = dg.AssetKey(["wandb", "wb-demo", "cifar", "sweep_best_model"])

    with dg.DagsterInstance.from_config(str(tmp_path / "demo" / ".dagster")) as instance:
        assert instance.get_materialized_partitions(history) == expected
        assert instance.get_materialized_partitions(system) == expected
        assert instance.get_materialized_partitions(sweep) == {DEMO_SWEEP_ID, sdk.sweep_id}
        # every partition stored once: no unchanged run was materialized again
        events = instance.fetch_materializations(history, limit=1000).records
        assert sorted(e.partition_key for e in events) == sorted(expected)
        runs = [r.dagster_run for r in instance.get_run_records()]
    assert runs and {r.status for r in runs} == {dg.DagsterRunStatus.SUCCESS}
    assert all("dagster/sensor_name" in r.tags for r in runs)  # launched by the daemon's sensors
    assert sum(int(r.tags.get("wandb/runs", 0)) for r in runs) == len(expected)
    assert {r.tags.get("wandb/sweep_id") for r in runs} - {None} == {DEMO_SWEEP_ID, sdk.sweep_id}

    root = tmp_path / "demo" / "wandb" / "wb-demo" / "cifar"
    table = pd.read_parquet(root / "runs.parquet")
    assert set(table["id"]) == expected and "running" not in set(table["state"])
    assert {p.stem for p in (root / "run_history").iterdir()} == expected
    assert pq.read_table(root / "run_history" / "cifar000.parquet").num_rows == (
        DEMO_RUNS_BY_ID["cifar000"].num_steps
    )
    for sweep_id in (DEMO_SWEEP_ID, sdk.sweep_id):
        assert (root / "sweep_best_model" / sweep_id / "model-best.h5").exists()
    # each training run's wandb.log_model became a version, stored by the artifact sensor
    for i, run_id in enumerate(sdk.run_ids):
        stored = root / "artifacts" / "mlp-model" / f"v{i}" / "model-best.h5"
        assert (
            hashlib.md5(stored.read_bytes()).hexdigest()
            == sdk.ledgers[run_id].files["model-best.h5"]
        )
    assert "model artifact wb-demo/cifar/mlp-model: 2 versions stored" in text
    ui = next(line for line in text.splitlines() if line.strip().startswith("Dagster UI"))
    url = ui.split()[2]
    assert url.startswith("http://127.0.0.1:") and ", 0 failed" in text
    with pytest.raises(requests.ConnectionError):  # the demo stopped Dagster
        requests.get(url, timeout=5)
