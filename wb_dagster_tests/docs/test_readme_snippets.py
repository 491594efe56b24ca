"""Every code block of README.md and docs/*.md is exercised.

* ```python blocks of one page run top to bottom in one namespace and a fresh working
  directory (later blocks may use what earlier ones made, as when a reader follows the page),
  against a fresh local W&B server with the demo seed (``WANDB_API_KEY``, ``WANDB_BASE_URL``
  and ``WANDB_ENTITY`` point at it; the official SDK is isolated as in ``sdk_env``). Whenever
  the namespace holds a ``defs`` (``dg.Definitions``) it must pass
  ``Definitions.validate_loadable``.
* ```yaml blocks of ``WandbProjectComponent`` load through Dagster's component sandbox.
* ```bash blocks: every command line must be covered, either run here (``wb-dagster server``,
  ``dagster instance concurrency``) or named in :data:`COVERED_ELSEWHERE` with the test or CI
  step that runs it, so a new command in the docs fails this test until it is exercised.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DOC_FILES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
FENCE = re.compile(r"^```(\w+)[^\n]*\n(.*?)^```", re.M | re.S)

# command (regex on the line) -> what exercises it
COVERED_ELSEWHERE = {
    r"^bash scripts/test\.sh": "CI: .ci/run runs it",
    r"^bash scripts/demo\.sh": "CI: .ci/run runs it before the tests",
    r"^bash scripts/install_browser\.sh": "scripts/test.sh runs it before the tests",
    r"dagster dev -w workspace\.yaml": "wb_dagster_tests/ui/test_browser.py (dagster dev)",
    r"^(\.venv/bin/)?dagster definitions validate -w workspace\.yaml": (
        "wb_dagster_tests/dagster/test_dagster_end_to_end.py"
    ),
    r"^(\.venv/bin/)?python -m pytest wb_dagster_tests/ui": "CI: the test suite",
    r"^export WANDB_": "environment only",
    r"^(\.venv/bin/)?python bench/run\.py": (
        "wb_dagster_tests/bench/test_bench_smoke.py (the harness on tiny sizes)"
    ),
    r"^(WANDB_\w+=\S+ )*dagster dev -f defs\.py": "wb_dagster_tests/ui/test_browser.py",
    r"^create-dagster project ": "wb_dagster_tests/dagster/test_dg_cli.py",
    r"^dg scaffold defs wb_dagster\.WandbProjectComponent ": "dagster/test_dg_cli.py",
    r"^dg check defs( && dg list defs)?": "wb_dagster_tests/dagster/test_dg_cli.py",
    r"^(\.venv/bin/)?python bench/daemon_import\.py": (
        "wb_dagster_tests/bench/test_bench_smoke.py (W9/W10 on a tiny project)"
    ),
}


@dataclass(frozen=True)
class Block:
    file: Path
    line: int
    lang: str
    code: str

    @property
    def id(self) -> str:
        return f"{self.file.relative_to(REPO)}:{self.line}"


def blocks(lang: str) -> list[Block]:
    found = []
    for path in DOC_FILES:
        text = path.read_text()
        for m in FENCE.finditer(text):
            if m.group(1) == lang:
                found.append(Block(path, text.count("\n", 0, m.start()) + 1, lang, m.group(2)))
    return found


def commands(block: Block) -> list[str]:
    """Command lines of a bash block (continuations joined, comments dropped)."""
    joined = block.code.replace("\\\n", " ")
    out = []
    for raw in joined.splitlines():
        line = raw.split(" #", 1)[0].strip() if not raw.lstrip().startswith("#") else ""
        if line:
            out.append(re.sub(r"\s+", " ", line))
    return out


def test_docs_have_code_blocks():
    assert (REPO / "docs").is_dir()
    assert len(blocks("python")) >= 10
    assert blocks("yaml")


@pytest.fixture
def snippet_env(server, sdk_env, tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_API_KEY", server.api_key)
    monkeypatch.setenv("WANDB_BASE_URL", server.base_url)
    monkeypatch.setenv("WANDB_ENTITY", server.entity)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return server


def python_pages() -> list[Path]:
    return [p for p in DOC_FILES if any(b.file == p for b in blocks("python"))]


@pytest.mark.parametrize("page", python_pages(), ids=lambda p: str(p.relative_to(REPO)))
def test_python_blocks_run_top_to_bottom(page: Path, snippet_env):
    """A page's blocks run in order in one namespace, as a reader would run them."""
    namespace: dict[str, object] = {"__name__": "__docs_snippet__"}
    for block in [b for b in blocks("python") if b.file == page]:
        # dont_inherit: this module's `from __future__ import annotations` must not leak in
        exec(compile(block.code, block.id, "exec", dont_inherit=True), namespace)
        defs = namespace.get("defs")
        if isinstance(defs, dg.Definitions):
            dg.Definitions.validate_loadable(defs)


@pytest.mark.parametrize(
    "block",
    [b for b in blocks("yaml") if "WandbProjectComponent" in b.code],
    ids=lambda b: b.id,
)
def test_yaml_component_block_loads(block: Block, tmp_path, monkeypatch):
    from dagster.components.testing import create_defs_folder_sandbox

    from wb_dagster import WandbProjectComponent

    doc = yaml.safe_load(block.code)
    env_names = (doc.get("requirements") or {}).get("env") or []
    for name in env_names:
        monkeypatch.setenv(name, "k" * 40)
    monkeypatch.chdir(tmp_path)
    with create_defs_folder_sandbox() as sandbox:
        path = sandbox.scaffold_component(
            component_cls=WandbProjectComponent, defs_yaml_contents=doc
        )
        with sandbox.load_component_and_build_defs(defs_path=path) as (component, defs):
            assert isinstance(component, WandbProjectComponent)
            attrs = doc["attributes"]
            assert (component.entity, component.project) == (attrs["entity"], attrs["project"])
            keys = defs.resolve_asset_graph().get_all_asset_keys()
            assert any(k.path[-1] == "runs" for k in keys)


def _run_server_command(line: str, tmp_path: Path) -> None:
    args = shlex.split(line)
    assert args[0] == "wb-dagster"
    args = [a.replace("./wb-local", str(tmp_path / "wb-local")) for a in args]
    proc = subprocess.Popen(
        [sys.executable, "-m", "wb_dagster.cli", *args[1:]],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    try:
        assert proc.stdout is not None
        first = json.loads(proc.stdout.readline())  # blocks until the server is up
        assert first["base_url"].startswith("http://127.0.0.1:")
        assert set(first) >= {"base_url", "api_key", "entity", "projects"}
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _run_concurrency_command(line: str, tmp_path: Path) -> None:
    args = shlex.split(line)
    home = tmp_path / "dagster_home"
    home.mkdir(exist_ok=True)
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    env = {**os.environ, "DAGSTER_HOME": str(home)}
    cli = [sys.executable, "-m", "dagster", *args[1:]]
    subprocess.run(cli, env=env, check=True, capture_output=True, timeout=120)
    if args[3] == "set":
        got = subprocess.run(
            [sys.executable, "-m", "dagster", "instance", "concurrency", "get", args[4]],
            env=env,
            check=True,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert f"/ {args[5]} slots" in got.stdout + got.stderr


def _bash_lines() -> list[tuple[str, str]]:
    return [(b.id, line) for b in blocks("bash") for line in commands(b)]


@pytest.mark.parametrize(
    "where,line", _bash_lines(), ids=[f"{w}:{cmd[:40]}" for w, cmd in _bash_lines()]
)
def test_bash_command_is_exercised(where: str, line: str, tmp_path: Path):
    if line.startswith("wb-dagster server"):
        _run_server_command(line, tmp_path)
    elif line.startswith("dagster instance concurrency"):
        _run_concurrency_command(line, tmp_path)
    else:
        covered = [why for pattern, why in COVERED_ELSEWHERE.items() if re.search(pattern, line)]
        assert covered, f"{where}: `{line}` is run by no test; run it here or list its test"


def test_configuration_reference_lists_every_option():
    import inspect

    from wb_dagster import (
        WandbParquetIOManager,
        WandbProjectComponent,
        WandbResource,
        build_wandb_defs,
    )

    text = (REPO / "docs" / "configuration.md").read_text()
    names = {
        *WandbResource.model_fields,
        *WandbProjectComponent.model_fields,
        *WandbParquetIOManager.model_fields,
        *inspect.signature(build_wandb_defs).parameters,
    }
    missing = sorted(n for n in names if f"`{n}`" not in text)
    assert not missing, f"docs/configuration.md does not document {missing}"
