"""The official ``wandb`` SDK side of each workload, written the way W&B's guide does it.

Each function runs in a fresh worker process (fresh HOME / WANDB_CACHE_DIR / WANDB_DIR, error
reporting off; see :mod:`bench.measure`) and times its work with ``ctx.clock()``. Imports of
``wandb`` and ``pandas`` happen before the clock starts, except in :func:`cold_start`;
``wandb.Api()`` (which starts the ``wandb-core`` sidecar) is inside the clock, as it is in
every fresh process (a Dagster step, a cron job) that uses the SDK.
"""

from __future__ import annotations

import time
from typing import Any

from bench.checks import frame_check
from bench.worker import Ctx

RUN_TABLE_PREFIXES = ("config.param_", "summary.score_")
RUN_TABLE_SUMS = ("config.param_00", "summary.score_00")


def _api(ctx: Ctx) -> Any:
    import wandb

    return wandb.Api(api_key=ctx.api_key, overrides={"base_url": ctx.base_url}, timeout=60)


def _runs_table(ctx: Ctx, lazy: bool) -> dict[str, Any]:
    import pandas as pd
    import wandb  # noqa: F401  (imported before the clock)

    with ctx.clock():
        api = _api(ctx)
        rows = []
        # the guide's export loop: one dict per run of name, config and summary
        for run in api.runs(ctx.path(), lazy=lazy):
            row: dict[str, Any] = {"id": run.id, "name": run.name}
            row.update({f"config.{k}": v for k, v in run.config.items() if not k.startswith("_")})
            row.update({f"summary.{k}": v for k, v in run.summary._json_dict.items()})
            rows.append(row)
        df = pd.DataFrame(rows)
    return frame_check(df, sums=RUN_TABLE_SUMS, ids="id", prefixes=RUN_TABLE_PREFIXES)


def runs_table_lazy(ctx: Ctx) -> dict[str, Any]:
    """W1: ``api.runs(path)`` with the default ``lazy=True`` (one extra query per run)."""
    return _runs_table(ctx, lazy=True)


def runs_table_full(ctx: Ctx) -> dict[str, Any]:
    """W1 with ``lazy=False`` (config and summary in the listing)."""
    return _runs_table(ctx, lazy=False)


def scan_history(ctx: Ctx) -> dict[str, Any]:
    """W2/W3: every history row of one run via ``run.scan_history()`` into a DataFrame."""
    import pandas as pd
    import wandb  # noqa: F401

    with ctx.clock():
        api = _api(ctx)
        run = api.run(f"{ctx.path()}/{ctx.params['run_id']}")
        df = pd.DataFrame(list(run.scan_history()))
    return frame_check(df, sums=ctx.params["sums"])


def system_metrics(ctx: Ctx) -> dict[str, Any]:
    """W4: ``run.history(stream="system")`` (the events stream) for every run of a project."""
    import pandas as pd
    import wandb  # noqa: F401

    with ctx.clock():
        api = _api(ctx)
        frames = []
        for run in api.runs(ctx.path()):
            df = run.history(stream="system", samples=ctx.params["samples"])
            df["run_id"] = run.id
            frames.append(df)
        df = pd.concat(frames, ignore_index=True)
    return frame_check(df, sums=ctx.params["sums"], ids="run_id", prefixes=("system.",))


def cold_start(ctx: Ctx) -> dict[str, Any]:
    """W7: ``import wandb``; ``wandb.Api()``; the first request (``api.run(path)``)."""
    with ctx.clock():
        started = time.perf_counter()
        import wandb

        imported = time.perf_counter()
        api = wandb.Api(api_key=ctx.api_key, overrides={"base_url": ctx.base_url})
        run = api.run(f"{ctx.path()}/{ctx.params['run_id']}")
        state = run.state
    ctx.extra["import_s"] = round(imported - started, 4)
    return {"run": run.id, "state": state}
