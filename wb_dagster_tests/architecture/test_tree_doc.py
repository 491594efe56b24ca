"""``docs/architecture.md`` shows the package's tree as it is: every module, nothing more.

The tree is the code block that starts with ``wb_dagster/``; each level is indented by two
spaces, an entry's names come first (several separated by ``, ``), its description after two
or more spaces. Folders of the local server (``testing/<folder>/``) are summed up in one line
each (``local-server.md`` shows their insides), so only their existence is checked.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "architecture.md"
SUMMED_UP = ("testing/",)  # folders listed without their modules


def documented_tree(text: str) -> set[str]:
    """Paths (relative to ``wb_dagster/``; folders end with ``/``) named by the doc's tree.

    Example:
        >>> doc = "```\\nwb_dagster/\\n  a.py, b.py  x\\n  sub/  y\\n    c.py  z\\n```"
        >>> sorted(documented_tree(doc))
        ['a.py', 'b.py', 'sub/', 'sub/c.py']
    """
    blocks = re.findall(r"```\n(wb_dagster/\n.*?)```", text, flags=re.S)
    assert blocks, "docs/architecture.md has no tree block starting with 'wb_dagster/'"
    paths: set[str] = set()
    parents: list[str] = []
    for line in blocks[0].splitlines()[1:]:
        if not line.strip() or not line.startswith("  "):
            continue
        depth = (len(line) - len(line.lstrip(" "))) // 2 - 1
        names = re.split(r"\s{2,}", line.strip())[0]
        if not re.fullmatch(r"[\w./]+(, [\w./]+)*", names):
            continue  # a wrapped description line
        parents = parents[:depth]
        for name in names.split(", "):
            paths.add("".join(parents) + name)
        if names.endswith("/"):
            parents.append(names)
    return paths


def _only_a_docstring(path: Path) -> bool:
    body = ast.parse(path.read_text()).body
    return len(body) <= 1 and all(isinstance(node, ast.Expr) for node in body)


def actual_tree() -> set[str]:
    package = ROOT / "wb_dagster"
    paths: set[str] = set()
    for path in package.rglob("*.py"):
        rel = path.relative_to(package).as_posix()
        folders = rel.split("/")[:-1]
        for i in range(len(folders)):
            paths.add("/".join(folders[: i + 1]) + "/")
        if path.name == "__init__.py" and folders and _only_a_docstring(path):
            continue
        if any(rel.startswith(f) and rel.count("/") > 1 for f in SUMMED_UP):
            continue
        paths.add(rel)
    return paths


def test_the_documented_tree_is_the_package() -> None:
    documented = documented_tree(DOC.read_text())
    actual = actual_tree()
    assert len(actual) > 60
    assert not actual - documented, (
        f"modules missing from docs/architecture.md: {sorted(actual - documented)}"
    )
    assert not documented - actual, (
        f"docs/architecture.md names what is not there: {sorted(documented - actual)}"
    )
