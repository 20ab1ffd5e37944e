"""The house rules, checked on the source (nothing is imported):

* no import cycle between modules of the package (lazy imports inside functions count: they
  hide a cycle, they do not remove it; imports under ``if TYPE_CHECKING:`` do not run and do
  not count);
* no private name (``_x``) imported from, or read off, another module of the package;
* no module imports from a room it may not import from (the tables below);
* SQL is written in the store layer only (a reader of another tool's database aside).

Importing ``a.b`` also runs ``a/__init__``; that edge is not counted, because a package's
``__init__`` re-exports its modules and counting it would make every package a cycle.
"""

from __future__ import annotations

import ast
import re
from collections import deque
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "nlp_theming"

# The house, from the bottom up: each room and the first-level names of nlp_theming in it.
ROOMS: dict[str, tuple[str, ...]] = {
    "bottom": ("store", "transcript", "textio", "tables", "version", "progress"),
    "read": ("ingest", "segment", "codebook", "embed", "onnx_encoder", "dask_cluster"),
    "match": ("match",),
    "suggest": ("suggest",),
    "review": ("review",),
    "summarize": ("summarize",),
    "side": ("agreement", "evaluate", "evaluate_discovery", "exchange"),
    "top": ("api", "cli", "__init__"),
}
# Which rooms a room's modules may import, besides their own. Data flows one way up the stages;
# the side rooms (agreement, evaluate, exchange) read what the stages below summarize produce
# (review's decision log through the store, human coding through review.imports) and are used
# by the top only; the top imports anything.
BELOW_REVIEW = {"bottom", "read", "match", "suggest"}
MAY_IMPORT: dict[str, set[str]] = {
    "bottom": set(),
    "read": {"bottom"},
    "match": {"bottom", "read"},
    "suggest": {"bottom", "read", "match"},
    "review": BELOW_REVIEW,
    "summarize": BELOW_REVIEW | {"review"},
    "side": BELOW_REVIEW | {"review"},
    "top": set(ROOMS),
}
# The web layer is part of the top even though it lives beside the review actions it calls.
TOP_MODULES = {"nlp_theming.review.server", "nlp_theming.review.web"}
# Leaves any room may import: pure functions that import nothing of the package themselves.
SHARED_LEAVES = {"nlp_theming.agreement.coefficients"}
# Other tools' databases are read with SQL where they are read: not the project store.
FOREIGN_SQL = {"nlp_theming.exchange.taguette"}
SQL = re.compile(r"\b(SELECT\s+\S|INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM|CREATE\s+TABLE)\b")


def _modules(package: Path = PACKAGE) -> dict[str, Path]:
    out = {}
    for path in package.rglob("*.py"):
        parts = list(path.relative_to(package.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


MODULES = _modules()


@dataclass(frozen=True)
class Import:
    line: int
    module: str  # the module named by the statement, relative imports resolved
    names: tuple[str, ...]  # the names of ``from module import names``; () for ``import module``
    targets: tuple[str, ...]  # the modules of the package the statement makes this module depend on
    binds: tuple[tuple[str, str], ...] = ()  # (local name, module of the package it names)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _known(module: str, modules: set[str]) -> str | None:
    """The module itself, or the nearest package above it that is a module of ours."""
    parts = module.split(".")
    while parts:
        if ".".join(parts) in modules:
            return ".".join(parts)
        parts.pop()
    return None


def _import_nodes(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement, inside functions and classes too; ``if TYPE_CHECKING:`` bodies left out."""
    found: list[ast.Import | ast.ImportFrom] = []

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for other in child.orelse:
                    visit(ast.Module(body=[other], type_ignores=[]))
                continue
            if isinstance(child, ast.Import | ast.ImportFrom):
                found.append(child)
            visit(child)

    visit(tree)
    return found


def parse_imports(name: str, source: str, is_package: bool, modules: set[str]) -> list[Import]:
    """The imports of the package in module ``name`` (whose text is ``source``)."""
    package = name if is_package else name.rsplit(".", 1)[0]
    root = name.split(".")[0]
    found = []
    for node in _import_nodes(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                target = _known(alias.name, modules) if alias.name.split(".")[0] == root else None
                if not target or target == name:
                    continue
                local = (alias.asname, alias.name) if alias.asname else (root, root)
                binds = (local,) if local[1] in modules else ()
                found.append(Import(node.lineno, alias.name, (), (target,), binds))
            continue
        if node.level:
            base = package.split(".")
            base = base[: len(base) - (node.level - 1)]
            module = ".".join(base + ([node.module] if node.module else []))
        else:
            module = node.module or ""
        if module.split(".")[0] != root:
            continue
        names = tuple(a.name for a in node.names)
        # ``from pkg import sub`` depends on the submodule; ``from pkg import name`` on pkg itself
        targets = {f"{module}.{n}" if f"{module}.{n}" in modules else _known(module, modules) for n in names}
        binds = tuple((a.asname or a.name, f"{module}.{a.name}") for a in node.names
                      if f"{module}.{a.name}" in modules and f"{module}.{a.name}" != name)
        found.append(Import(node.lineno, module, names, tuple(sorted(t for t in targets if t and t != name)), binds))
    return found


def _imports(name: str) -> list[Import]:
    path = MODULES[name]
    return parse_imports(name, path.read_text(encoding="utf-8"), path.name == "__init__.py", set(MODULES))


IMPORTS = {name: _imports(name) for name in MODULES}


def _graph(imports: dict[str, list[Import]] = IMPORTS) -> dict[str, dict[str, int]]:
    """module -> {module it imports: the line of the first such import}."""
    graph: dict[str, dict[str, int]] = {}
    for name, found in imports.items():
        edges: dict[str, int] = {}
        for imp in found:
            for target in imp.targets:
                edges.setdefault(target, imp.line)
        graph[name] = edges
    return graph


def strongly_connected(graph: dict[str, dict[str, int]] | dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = 0
    for root in graph:
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
                if child not in graph:
                    continue
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
                    out.append(sorted(component))
    return sorted(out)


def shortest_cycle(graph: dict[str, dict[str, int]], component: list[str]) -> list[str]:
    """One shortest cycle through the component's first module (breadth first, inside the component)."""
    start, inside = component[0], set(component)
    came_from: dict[str, str] = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for child in sorted(graph[node]):
            if child == start:
                path = [node]
                while path[-1] != start:
                    path.append(came_from[path[-1]])
                return [*reversed(path), start]
            if child in inside and child not in came_from:
                came_from[child] = node
                queue.append(child)
    raise AssertionError(f"no cycle through {start}")  # a strongly connected component always has one


def describe_cycles(graph: dict[str, dict[str, int]]) -> list[str]:
    out = []
    for component in strongly_connected(graph):
        cycle = shortest_cycle(graph, component)
        steps = [f"    {a} (line {graph[a][b]}) imports {b}" for a, b in pairwise(cycle)]
        out.append(f"  {len(component)} modules in one cycle: {', '.join(component)}\n  for example:\n"
                   + "\n".join(steps))
    return out


def _room(module: str) -> str:
    if module in TOP_MODULES:
        return "top"
    first = module.split(".")[1] if "." in module else "__init__"
    for room, names in ROOMS.items():
        if first in names:
            return room
    raise AssertionError(f"{module} is in no room: add it to ROOMS")


def may_import(importer: str, imported: str) -> bool:
    room, other = _room(importer), _room(imported)
    return other == room or other in MAY_IMPORT[room] or imported in SHARED_LEAVES


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def private_crossings(name: str, source: str, imports: list[Import]) -> list[str]:
    """``from other import _x``, and ``other._x`` where ``other`` names another module of the package."""
    found = [
        f"{name} (line {imp.line}) imports {n} from {imp.module}"
        for imp in imports
        for n in imp.names
        if _private(n) and imp.module != name
    ]
    bound = {local: module for imp in imports for local, module in imp.binds}  # names of other modules
    reads = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and _private(node.attr):
            chain, value = [node.attr], node.value
            while isinstance(value, ast.Attribute):
                chain.append(value.attr)
                value = value.value
            if isinstance(value, ast.Name) and value.id in bound:
                owner = ".".join([bound[value.id], *reversed(chain[1:])])
                reads.append((node.lineno, f"{name} (line {node.lineno}) reads {node.attr} off {owner}"))
    return found + [line for _, line in sorted(reads)]


def test_no_import_cycle() -> None:
    cycles = describe_cycles(_graph())
    assert not cycles, "import cycles (a lazy import inside a function counts):\n" + "\n".join(cycles)


def test_no_private_name_crosses_modules() -> None:
    crossing = [
        line
        for name, path in MODULES.items()
        for line in private_crossings(name, path.read_text(encoding="utf-8"), IMPORTS[name])
    ]
    assert not crossing, "private names used across modules:\n" + "\n".join(crossing)


def test_no_module_imports_from_a_room_it_may_not() -> None:
    upward = [
        f"{name} ({_room(name)}, line {line}) imports {target} ({_room(target)})"
        for name, targets in _graph().items()
        for target, line in targets.items()
        if not may_import(name, target)
    ]
    allowed = "\n".join(f"  {room} may import: {', '.join(r for r in ROOMS if r in MAY_IMPORT[room] | {room})}"
                        for room in ROOMS)
    assert not upward, "imports against the house:\n" + "\n".join(sorted(upward)) + "\nthe house:\n" + allowed


def test_shared_leaves_stay_leaves() -> None:
    """A module every room may import must import nothing of the package, or it would be a way round the rooms."""
    graph = _graph()
    assert not {leaf: sorted(graph[leaf]) for leaf in SHARED_LEAVES if graph.get(leaf)}, SHARED_LEAVES
    assert SHARED_LEAVES <= set(MODULES)


def test_sql_lives_in_the_store() -> None:
    outside = [
        f"{name}: {m.group(0)!r}"
        for name, path in MODULES.items()
        if not name.startswith("nlp_theming.store") and name not in FOREIGN_SQL
        for m in [SQL.search(path.read_text(encoding="utf-8"))]
        if m
    ]
    assert not outside, "SQL outside the store layer:\n" + "\n".join(outside)


def test_the_checks_can_fail() -> None:
    """The checks find what they look for in planted sources, and the room table places every module."""
    assert strongly_connected({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert strongly_connected({"a": {"b"}, "b": set()}) == []
    graph = {"a": {"b": 3, "c": 4}, "b": {"a": 7}, "c": {"b": 9}}
    assert shortest_cycle(graph, ["a", "b", "c"]) == ["a", "b", "a"]
    assert "a (line 3) imports b" in describe_cycles(graph)[0]

    modules = {"p", "p.x", "p.y", "p.sub", "p.sub.z"}
    source = (
        "import os\n"
        "from . import x\n"
        "from .sub import helper, z\n"
        "def later():\n"
        "    from p.y import thing\n"
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from p.sub import z\n"
    )
    found = parse_imports("p.x", source, False, modules)
    assert [(i.line, i.targets) for i in found] == [
        (2, ()),  # the module itself: no edge
        (3, ("p.sub", "p.sub.z")),  # helper is a name of p.sub, z is its submodule
        (5, ("p.y",)),  # inside a function: still an edge
    ]  # and not the one under TYPE_CHECKING
    assert [i.targets for i in parse_imports("p.sub.z", "from .. import y\n", False, modules)] == [("p.y",)]
    assert [i.targets for i in parse_imports("p.sub", "from .z import f\n", True, modules)] == [("p.sub.z",)]

    private = "from .y import _hidden\nimport p.sub.z as zz\nfrom p import y\nzz._inner()\ny._other\ny.__doc__\n"
    assert private_crossings("p.x", private, parse_imports("p.x", private, False, modules)) == [
        "p.x (line 1) imports _hidden from p.y",
        "p.x (line 4) reads _inner off p.sub.z",
        "p.x (line 5) reads _other off p.y",
    ]

    assert may_import("nlp_theming.review.status", "nlp_theming.store.runs")
    assert not may_import("nlp_theming.store.runs", "nlp_theming.review.status")
    assert not may_import("nlp_theming.exchange.tidy", "nlp_theming.summarize.data")
    assert may_import("nlp_theming.summarize.data", "nlp_theming.agreement.coefficients")  # a shared leaf
    assert not may_import("nlp_theming.summarize.data", "nlp_theming.agreement.report")
    for name in MODULES:
        _room(name)
    assert set(MAY_IMPORT) == set(ROOMS) and all(rooms <= set(ROOMS) for rooms in MAY_IMPORT.values())


def test_tables_leave_through_the_guarded_writer() -> None:
    """Every CSV and XLSX is written by nlp_theming.tables, which keeps formulas out of cells."""
    direct = re.compile(r"\.to_csv\(|csv\.writer\(|\.to_excel\(|\bWorkbook\(|ExcelWriter\(")
    writers = [
        name for name, path in MODULES.items()
        if name != "nlp_theming.tables" and direct.search(path.read_text(encoding="utf-8"))
    ]
    assert not writers, f"tables written around nlp_theming.tables: {writers}"
