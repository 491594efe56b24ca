"""Done-when 1 (write side): writes by our client read back identically by the official SDK,
and our config merge keeps keys written elsewhere (read-modify-write)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from wb_dagster.client import WandbClient, histogram
from wb_dagster.testing import LocalWandbServer
from wb_dagster_tests.support.clients import make_client, make_sdk_api

RUN = "wb-demo/cifar/cifar001"


def test_config_update_read_back_by_sdk(server: LocalWandbServer, sdk_env: Any) -> None:
    client = make_client(server)
    run = client.run(RUN)
    run.config["lr"] = 0.5
    run.config["new_param"] = {"depth": 3}
    del run.config["n_conv_layers"]
    run.tags = [*run.tags, "reviewed"]
    run.name = "renamed"
    result = run.update()
    assert result.applied and result.config.set == {"lr": 0.5, "new_param": {"depth": 3}}
    fresh = make_sdk_api(server).run(RUN)
    assert fresh.config["lr"] == 0.5 and fresh.config["new_param"] == {"depth": 3}
    assert "n_conv_layers" not in fresh.config
    assert fresh.rawconfig["_wandb"]  # internal key preserved
    assert fresh.tags[-1] == "reviewed" and fresh.name == "renamed"


def test_config_merge_keeps_keys_written_elsewhere(server: LocalWandbServer, sdk_env: Any) -> None:
    ours = make_client(server).run(RUN)
    sdk_run = make_sdk_api(server).run(RUN)
    sdk_run.config["written_elsewhere"] = 1  # someone else writes after we read
    sdk_run.update()
    ours.config["batch_size"] = 256
    preview = ours.update(dry_run=True)
    assert not preview.applied and preview.config.set == {"batch_size": 256}
    assert preview.config_after is not None and preview.config_after["written_elsewhere"] == 1
    assert make_sdk_api(server).run(RUN).config["batch_size"] != 256  # dry run wrote nothing
    ours.update()
    final = make_sdk_api(server).run(RUN).config
    assert final["batch_size"] == 256 and final["written_elsewhere"] == 1


def test_summary_update_and_histogram(server: LocalWandbServer, sdk_env: Any) -> None:
    run = make_client(server).run(RUN)
    run.summary["reviewed"] = True
    run.summary.update({"hist": histogram([1, 2, 2, 3, 3, 3], num_bins=3)})
    import wandb

    expected = wandb.Histogram([1, 2, 2, 3, 3, 3], num_bins=3).to_json()
    fresh = make_sdk_api(server).run(RUN)
    assert fresh.summary["reviewed"] is True
    assert fresh.summary._json_dict["hist"] == expected
    # the SDK writes a histogram the same way; we read it back unchanged
    fresh.summary.update({"sdk_hist": wandb.Histogram([0.5, 1.5], num_bins=2)})
    again = make_client(server).run(RUN)
    assert again.summary["sdk_hist"] == wandb.Histogram([0.5, 1.5], num_bins=2).to_json()
    assert again.summary["loss"] == fresh.summary["loss"]  # untouched keys survive


def test_upload_download_delete_files(
    server: LocalWandbServer, sdk_env: Any, tmp_path: Path
) -> None:
    client: WandbClient = make_client(server)
    run = client.run(RUN)
    src = tmp_path / "src" / "reports" / "eval.txt"
    src.parent.mkdir(parents=True)
    src.write_bytes(b"accuracy: 0.93\n" * 100)
    uploaded = run.upload_file(str(src), root=str(tmp_path / "src"))
    assert uploaded.name == "reports/eval.txt" and uploaded.size == src.stat().st_size
    sdk_file = make_sdk_api(server).run(RUN).file("reports/eval.txt")
    sdk_file.download(root=str(tmp_path / "sdk")).close()
    assert (tmp_path / "sdk" / "reports/eval.txt").read_bytes() == src.read_bytes()
    with uploaded.download(root=tmp_path / "ours") as fh:
        assert fh.read() == src.read_text()
    with pytest.raises(ValueError, match="already exists"):
        uploaded.download(root=tmp_path / "ours")
    assert hashlib.md5(src.read_bytes()).hexdigest()
    for f in run.files():
        if f.name.endswith(".png"):
            f.delete()
    remaining = [f.name for f in make_sdk_api(server).run(RUN).files()]
    assert remaining and not [n for n in remaining if n.endswith(".png")]
    assert "reports/eval.txt" in remaining


def test_delete_run_and_flush(server: LocalWandbServer, sdk_env: Any) -> None:
    client = make_client(server)
    run = client.run("wb-demo/cifar/cifar011")
    assert client.run("wb-demo/cifar/cifar011") is run  # cached like wandb.Api
    client.flush()
    assert client.run("wb-demo/cifar/cifar011") is not run
    client.run("wb-demo/cifar/cifar011").delete()
    import wandb

    with pytest.raises(wandb.CommError):  # type: ignore[attr-defined]
        make_sdk_api(server).run("wb-demo/cifar/cifar011")
