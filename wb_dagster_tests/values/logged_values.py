"""Three runs logged by the official SDK with the same values (the ``logged`` fixture's).

``live`` is never exported, ``mixed`` has its first part exported and its resumed part live,
``exported`` has two exported parts. Each run logs the fixed rows of the issue's defects (D1,
D2, D5, D6, D8, D9) and a few hundred seeded random cases (one key each), first in one process,
then resumed in another. Between the phases the run table and the stored histories are taken
the way the assets take them (a stored table merged with fresh rows, a stored file appended to).
Four SDK processes in all.
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
from upath import UPath

from wb_dagster.assets.history_sync import HistorySync, sync_history
from wb_dagster.assets.runs_table import merge_runs
from wb_dagster.client import WandbClient
from wb_dagster.storage import read_table, write_table_atomic
from wb_dagster.testing import LocalWandbServer
from wb_dagster.testing.store.run_lifecycle import set_export_on_finish
from wb_dagster_tests.support.clients import make_client
from wb_dagster_tests.support.sdk_process import LOGGER_SCRIPT, run_sdk

PROJECT = "values"
RUNS = ("live", "mixed", "exported")
SEEDS = (11, 23)
CASES_PER_SEED = 150
STEPS_1 = (0, 1, 2)  # first process
STEPS_2 = (3, 4)  # the resumed process

# the rows, as (first part, resumed part)
FIXED_1: list[dict[str, Any]] = [
    {"flag": False, "lst": [1, 2], "li": [1, 2], "n": 1, "keep": [0, 1], "a.b": 1, "a": {"b": 2},
     " padded ": 1.5, "métrique ✓": 1},
    {"flag": True, "lst": [3], "li": [3], "n": 2, "keep": [1, 2], "a.b": 3, "a": {"b": 4},
     " padded ": 2.5, "métrique ✓": 2},
    {"flag": 0.5, "keep": [2]},
]  # fmt: skip
FIXED_2: list[dict[str, Any]] = [
    {"lst": "text", "li": ["a"], "n": {"x": 1}, "flag": 1, "keep": [3, 4]},
    {"lst": "more", "n": 3, "keep": [5]},
]
# D8 as reported: a run logging only bools and numbers under one key (Arrow's inference alone
# would turn them into numbers)
BOOLS_RUN = "bools"
BOOLS = [{"flag": False}, {"flag": True}, {"flag": 0.5}, {"flag": 1}]
CONFIG = {"opt": {"lr": 0.1}, "a.b": 1, "a": {"b": 2}, "layers": [64, 32], " pad ": "x"}
TAGS = ["baseline", "x"]

_STRINGS = ["", " ", "a b", "ключ", "✓ ok", "1", "null", "x\ny", "true", "[1]", " lead"]
_KINDS = ("int", "float", "bool", "str", "list_int", "list_float", "list_str", "empty", "dict")
_SUFFIXES = ("", " sp", ".dot", "/slash", " ✓", "é", " ")


def _value(rng: random.Random, kind: str) -> Any:
    if kind == "int":
        return rng.choice([rng.randint(-1000, 1000), 2**40 + rng.randint(0, 9), 0])
    if kind == "float":
        return rng.choice([rng.uniform(-1e3, 1e3), math.nan, math.inf, -math.inf, 2.0, 0.5])
    if kind == "bool":
        return rng.random() < 0.5
    if kind == "str":
        return rng.choice(_STRINGS)
    if kind == "list_int":
        return [rng.randint(-5, 5) for _ in range(rng.randint(1, 3))]
    if kind == "list_float":
        return [rng.choice([0.5, -1.25, 3.0]) for _ in range(rng.randint(1, 3))]
    if kind == "list_str":
        return [rng.choice(_STRINGS) for _ in range(rng.randint(1, 2))]
    if kind == "empty":
        return []
    return {"x": _value(rng, rng.choice(("int", "str", "bool"))), "y": {"z": rng.randint(0, 3)}}


@dataclass(frozen=True)
class Case:
    """One random key: its values by step (absent steps not logged)."""

    key: str
    values: dict[int, Any]


def random_cases(seed: int, n: int) -> list[Case]:
    """``n`` keys of random names and shapes; about a third change kind at some step."""
    rng = random.Random(seed)
    cases = []
    for i in range(n):
        base = rng.choice(_KINDS)
        steps = [s for s in (*STEPS_1, *STEPS_2) if rng.random() < 0.7] or [rng.choice(STEPS_1)]
        values = {}
        for step in steps:
            kind = rng.choice(_KINDS) if rng.random() < 0.3 else base
            values[step] = _value(rng, kind)
        cases.append(Case(f"c{seed}_{i:03d}{rng.choice(_SUFFIXES)}", values))
    return cases


CASES = [c for seed in SEEDS for c in random_cases(seed, CASES_PER_SEED)]


def rows(fixed: list[dict[str, Any]], steps: tuple[int, ...]) -> list[dict[str, Any]]:
    out = []
    for step, row in zip(steps, fixed, strict=True):
        out.append(
            {"_step": step, **row, **{c.key: c.values[step] for c in CASES if step in c.values}}
        )
    return out


def config_of(run_index: int) -> dict[str, Any]:
    """Each run's config holds the cases' value at step ``run_index`` (so kinds mix by run)."""
    return {**CONFIG, **{c.key: c.values[run_index] for c in CASES if run_index in c.values}}


@dataclass
class Logged:
    server: LocalWandbServer
    client: WandbClient
    path: str
    store: UPath
    runs_stored_a: pa.Table  # the run table after the first phase, read back from parquet
    runs_merged_b: pa.Table  # ... merged with fresh rows of the runs resumed in phase 2
    runs_full_b: pa.Table  # the full run table at the same time
    # a failed sync is kept (not raised) so that each test reports its own row
    syncs_a: dict[str, HistorySync | Exception] = field(default_factory=dict)
    syncs_c: dict[str, HistorySync | Exception] = field(default_factory=dict)

    def stored_history(self, run_id: str) -> pa.Table:
        return read_table(self.store / "history" / f"{run_id}.parquet")

    def sync_all(self) -> dict[str, HistorySync | Exception]:
        out: dict[str, HistorySync | Exception] = {}
        self.client.flush()  # runs are cached per client, like wandb.Api's
        for run_id in RUNS:
            run = self.client.run(f"{self.path}/{run_id}")
            try:
                out[run_id] = sync_history(run, self.store / "history" / f"{run_id}.parquet")
            except Exception as exc:
                out[run_id] = exc
        return out


def _log(server: LocalWandbServer, home: Path, specs: list[dict[str, Any]]) -> None:
    home.mkdir(parents=True)
    spec_path = home / "spec.json"
    spec_path.write_text(json.dumps({"runs": specs, "result_path": str(home / "result.json")}))
    proc = run_sdk(server, home, [str(LOGGER_SCRIPT), str(spec_path)], timeout_s=120.0)
    assert proc.returncode == 0, proc.stderr[-3000:]


def _spec(server: LocalWandbServer, run_id: str, part: int) -> dict[str, Any]:
    base = {"project": PROJECT, "entity": server.entity, "id": run_id, "resume": "allow"}
    if part == 1:
        return {**base, "config": config_of(RUNS.index(run_id)), "tags": TAGS,
                "rows": rows(FIXED_1, STEPS_1)}  # fmt: skip
    return {**base, "rows": rows(FIXED_2, STEPS_2)}


def log_values(server: LocalWandbServer, tmp: Path) -> Logged:
    """Log the three runs in four SDK processes against ``server``, reading them between the
    phases as the assets would; the caller closes ``Logged.client``."""
    runs_store = server.backend.runs
    path = f"{server.entity}/{PROJECT}"
    client = make_client(server)
    set_export_on_finish(runs_store, False)
    bools = {"project": PROJECT, "entity": server.entity, "id": BOOLS_RUN, "rows": BOOLS}
    _log(server, tmp / "p1", [_spec(server, "live", 1), bools])
    set_export_on_finish(runs_store, True)
    _log(server, tmp / "p2", [_spec(server, "mixed", 1), _spec(server, "exported", 1)])
    store = UPath(tmp / "store")
    write_table_atomic(client.runs(path).to_table(), store / "runs.parquet")
    logged = Logged(server, client, path, store, read_table(store / "runs.parquet"),
                    pa.table({}), pa.table({}))  # fmt: skip
    logged.syncs_a = logged.sync_all()
    set_export_on_finish(runs_store, False)
    _log(server, tmp / "p3", [_spec(server, "live", 2), _spec(server, "mixed", 2)])
    fresh = client.runs(path, filters={"name": {"$in": ["live", "mixed"]}}).to_table()
    logged.runs_merged_b = merge_runs(logged.runs_stored_a, fresh)
    logged.runs_full_b = client.runs(path).to_table()
    set_export_on_finish(runs_store, True)
    _log(server, tmp / "p4", [_spec(server, "exported", 2)])
    logged.syncs_c = logged.sync_all()
    return logged
