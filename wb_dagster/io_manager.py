"""``WandbParquetIOManager``: parquet files over UPath, atomic and partition-aware.

Layout: ``<base_dir>/<asset key parts>.parquet`` for unpartitioned assets and
``<base_dir>/<asset key parts>/<partition key>.parquet`` for partitioned ones, e.g.
``DIR/wandb/wb-demo/cifar/runs.parquet`` and
``DIR/wandb/wb-demo/cifar/run_history/<run id>.parquet``.
Assets whose metadata says ``wandb/storage: files`` (the sweep best model) are directories
``<base_dir>/<asset key parts>/<partition key>/`` and load as a :class:`upath.UPath`.

Example:
    >>> import dagster as dg
    >>> io = WandbParquetIOManager(base_dir="/tmp/wb_storage")
    >>> defs = dg.Definitions(resources={"wandb_io_manager": io})
"""

from __future__ import annotations

import os
import typing
from typing import Any

import dagster as dg
import pyarrow as pa
from pydantic import Field, PrivateAttr
from upath import UPath

from wb_dagster.storage import read_table, write_table_atomic

STORAGE_KIND_KEY = "wandb/storage"
FILES_STORAGE = "files"


def table_metadata(table: pa.Table) -> dict[str, Any]:
    """Standard Dagster table metadata (row count and column schema) for ``table``."""
    return {
        "dagster/row_count": dg.MetadataValue.int(table.num_rows),
        "dagster/column_schema": schema_metadata(table.schema),
    }


def schema_metadata(schema: pa.Schema) -> dg.TableSchema:
    """Arrow schema as a Dagster ``TableSchema`` (what the UI shows in the Columns tab)."""
    return dg.TableSchema(columns=[dg.TableColumn(name=f.name, type=str(f.type)) for f in schema])


def _wants_arrow(context: dg.InputContext) -> bool:
    typ = context.dagster_type.typing_type
    if typing.get_origin(typ) in (dict, typing.Mapping):
        args = typing.get_args(typ)
        typ = args[1] if len(args) == 2 else typ
    return typ is pa.Table


def _to_arrow(obj: Any) -> pa.Table:
    if isinstance(obj, pa.Table):
        return obj
    if isinstance(obj, pa.RecordBatch):
        return pa.Table.from_batches([obj])
    import pandas as pd

    if isinstance(obj, pd.DataFrame):
        return pa.Table.from_pandas(obj, preserve_index=False)
    raise dg.DagsterInvariantViolationError(
        f"WandbParquetIOManager stores pandas DataFrames and pyarrow Tables, got "
        f"{type(obj).__name__}. Return one of those, or return MaterializeResult without a value."
    )


def _instance_of(context: dg.InputContext | dg.OutputContext) -> dg.DagsterInstance | None:
    # contexts built by hand in tests may carry no instance; only needed without base_dir
    for get in (lambda: context.instance, lambda: context.step_context.instance):  # type: ignore[union-attr]
        try:
            return get()
        except Exception:
            continue
    return None


class _ParquetUPathIOManager(dg.UPathIOManager):
    extension = ".parquet"

    def dump_to_path(self, context: dg.OutputContext, obj: Any, path: UPath) -> None:
        write_table_atomic(_to_arrow(obj), path)

    def load_from_path(self, context: dg.InputContext, path: UPath) -> Any:
        table = read_table(path)
        return table if _wants_arrow(context) else table.to_pandas()

    def get_metadata(self, context: dg.OutputContext, obj: Any) -> dict[str, Any]:
        return table_metadata(_to_arrow(obj)) if obj is not None else {}


class WandbParquetIOManager(dg.ConfigurableIOManager):
    """Stores asset values as parquet under ``base_dir`` (a local path or any fsspec URL).

    Loads as a pandas DataFrame, or as a ``pyarrow.Table`` when the input is annotated so.
    Writes are atomic: a failed or killed step keeps the previous file.

    Example:
        >>> io = WandbParquetIOManager(base_dir="s3://bucket/wandb", storage_options={"anon": 0})
    """

    base_dir: str | None = Field(
        default=None,
        description="Storage root: a directory or fsspec URL (s3://, gs://). "
        "Default: the Dagster instance's storage directory.",
    )
    storage_options: dict[str, Any] | None = Field(
        default=None, description="fsspec options for the store (e.g. endpoint_url, profile)."
    )
    _inner: _ParquetUPathIOManager | None = PrivateAttr(default=None)

    def root(self, instance: dg.DagsterInstance | None = None) -> UPath:
        """The storage root as a UPath (``base_dir``, else the instance storage directory).

        A local ``base_dir`` starting with ``~`` is the user's home, as in a shell.

        Example:
            >>> import os
            >>> str(WandbParquetIOManager(base_dir="~/wb").root()) == os.path.expanduser("~/wb")
            True
        """
        if self.base_dir:
            base = self.base_dir
            if base.startswith("~"):
                base = os.path.expanduser(base)
            return UPath(base, **(self.storage_options or {}))
        if instance is None:
            raise dg.DagsterInvariantViolationError(
                "WandbParquetIOManager has no base_dir and no Dagster instance to default to; "
                "set base_dir."
            )
        return UPath(instance.storage_directory())

    def path_for(
        self,
        asset_key: dg.AssetKey,
        partition_key: str | None = None,
        *,
        instance: dg.DagsterInstance | None = None,
        extension: str = ".parquet",
    ) -> UPath:
        """Where ``asset_key`` (and partition) lives: ``<root>/<key parts>[/<partition>]<ext>``."""
        root = self.root(instance)
        path = root.joinpath(*asset_key.path)
        inner = _ParquetUPathIOManager(base_path=root)
        if partition_key is None:
            return path.with_name(path.name + extension)
        part = inner.make_safe_partition_path(path, partition_key)
        return part.with_name(part.name + extension)

    def _io(self, context: dg.InputContext | dg.OutputContext) -> _ParquetUPathIOManager:
        if self._inner is None:
            instance = _instance_of(context)
            self._inner = _ParquetUPathIOManager(base_path=self.root(instance))
        return self._inner

    def handle_output(self, context: dg.OutputContext, obj: Any) -> None:
        if obj is None:
            return
        self._io(context).handle_output(context, obj)

    def load_input(self, context: dg.InputContext) -> Any:
        upstream = context.upstream_output
        meta = upstream.definition_metadata if upstream is not None else {}
        if meta and meta.get(STORAGE_KIND_KEY) == FILES_STORAGE and context.has_asset_key:
            instance = _instance_of(context)
            keys = context.asset_partition_keys if context.has_asset_partitions else [None]
            paths = {
                k: self.path_for(context.asset_key, k, instance=instance, extension="")
                for k in keys
            }
            return paths[keys[0]] if len(paths) == 1 else paths
        return self._io(context).load_input(context)
