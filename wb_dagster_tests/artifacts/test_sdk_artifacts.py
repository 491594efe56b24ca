"""The official SDK's whole artifact path against the local server (the server's fidelity).

Logging, dedup and incremental uploads, use, registry links, reads, listing, downloads
(bytes and per-file MD5), alias moves and deletion, each done by ``wandb`` itself; the
expected values are the logging script's inputs (see logged_artifacts.py).
"""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from typing import Any

import pytest
import requests

from wb_dagster_tests.artifacts.logged_artifacts import (
    DATA_V0,
    DATA_V1,
    MODEL,
    STORED,
    LoggedArtifacts,
)
from wb_dagster_tests.support.clients import make_sdk_api


def _md5(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_versions_dedup_and_alias_moves_as_logged(logged: LoggedArtifacts, sdk_env: Any) -> None:
    # the third log repeated v1's contents: W&B answers with v1 instead of a new version
    assert logged.data_versions == ["v0", "v1", "v1"]
    api = make_sdk_api(logged.server)
    listed = api.artifacts("dataset", f"{logged.entity}/arts/data-set")
    assert [(a.name, sorted(a.aliases)) for a in listed] == [
        ("data-set:v1", ["best", "latest"]),
        ("data-set:v0", []),
    ]
    best = api.artifact(f"{logged.entity}/arts/data-set:best")
    assert (best.version, best.type, best.metadata) == ("v1", "dataset", {"rows": 11})
    assert best.logged_by().id == logged.producer


def test_download_gives_the_logged_bytes_and_md5s(
    logged: LoggedArtifacts, sdk_env: Any, tmp_path: Path
) -> None:
    api = make_sdk_api(logged.server)
    for version, files in (("v0", DATA_V0), ("v1", DATA_V1)):
        art = api.artifact(f"{logged.entity}/arts/data-set:{version}")
        root = Path(art.download(root=str(tmp_path / version)))
        assert _tree(root) == files
        assert {f.name: f.md5 for f in art.files()} == {k: _md5(v) for k, v in files.items()}
        assert art.size == sum(len(v) for v in files.values())


def test_an_unchanged_file_is_uploaded_once(logged: LoggedArtifacts) -> None:
    distinct = {*DATA_V0.values(), *DATA_V1.values(), *MODEL.values(), b"scratch 0", b"scratch 1"}
    distinct |= {b"first", b"second", *STORED.values()}  # inc-set, file-refs and mixed-refs
    # v1's sub/b.bin, the repeated v1, link_model's second copy of the model and mixed-refs'
    # copy of the stored file upload nothing; references upload nothing
    assert logged.uploads == len(distinct) == 9


def test_an_incremental_version_adds_to_the_previous_one(
    logged: LoggedArtifacts, sdk_env: Any, tmp_path: Path
) -> None:
    api = make_sdk_api(logged.server)
    latest = api.artifact(f"{logged.entity}/arts/inc-set:latest")
    assert latest.version == "v1"
    assert _tree(Path(latest.download(root=str(tmp_path / "inc")))) == {
        "a.txt": b"first",
        "b.txt": b"second",
    }


def test_uses_and_outputs_of_runs(logged: LoggedArtifacts, sdk_env: Any) -> None:
    api = make_sdk_api(logged.server)
    producer = api.run(f"{logged.entity}/arts/{logged.producer}")
    names = [a.name for a in producer.logged_artifacts()]
    assert set(names) >= {"data-set:v0", "data-set:v1", "my-model:v0", "scratch:v1"}
    consumer = api.run(f"{logged.entity}/arts/{logged.consumer}")
    assert sorted(a.name for a in consumer.used_artifacts()) == ["data-set:v0", "my-model:v0"]
    model = api.artifact(f"{logged.entity}/arts/my-model:prod")
    assert [r.id for r in model.used_by()] == [logged.consumer]


def test_registry_links_resolve_with_their_own_versions_and_aliases(
    logged: LoggedArtifacts, sdk_env: Any, tmp_path: Path
) -> None:
    api = make_sdk_api(logged.server)
    linked = api.artifact(f"{logged.entity}/wandb-registry-model/prod-models:staging")
    assert (linked.version, sorted(linked.aliases)) == ("v0", ["latest", "staging"])
    assert _tree(Path(linked.download(root=str(tmp_path / "reg")))) == MODEL
    legacy = api.artifact(f"{logged.entity}/model-registry/reg-model:latest")
    assert (legacy.version, legacy.type) == ("v0", "model")


def test_alias_added_by_save_then_deletion_rules(logged: LoggedArtifacts, sdk_env: Any) -> None:
    import wandb

    api = make_sdk_api(logged.server)
    path = f"{logged.entity}/arts/scratch"
    v0 = api.artifact(f"{path}:v0")
    v0.aliases.append("golden")
    v0.save()
    assert api.artifact(f"{path}:golden").version == "v0"
    with pytest.raises(wandb.errors.CommError, match="cannot delete an artifact version"):
        v0.delete()
    v0.delete(delete_aliases=True)
    assert [a.version for a in api.artifacts("dataset", path)] == ["v1"]
    with pytest.raises(Exception, match="not found"):
        api.artifact(f"{path}:golden")


def test_uploads_are_checked_against_their_md5(logged: LoggedArtifacts) -> None:
    url = f"{logged.server.base_url}/_artifact_upload/{hashlib.md5(b'right').hexdigest()}"
    reply = requests.put(url, data=b"wrong", timeout=10)
    assert reply.status_code == 400 and "MD5" in reply.json()["errors"][0]["message"]
