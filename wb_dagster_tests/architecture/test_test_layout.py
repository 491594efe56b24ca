"""The tests' own layout: conftest files hold fixtures, plain helpers live in named modules.

No file imports from a conftest module (pytest loads those itself, under names of its own);
a helper several areas share is in ``wb_dagster_tests/support/``, one an area uses alone is
beside its tests.
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TREES = ("wb_dagster_tests", "bench", "examples")


def _conftest_imports(path: Path) -> list[int]:
    """Lines of ``path`` that import a conftest module or from one."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or "", *(alias.name for alias in node.names)]
        else:
            continue
        if any(name.rpartition(".")[2] == "conftest" for name in names):
            found.append(node.lineno)
    return found


def test_no_file_imports_from_a_conftest() -> None:
    paths = [p for tree in TREES for p in sorted((REPO / tree).rglob("*.py"))]
    assert len(paths) > 100
    found = {str(p.relative_to(REPO)): lines for p in paths if (lines := _conftest_imports(p))}
    assert found == {}


def test_the_check_sees_every_spelling(tmp_path: Path) -> None:
    path = tmp_path / "t.py"
    path.write_text(
        "from .conftest import a\nfrom wb_dagster_tests.conftest import b\n"
        "from . import conftest\nimport wb_dagster_tests.ui.conftest\nfrom x.helpers import c\n"
    )
    assert _conftest_imports(path) == [1, 2, 3, 4]
