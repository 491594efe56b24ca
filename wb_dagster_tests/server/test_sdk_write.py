"""The official wandb SDK's update jobs (summary, config, files, delete) against the local
server, read back through a fresh ``wandb.Api``; injected faults surface as the SDK expects."""

from __future__ import annotations

import base64
import hashlib
import time
from pathlib import Path

import pytest

from wb_dagster.testing.seeds.demo import (
    DEMO_ENTITY,
    DEMO_FILE_NAMES,
    DEMO_PROJECT,
    DEMO_RUNS_BY_ID,
    demo_config,
    demo_summary,
)
from wb_dagster_tests.server.sdk_expect import same_value
from wb_dagster_tests.support.clients import make_sdk_api

PROJECT = f"{DEMO_ENTITY}/{DEMO_PROJECT}"


def test_summary_update_read_back(server, sdk_api):
    run = sdk_api.run(f"{PROJECT}/cifar001")
    run.summary["reviewed"] = True
    run.summary["eval_score"] = 0.875
    run.summary.update()
    fresh = make_sdk_api(server).run(f"{PROJECT}/cifar001")
    want = {**demo_summary(DEMO_RUNS_BY_ID["cifar001"]), "reviewed": True, "eval_score": 0.875}
    assert same_value(fresh.summary._json_dict, want)


def test_config_and_fields_update_read_back(server, sdk_api):
    run = sdk_api.run(f"{PROJECT}/cifar002")
    run.config["promoted"] = "yes"
    run.config["lr"] = 0.5
    run.name = "renamed-run"
    run.tags = ["x", "y"]
    run.notes = "new notes"
    run.update()
    fresh = make_sdk_api(server).run(f"{PROJECT}/cifar002")
    want = {k: v for k, v in demo_config(DEMO_RUNS_BY_ID["cifar002"]).items() if k != "_wandb"}
    assert fresh.config == {**want, "lr": 0.5, "promoted": "yes"}
    assert (fresh.name, fresh.tags, fresh.notes) == ("renamed-run", ["x", "y"], "new notes")
    assert fresh.rawconfig["_wandb"] == demo_config(DEMO_RUNS_BY_ID["cifar002"])["_wandb"]


def test_upload_download_and_delete_pngs(server, sdk_api, tmp_path):
    run = sdk_api.run(f"{PROJECT}/cifar003")
    payload = bytes(range(256)) * 40
    src = tmp_path / "up" / "report.bin"
    src.parent.mkdir()
    src.write_bytes(payload)
    run.upload_file(str(src), root=str(src.parent))
    fresh = make_sdk_api(server).run(f"{PROJECT}/cifar003")
    uploaded = fresh.file("report.bin")
    assert uploaded.size == len(payload)
    assert uploaded.md5 == base64.b64encode(hashlib.md5(payload).digest()).decode()
    out = uploaded.download(root=str(tmp_path / "down")).name
    assert Path(out).read_bytes() == payload

    for f in fresh.files():
        if f.name.endswith(".png"):
            f.delete()
    names = sorted(f.name for f in make_sdk_api(server).run(f"{PROJECT}/cifar003").files())
    assert names == sorted([n for n in DEMO_FILE_NAMES if not n.endswith(".png")] + ["report.bin"])


def test_delete_run(server, sdk_api):
    sdk_api.run(f"{PROJECT}/cifar010").delete()
    api = make_sdk_api(server)
    assert len(api.runs(PROJECT)) == 11
    assert "cifar010" not in [r.id for r in api.runs(PROJECT)]


def test_update_state(server, sdk_api):
    run = sdk_api.run(f"{PROJECT}/cifar000")
    assert run.update_state("pending")
    assert make_sdk_api(server).run(f"{PROJECT}/cifar000").state == "pending"


def test_429_with_retry_after_is_retried(server, sdk_env):
    api = make_sdk_api(server)
    server.add_faults(
        [{"match": "Run", "status": 429, "headers": {"Retry-After": "1"}, "count": 1}]
    )
    server.reset_stats()
    start = time.monotonic()
    run = api.run(f"{PROJECT}/cifar000")
    assert run.config["lr"] == DEMO_RUNS_BY_ID["cifar000"].lr
    assert time.monotonic() - start >= 0.9  # waited for Retry-After
    assert server.stats()["by_operation"]["Run"] == 2


def test_500_surfaces_as_comm_error(server, sdk_env):
    from wandb.errors import CommError

    api = make_sdk_api(server, timeout=4)
    server.add_faults([{"match": "Run", "status": 500}])
    with pytest.raises(CommError) as info:
        api.run(f"{PROJECT}/cifar000")
    assert info.value.exc is not None
    assert server.stats()["by_operation"]["Run"] >= 1


def test_500_on_file_download_is_retried_then_succeeds(server, sdk_env, tmp_path):
    api = make_sdk_api(server)
    run = api.run(f"{PROJECT}/cifar000")
    server.add_faults([{"match": r"GET /files/.*/output\.log$", "status": 500, "count": 1}])
    path = run.file("output.log").download(root=str(tmp_path)).name
    assert Path(path).read_text().startswith("epoch 0: ok")
    assert server.stats()["by_route"]["GET /files"] == 2
