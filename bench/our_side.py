"""wb_dagster's side of each workload: the client's columnar paths and the Dagster layer.

Each function runs in a fresh worker process and times its work with ``ctx.clock()``; imports
happen before the clock except in :func:`cold_start`. ``WandbClient(...)`` construction is
inside the clock (it makes no request).
"""

from __future__ import annotations

import math
import os
import shutil
import time
from pathlib import Path
from typing import Any

from bench.checks import frame_check, ids_digest, table_check
from bench.sdk_side import RUN_TABLE_PREFIXES, RUN_TABLE_SUMS
from bench.worker import Ctx


def _client(ctx: Ctx, **kwargs: Any) -> Any:
    from wb_dagster.client import WandbClient  # imported before the clock by _preload()

    return WandbClient(api_key=ctx.api_key, base_url=ctx.base_url, entity=ctx.entity, **kwargs)


def _preload() -> None:
    """Imports before the clock starts, as the SDK side imports ``wandb`` and pandas first.

    pandas too: pyarrow imports it on its first array conversion or ``read_table`` (~0.3 s).
    """
    import pandas  # noqa: F401
    import pyarrow.parquet  # noqa: F401

    import wb_dagster.client  # noqa: F401


def _run_path(ctx: Ctx) -> str:
    return f"{ctx.path()}/{ctx.params['run_id']}"


# -- W1 ------------------------------------------------------------------------------------------


def runs_table(ctx: Ctx) -> dict[str, Any]:
    """W1: ``client.runs(path).to_pandas()`` (config and summary flattened, no per-run query)."""
    import pandas  # noqa: F401

    _preload()
    with ctx.clock():
        df = _client(ctx).runs(ctx.path()).to_pandas()
    return frame_check(df, sums=RUN_TABLE_SUMS, ids="id", prefixes=RUN_TABLE_PREFIXES)


# -- W2 / W3 / W8 --------------------------------------------------------------------------------


def history_pandas(ctx: Ctx) -> dict[str, Any]:
    """W2/W3: ``run.history_table().to_pandas()`` (full, unsampled)."""
    import pandas  # noqa: F401
    import pyarrow  # noqa: F401

    _preload()
    with ctx.clock():
        df = _client(ctx).run(_run_path(ctx)).history_table().to_pandas()
    return frame_check(df, sums=ctx.params["sums"])


def history_table(ctx: Ctx) -> dict[str, Any]:
    """W2: ``run.history_table()`` as Arrow (compare with the floor)."""
    import pyarrow  # noqa: F401

    _preload()
    with ctx.clock():
        table = _client(ctx).run(_run_path(ctx)).history_table()
    return table_check(table, sums=ctx.params["sums"])


def parquet_check(path: Path, sums: list[str]) -> dict[str, Any]:
    """Rows, columns and exact sums of a parquet file, one record batch at a time."""
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(path)
    out: dict[str, Any] = {
        "rows": pf.metadata.num_rows,
        "columns": sorted(pf.schema_arrow.names),
    }
    for name in sums:
        if name not in pf.schema_arrow.names:
            out[f"sum.{name}"] = None
            continue
        values = (
            float(v)
            for batch in pf.iter_batches(batch_size=65_536, columns=[name])
            for v in batch.column(0).to_numpy(zero_copy_only=False)
        )
        # fsum over a generator: exact and streaming (no list of every value)
        total, seen = math.fsum(v for v in values if math.isfinite(v)), pf.metadata.num_rows
        out[f"sum.{name}"] = total if seen else None
    return out


def history_parquet(ctx: Ctx) -> dict[str, Any]:
    """W2/W8: ``run.write_history_parquet(path)`` (streamed, bounded memory)."""
    import pyarrow  # noqa: F401

    dest = Path(ctx.scratch) / "history.parquet"
    _preload()
    with ctx.clock():
        export = _client(ctx).run(_run_path(ctx)).write_history_parquet(dest)
    ctx.extra["export_rows"] = export.rows
    ctx.extra["export_source"] = export.source
    ctx.extra["parquet_bytes"] = dest.stat().st_size
    check = parquet_check(dest, ctx.params["sums"])
    dest.unlink()
    return check


def parquet_floor(ctx: Ctx) -> dict[str, Any]:
    """W2 floor: one plain GET of the run's exported parquet + ``pyarrow.parquet.read_table``.

    The parquet URL is looked up before the clock (one GraphQL request, counted).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq
    import requests

    from wb_dagster.client.history import HistoryReader
    from wb_dagster.client.paths import ObjectPath

    client = _client(ctx)
    where = ObjectPath(ctx.entity, ctx.params["project"], ctx.params["run_id"])
    urls = HistoryReader(client.transport, where).plan().parquet_urls
    session = requests.Session()
    session.auth = ("api", ctx.api_key)
    _preload()
    with ctx.clock():
        parts = []
        for url in urls:
            resp = session.get(url, timeout=300)
            resp.raise_for_status()
            parts.append(pq.read_table(pa.BufferReader(resp.content)))
        table = pa.concat_tables(parts)
    return table_check(table, sums=ctx.params["sums"])


# -- W4 ------------------------------------------------------------------------------------------


def _metrics_frame(tables: list[Any]) -> Any:
    import pyarrow as pa

    return pa.concat_tables(tables, promote_options="default").to_pandas()


def _with_id(run: Any) -> Any:
    import pyarrow as pa

    table = run.system_metrics_table()
    return table.append_column("run_id", pa.array([run.id] * table.num_rows, type=pa.string()))


def system_metrics(ctx: Ctx) -> dict[str, Any]:
    """W4: ``run.system_metrics_table()`` for every run, runs read concurrently (16 threads)."""
    from concurrent.futures import ThreadPoolExecutor

    import pandas  # noqa: F401
    import pyarrow  # noqa: F401

    _preload()
    with ctx.clock():
        client = _client(ctx)
        runs = list(client.runs(ctx.path()))
        with ThreadPoolExecutor(max_workers=client.max_concurrency) as pool:
            tables = list(pool.map(_with_id, runs))
        df = _metrics_frame(tables)
    return frame_check(df, sums=ctx.params["sums"], ids="run_id", prefixes=("system.",))


def system_metrics_sequential(ctx: Ctx) -> dict[str, Any]:
    """W4, one run after the other (the SDK guide's loop shape, our client)."""
    import pandas  # noqa: F401
    import pyarrow  # noqa: F401

    _preload()
    with ctx.clock():
        tables = [_with_id(run) for run in _client(ctx).runs(ctx.path())]
        df = _metrics_frame(tables)
    return frame_check(df, sums=ctx.params["sums"], ids="run_id", prefixes=("system.",))


# -- W5: sensor tick ---------------------------------------------------------------------------


def _defs(ctx: Ctx, storage_dir: str, include: tuple[str, ...]) -> Any:
    # pyarrow imports pandas on its first array conversion (~0.3 s, once per process); like
    # every import in the bench it stays out of the clock
    import dagster as dg
    import pandas  # noqa: F401

    from wb_dagster.defs import build_wandb_defs

    os.environ["WB_BENCH_API_KEY"] = ctx.api_key  # this worker process only
    return build_wandb_defs(
        entity=ctx.entity,
        project=ctx.params["project"],
        api_key=dg.EnvVar("WB_BENCH_API_KEY"),
        base_url=ctx.base_url,
        storage_dir=storage_dir,
        include=include,
        sweep_sensor=False,
        runs_schedule=None,
    )


_PER_RUN = ("runs", "run_history", "run_system_metrics")


def _requested_runs(result: Any) -> list[str]:
    return sorted(r.partition_key for r in result.run_requests or [] if r.partition_key)


def sensor_first_tick(ctx: Ctx) -> dict[str, Any]:
    """W5 setup: tick the run sensor until it has caught up (each tick is capped at 500
    runs); stores the cursor for the measured ticks."""
    import dagster as dg

    from wb_dagster_tests.inprocess import evaluate_sensor

    defs = _defs(ctx, str(Path(ctx.scratch) / "store"), _PER_RUN)
    (sensor,) = defs.sensors
    cursor: str | None = None
    requested = ticks = 0
    with dg.DagsterInstance.ephemeral() as instance, ctx.clock():
        for ticks in range(1, ctx.params["max_ticks"] + 1):  # noqa: B007
            result = evaluate_sensor(defs, sensor.name, instance, cursor)
            cursor = result.cursor
            found = len(_requested_runs(result))
            requested += found
            if not found:
                break
        else:
            raise RuntimeError(f"the run sensor did not catch up in {ticks} ticks")
    ctx.extra["ticks"] = ticks
    Path(ctx.params["cursor_file"]).write_text(cursor or "")
    return {"requested": requested}


def sensor_tick(ctx: Ctx) -> dict[str, Any]:
    """W5: one run-sensor tick from the stored cursor (after 10 runs finished)."""
    import dagster as dg

    from wb_dagster_tests.inprocess import evaluate_sensor

    defs = _defs(ctx, str(Path(ctx.scratch) / "store"), _PER_RUN)
    (sensor,) = defs.sensors
    cursor = Path(ctx.params["cursor_file"]).read_text() or None
    with dg.DagsterInstance.ephemeral() as instance, ctx.clock():
        result = evaluate_sensor(defs, sensor.name, instance, cursor)
    requested = _requested_runs(result)
    ctx.extra["skip_reason"] = result.skip_reason
    return {
        "requested_runs": requested,
        "refreshes_runs_table": len(result.run_requests or []) > len(requested),
    }


# -- W6: runs asset refresh --------------------------------------------------------------------


def _step_seconds(instance: Any, run_id: str) -> float | None:
    """Seconds from STEP_START to STEP_SUCCESS in the run's event log."""
    times: dict[str, float] = {}
    for entry in instance.all_logs(run_id):
        event = entry.dagster_event
        if event is not None and event.event_type_value in ("STEP_START", "STEP_SUCCESS"):
            times[event.event_type_value] = entry.timestamp
    if len(times) != 2:
        return None
    return round(times["STEP_SUCCESS"] - times["STEP_START"], 4)


def runs_asset(ctx: Ctx) -> dict[str, Any]:
    """W6: materialize the ``runs`` asset (``mode``: setup / full / incremental).

    ``setup`` writes the stored table into ``storage_dir``; the measured modes start from a
    copy of it (copied before the clock) so every repeat does the same work.
    """
    import dagster as dg
    import pyarrow.parquet as pq

    from wb_dagster_tests.inprocess import QUIET_RUN_CONFIG, assets_of

    mode = ctx.params["mode"]
    storage = ctx.params["storage_dir"]
    if mode != "setup":
        copy = str(Path(ctx.scratch) / "store")
        shutil.copytree(storage, copy)
        storage = copy
    defs = _defs(ctx, storage, ("runs",))
    assets = assets_of(defs)
    (runs_def,) = [a for a in assets if isinstance(a, dg.AssetsDefinition)]
    op_name = runs_def.op.name
    op_config: dict[str, Any] = {"full_refresh": mode == "full"}
    if "lookback_seconds" in ctx.params:
        op_config["lookback_seconds"] = ctx.params["lookback_seconds"]
    run_config = {**QUIET_RUN_CONFIG, "ops": {op_name: {"config": op_config}}}
    with dg.DagsterInstance.ephemeral() as instance:
        with ctx.clock():
            result = dg.materialize(
                assets,
                selection=[runs_def.key],
                instance=instance,
                resources=dict(defs.resources or {}),
                run_config=run_config,
            )
        ctx.extra["step_s"] = _step_seconds(instance, result.run_id)
        (event,) = result.get_asset_materialization_events()
        meta = event.materialization.metadata
        ctx.extra["fetched_rows"] = meta["wandb/fetched_rows"].value
        ctx.extra["refresh_mode"] = meta["wandb/refresh_mode"].value
        path = defs.resources["wandb_io_manager"].path_for(runs_def.key, instance=instance)
        table = pq.read_table(str(path), columns=["id", "state"])
    pairs = [
        f"{i}:{s}"
        for i, s in zip(
            table.column("id").to_pylist(), table.column("state").to_pylist(), strict=True
        )
    ]
    return {"rows": table.num_rows, "id_states": ids_digest(pairs)}


# -- W7 ------------------------------------------------------------------------------------------


def cold_start(ctx: Ctx) -> dict[str, Any]:
    """W7: ``from wb_dagster.client import WandbClient``; the first request (``client.run``)."""
    with ctx.clock():
        started = time.perf_counter()
        from wb_dagster.client import WandbClient

        imported = time.perf_counter()
        client = WandbClient(api_key=ctx.api_key, base_url=ctx.base_url)
        run = client.run(f"{ctx.path()}/{ctx.params['run_id']}")
        state = run.state
    ctx.extra["import_s"] = round(imported - started, 4)
    return {"run": run.id, "state": state}
