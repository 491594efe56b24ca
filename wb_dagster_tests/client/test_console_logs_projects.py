"""``run.console_logs()`` and ``client.projects()`` against the official SDK's own answers.

One SDK process (``wandb.init()`` against the local server) logs two runs: one prints 1,205
lines to stdout and stderr and finishes; the other prints a few lines, waits until W&B shows
them, and is SIGKILLed (the server's crash watchdog then marks it ``crashed``). The expected
contents are the lines the script printed; every field of every line must equal what
``wandb.Api``'s ``run.console_logs()`` returns, whole log and tails alike. Projects listed by
``api.projects()`` are the referee of ``client.projects()``.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from typing import Any

import pytest

from wb_dagster.client import WandbClient
from wb_dagster.testing import LocalWandbServer
from wb_dagster_tests.support.clients import make_sdk_api
from wb_dagster_tests.support.polling import poll
from wb_dagster_tests.support.sdk_process import run_sdk

PROJECT = "logs"
PRINTED = [f"step {i} loss={1 / (i + 1):.4f}" for i in range(1200)]
ERRORS = ["warning: disk almost full", "  indented ünïcode ✓ line"]
CRASH_LINES = ["epoch 1 ok", "epoch 2 ok", "CUDA error: out of memory"]

SCRIPT = textwrap.dedent(
    """
    import json, os, signal, sys, time
    import wandb

    spec = json.loads(sys.argv[1])
    settings = wandb.Settings(x_file_stream_transmit_interval=1)
    run = wandb.init(project=spec["project"], name="printer", settings=settings)
    for line in spec["printed"]:
        print(line)
    sys.stdout.flush()
    for line in spec["errors"]:
        print(line, file=sys.stderr, flush=True)
    run.log({"loss": 0.5})
    run.finish()
    with open(spec["result"], "w") as fh:
        json.dump({"entity": run.entity, "finished": run.id}, fh)

    crash = wandb.init(project=spec["project"], name="crasher", settings=settings)
    with open(spec["result"], "w") as fh:
        json.dump({"entity": run.entity, "finished": run.id, "crashed": crash.id}, fh)
    for line in spec["crash_lines"][:-1]:
        print(line, flush=True)
    print(spec["crash_lines"][-1], file=sys.stderr, flush=True)
    api = wandb.Api()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # die only once W&B has the last line
        tail = list(api.run(f"{crash.entity}/{spec['project']}/{crash.id}").console_logs(last=1))
        if tail and tail[-1].content == spec["crash_lines"][-1]:
            break
        time.sleep(0.3)
    os.kill(os.getpid(), signal.SIGKILL)
    """
)


@pytest.fixture(scope="module")
def logged(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalWandbServer, dict]]:
    with LocalWandbServer(seed=None, heartbeat_timeout_s=2.0) as srv:
        home = tmp_path_factory.mktemp("console")
        (home / "print.py").write_text(SCRIPT)
        result = home / "result.json"
        spec = {
            "project": PROJECT,
            "printed": PRINTED,
            "errors": ERRORS,
            "crash_lines": CRASH_LINES,
            "result": str(result),
        }
        proc = run_sdk(srv, home, [str(home / "print.py"), json.dumps(spec)], 90)
        assert proc.returncode == -9, proc.stderr  # the crasher killed itself
        ids = json.loads(result.read_text())
        path = f"{ids['entity']}/{PROJECT}/{ids['crashed']}"

        def crashed() -> bool:
            row = srv.backend.runs.get_run(ids["entity"], PROJECT, ids["crashed"])
            return row is not None and row["state"] == "crashed"

        poll(f"{path} to become crashed", crashed, 30.0)
        yield srv, ids


def _fields(lines: Any) -> list[tuple[Any, ...]]:
    return [(x.number, x.timestamp, x.level, x.label, x.content) for x in lines]


def test_console_logs_equal_the_sdks_field_by_field(
    logged: tuple[LocalWandbServer, dict], sdk_env: Any
) -> None:
    srv, ids = logged
    api = make_sdk_api(srv)
    client = WandbClient(api_key=srv.api_key, base_url=srv.base_url)
    path = f"{ids['entity']}/{PROJECT}/{ids['finished']}"
    ours = list(client.run(path).console_logs())
    theirs = list(api.run(path).console_logs())
    assert [x.content for x in ours] == PRINTED + ERRORS
    assert [x.level for x in ours] == [""] * len(PRINTED) + ["error"] * len(ERRORS)
    assert all(x.timestamp is not None and x.timestamp.tzinfo is not None for x in ours)
    assert _fields(ours) == _fields(theirs)
    for last in (3, 5000):  # 5,000: W&B answers the newest 1,000
        tail = _fields(client.run(path).console_logs(last=last))
        assert tail == _fields(api.run(path).console_logs(last=last)), last
    assert len(_fields(client.run(path).console_logs(last=5000))) == 1000
    small = client.run(path).console_logs(per_page=450)
    assert _fields(small) == _fields(ours) and len(small) == len(ours)
    table = client.run(path).console_logs(last=2).to_table()
    assert table.column_names == ["number", "timestamp", "level", "label", "content"]
    assert table.column("content").to_pylist() == ERRORS
    assert table.column("number").to_pylist() == [len(ours) - 2, len(ours) - 1]


def test_a_crashed_runs_last_lines(logged: tuple[LocalWandbServer, dict], sdk_env: Any) -> None:
    srv, ids = logged
    path = f"{ids['entity']}/{PROJECT}/{ids['crashed']}"
    client = WandbClient(api_key=srv.api_key, base_url=srv.base_url)
    run = client.run(path)
    assert run.state == "crashed"
    tail = list(run.console_logs(last=2))
    assert [x.content for x in tail] == CRASH_LINES[-2:]
    assert [x.level for x in tail] == ["", "error"]
    sdk_run = make_sdk_api(srv).run(path)
    assert _fields(run.console_logs()) == _fields(sdk_run.console_logs())
    assert _fields(tail) == _fields(sdk_run.console_logs(last=2))


def test_projects_equal_the_sdks(logged: tuple[LocalWandbServer, dict], sdk_env: Any) -> None:
    srv, ids = logged
    entity = ids["entity"]
    for name in ("zeta", "alpha-2"):
        srv.seed.create_run(f"{entity}/{name}", "r1")
    client = WandbClient(api_key=srv.api_key, base_url=srv.base_url)

    def fields(p: Any) -> tuple[Any, ...]:
        return (p.name, p.entity, p.id, p.entity_name, p.created_at, p.is_benchmark, p.path, p.url)

    ours = [fields(p) for p in client.projects(entity, per_page=2)]
    assert [f[0] for f in ours] == [PROJECT, "zeta", "alpha-2"]
    assert ours == [fields(p) for p in make_sdk_api(srv).projects(entity, per_page=2)]
    assert len(client.projects(entity)) == 3
    assert [p.name for p in WandbClient(api_key=srv.api_key, base_url=srv.base_url).projects()]
    assert list(client.projects("nobody-here")) == []


def test_bad_console_log_arguments_are_named(logged: tuple[LocalWandbServer, dict]) -> None:
    srv, ids = logged
    run = WandbClient(api_key=srv.api_key, base_url=srv.base_url).run(
        f"{ids['entity']}/{PROJECT}/{ids['finished']}"
    )
    with pytest.raises(ValueError, match=r"console_logs\(last=0\): last must be a positive"):
        run.console_logs(last=0)
    with pytest.raises(ValueError, match=r"per_page=0"):
        run.console_logs(per_page=0)
