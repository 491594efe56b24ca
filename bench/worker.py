"""Worker process: run one side of one workload and write its result as JSON.

``python -m bench.worker SPEC.json`` (started by :mod:`bench.measure`, one process per
measurement so import cost, memory and sidecars never carry over). Only the standard library is
imported here: the workload functions import what they use, so W7 can time cold imports.
"""

from __future__ import annotations

import atexit
import importlib
import json
import os
import resource
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

# (workload, side) -> "module:function"; the function takes a Ctx and returns the check dict
SIDES: dict[tuple[str, str], str] = {
    ("W1", "sdk"): "bench.sdk_side:runs_table_lazy",
    ("W1", "sdk_full"): "bench.sdk_side:runs_table_full",
    ("W1", "ours"): "bench.our_side:runs_table",
    ("W2", "sdk"): "bench.sdk_side:scan_history",
    ("W2", "ours"): "bench.our_side:history_pandas",
    ("W2", "ours_table"): "bench.our_side:history_table",
    ("W2", "ours_parquet"): "bench.our_side:history_parquet",
    ("W2", "floor"): "bench.our_side:parquet_floor",
    ("W3", "sdk"): "bench.sdk_side:scan_history",
    ("W3", "ours"): "bench.our_side:history_pandas",
    ("W4", "sdk"): "bench.sdk_side:system_metrics",
    ("W4", "ours"): "bench.our_side:system_metrics",
    ("W4", "ours_seq"): "bench.our_side:system_metrics_sequential",
    ("W5", "ours_small"): "bench.our_side:sensor_tick",
    ("W5", "ours_large"): "bench.our_side:sensor_tick",
    ("W5", "setup"): "bench.our_side:sensor_first_tick",
    ("W6", "full"): "bench.our_side:runs_asset",
    ("W6", "incremental"): "bench.our_side:runs_asset",
    ("W6", "incr_lookback0"): "bench.our_side:runs_asset",
    ("W6", "setup"): "bench.our_side:runs_asset",
    ("W7", "sdk"): "bench.sdk_side:cold_start",
    ("W7", "ours"): "bench.our_side:cold_start",
    ("W8", "ours"): "bench.our_side:history_parquet",
}


@dataclass
class Ctx:
    """What a workload function gets: the server, its parameters, a scratch dir, a clock."""

    base_url: str
    api_key: str
    entity: str
    scratch: str
    params: dict[str, Any]
    wall_s: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @contextmanager
    def clock(self) -> Iterator[None]:
        """Times the block (once per workload function: the measured part)."""
        started = time.perf_counter()
        try:
            yield
        finally:
            self.wall_s = time.perf_counter() - started

    def path(self, project_key: str = "project") -> str:
        return f"{self.entity}/{self.params[project_key]}"


def main(argv: list[str]) -> int:
    with open(argv[1]) as fh:
        spec = json.load(fh)
    target = SIDES[(spec["workload"], spec["side"])]
    module_name, func_name = target.split(":")
    func = getattr(importlib.import_module(module_name), func_name)
    ctx = Ctx(
        base_url=spec["base_url"],
        api_key=spec["api_key"],
        entity=spec["entity"],
        scratch=spec["scratch"],
        params=spec["params"],
    )
    check = func(ctx)
    if ctx.wall_s is None:
        raise RuntimeError(f"{target} did not time its work with ctx.clock()")
    result = {
        "wall_s": round(ctx.wall_s, 4),
        "check": check,
        "extra": ctx.extra,
        "maxrss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,  # KiB on Linux
    }
    with open(spec["result"], "w") as fh:
        json.dump(result, fh)
    return 0


if __name__ == "__main__":
    code = main(sys.argv)
    # the result is written: run the exit handlers (the SDK's stop its wandb-core sidecar
    # there), then skip the rest of interpreter teardown, where the C++ runtimes of pyarrow
    # and pandas occasionally abort ("terminate called without an active exception", exit -6)
    # while their thread pools are destroyed, which would discard a finished measurement
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
