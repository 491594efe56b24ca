"""The component through Dagster's own ``dg`` CLI, as a new user meets it: ``create-dagster
project``, ``dg scaffold defs wb_dagster.WandbProjectComponent``, ``dg check defs``,
``dg list defs``. Each command is a subprocess of the test venv's scripts (no network: the
version check and telemetry are off)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from wb_dagster import build_wandb_defs

BIN = Path(sys.executable).parent
SECRET = "dgcli" + "k" * 35


def _run(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def _env(tmp_path: Path, project: Path) -> dict[str, str]:
    # the user config file, outside the project tree (a dg.toml there is read as a workspace)
    config = tmp_path / "user" / "dg.toml"
    config.parent.mkdir()
    config.write_text(
        '[cli]\nsuppress_warnings = ["create_dagster_outdated"]\n[cli.telemetry]\nenabled = false\n'
    )
    return {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
        "DG_CLI_CONFIG": str(config),
        "DAGSTER_DG_UPDATE_CHECK_ENABLED": "0",
        # the scaffolded project is not pip-installed: dg imports it from its src/ folder
        "PYTHONPATH": os.pathsep.join([str(project / "src"), os.environ.get("PYTHONPATH", "")]),
        "MY_WANDB_KEY": SECRET,
    }


def test_dg_scaffolds_checks_and_lists_the_wandb_component(tmp_path: Path) -> None:
    project = tmp_path / "wbproj"
    env = _env(tmp_path, project)
    created = _run(
        [str(BIN / "create-dagster"), "project", str(project), "--no-uv-sync"], tmp_path, env
    )
    assert created.returncode == 0, created.stderr

    scaffold = [str(BIN / "dg"), "scaffold", "defs", "wb_dagster.WandbProjectComponent"]
    args = ["--entity", "team-a", "--project", "cifar", "--api-key-env", "MY_WANDB_KEY"]
    scaffolded = _run([*scaffold, "wandb_cifar", *args], project, env)
    assert scaffolded.returncode == 0, scaffolded.stderr
    text = (project / "src/wbproj/defs/wandb_cifar/defs.yaml").read_text()
    assert "never the key itself" in text and "# storage_dir:" in text  # commented options
    assert yaml.safe_load(text) == {
        "type": "wb_dagster.WandbProjectComponent",
        "attributes": {"entity": "team-a", "project": "cifar", "api_key_env": "MY_WANDB_KEY"},
        "requirements": {"env": ["MY_WANDB_KEY"]},
    }

    checked = _run([str(BIN / "dg"), "check", "defs"], project, env)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    listed = _run([str(BIN / "dg"), "list", "defs", "--json"], project, env)
    assert listed.returncode == 0, listed.stderr
    assert SECRET not in listed.stdout
    defs = json.loads(listed.stdout)
    keys = {a["asset_key"] for a in defs["assets"]}
    expected = build_wandb_defs(entity="team-a", project="cifar").resolve_asset_graph()
    assert keys == {k.to_user_string() for k in expected.get_all_asset_keys()}
    assert any(k.endswith("cifar/runs") for k in keys) and any("run_history" in k for k in keys)
    sensors = {s["name"] for s in defs["sensors"]}
    assert len(sensors) == 2, sensors  # the run and the sweep sensor

    # a key given where the variable's name belongs is refused, and not echoed back
    refused = _run([*scaffold, "bad", "--api-key-env", SECRET], project, env)
    assert refused.returncode != 0
    assert "api_key_env must be the upper-case name" in refused.stderr
    assert SECRET not in refused.stdout + refused.stderr
    assert not (project / "src/wbproj/defs/bad/defs.yaml").exists()
