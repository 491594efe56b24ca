"""Fast scale seeding: many runs, or runs with very long histories, in seconds.

Spec (the body of ``POST /_control/seed``; also :func:`seed_scale` from Python)::

    {"project": "wb-demo/scale", "runs": 10000, "history_rows": 0, "history_keys": 20,
     "exported": true, "config_keys": 10, "summary_keys": 10, "run_prefix": "s", "seed": 0}

* runs ``<run_prefix><i:06d>`` (``s000000`` ...), created one second apart from
  2025-01-01T00:00:00Z, ``heartbeatAt`` = created + 1 h; ``finished`` when ``exported``,
  else ``running`` (history live);
* config ``param_00`` ... (floats), plus ``experiment_name`` (``foo``/``bar``/``baz`` by
  ``i % 3``); summary ``score_00`` ... plus the last value of every history key;
* history: ``history_rows`` rows per run, ``_step`` 0..R-1, ``_runtime``, ``_timestamp`` and
  ``history_keys`` float64 columns ``metric_00`` ...; written columnar (numpy -> Arrow), straight
  to a parquet part when ``exported`` or as live rows otherwise.

All values come from ``numpy.random.default_rng(seed)``: the same spec gives the same data.

Example:
    >>> import tempfile, pathlib
    >>> from wb_dagster.testing.store.backend import Backend
    >>> backend = Backend.open(pathlib.Path(tempfile.mkdtemp()))
    >>> seed_scale(backend, ScaleSpec(project="e/p", runs=3, history_rows=10))["runs"]
    3
    >>> backend.close()
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field

from wb_dagster.testing.store.backend import Backend
from wb_dagster.testing.store.database import format_time

SCALE_START = datetime(2025, 1, 1, tzinfo=UTC)
_EXPERIMENTS = ("foo", "bar", "baz")


class ScaleSpec(BaseModel):
    """What to create (see the module docstring)."""

    model_config = ConfigDict(extra="forbid")
    project: str = Field(description='"entity/project" (or a project of the default entity)')
    runs: int = Field(1, ge=0, le=1_000_000)
    history_rows: int = Field(0, ge=0, le=100_000_000)
    history_keys: int = Field(20, ge=0, le=1000)
    exported: bool = True
    config_keys: int = Field(10, ge=0, le=1000)
    summary_keys: int = Field(10, ge=0, le=1000)
    run_prefix: str = Field("s", pattern=r"^[A-Za-z0-9_-]*$")
    seed: int = 0


def _history_table(rng: np.random.Generator, rows: int, keys: int, start_ts: float) -> pa.Table:
    steps = np.arange(rows, dtype=np.int64)
    runtime = steps * 0.1
    columns: dict[str, Any] = {
        "_step": steps,
        "_runtime": runtime,
        "_timestamp": start_ts + runtime,
    }
    block = rng.random((keys, rows))
    for k in range(keys):
        columns[f"metric_{k:02d}"] = block[k]
    return pa.table(columns)


def seed_scale(backend: Backend, spec: ScaleSpec) -> dict[str, Any]:
    """Create the runs of ``spec``; returns ``{"project", "runs", "history_rows", "seconds"}``."""
    started = time.perf_counter()
    entity, _, project = spec.project.rpartition("/")
    entity = entity or backend.default_entity
    project_pk = backend.runs.ensure_project(entity, project)
    rng = np.random.default_rng(spec.seed)
    configs = rng.random((spec.runs, spec.config_keys))
    scores = rng.random((spec.runs, spec.summary_keys))
    state = "finished" if spec.exported else "running"
    rows = []
    for i in range(spec.runs):
        created = SCALE_START + timedelta(seconds=i)
        config: dict[str, dict[str, Any]] = {
            f"param_{k:02d}": {"value": float(v), "desc": None} for k, v in enumerate(configs[i])
        }
        config["experiment_name"] = {"value": _EXPERIMENTS[i % 3], "desc": None}
        summary = {f"score_{k:02d}": float(v) for k, v in enumerate(scores[i])}
        rows.append(
            {
                "name": f"{spec.run_prefix}{i:06d}",
                "display_name": f"scale-run-{i}",
                "state": state,
                "config": json.dumps(config),
                "summary": json.dumps(summary),
                "tags": json.dumps(["scale"]),
                "group_name": _EXPERIMENTS[i % 3],
                "job_type": "train",
                "username": backend.viewer_username,
                "created_at": format_time(created),
                "heartbeat_at": format_time(created + timedelta(hours=1)),
            }
        )
    backend.runs.insert_runs_bulk(project_pk, rows)
    if spec.history_rows:
        for i, row in enumerate(rows):
            run = backend.runs.get_run(entity, project, row["name"])
            assert run is not None
            created = SCALE_START + timedelta(seconds=i)
            table = _history_table(rng, spec.history_rows, spec.history_keys, created.timestamp())
            backend.history.append_table(run["pk"], table, exported=spec.exported)
            last = {name: table.column(name)[-1].as_py() for name in table.column_names}
            summary = {**json.loads(row["summary"]), **last}
            backend.runs.update_run(
                run["pk"], {"summary": json.dumps(summary), "heartbeat_at": row["heartbeat_at"]}
            )
    return {
        "project": f"{entity}/{project}",
        "runs": spec.runs,
        "history_rows": spec.history_rows,
        "seconds": round(time.perf_counter() - started, 3),
    }
