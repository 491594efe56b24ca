"""Our client's artifact reads and downloads, compared with the official SDK's on the same
server (names, versions, aliases, metadata, digests, bytes), plus resumable, MD5-checked and
traversal-safe downloads, and references (``add_reference``) read from the manifest."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from wb_dagster.client import CommError, NotFoundError, WandbClient
from wb_dagster_tests.artifacts.logged_artifacts import (
    DATA_V0,
    DATA_V1,
    MODEL,
    REFERENCED,
    S3_REF,
    STORED,
    LoggedArtifacts,
)
from wb_dagster_tests.support.clients import make_sdk_api


def _client(logged: LoggedArtifacts, **kwargs: Any) -> WandbClient:
    return WandbClient(api_key=logged.server.api_key, base_url=logged.server.base_url, **kwargs)


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _sdk_view(a: Any) -> tuple[Any, ...]:
    return (a.name, a.version, sorted(a.aliases), a.metadata, a.digest, a.type, a.size)


def test_listing_and_lookups_match_the_sdk(logged: LoggedArtifacts, sdk_env: Any) -> None:
    api, client = make_sdk_api(logged.server), _client(logged)
    collection = f"{logged.entity}/arts/data-set"
    ours = list(client.artifacts("dataset", collection))
    assert [_sdk_view(a) for a in ours] == [
        _sdk_view(a) for a in api.artifacts("dataset", collection)
    ]
    for alias in ("v0", "v1", "best", "latest"):
        mine = client.artifact(f"{collection}:{alias}")
        sdk = api.artifact(f"{collection}:{alias}")
        # the SDK names a version fetched by alias after the alias; ours always by vN
        assert (mine.version, sorted(mine.aliases), mine.metadata, mine.digest, mine.id) == (
            sdk.version, sorted(sdk.aliases), sdk.metadata, sdk.digest, sdk.id,
        )  # fmt: skip
        assert mine.name == f"data-set:{sdk.version}"
        assert [(f.name, f.size, f.md5) for f in mine.files()] == sorted(
            (f.name, f.size, f.md5) for f in sdk.files()
        )
    assert client.artifact(f"{collection}:best").logged_by_path == (
        f"{logged.entity}/arts/{logged.producer}"
    )
    producer = client.artifact(f"{collection}:best").logged_by()
    assert producer is not None and producer.id == api.artifact(f"{collection}:best").logged_by().id


def test_run_artifacts_and_registry_links_match_the_sdk(
    logged: LoggedArtifacts, sdk_env: Any
) -> None:
    api, client = make_sdk_api(logged.server), _client(logged)
    for run_id in (logged.producer, logged.consumer):
        path = f"{logged.entity}/arts/{run_id}"
        ours, sdk = client.run(path), api.run(path)
        assert [a.name for a in ours.logged_artifacts()] == [a.name for a in sdk.logged_artifacts()]
        assert [a.name for a in ours.used_artifacts()] == [a.name for a in sdk.used_artifacts()]
    linked = f"{logged.entity}/wandb-registry-model/prod-models:staging"
    mine, sdk = client.artifact(linked), api.artifact(linked)
    assert (mine.version, sorted(mine.aliases), mine.type) == (
        sdk.version, sorted(sdk.aliases), sdk.type,
    )  # fmt: skip
    assert mine.name == "prod-models:v0" and mine.source_name == "my-model:v0"


def test_download_bytes_equal_the_logged_files_and_the_sdk_download(
    logged: LoggedArtifacts, sdk_env: Any, tmp_path: Path
) -> None:
    api, client = make_sdk_api(logged.server), _client(logged)
    for version, files in (("v0", DATA_V0), ("v1", DATA_V1)):
        name = f"{logged.entity}/arts/data-set:{version}"
        root = client.artifact(name).download(tmp_path / "ours" / version)
        assert root == str(tmp_path / "ours" / version)
        sdk_root = api.artifact(name).download(root=str(tmp_path / "sdk" / version))
        assert _tree(Path(root)) == files == _tree(Path(sdk_root))
    model = client.artifact(f"{logged.entity}/arts/my-model:prod")
    assert _tree(Path(model.download(tmp_path / "model"))) == MODEL


def test_download_resumes_and_repairs(logged: LoggedArtifacts, tmp_path: Path) -> None:
    client = _client(logged)
    art = client.artifact(f"{logged.entity}/arts/data-set:v0")
    root = tmp_path / "dl"
    assert client.download_artifacts([(art, str(root))]) == 2
    assert client.download_artifacts([(art, str(root))]) == 0  # all present with their md5
    (root / "a.txt").write_bytes(b"tampered")
    before = logged.server.stats()["by_route"].get("GET /_artifact_files", 0)
    assert client.download_artifacts([(art, str(root))]) == 1
    assert logged.server.stats()["by_route"]["GET /_artifact_files"] == before + 1
    assert _tree(root) == DATA_V0


def test_a_corrupt_answer_or_a_hostile_name_writes_nothing(
    logged: LoggedArtifacts, tmp_path: Path
) -> None:
    client = _client(logged, retry_budget_s=2.0, backoff_factor=0.01)
    art = client.artifact(f"{logged.entity}/arts/data-set:v1")
    logged.server.add_faults(
        [{"match": "GET /_artifact_files/.*", "status": 200, "body": "not the bytes"}]
    )
    try:
        with pytest.raises(CommError, match="md5 mismatch"):
            art.download(tmp_path / "bad")
    finally:
        logged.server.clear_faults()
    assert not [p for p in (tmp_path / "bad").rglob("*") if p.is_file()]
    art._files = [*art.files()]
    art._files[0] = type(art._files[0])("../escape.txt", 1, art._files[0].md5, art._files[0].url)
    with pytest.raises(ValueError, match="outside"):
        art.download(tmp_path / "safe")
    assert not (tmp_path / "escape.txt").exists() and not (tmp_path / "safe").exists()


def test_unknown_names_get_clear_errors(logged: LoggedArtifacts) -> None:
    client = _client(logged)
    with pytest.raises(NotFoundError, match=r"artifact .*data-set:v9.*':latest'"):
        client.artifact(f"{logged.entity}/arts/data-set:v9")
    with pytest.raises(NotFoundError, match=r"collection .*nope"):
        list(client.artifacts("dataset", f"{logged.entity}/arts/nope"))
    with pytest.raises(ValueError, match="expected 'entity/project/collection:alias'"):
        client.artifact("a/b/c/d:v0")


def test_transient_storage_errors_are_retried(logged: LoggedArtifacts, tmp_path: Path) -> None:
    client = _client(logged, backoff_factor=0.01)
    art = client.artifact(f"{logged.entity}/arts/data-set:v0")
    logged.server.add_faults([{"match": "GET /_artifact_files/.*", "status": 503, "count": 2}])
    try:
        root = art.download(tmp_path / "dl")
    finally:
        logged.server.clear_faults()
    assert _tree(Path(root)) == DATA_V0


def _manifest_view(entries: Any) -> dict[str, tuple[Any, ...]]:
    return {e.path: (e.ref, e.digest, e.size) for e in entries.values()}


def test_the_manifest_and_file_references_match_the_sdk(
    logged: LoggedArtifacts, sdk_env: Any, tmp_path: Path
) -> None:
    api, client = make_sdk_api(logged.server), _client(logged)
    for collection in ("file-refs", "mixed-refs", "data-set"):
        name = f"{logged.entity}/arts/{collection}:v0"
        assert _manifest_view(client.artifact(name).manifest()) == _manifest_view(
            api.artifact(name).manifest.entries
        )
    name = f"{logged.entity}/arts/file-refs:v0"
    refs = client.artifact(name).manifest()
    assert refs["d/x.txt"].ref == (logged.external / "dir" / "x.txt").as_uri()
    assert refs["stored.txt"].ref is None
    assert refs["web/one.txt"].digest == hashlib.md5(REFERENCED["one.txt"]).hexdigest()  # ETag
    # file:// references are copied from where they lie and http ones fetched, as the SDK does
    expected = {"one.txt": REFERENCED["one.txt"], "web/one.txt": REFERENCED["one.txt"], **STORED}
    expected |= {f"d/{k.removeprefix('dir/')}": v for k, v in REFERENCED.items() if "/" in k}
    ours = client.artifact(name).download(tmp_path / "ours")
    sdk = api.artifact(name).download(root=str(tmp_path / "sdk"))
    assert _tree(Path(ours)) == expected == _tree(Path(sdk))


def test_a_reference_this_client_cannot_fetch_fails_before_writing(
    logged: LoggedArtifacts, tmp_path: Path
) -> None:
    client = _client(logged)
    art = client.artifact(f"{logged.entity}/arts/mixed-refs:v0")
    files_before = logged.server.stats()["by_route"].get("GET /_artifact_files", 0)
    with pytest.raises(CommError, match=r"data\.csv -> s3://some-bucket/key/data\.csv.*'skip'"):
        art.download(tmp_path / "fetch")
    assert not (tmp_path / "fetch").exists()
    assert logged.server.stats()["by_route"].get("GET /_artifact_files", 0) == files_before
    # references="skip": the stored file, no reference (the manifest still names it)
    assert _tree(Path(art.download(tmp_path / "skip", references="skip"))) == STORED
    assert art.manifest()["data.csv"].ref == S3_REF
    with pytest.raises(ValueError, match="references='ignore': use 'fetch' or 'skip'"):
        art.download(tmp_path / "typo", references="ignore")  # type: ignore[arg-type]


def test_a_changed_or_missing_referenced_file_is_an_error_that_keeps_the_copy(
    logged: LoggedArtifacts, tmp_path: Path
) -> None:
    client = _client(logged)
    art = client.artifact(f"{logged.entity}/arts/file-refs:v0")
    root = Path(art.download(tmp_path / "dl"))
    source = logged.external / "one.txt"
    try:
        source.write_bytes(b"edited after logging")
        # the local copy of one.txt is still right; the http reference's object has changed
        with pytest.raises(CommError, match=r"web/one\.txt .*answers with ETag .*changed since"):
            art.download(root)
        assert (root / "web" / "one.txt").read_bytes() == REFERENCED["one.txt"]
        (root / "one.txt").write_bytes(b"a local edit")  # not the logged bytes: fetched again
        with pytest.raises(CommError, match=r"one\.txt no longer holds the bytes"):
            art.download(root)
        source.unlink()
        with pytest.raises(CommError, match=r"one\.txt does not exist here.*mounted"):
            art.download(root)
        assert (root / "one.txt").read_bytes() == b"a local edit"  # untouched by either
    finally:
        source.write_bytes(REFERENCED["one.txt"])
    assert (root / "d" / "x.txt").read_bytes() == REFERENCED["dir/x.txt"]
    # one.txt, and web/one.txt: an ETag cannot check a local copy, so it is always fetched
    assert client.download_artifacts([(art, str(root))]) == 2
    assert (root / "one.txt").read_bytes() == REFERENCED["one.txt"]
