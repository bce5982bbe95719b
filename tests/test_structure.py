"""The shape of the package: no import cycles, no oversized modules, a Qt-free core.

Every module under ``src/napari_crant`` is parsed with :mod:`ast`; imports are collected at
any depth (module level, inside functions, methods and ``try`` blocks), relative imports are
resolved, and an import names the deepest module it reaches (``from a.b import c`` is an
import of ``a.b.c`` when that is a module, else of ``a.b``). Imports inside
``if TYPE_CHECKING:`` are left out: they are never executed.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = "napari_crant"
MAX_LINES = 600
#: Top-level packages only the Qt layer (``napari_crant._qt``) may import.
QT_PACKAGES = ("qtpy", "PyQt5", "PyQt6", "PySide2", "PySide6", "napari", "superqt")
QT_LAYER = f"{PACKAGE}._qt"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted((SRC / PACKAGE).rglob("*.py"))}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


class _Imports(ast.NodeVisitor):
    """Every imported dotted name in a module, with its line (relative imports resolved)."""

    def __init__(self, module: str, is_package: bool):
        self.package = module if is_package else module.rpartition(".")[0]
        self.found: list[tuple[str, int]] = []

    def visit_If(self, node: ast.If) -> None:
        if _is_type_checking(node.test):
            for child in node.orelse:
                self.visit(child)
            return
        self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        self.found += [(alias.name, node.lineno) for alias in node.names]

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level:
            base = self.package.split(".")
            base = base[: len(base) - (node.level - 1)]
            prefix = ".".join(base + ([node.module] if node.module else []))
        else:
            prefix = node.module or ""
        # each name is looked up as a module first (``from a import b`` may import module a.b)
        self.found += [(prefix if alias.name == "*" else f"{prefix}.{alias.name}", node.lineno)
                       for alias in node.names]


def _imports(modules: dict[str, Path]) -> dict[str, list[tuple[str, int]]]:
    out = {}
    for name, path in modules.items():
        visitor = _Imports(name, path.name == "__init__.py")
        visitor.visit(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)))
        out[name] = visitor.found
    return out


def _graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    """Module -> the package modules it imports (the deepest existing module of each import)."""
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, found in _imports(modules).items():
        for dotted, _ in found:
            parts = dotted.split(".")
            while parts and ".".join(parts) not in modules:
                parts.pop()
            target = ".".join(parts)
            if target and target != name:
                graph[name].add(target)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
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
    return found


def _one_cycle(graph: dict[str, set[str]], component: list[str]) -> list[str]:
    """One concrete import path around a strongly connected component, for the message."""
    members = set(component)
    start = component[0]
    path, seen = [start], {start}
    while True:
        nxt = sorted(t for t in graph[path[-1]] if t in members)
        back = [t for t in nxt if t in seen]
        if back:
            return [*path[path.index(back[0]):], back[0]]
        path.append(next(t for t in nxt if t not in seen))
        seen.add(path[-1])


def test_the_checks_see_the_package():
    """Guard against a silently empty scan (a moved source tree would pass every check)."""
    modules = _modules()
    assert {PACKAGE, f"{PACKAGE}.datasets", f"{PACKAGE}.ids", QT_LAYER} <= set(modules)
    graph = _graph(modules)
    assert f"{PACKAGE}.sources.base" in graph[f"{PACKAGE}.datasets"]


def test_cycle_detection_finds_hidden_cycles():
    """The detector itself: function-level imports and relative imports count."""
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]
    assert _one_cycle(graph, ["a", "b", "c"]) == ["a", "b", "c", "a"]
    tree = ast.parse("def f():\n    from ..x import y\n    import p.q\nif TYPE_CHECKING:\n    import t\n")
    visitor = _Imports("pkg.sub.mod", is_package=False)
    visitor.visit(tree)
    assert [n for n, _ in visitor.found] == ["pkg.x.y", "p.q"]


def test_no_import_cycles():
    graph = _graph(_modules())
    cycles = [" -> ".join(_one_cycle(graph, c)) + f"  (modules in the cycle: {', '.join(c)})"
              for c in _cycles(graph)]
    assert not cycles, "import cycles (counting imports inside functions):\n" + "\n".join(cycles)


def test_core_imports_neither_qt_nor_napari():
    bad = []
    for name, found in _imports(_modules()).items():
        if name == QT_LAYER or name.startswith(QT_LAYER + "."):
            continue
        for dotted, line in found:
            if dotted.split(".")[0] in QT_PACKAGES:
                bad.append(f"{name}:{line} imports {dotted}")
    assert not bad, "the core (outside _qt/) must not import Qt or napari:\n" + "\n".join(sorted(set(bad)))


def test_no_module_over_600_lines():
    big = {name: n for name, path in _modules().items()
           if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert not big, f"modules over {MAX_LINES} lines: {big}"


def test_registry_and_ids_know_no_concrete_modules():
    """``datasets`` knows names and factories (no source module); ``ids`` knows no criteria."""
    graph = _graph(_modules())
    concrete = sorted(t for t in graph[f"{PACKAGE}.datasets"]
                      if t.startswith(f"{PACKAGE}.sources") and t != f"{PACKAGE}.sources.base")
    assert not concrete, f"datasets imports concrete sources: {concrete}"
    queries = sorted(t for t in graph[f"{PACKAGE}.ids"] if t.startswith(f"{PACKAGE}.queries"))
    assert not queries, f"ids imports {queries}"
