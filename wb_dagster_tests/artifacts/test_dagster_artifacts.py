"""The artifact asset, the publish helper and sweep_best_model's artifact fallback, run by
``dg.materialize`` against the SDK-logged artifacts (see logged_artifacts.py); the referees are the
logging script's inputs and the official SDK's reads of the same server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from wb_dagster import (
    WandbArtifactSpec,
    WandbParquetIOManager,
    WandbResource,
    build_wandb_artifact_asset,
    publish_artifact,
)
from wb_dagster.names import key_part
from wb_dagster.sensors.batches import RANGE_END_TAG, RANGE_START_TAG
from wb_dagster_tests.artifacts.logged_artifacts import (
    DATA_V0,
    DATA_V1,
    MODEL,
    REFERENCED,
    STORED,
    LoggedArtifacts,
)
from wb_dagster_tests.support.clients import make_sdk_api


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _resources(logged: LoggedArtifacts, store: Path) -> dict[str, Any]:
    srv = logged.server
    return {
        "wandb": WandbResource(api_key=srv.api_key, base_url=srv.base_url),
        "wandb_io_manager": WandbParquetIOManager(base_dir=str(store)),
    }


def test_versions_as_partitions_store_the_files_and_w_and_b_metadata(
    logged: LoggedArtifacts, tmp_path: Path, instance: dg.DagsterInstance, sdk_env: Any
) -> None:
    spec = WandbArtifactSpec.build(f"{logged.entity}/arts/data-set", type="dataset")
    asset = build_wandb_artifact_asset(spec)
    instance.add_dynamic_partitions(str(spec.partitions.name), ["v0", "v1"])
    api = make_sdk_api(logged.server)
    store = tmp_path / "store"
    # one run stores both versions (a partition range, as the sensor batches them)
    result = dg.materialize(
        [asset], resources=_resources(logged, store), instance=instance,
        tags={RANGE_START_TAG: "v0", RANGE_END_TAG: "v1"},
    )  # fmt: skip
    assert result.success
    mats = {m.partition: m for m in result.asset_materializations_for_node(asset.node_def.name)}
    checks = {c.partition: c for c in result.get_asset_check_evaluations()}
    for version, files in (("v0", DATA_V0), ("v1", DATA_V1)):
        assert _tree(store.joinpath(*spec.key.path, version)) == files
        meta: dict[str, Any] = {k: v.value for k, v in mats[version].metadata.items()}
        sdk = api.artifact(f"{logged.entity}/arts/data-set:{version}")
        assert (meta["wandb/version"], meta["wandb/digest"], sorted(meta["wandb/aliases"])) == (
            sdk.version, sdk.digest, sorted(sdk.aliases),
        )  # fmt: skip
        assert meta["wandb/run_path"] == f"{logged.entity}/arts/{logged.producer}"
        assert meta["wandb/lineage"] == {
            "asset_key": f"wandb/{key_part(logged.entity)}/arts/run_history",
            "partition": logged.producer,
        }
        assert meta["wandb/metadata"] == sdk.metadata
        assert checks[version].passed and checks[version].metadata["files"].value == len(files)
        # the W&B digest is the version's data version (staleness follows W&B)
        assert (mats[version].tags or {})["dagster/data_version"] == sdk.digest


def test_an_alias_tracking_asset_holds_the_version_the_alias_points_at(
    logged: LoggedArtifacts, tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    spec = WandbArtifactSpec.build(
        f"{logged.entity}/wandb-registry-model/prod-models", type="model", alias="staging"
    )
    result = dg.materialize(
        [build_wandb_artifact_asset(spec)],
        resources=_resources(logged, tmp_path / "store"),
        instance=instance,
    )
    mat = result.asset_materializations_for_node(f"wandb_artifact__{spec.name}")[0]
    assert mat.metadata["wandb/version"].value == "v0"
    assert _tree(tmp_path.joinpath("store", *spec.key.path)) == MODEL
    assert str(mat.metadata["wandb/run_path"].value).endswith(f"/{logged.producer}")


def test_a_wrong_type_fails_with_a_clear_message(
    logged: LoggedArtifacts, tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    spec = WandbArtifactSpec.build(f"{logged.entity}/arts/my-model", type="dataset", alias="prod")
    with pytest.raises(dg.Failure, match="has type 'model', not 'dataset'"):
        dg.materialize(
            [build_wandb_artifact_asset(spec)],
            resources=_resources(logged, tmp_path / "s"),
            instance=instance,
        )


def test_file_references_are_stored_and_other_references_fail_clearly(
    logged: LoggedArtifacts, tmp_path: Path, instance: dg.DagsterInstance, sdk_env: Any
) -> None:
    store = tmp_path / "store"
    refs = WandbArtifactSpec.build(f"{logged.entity}/arts/file-refs", type="dataset", alias="v0")
    result = dg.materialize(
        [build_wandb_artifact_asset(refs)], resources=_resources(logged, store), instance=instance
    )
    assert result.success
    sdk_root = (
        make_sdk_api(logged.server)
        .artifact(f"{logged.entity}/arts/file-refs:v0")
        .download(root=str(tmp_path / "sdk"))
    )
    stored = _tree(store.joinpath(*refs.key.path))
    assert stored == _tree(Path(sdk_root))
    assert (
        stored["one.txt"] == REFERENCED["one.txt"] and stored["stored.txt"] == STORED["stored.txt"]
    )
    assert result.get_asset_check_evaluations()[0].passed

    mixed = WandbArtifactSpec.build(f"{logged.entity}/arts/mixed-refs", type="dataset", alias="v0")
    with pytest.raises(dg.Failure, match=r"data\.csv -> s3://.*their store's own client"):
        dg.materialize(
            [build_wandb_artifact_asset(mixed)],
            resources=_resources(logged, store),
            instance=instance,
        )
    assert not store.joinpath(*mixed.key.path).exists()


def test_publish_is_idempotent_by_content_and_the_sdk_reads_it(
    logged: LoggedArtifacts, tmp_path: Path, instance: dg.DagsterInstance, sdk_env: Any
) -> None:
    out = tmp_path / "out"
    out.mkdir()

    @dg.asset
    def features(context, wandb: WandbResource) -> dg.MaterializeResult:  # type: ignore[no-untyped-def]
        published = publish_artifact(
            context, wandb, project=f"{logged.entity}/arts", name="features", type="dataset",
            files=out, aliases=["candidate"], metadata={"source": "dagster"},
        )  # fmt: skip
        return dg.MaterializeResult(metadata=published.metadata)

    def run(content: bytes) -> dict[str, Any]:
        (out / "f.bin").write_bytes(content)
        result = dg.materialize(
            [features], resources=_resources(logged, tmp_path), instance=instance
        )
        return {
            k: v.value
            for k, v in result.asset_materializations_for_node("features")[0].metadata.items()
        }

    first, again, changed = run(b"one"), run(b"one"), run(b"two")
    assert (first["wandb/version"], first["wandb/created"]) == ("v0", True)
    assert (again["wandb/version"], again["wandb/created"]) == ("v0", False)
    assert (changed["wandb/version"], changed["wandb/created"]) == ("v1", True)
    api = make_sdk_api(logged.server)
    sdk = api.artifact(f"{logged.entity}/arts/features:candidate")
    assert sdk.version == "v1" and sdk.metadata["source"] == "dagster"
    assert sdk.metadata["lineage"]["dagster"]["asset_key"] == "features"
    assert _tree(Path(sdk.download(root=str(tmp_path / "sdk")))) == {"f.bin": b"two"}
    assert sdk.logged_by().id == first["wandb/run_path"].split("/")[-1]


def test_our_digest_is_the_sdks(
    logged: LoggedArtifacts, tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    # publishing the bytes the SDK logged as data-set:v1 finds that version (same digest)
    src = tmp_path / "v1"
    for name, data in DATA_V1.items():
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_bytes(data)

    @dg.asset
    def again(context, wandb: WandbResource) -> dg.MaterializeResult:  # type: ignore[no-untyped-def]
        published = publish_artifact(
            context, wandb, project=f"{logged.entity}/arts", name="data-set", type="dataset",
            files=src,
        )  # fmt: skip
        return dg.MaterializeResult(metadata=published.metadata)

    result = dg.materialize([again], resources=_resources(logged, tmp_path), instance=instance)
    meta = result.asset_materializations_for_node("again")[0].metadata
    assert (meta["wandb/version"].value, meta["wandb/created"].value) == ("v1", False)


def test_sweep_best_model_falls_back_to_the_best_runs_model_artifact(
    server: Any, tmp_path: Path, instance: dg.DagsterInstance, sdk_env: Any
) -> None:
    from wb_dagster import WandbProjectAssetsSpec, build_wandb_sweep_best_model_asset
    from wb_dagster.client import WandbClient
    from wb_dagster.client.artifact_writes import collect_entries, log_artifact
    from wb_dagster.testing.seeds.demo import DEMO_SWEEP_ID

    best = make_sdk_api(server).sweep(f"wb-demo/cifar/{DEMO_SWEEP_ID}").best_run()
    (tmp_path / "net.onnx").write_bytes(b"onnx bytes")
    with WandbClient(api_key=server.api_key, base_url=server.base_url) as client:
        log_artifact(
            client, entity="wb-demo", project="cifar", run_id=best.id, name="net", type="model",
            entries=collect_entries(tmp_path / "net.onnx"),
        )  # fmt: skip
    p = WandbProjectAssetsSpec.build(entity="wb-demo", project="cifar")
    asset = build_wandb_sweep_best_model_asset(p, file_pattern="no-such-file.*")
    instance.add_dynamic_partitions(str(p.sweeps_partitions.name), [DEMO_SWEEP_ID])
    resources = {
        "wandb": WandbResource(api_key=server.api_key, base_url=server.base_url),
        "wandb_io_manager": WandbParquetIOManager(base_dir=str(tmp_path / "store")),
    }
    result = dg.materialize(
        [asset], resources=resources, instance=instance, partition_key=DEMO_SWEEP_ID
    )
    meta = result.asset_materializations_for_node(asset.node_def.name)[0].metadata
    assert (meta["best_run"].value, meta["wandb/artifact"].value) == (
        best.id,
        "wb-demo/cifar/net:v0",
    )
    stored = tmp_path.joinpath("store", *p.key("sweep_best_model").path, DEMO_SWEEP_ID)
    assert _tree(stored) == {"net.onnx": b"onnx bytes"}
    assert result.get_asset_check_evaluations()[0].passed
