"""The house rules, checked on the source (nothing is imported):

* no import cycle between modules of the package (lazy imports inside functions count: they
  hide a cycle, they do not remove it; imports under ``if TYPE_CHECKING:`` do not run and do
  not count);
* no private name (``_x``) imported from another module;
* no module imports from a room above its own (the table below);
* SQL is written in the store layer only (a reader of another tool's database aside).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "nlp_theming"

# Rooms from the bottom up: a module may import its own room and the rooms below it. The side
# rooms (agreement, evaluate, exchange) sit above review and below the top.
ROOMS: list[tuple[str, tuple[str, ...]]] = [
    ("bottom", ("store", "transcript", "textio", "tables", "version")),
    ("read", ("ingest", "segment", "codebook", "embed")),
    ("match", ("match",)),
    ("suggest", ("suggest",)),
    ("review", ("review",)),
    ("summarize", ("summarize",)),
    ("side", ("agreement", "evaluate", "exchange")),
    ("top", ("api", "cli", "__init__")),
]
# The web layer is part of the top even though it lives beside the review actions it calls.
TOP_MODULES = {"nlp_theming.review.server", "nlp_theming.review.web"}
# Other tools' databases are read with SQL where they are read: not the project store.
FOREIGN_SQL = {"nlp_theming.exchange.taguette"}
SQL = re.compile(r"\b(SELECT\s+\S|INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM|CREATE\s+TABLE)\b")


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(name: str) -> list[tuple[str, list[str]]]:
    """(module imported from, names) for every import of the package in ``name``."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found: list[tuple[str, list[str]]] = []

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                continue
            if isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")
                    base = base[: len(base) - (child.level - 1)]
                    module = ".".join(base + ([child.module] if child.module else []))
                else:
                    module = child.module or ""
                if module.startswith("nlp_theming"):
                    found.append((module, [a.name for a in child.names]))
            elif isinstance(child, ast.Import):
                found.extend((a.name, []) for a in child.names if a.name.startswith("nlp_theming"))
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    return found


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for name in MODULES:
        edges = set()
        for module, names in _imports(name):
            targets = [f"{module}.{n}" for n in names if f"{module}.{n}" in MODULES] or [module]
            if len(targets) < len(names):  # names that are not submodules come from the module itself
                targets.append(module)
            edges.update(t for t in targets if t in MODULES and t != name)
        graph[name] = edges
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
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
    return out


def _room(module: str) -> int:
    if module in TOP_MODULES:
        return len(ROOMS) - 1
    first = module.split(".")[1] if "." in module else "__init__"
    for level, (_, names) in enumerate(ROOMS):
        if first in names:
            return level
    raise AssertionError(f"{module} is in no room: add it to ROOMS")


def test_no_import_cycle() -> None:
    cycles = _cycles(_graph())
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_no_private_name_crosses_modules() -> None:
    crossing = [
        f"{name} imports {n} from {module}"
        for name in MODULES
        for module, names in _imports(name)
        for n in names
        if n.startswith("_") and not n.startswith("__") and module != name
    ]
    assert not crossing, "\n".join(crossing)


def test_no_module_imports_from_a_room_above_it() -> None:
    graph = _graph()
    upward = [
        f"{name} ({ROOMS[_room(name)][0]}) imports {target} ({ROOMS[_room(target)][0]})"
        for name, targets in graph.items()
        for target in targets
        if _room(target) > _room(name)
    ]
    assert not upward, "\n".join(sorted(upward))


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
    """The cycle finder finds a planted cycle, and the room table places every module."""
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []
    for name in MODULES:
        _room(name)


def test_tables_leave_through_the_guarded_writer() -> None:
    """Every CSV and XLSX is written by nlp_theming.tables, which keeps formulas out of cells."""
    direct = re.compile(r"\.to_csv\(|csv\.writer\(|\.to_excel\(|\bWorkbook\(|ExcelWriter\(")
    writers = [
        name for name, path in MODULES.items()
        if name != "nlp_theming.tables" and direct.search(path.read_text(encoding="utf-8"))
    ]
    assert not writers, f"tables written around nlp_theming.tables: {writers}"
