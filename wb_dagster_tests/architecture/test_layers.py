"""The three layers of DESIGN.md, enforced on the source: imports flow one way only."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "wb_dagster"


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _modules(sub: str = "") -> list[Path]:
    return sorted((PACKAGE / sub).rglob("*.py"))


def _offending(paths: list[Path], banned: tuple[str, ...]) -> dict[str, list[str]]:
    found = {}
    for path in paths:
        bad = sorted(n for n in _imports(path) if n.startswith(banned))
        if bad:
            found[str(path.relative_to(PACKAGE))] = bad
    return found


def test_the_modules_are_found():
    assert len(_modules("client")) >= 5 and len(_modules("testing")) >= 5


@pytest.mark.parametrize(
    ("layer", "banned"),
    [
        # the client knows W&B's protocol and nothing of Dagster, the server or the SDK
        ("client", ("dagster", "wb_dagster.testing", "wandb")),
        # the server is an independent reading of the protocol
        ("testing", ("wb_dagster.client", "dagster", "wandb")),
    ],
)
def test_layer_imports(layer, banned):
    assert _offending(_modules(layer), banned) == {}


def test_no_private_dagster_imports_in_the_package():
    assert _offending(_modules(), ("dagster._",)) == {}


def test_the_dagster_layer_never_speaks_http_itself():
    # W&B traffic goes through the client; dagster_process.py only asks Dagster's own
    # webserver (on loopback) whether its code locations loaded
    dagster_layer = [
        p for p in _modules() if p.parent == PACKAGE and p.name != "dagster_process.py"
    ]
    assert _offending(dagster_layer, ("requests", "urllib3", "httpx", "http.client")) == {}


def test_the_official_sdk_is_imported_only_by_the_demo_training_script():
    users = {p.name for p in _modules() if any(n.split(".")[0] == "wandb" for n in _imports(p))}
    assert users == {"demo_training.py"}
