"""The import graph of a package's modules, read from the source, and its import circles.

Every import statement counts, at any depth: module level, inside functions, under
``if TYPE_CHECKING:``, in ``try`` blocks. Relative imports are resolved. An import names the
module it loads: ``from . import x`` and ``from pkg import x`` point at the submodule
``pkg.x`` when there is one, and at ``pkg`` (its ``__init__``) when ``x`` is a name defined
there; ``import pkg.sub`` points at ``pkg.sub``. Imports of other distributions are left out.

An import circle is a strongly connected component of that graph with more than one module
(Tarjan's algorithm); :func:`describe` names its modules and the imports that close it.

Example:
    >>> strongly_connected({"a": {"b"}, "b": {"a", "c"}, "c": set()})
    [['a', 'b']]
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

Graph = dict[str, dict[str, list[int]]]  # module -> imported module -> line numbers


@dataclass(frozen=True)
class Module:
    """One source file: its dotted name and whether it is a package's ``__init__``."""

    name: str
    path: Path

    @property
    def package(self) -> str:
        """The package relative imports start from (the module itself for an ``__init__``)."""
        return self.name if self.path.name == "__init__.py" else self.name.rpartition(".")[0]


def modules_of(package_dir: Path) -> dict[str, Module]:
    """Every module under ``package_dir`` by dotted name (``pkg/__init__.py`` is ``pkg``)."""
    found = {}
    for path in sorted(package_dir.rglob("*.py")):
        parts = path.relative_to(package_dir.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = Module(".".join(parts), path)
    return found


def _known(name: str, modules: Mapping[str, Module]) -> str | None:
    """``name`` or its longest prefix that is a module of the package (None: not ours)."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def _base(module: Module, node: ast.ImportFrom) -> str:
    """The absolute module a ``from ... import`` statement names."""
    if not node.level:
        return node.module or ""
    parts = module.package.split(".")
    if node.level - 1 >= len(parts):
        raise ValueError(f"{module.path}:{node.lineno}: relative import beyond the top package")
    parts = parts[: len(parts) - (node.level - 1)]
    return ".".join([*parts, *([node.module] if node.module else [])])


def targets(
    module: Module, node: ast.Import | ast.ImportFrom, modules: Mapping[str, Module]
) -> set[str]:
    """The package's modules one import statement of ``module`` loads."""
    if isinstance(node, ast.Import):
        names = {_known(alias.name, modules) for alias in node.names}
    else:
        base = _base(module, node)
        names = {
            f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else _known(base, modules)
            for alias in node.names
        }
    return {n for n in names if n is not None and n != module.name}


def import_graph(package_dir: Path) -> Graph:
    """Each module of the package and the package modules it imports, with the lines."""
    modules = modules_of(package_dir)
    graph: Graph = {}
    for name, module in modules.items():
        edges: dict[str, list[int]] = {}
        for node in ast.walk(ast.parse(module.path.read_text(), str(module.path))):
            if isinstance(node, ast.Import | ast.ImportFrom):
                for target in targets(module, node, modules):
                    edges.setdefault(target, []).append(node.lineno)
        graph[name] = edges
    return graph


def strongly_connected(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """The components of more than one node (Tarjan's algorithm, iterative), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, successors = work[-1]
            for succ in successors:
                if succ not in index:
                    index[succ] = low[succ] = len(index)
                    stack.append(succ)
                    on_stack.add(succ)
                    work.append((succ, iter(sorted(graph.get(succ, ())))))
                    break
                if succ in on_stack:
                    low[node] = min(low[node], index[succ])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return sorted(found)


def describe(component: list[str], graph: Graph) -> str:
    """The modules of one circle and, for each, the imports (with lines) that stay inside it."""
    members = set(component)
    lines = [f"{len(component)} modules: {', '.join(component)}"]
    for source in component:
        for target, at in sorted(graph[source].items()):
            if target in members:
                lines.append(f"  {source} -> {target} (line {', '.join(map(str, at))})")
    return "\n".join(lines)
