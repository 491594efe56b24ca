"""Done-when 2: W&B's public-API guide scripts, run once with ``wandb.Api()`` and once with only
that call replaced by ``WandbClient()``; the files they write must be byte-identical."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from wb_dagster.testing import LocalWandbServer

GUIDE = {
    "project_to_csv": """
        import pandas as pd
        import wandb

        api = wandb.Api()
        entity, project = "wb-demo", "cifar"
        runs = api.runs(entity + "/" + project)

        summary_list, config_list, name_list = [], [], []
        for run in runs:
            summary_list.append(run.summary._json_dict)
            config_list.append({k: v for k, v in run.config.items() if not k.startswith("_")})
            name_list.append(run.name)

        runs_df = pd.DataFrame({"summary": summary_list, "config": config_list, "name": name_list})
        runs_df.to_csv("project.csv")
    """,
    "compare_configs": """
        import pandas as pd
        import wandb

        api = wandb.Api()
        run1 = api.run("wb-demo/cifar/cifar000")
        run2 = api.run("wb-demo/cifar/cifar001")
        df = pd.DataFrame([run1.config, run2.config]).transpose()
        df.columns = [run1.name, run2.name]
        df[df[run1.name] != df[run2.name]].to_csv("config_diff.csv")
    """,
    "run_metrics_to_csv": """
        import wandb

        api = wandb.Api()
        run = api.run("wb-demo/cifar/cifar002")
        metrics_dataframe = run.history()
        metrics_dataframe.to_csv("metrics.csv")
        run.history(stream="events").to_csv("system_metrics.csv")
    """,
    "scan_history_losses": """
        import wandb

        api = wandb.Api()
        for run_id in ("cifar002", "cifar009"):
            run = api.run("wb-demo/cifar/" + run_id)
            history = run.scan_history(keys=["loss"])
            losses = [row["loss"] for row in history]
            with open(run_id + "-losses.txt", "w") as f:
                f.write(repr(losses))
    """,
    "best_sweep_model": """
        import wandb

        api = wandb.Api()
        sweep = api.sweep("wb-demo/cifar/cifarswp")
        runs = sorted(sweep.runs, key=lambda run: run.summary.get("val_acc", 0), reverse=True)
        val_acc = runs[0].summary.get("val_acc", 0)
        with open("best.txt", "w") as f:
            f.write(f"Best run {runs[0].name} with {val_acc}% val accuracy")
        runs[0].file("model-best.h5").download(replace=True)
        best = sweep.best_run()
        with open("best_run.txt", "w") as f:
            f.write(best.id + " " + str(best.summary["val_acc"]))
    """,
    "command_from_metadata": """
        import wandb

        api = wandb.Api()
        run = api.run("wb-demo/cifar/cifar005")
        meta = run.metadata
        program = ["python"] + [meta["program"]] + meta["args"]
        with open("command.txt", "w") as f:
            f.write(" ".join(program))
    """,
    "delete_png_files": """
        import wandb

        api = wandb.Api()
        run = api.run("wb-demo/cifar/cifar004")
        extension = ".png"
        files = run.files()
        for file in files:
            if file.name.endswith(extension):
                file.delete()
        with open("remaining.txt", "w") as f:
            f.write("\\n".join(sorted(file.name for file in run.files())))
    """,
}


def run_script(source: str, workdir: Path, ours: bool) -> None:
    """Run the script as a user would: its own process, started in ``workdir``."""
    code = textwrap.dedent(source)
    if ours:
        code = code.replace("wandb.Api()", "WandbClient()")
        code = "from wb_dagster.client import WandbClient\n" + code
    workdir.mkdir(parents=True)
    (workdir.parent / f"{workdir.name}-script.py").write_text(code)
    subprocess.run(
        [sys.executable, str(workdir.parent / f"{workdir.name}-script.py")],
        cwd=workdir,
        check=True,
        timeout=120,
        capture_output=True,
    )


def outputs(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def point_env_at(server: LocalWandbServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WANDB_API_KEY", server.api_key)
    monkeypatch.setenv("WANDB_BASE_URL", server.base_url)


@pytest.mark.parametrize("script", [s for s in GUIDE if s != "delete_png_files"])
def test_guide_script_outputs_equal(
    script: str,
    demo_server: LocalWandbServer,
    sdk_env: object,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    point_env_at(demo_server, monkeypatch)
    run_script(GUIDE[script], tmp_path / "sdk", ours=False)
    run_script(GUIDE[script], tmp_path / "ours", ours=True)
    expected = outputs(tmp_path / "sdk")
    assert expected and all(expected.values())
    assert outputs(tmp_path / "ours") == expected


def test_guide_delete_script(
    sdk_env: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, ours in (("sdk", False), ("ours", True)):
        with LocalWandbServer(seed="demo") as srv:
            point_env_at(srv, monkeypatch)
            run_script(GUIDE["delete_png_files"], tmp_path / name, ours=ours)
    expected = outputs(tmp_path / "sdk")
    assert (
        b".png" not in expected["remaining.txt"] and b"model-best.h5" in expected["remaining.txt"]
    )
    assert outputs(tmp_path / "ours") == expected
