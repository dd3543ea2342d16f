"""The package's import graph has no circles, counting the imports deferred into functions.

A deferred import (``from ecg12.x import y`` inside a function) keeps start-up fast, but it also hides a
circle from Python: two modules that each need the other import fine until the order of first use changes.
The graph is read from the source (``ast``), every import anywhere in a module counted, so that a circle is
found however it is hidden. ``python tests/test_import_graph.py`` prints the graph and any circles.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "ecg12"


def imported_modules(path: Path, modules: set[str]) -> set[str]:
    """The package's modules that the module at ``path`` imports anywhere in it (top level or in a function)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            # ``from ecg12 import x`` imports the module x where x is one; ``from ecg12.x import y`` imports x.
            names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
        else:
            continue
        found.update(name.split(".")[1] for name in names if name.startswith("ecg12.") and name.count(".") == 1)
    return found & modules


def import_graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    """Module name -> the package's modules it imports (``ecg12.x`` as ``x``; the package itself left out)."""
    paths = {path.stem: path for path in package.glob("*.py") if path.stem != "__init__"}
    return {name: imported_modules(path, set(paths)) - {name} for name, path in sorted(paths.items())}


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan's algorithm): each holds a circle."""
    index: dict[str, int] = {}
    lowest: dict[str, int] = {}
    stack: list[str] = []
    groups: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = lowest[module] = len(index)
        stack.append(module)
        for target in sorted(graph[module]):
            if target not in index:
                visit(target)
                lowest[module] = min(lowest[module], lowest[target])
            elif target in stack:
                lowest[module] = min(lowest[module], index[target])
        if lowest[module] == index[module]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == module:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return groups


def test_the_package_has_no_import_circles() -> None:
    graph = import_graph()
    assert len(graph) > 20  # the package's modules were found
    assert circles(graph) == []


def test_a_circle_hidden_by_a_deferred_import_is_found(tmp_path: Path) -> None:
    (tmp_path / "first.py").write_text("from ecg12.second import B\n")
    (tmp_path / "second.py").write_text("def later():\n    from ecg12 import first\n")
    (tmp_path / "third.py").write_text("import ecg12.first\n")
    graph = import_graph(tmp_path)
    assert graph == {"first": {"second"}, "second": {"first"}, "third": {"first"}}
    assert circles(graph) == [["first", "second"]]


if __name__ == "__main__":
    graph = import_graph()
    for module, targets in graph.items():
        print(f"{module:14s} -> {', '.join(sorted(targets)) or '(nothing of ecg12)'}")
    found = circles(graph)
    print("circles: " + ("; ".join(" <-> ".join(group) for group in found) if found else "none"))
    sys.exit(1 if found else 0)
