"""``WandbEntityComponent`` through Dagster's ``dg`` CLI: the entity's projects discovered by
``dg utils refresh-defs-state``, the definitions loaded from the stored list with no request to
W&B, one project's run table materialized with ``dg launch``.

The local server holds four projects; the expected selection is the projects the official
SDK's ``api.projects()`` lists, filtered by the component's globs by hand. Each command is a
subprocess of the test venv's scripts (no network: version check and telemetry off).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import dagster as dg
import pyarrow.parquet as pq
import pytest
import yaml

from wb_dagster import WandbEntityComponent
from wb_dagster.names import key_part, project_name
from wb_dagster.testing import LocalWandbServer
from wb_dagster_tests.support.clients import make_sdk_api

BIN = Path(sys.executable).parent
SECRET_ENV = "MY_WANDB_KEY"
PROJECTS = {"cifar": 3, "cifar-10": 1, "cifar-scratch": 1, "mnist": 2}  # name -> runs


def _run(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def _env(tmp_path: Path, project: Path, srv: LocalWandbServer) -> dict[str, str]:
    config = tmp_path / "user" / "dg.toml"  # outside the project tree (else read as a workspace)
    config.parent.mkdir()
    config.write_text(
        '[cli]\nsuppress_warnings = ["create_dagster_outdated"]\n[cli.telemetry]\nenabled = false\n'
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WANDB_", "DAGSTER_"))}
    return {
        **env,
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
        "DG_CLI_CONFIG": str(config),
        "DAGSTER_DG_UPDATE_CHECK_ENABLED": "0",
        "DAGSTER_HOME": str(tmp_path / "dagster_home"),
        "PYTHONPATH": os.pathsep.join([str(project / "src"), os.environ.get("PYTHONPATH", "")]),
        SECRET_ENV: srv.api_key,
    }


def _seed(srv: LocalWandbServer) -> None:
    for name, runs in PROJECTS.items():
        for i in range(runs):
            path = f"{srv.entity}/{name}/r{i}"
            srv.seed.create_run(f"{srv.entity}/{name}", f"r{i}")
            srv.seed.append_history(path, [{"loss": 1.0 / (s + 1)} for s in range(3)])
            srv.seed.finish_run(path)


def test_entity_component_discovers_projects_and_loads_without_network(
    tmp_path: Path, sdk_env: Any
) -> None:
    with LocalWandbServer(seed=None) as srv:
        _seed(srv)
        project = tmp_path / "wbent"
        env = _env(tmp_path, project, srv)
        (tmp_path / "dagster_home").mkdir()
        created = _run(
            [str(BIN / "create-dagster"), "project", str(project), "--no-uv-sync"], tmp_path, env
        )
        assert created.returncode == 0, created.stderr
        storage = tmp_path / "store"
        defs_dir = project / "src/wbent/defs/wandb_team"
        defs_dir.mkdir(parents=True)
        attributes = {
            "entity": srv.entity,
            "projects": ["cifar*"],
            "exclude_projects": ["*-scratch"],
            "api_key_env": SECRET_ENV,
            "base_url": srv.base_url,
            "storage_dir": str(storage),
            "include": ["runs", "run_history", "run_system_metrics", "run_console_logs"],
        }
        doc = {"type": "wb_dagster.WandbEntityComponent", "attributes": attributes}
        (defs_dir / "defs.yaml").write_text(yaml.safe_dump(doc))

        refreshed = _run([str(BIN / "dg"), "utils", "refresh-defs-state"], project, env)
        assert refreshed.returncode == 0, refreshed.stdout + refreshed.stderr
        assert srv.stats()["by_operation"].get("GetProjects", 0) >= 1

        srv.reset_stats()
        listed = _run([str(BIN / "dg"), "list", "defs", "--json"], project, env)
        assert listed.returncode == 0, listed.stderr
        assert srv.stats()["requests"] == 0  # loading the definitions asked W&B nothing
        assert srv.api_key not in listed.stdout
        defs = json.loads(listed.stdout)
        assert {a["asset_key"].split("/")[1] for a in defs["assets"]} == {key_part(srv.entity)}
        built = {a["asset_key"].split("/")[2] for a in defs["assets"]}
        sdk_names = {p.name for p in make_sdk_api(srv).projects(srv.entity)}
        assert sdk_names == set(PROJECTS)
        assert built == {n for n in sdk_names if n.startswith("cifar")} - {"cifar-scratch"}
        kinds = {a["asset_key"].split("/", 3)[3] for a in defs["assets"]}
        assert kinds == {"project", "runs", "run_history", "run_system_metrics", "run_console_logs"}
        sensors = {s["name"] for s in defs["sensors"]}
        assert sensors == {
            f"wandb_{project_name(srv.entity, 'cifar')}__run_sensor",
            f"wandb_{project_name(srv.entity, 'cifar-10')}__run_sensor",
        }

        # a project's run table, materialized through its own resource keys
        runs_key = f"wandb/{key_part(srv.entity)}/cifar/runs"
        launch = [str(BIN / "dg"), "launch", "--assets", f'key:"{runs_key}"']
        launched = _run(launch, project, env)
        assert launched.returncode == 0, launched.stdout + launched.stderr
        table = pq.read_table(storage / runs_key.replace("/runs", "/runs.parquet"))
        expected = sorted(r.id for r in make_sdk_api(srv).runs(f"{srv.entity}/cifar"))
        assert sorted(table.column("id").to_pylist()) == expected == ["r0", "r1", "r2"]


def test_entity_component_without_state_and_per_project_resources(tmp_path: Path) -> None:
    component = WandbEntityComponent(entity="team", storage_dir=str(tmp_path))
    with dg.instance_for_test():
        empty = component.build_defs_from_state(None, None)  # type: ignore[arg-type]
        assert not list(empty.assets or [])
    state = tmp_path / "state"
    state.write_text(json.dumps({"projects": [{"name": "a-b"}, {"name": "c"}]}))
    defs = component.build_defs_from_state(None, state)  # type: ignore[arg-type]
    assert set(defs.resources or {}) == {
        "wandb__team__a_b",
        "wandb_io_manager__team__a_b",
        "wandb__team__c",
        "wandb_io_manager__team__c",
    }
    keys = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}
    assert "wandb/team/a-b/runs" in keys and "wandb/team/c/run_history" in keys
    state.write_text("{not json")
    with pytest.raises(ValueError, match="dg utils refresh-defs-state"):
        component.build_defs_from_state(None, state)  # type: ignore[arg-type]
