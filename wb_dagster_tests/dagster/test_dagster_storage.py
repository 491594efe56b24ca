"""Parquet storage: local and S3 (moto on loopback) round-trips, layout, atomicity."""

import textwrap

import dagster as dg
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from upath import UPath

from wb_dagster.io_manager import WandbParquetIOManager
from wb_dagster.storage import concat_parquet_atomic, read_table, write_table_atomic
from wb_dagster_tests.support.crash import kill_mid_write

PARTS = dg.StaticPartitionsDefinition(["r1", "r2"])


@dg.asset(key=["wandb", "proj", "table"])
def table_asset() -> pd.DataFrame:
    return pd.DataFrame({"id": ["a", "b", "c"], "loss": [0.5, 0.25, 0.125]})


@dg.asset(
    key=["wandb", "proj", "as_arrow"], ins={"table": dg.AssetIn(key=["wandb", "proj", "table"])}
)
def as_arrow(table: pa.Table) -> pd.DataFrame:
    assert isinstance(table, pa.Table)
    return pd.DataFrame({"n": [table.num_rows]})


@dg.asset(ins={"table": dg.AssetIn(key=["wandb", "proj", "table"])})
def as_pandas(table: pd.DataFrame) -> pd.DataFrame:
    assert isinstance(table, pd.DataFrame)
    return table.assign(double=table["loss"] * 2)


@dg.asset(key=["wandb", "proj", "per_run"], partitions_def=PARTS)
def per_run(context: dg.AssetExecutionContext) -> pa.Table:
    return pa.table({"_step": [0, 1], "run": [context.partition_key] * 2})


ALL = [table_asset, as_pandas, per_run]


def _materialize(io: WandbParquetIOManager, instance, partition_key=None, assets=None):
    return dg.materialize(
        assets or ALL,
        selection=None if partition_key is None else [per_run],
        partition_key=partition_key,
        resources={"io_manager": io},
        instance=instance,
    )


def test_local_round_trip_layout_and_metadata(tmp_path, instance):
    io = WandbParquetIOManager(base_dir=str(tmp_path / "store"))
    result = dg.materialize(
        [table_asset, as_pandas], resources={"io_manager": io}, instance=instance
    )
    assert result.success
    path = tmp_path / "store" / "wandb" / "proj" / "table.parquet"
    assert pq.read_table(path).column("id").to_pylist() == ["a", "b", "c"]
    downstream = pq.read_table(tmp_path / "store" / "as_pandas.parquet").to_pandas()
    assert downstream["double"].tolist() == [1.0, 0.5, 0.25]
    mat = result.asset_materializations_for_node("wandb__proj__table")[0]
    assert mat.metadata["dagster/row_count"].value == 3
    cols = [c.name for c in mat.metadata["dagster/column_schema"].schema.columns]
    assert cols == ["id", "loss"]


def test_arrow_annotation_loads_a_pyarrow_table(tmp_path, instance):
    io = WandbParquetIOManager(base_dir=str(tmp_path))
    result = dg.materialize(
        [table_asset, as_arrow], resources={"io_manager": io}, instance=instance
    )
    assert result.success
    assert pq.read_table(tmp_path / "wandb" / "proj" / "as_arrow.parquet").to_pylist() == [{"n": 3}]


def test_partitions_are_files_named_by_key(tmp_path, instance):
    io = WandbParquetIOManager(base_dir=str(tmp_path))
    for key in ("r1", "r2"):
        assert _materialize(io, instance, partition_key=key).success
    folder = tmp_path / "wandb" / "proj" / "per_run"
    assert sorted(p.name for p in folder.iterdir()) == ["r1.parquet", "r2.parquet"]
    assert pq.read_table(folder / "r2.parquet").column("run").to_pylist() == ["r2", "r2"]


def test_s3_round_trip_through_moto(s3_bucket, instance):
    url, options = s3_bucket
    io = WandbParquetIOManager(base_dir=url, storage_options=options)
    assert dg.materialize(
        [table_asset, as_pandas], resources={"io_manager": io}, instance=instance
    ).success
    assert _materialize(io, instance, partition_key="r1").success
    import s3fs

    fs = s3fs.S3FileSystem(**options)
    bucket_path = url.removeprefix("s3://")
    listed = sorted(p.removeprefix(bucket_path + "/") for p in fs.find(bucket_path))
    assert listed == [
        "as_pandas.parquet",
        "wandb/proj/per_run/r1.parquet",
        "wandb/proj/table.parquet",
    ]
    with fs.open(f"{bucket_path}/as_pandas.parquet", "rb") as fh:
        assert pq.read_table(fh).column("double").to_pylist() == [1.0, 0.5, 0.25]


def test_failed_write_keeps_previous_file(tmp_path):
    dest = UPath(tmp_path) / "t.parquet"
    write_table_atomic(pa.table({"x": [1, 2]}), dest)

    class Exploding:
        num_rows = 5
        schema = pa.schema([("x", pa.int64())])

    with pytest.raises(TypeError):
        write_table_atomic(Exploding(), dest)  # type: ignore[arg-type]
    assert read_table(dest).column("x").to_pylist() == [1, 2]
    assert [p.name for p in tmp_path.iterdir()] == ["t.parquet"]


def test_merge_unions_columns_and_keeps_order(tmp_path):
    a, b = UPath(tmp_path) / "a.parquet", UPath(tmp_path) / "b.parquet"
    write_table_atomic(pa.table({"_step": [0, 1], "loss": [1.0, 0.5]}), a)
    write_table_atomic(pa.table({"_step": [2], "acc": [0.9], "loss": [0.25]}), b)
    summary = concat_parquet_atomic([a, b], a)
    table = read_table(a)
    assert table.to_pylist() == [
        {"_step": 0, "loss": 1.0, "acc": None},
        {"_step": 1, "loss": 0.5, "acc": None},
        {"_step": 2, "loss": 0.25, "acc": 0.9},
    ]
    assert (summary.rows, summary.min_step, summary.max_step) == (3, 0, 2)


KILLED_WRITER = textwrap.dedent(
    """
    import sys, time
    import dagster as dg, pandas as pd, pyarrow.parquet as pq
    import wb_dagster.storage as storage
    from wb_dagster.io_manager import WandbParquetIOManager

    real_write = pq.write_table

    def slow_write(table, fh, **kw):
        import io
        buf = io.BytesIO()
        real_write(table, buf, **kw)
        data = buf.getvalue()
        fh.write(data[: len(data) // 2])
        fh.flush()
        print("MID-WRITE", flush=True)
        time.sleep(120)  # killed here by the test
        fh.write(data[len(data) // 2 :])

    storage.pq.write_table = slow_write

    @dg.asset(key=["wandb", "proj", "table"])
    def table_asset() -> pd.DataFrame:
        return pd.DataFrame({"id": [f"new{i}" for i in range(5000)]})

    with dg.instance_for_test() as instance:
        dg.materialize([table_asset], instance=instance,
                       resources={"io_manager": WandbParquetIOManager(base_dir=sys.argv[1])})
    """
)


def test_killed_mid_write_leaves_previous_file_readable(tmp_path, instance):
    io = WandbParquetIOManager(base_dir=str(tmp_path))
    assert dg.materialize([table_asset], resources={"io_manager": io}, instance=instance).success
    final = tmp_path / "wandb" / "proj" / "table.parquet"
    before = final.read_bytes()
    script = tmp_path / "writer.py"
    script.write_text(KILLED_WRITER)
    kill_mid_write([str(script), str(tmp_path)], final)
    assert final.read_bytes() == before
    assert pq.read_table(final).column("id").to_pylist() == ["a", "b", "c"]
