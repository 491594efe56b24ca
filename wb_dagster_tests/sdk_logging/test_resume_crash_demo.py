"""Resumed runs append history; killed runs become crashed; the demo's training script + sweep."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from wb_dagster.demo.training import (
    SWEEP_GRID,
    SWEEP_METRIC,
    isolated_sdk_env,
    populate_with_sdk,
)
from wb_dagster.testing import LocalWandbServer
from wb_dagster_tests.sdk_logging.logged_rows import logged_part, same
from wb_dagster_tests.support.clients import make_sdk_api
from wb_dagster_tests.support.polling import poll
from wb_dagster_tests.support.sdk_process import log_spec

FIRST: list[dict[str, Any]] = [
    {"loss": 1.0, "val": {"acc": 0.1}},
    {"loss": 0.8, "val": {"acc": 0.2}},
]
SECOND: list[dict[str, Any]] = [{"loss": 0.5, "val": {"acc": 0.4}}, {"loss": 0.4, "extra": 7}]


def test_resumed_run_appends_history(
    empty_server: LocalWandbServer, sdk_env: Any, tmp_path: Path
) -> None:
    base: dict[str, Any] = {"project": "resume", "entity": empty_server.entity}
    base |= {"id": "resume-me", "resume": "allow", "config": {"lr": 0.1}}
    _, run_id = log_spec(empty_server, tmp_path / "a", {**base, "rows": FIRST, "exit_code": 1})
    api = make_sdk_api(empty_server)
    assert api.run(f"{empty_server.entity}/resume/{run_id}").state == "failed"
    proc, _ = log_spec(empty_server, tmp_path / "b", {**base, "rows": SECOND})
    assert proc.stderr == ""
    run = make_sdk_api(empty_server).run(f"{empty_server.entity}/resume/{run_id}")
    assert run.state == "finished"
    rows = [logged_part(r) for r in run.scan_history()]
    expected = [{**r, "_step": i} for i, r in enumerate(FIRST + SECOND)]
    assert len(rows) == len(expected)
    assert all(same(a, e) for a, e in zip(rows, expected, strict=True)), rows
    assert run.summary["extra"] == 7
    assert run.summary["loss"] == 0.4


def test_killed_training_process_becomes_crashed(tmp_path: Path, sdk_env: Any) -> None:
    with LocalWandbServer(seed=None, heartbeat_timeout_s=2.0) as server:
        ready = tmp_path / "ready"
        home = tmp_path / "trainer-home"
        home.mkdir()
        cmd = [sys.executable, "-m", "wb_dagster.demo.training", "run"]
        cmd += ["--entity", server.entity, "--project", "crash", "--id", "killed-1"]
        cmd += ["--epochs", "200", "--epoch-sleep", "0.2", "--ready-file", str(ready)]
        proc = subprocess.Popen(
            cmd,
            env=isolated_sdk_env(server.base_url, server.api_key, home),
            cwd=home,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

        def state() -> str:
            run = server.backend.runs.get_run(server.entity, "crash", "killed-1")
            assert run is not None
            return str(run["state"])

        try:
            poll("the training script's first logged row", ready.exists, 30.0)

            def streamed_rows() -> int:
                run = server.backend.runs.get_run(server.entity, "crash", "killed-1")
                return 0 if run is None else int(run["history_line_count"])

            poll("history rows reaching the server", streamed_rows, 30.0)
            assert state() == "running"
        finally:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)

        poll("the killed run to become crashed", lambda: state() == "crashed", 20.0)
        run = make_sdk_api(server).run(f"{server.entity}/crash/killed-1")
        assert run.state == "crashed"
        assert len(list(run.scan_history())) >= 1


def test_demo_training_script_and_sweep(empty_server: LocalWandbServer, sdk_env: Any) -> None:
    entity = empty_server.entity
    logged = populate_with_sdk(empty_server.base_url, empty_server.api_key, entity=entity)
    api = make_sdk_api(empty_server)
    runs = api.runs(f"{entity}/cifar")
    assert len(runs) == len(logged.run_ids) + len(logged.sweep_run_ids) == 2 + 4
    for run_id, ledger in logged.ledgers.items():
        run = api.run(f"{entity}/cifar/{run_id}")
        assert run.state == "finished"
        history = [logged_part(r) for r in run.scan_history()]
        assert len(history) == len(ledger.rows)
        assert all(same(a, e) for a, e in zip(history, ledger.rows, strict=True))
        for key, value in ledger.summary.items():
            assert run.summary[key] == value
        for name in ledger.files:
            assert run.file(name).size > 0
    sweep = api.sweep(f"{entity}/cifar/{logged.sweep_id}")
    assert sweep.state == "FINISHED"
    points = sorted((r.config["lr"], r.config["hidden"]) for r in sweep.runs)
    assert points == sorted((lr, h) for lr in SWEEP_GRID["lr"] for h in SWEEP_GRID["hidden"])
    best = max(logged.sweep_run_ids, key=lambda i: logged.ledgers[i].summary["best_val_acc"])
    assert SWEEP_METRIC["goal"] == "maximize"
    assert sweep.best_run().summary["best_val_acc"] == logged.ledgers[best].summary["best_val_acc"]
    assert logged.wall_time_s < 60
