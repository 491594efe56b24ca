"""No import circles in ``wb_dagster``, counting every import statement (see import_graph.py)."""

from __future__ import annotations

import textwrap
from pathlib import Path

from .import_graph import describe, import_graph, strongly_connected

PACKAGE = Path(__file__).resolve().parents[2] / "wb_dagster"


def _package(root: Path, files: dict[str, str]) -> Path:
    """A throwaway package ``pkg`` under ``root`` with ``files`` (path -> source)."""
    for rel, source in files.items():
        path = root / "pkg" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source))
    return root / "pkg"


def _circles(package_dir: Path) -> list[list[str]]:
    return strongly_connected(import_graph(package_dir))


def test_the_package_has_no_import_circles() -> None:
    graph = import_graph(PACKAGE)
    assert len(graph) > 40 and "wb_dagster.client" in graph
    circles = [describe(c, graph) for c in strongly_connected(graph)]
    assert not circles, f"{len(circles)} import circle(s):\n" + "\n".join(circles)


def test_function_local_and_type_checking_imports_count(tmp_path: Path) -> None:
    pkg = _package(
        tmp_path,
        {
            "__init__.py": "",
            "a.py": "def f():\n    from pkg import b\n",
            "b.py": """
                from typing import TYPE_CHECKING
                if TYPE_CHECKING:
                    from pkg.a import f
            """,
        },
    )
    assert _circles(pkg) == [["pkg.a", "pkg.b"]]


def test_a_submodule_import_points_at_the_submodule_not_the_package(tmp_path: Path) -> None:
    files = {"__init__.py": "from pkg.a import A\nNAME = 1\n", "b.py": "B = 2\n"}
    pkg = _package(tmp_path, {**files, "a.py": "from pkg import b\nfrom . import b as c\nA = 1\n"})
    graph = import_graph(pkg)
    assert graph["pkg"] == {"pkg.a": [1]} and graph["pkg.a"] == {"pkg.b": [1, 2]}
    assert _circles(pkg) == []
    # a name defined in the __init__ is an import of the package itself
    pkg = _package(tmp_path, {**files, "a.py": "from pkg import NAME\nA = 1\n"})
    assert _circles(pkg) == [["pkg", "pkg.a"]]


def test_relative_imports_are_resolved(tmp_path: Path) -> None:
    pkg = _package(
        tmp_path,
        {
            "__init__.py": "",
            "sub/__init__.py": "from .x import X\n",
            "sub/x.py": "X = 1\ndef g():\n    from ..y import Y\n",
            "y.py": "import pkg.sub.x\nY = 2\n",
            "z.py": "import os\nfrom dagster import asset\n",  # outside the package: no edge
        },
    )
    graph = import_graph(pkg)
    assert graph["pkg.sub"] == {"pkg.sub.x": [1]} and graph["pkg.z"] == {}
    assert _circles(pkg) == [["pkg.sub.x", "pkg.y"]]
    assert describe(["pkg.sub.x", "pkg.y"], graph).splitlines() == [
        "2 modules: pkg.sub.x, pkg.y",
        "  pkg.sub.x -> pkg.y (line 3)",
        "  pkg.y -> pkg.sub.x (line 1)",
    ]
