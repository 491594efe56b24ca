"""The three layers of DESIGN.md, enforced on the source: imports flow one way only."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "wb_dagster"


def _imports(path: Path) -> set[str]:
    """Absolute names of every module ``path`` imports, function-local and relative ones too."""
    package = list(path.relative_to(PACKAGE.parent).parent.parts)
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            names.add(module)
            if node.level:  # `from . import x` may name a module
                names |= {f"{module}.{alias.name}" for alias in node.names}
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


SERVER = "wb_dagster.testing"


def _outside_the_server() -> list[Path]:
    return [p for p in _modules() if p.relative_to(PACKAGE).parts[0] != "testing"]


def test_nothing_else_of_the_package_imports_the_local_server():
    # the demo and `wb-dagster server` start it as a child process (server_process.py)
    rest = _outside_the_server()
    assert len(rest) > 20
    assert _offending(rest, (SERVER,)) == {}


def test_the_local_server_imports_nothing_else_of_the_package():
    found = {
        str(p.relative_to(PACKAGE)): sorted(
            n for n in _imports(p) if n.startswith("wb_dagster") and not n.startswith(SERVER)
        )
        for p in _modules("testing")
    }
    assert {k: v for k, v in found.items() if v} == {}


def test_no_private_dagster_imports_in_the_package():
    assert _offending(_modules(), ("dagster._",)) == {}


def test_the_dagster_layer_never_speaks_http_itself():
    # W&B traffic goes through the client; dagster_process.py only asks Dagster's own
    # webserver (on loopback) whether its code locations loaded
    dagster_layer = [
        p
        for p in _outside_the_server()
        if p.relative_to(PACKAGE).parts[0] != "client" and p.name != "dagster_process.py"
    ]
    assert len(dagster_layer) > 20
    assert _offending(dagster_layer, ("requests", "urllib3", "httpx", "http.client")) == {}


def test_the_official_sdk_is_imported_only_by_the_demo_training_script():
    users = {
        p.relative_to(PACKAGE).as_posix()
        for p in _modules()
        if any(n.split(".")[0] == "wandb" for n in _imports(p))
    }
    assert users == {"demo/training.py"}


def _init_names() -> tuple[dict[str, str], list[str], dict[str, str]]:
    """``_EXPORTS``, ``__all__`` and the ``TYPE_CHECKING`` imports (name -> module) of __init__."""
    tree = ast.parse((PACKAGE / "__init__.py").read_text())
    exports: dict[str, str] = {}
    names: list[str] = []
    typed: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.AnnAssign | ast.Assign):
            target = node.target if isinstance(node, ast.AnnAssign) else node.targets[0]
            name = target.id if isinstance(target, ast.Name) else ""
            if name == "_EXPORTS" and node.value:
                exports = ast.literal_eval(node.value)
            elif name == "__all__" and node.value:
                names = ast.literal_eval(node.value)
        elif isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            for sub in node.body:
                assert isinstance(sub, ast.ImportFrom) and sub.module
                typed |= {alias.name: sub.module for alias in sub.names}
    return exports, names, typed


def test_the_public_names_are_listed_alike_in_exports_all_and_type_checking():
    exports, names, typed = _init_names()
    assert len(exports) >= 20
    assert sorted(names) == names == sorted(exports)
    # the type checker sees each name where it is defined or re-exported; the lazy import
    # must resolve the same module
    assert {n: exports[n] for n in typed} == typed and set(typed) == set(exports)
