"""The official wandb SDK performs the read operations of W&B's public-API guide against the
local server (demo seed) and gets exactly the seeded values back."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest

from wb_dagster.testing.seeds.demo import (
    DEMO_ENTITY,
    DEMO_FILE_NAMES,
    DEMO_NAN,
    DEMO_PROGRAM,
    DEMO_PROJECT,
    DEMO_RUNNING_RUN,
    DEMO_RUNS,
    DEMO_RUNS_BY_ID,
    DEMO_SWEEP_CONFIG,
    DEMO_SWEEP_ID,
    DEMO_SWEEP_RUNS,
    demo_config,
    demo_events,
    demo_files,
    demo_history,
    demo_metadata,
    demo_summary,
)
from wb_dagster_tests.server.sdk_expect import pandas_row, same_value, without_nulls
from wb_dagster_tests.support.clients import make_sdk_api

RUN = DEMO_RUNS_BY_ID["cifar000"]
PROJECT = f"{DEMO_ENTITY}/{DEMO_PROJECT}"


def _user_config(run):
    return {k: v for k, v in demo_config(run).items() if k != "_wandb"}


@pytest.mark.parametrize(
    "path",
    [
        "wb-demo/cifar/runs/cifar000",
        "wb-demo/cifar/cifar000",
        "wb-demo/cifar:cifar000",
        "cifar/cifar000",
        "cifar:cifar000",
    ],
)
def test_run_path_forms(demo_sdk_api, path):
    run = demo_sdk_api.run(path)
    assert (run.entity, run.project, run.id) == (DEMO_ENTITY, DEMO_PROJECT, "cifar000")
    assert run.name == RUN.display_name


def test_run_bare_id_uses_overrides(demo_server, sdk_env):
    import wandb

    api = wandb.Api(
        api_key=demo_server.api_key,
        overrides={"base_url": demo_server.base_url, "entity": DEMO_ENTITY, "project": "cifar"},
    )
    assert api.run("cifar001").config == _user_config(DEMO_RUNS_BY_ID["cifar001"])


def test_config_summary_and_fields(demo_sdk_api):
    run = demo_sdk_api.run(f"{PROJECT}/cifar000")
    assert run.config == _user_config(RUN)
    assert run.rawconfig["_wandb"] == demo_config(RUN)["_wandb"]
    assert same_value(run.summary._json_dict, demo_summary(RUN))
    assert run.summary["best_val_acc"] == demo_summary(RUN)["best_val_acc"]
    assert run.state == "finished"
    assert run.commit == RUN.commit
    assert run.tags == list(RUN.tags)
    assert (run.group, run.job_type) == (RUN.group, RUN.job_type)
    assert run.lastHistoryStep == RUN.num_steps - 1
    assert run.system_metrics == {
        k: v for k, v in demo_events(RUN)[-1].items() if not k.startswith("_")
    }


def test_metadata_program_and_args(demo_sdk_api):
    run = demo_sdk_api.run(f"{PROJECT}/cifar003")
    meta = run.metadata
    want = demo_metadata(DEMO_RUNS_BY_ID["cifar003"])
    assert meta["program"] == DEMO_PROGRAM
    assert meta["args"] == want["args"]
    assert meta["git"]["commit"] == DEMO_RUNS_BY_ID["cifar003"].commit


def test_history_default_samples(demo_sdk_api):
    frame = demo_sdk_api.run(f"{PROJECT}/cifar001").history()
    seeded = {r["_step"]: r for r in demo_history(DEMO_RUNS_BY_ID["cifar001"])}
    rows = frame.to_dict("records")
    assert len(rows) == 500
    steps = [int(r["_step"]) for r in rows]
    assert steps[0] == 0 and steps[-1] == max(seeded)
    assert steps == sorted(set(steps))
    for row in rows:
        assert same_value(pandas_row(row), {**seeded[int(row["_step"])], "_step": row["_step"]})


def test_history_with_keys_all_keys_rule(demo_sdk_api):
    run = demo_sdk_api.run(f"{PROJECT}/cifar000")
    frame = run.history(keys=["val_acc"], samples=1000)
    want = [
        {"_step": r["_step"], "val_acc": r["val_acc"]} for r in demo_history(RUN) if "val_acc" in r
    ]
    assert frame.to_dict("records") == want
    # val_acc is logged at steps where loss is not: W&B returns only rows with every key
    assert len(run.history(keys=["loss", "val_acc"])) == 0


def test_history_events_stream(demo_sdk_api):
    frame = demo_sdk_api.run(f"{PROJECT}/cifar000").history(stream="events")
    assert frame.to_dict("records") == demo_events(RUN)


def test_scan_history_exported_run_exact(demo_sdk_api):
    run_id, nan_step, _ = DEMO_NAN
    seeded = demo_history(DEMO_RUNS_BY_ID[run_id])
    rows = [without_nulls(r) for r in demo_sdk_api.run(f"{PROJECT}/{run_id}").scan_history()]
    assert len(rows) == len(seeded)
    assert all(same_value(g, w) for g, w in zip(rows, seeded, strict=True))
    assert rows[nan_step]["loss"] != rows[nan_step]["loss"]  # NaN survives the round trip


def test_scan_history_live_run_exact(demo_sdk_api):
    seeded = demo_history(DEMO_RUNS_BY_ID[DEMO_RUNNING_RUN])
    run = demo_sdk_api.run(f"{PROJECT}/{DEMO_RUNNING_RUN}")
    assert run.state == "running"
    rows = list(run.scan_history())
    assert len(rows) == len(seeded)
    assert all(same_value(g, w) for g, w in zip(rows, seeded, strict=True))


def test_scan_history_keys_page_size_live(demo_sdk_api):
    run = demo_sdk_api.run(f"{PROJECT}/{DEMO_RUNNING_RUN}")
    rows = list(run.scan_history(keys=["loss", "accuracy"], page_size=100))
    # live pages go through sampledHistory: only rows having every requested key
    want = [
        {"_step": r["_step"], "loss": r["loss"], "accuracy": r["accuracy"]}
        for r in demo_history(DEMO_RUNS_BY_ID[DEMO_RUNNING_RUN])
        if "loss" in r
    ]
    assert rows == want


def test_scan_history_keys_page_size_exported(demo_sdk_api):
    run = demo_sdk_api.run(f"{PROJECT}/cifar004")
    rows = list(run.scan_history(keys=["loss", "accuracy"], page_size=100))
    # exported pages are read from parquet: every step, missing values as None
    want = [
        {"_step": r["_step"], "loss": r.get("loss"), "accuracy": r.get("accuracy")}
        for r in demo_history(DEMO_RUNS_BY_ID["cifar004"])
    ]
    assert rows == want


def test_runs_filters_order_and_len(demo_sdk_api):
    filters = {"$or": [{"config.experiment_name": "foo"}, {"config.experiment_name": "bar"}]}
    runs = demo_sdk_api.runs(PROJECT, filters=filters, order="+created_at", per_page=2)
    want = [r.run_id for r in DEMO_RUNS if r.experiment_name in {"foo", "bar"}]
    assert len(runs) == len(want)
    assert [r.id for r in runs] == want
    assert [r.config["experiment_name"] for r in runs] == [
        DEMO_RUNS_BY_ID[i].experiment_name for i in want
    ]


def test_runs_order_by_summary_desc(demo_sdk_api):
    runs = demo_sdk_api.runs(PROJECT, order="-summary_metrics.val_acc", per_page=5)
    got = [r.id for r in runs]
    want = sorted(DEMO_RUNS, key=lambda r: -demo_summary(r)["val_acc"])
    assert got == [r.run_id for r in want]
    assert len(runs) == len(DEMO_RUNS)


def test_files_list_download_md5(demo_sdk_api, tmp_path):
    run = demo_sdk_api.run(f"{PROJECT}/cifar005")
    files = run.files()
    assert len(files) == len(DEMO_FILE_NAMES)
    seeded = demo_files(DEMO_RUNS_BY_ID["cifar005"])
    assert sorted(f.name for f in files) == sorted(seeded)
    for f in files:
        assert f.size == len(seeded[f.name])
        assert f.md5 == base64.b64encode(hashlib.md5(seeded[f.name]).digest()).decode()
    model = run.file("model-best.h5")
    path = model.download(root=str(tmp_path), replace=True).name
    assert Path(path).read_bytes() == seeded["model-best.h5"]
    assert json.loads(run.file("wandb-summary.json").download(root=str(tmp_path)).read()) == (
        json.loads(seeded["wandb-summary.json"])
    )


def test_files_pattern_and_names(demo_sdk_api):
    run = demo_sdk_api.run(f"{PROJECT}/cifar005")
    assert sorted(f.name for f in run.files(pattern="%.json")) == [
        "wandb-metadata.json",
        "wandb-summary.json",
    ]
    assert [f.name for f in run.files(names=["output.log"])] == ["output.log"]


def test_sweep_runs_and_best_run(demo_sdk_api):
    sweep = demo_sdk_api.sweep(f"{PROJECT}/{DEMO_SWEEP_ID}")
    assert sweep.config == DEMO_SWEEP_CONFIG
    assert sweep.state == "FINISHED"
    assert sorted(r.id for r in sweep.runs) == sorted(DEMO_SWEEP_RUNS)
    best_want = max(DEMO_SWEEP_RUNS, key=lambda i: demo_summary(DEMO_RUNS_BY_ID[i])["val_acc"])
    assert sweep.best_run().id == best_want
    assert demo_sdk_api.run(f"{PROJECT}/cifar003").sweep.id == DEMO_SWEEP_ID


def test_missing_run_is_comm_error_with_exc(demo_sdk_api):
    from wandb.errors import CommError

    with pytest.raises(CommError) as info:
        demo_sdk_api.run(f"{PROJECT}/doesnotexist")
    assert info.value.exc is not None
    assert "doesnotexist" in str(info.value)


def test_wrong_api_key_is_authentication_error(demo_server, sdk_env):
    import wandb
    from wandb.errors import AuthenticationError

    with pytest.raises(AuthenticationError):
        wandb.Api(api_key="x" * 40, overrides={"base_url": demo_server.base_url})


def test_flush_clears_run_cache(server, sdk_env):
    api = make_sdk_api(server)
    first = api.run(f"{PROJECT}/cifar000")
    assert first.notes == "foo with sgd"
    server.seed.update_run(f"{PROJECT}/cifar000", notes="changed on the server")
    assert api.run(f"{PROJECT}/cifar000").notes == "foo with sgd"  # cached per path
    api.flush()
    assert api.run(f"{PROJECT}/cifar000").notes == "changed on the server"
