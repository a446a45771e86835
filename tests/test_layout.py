"""The code's layout rules (DESIGN.md, "Layout"), checked on the source itself:

* imports run downhill: no import circle among the Python modules, nor among the
  TypeScript modules of the app;
* `sync_server/app.py`, the composition root, is imported only by the entry points;
* SQL lives only in `sync_server/storage/` (and the migration runner, `database.py`);
* the server's hybrid logical clock is stamped and advanced only in `sync_server/clock.py`;
* the CRDT core does no I/O and reads no clock or randomness of its own.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("crdt", "sync_server", "recap_client", "bench")


def modules() -> dict[str, Path]:
    """Every module of the project's packages, by dotted name."""
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


MODULES = modules()


def imports_of(name: str, path: Path) -> Iterator[tuple[str, ast.stmt]]:
    """The project modules `name` imports, anywhere in its body (functions included)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            yield base, node
            for alias in node.names:  # `from . import storage` names a module
                yield f"{base}.{alias.name}", node


def project_imports(name: str) -> set[str]:
    return {target for target, _ in imports_of(name, MODULES[name]) if target in MODULES}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 or v in graph.get(v, ()):
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_circle_in_the_python_packages() -> None:
    graph = {}
    for name in MODULES:
        # A package's __init__ is imported with each of its modules: leave those edges out,
        # and keep the ones to other packages.
        graph[name] = {t for t in project_imports(name) if not name.startswith(t + ".")}
    assert cycles(graph) == []


def test_only_the_entry_points_import_the_composition_root() -> None:
    allowed = {"sync_server.__main__", "sync_server.workers", "sync_server.app"}
    importers = {
        name
        for name in MODULES
        if "sync_server.app" in project_imports(name) and name not in allowed
    }
    assert importers == set()


SQL_CALLS = {"fetch", "fetchrow", "fetchval", "execute", "executemany", "copy_records_to_table"}
SQL_TEXT = re.compile(r"\b(SELECT|INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM)\b")


def test_sql_lives_only_in_the_storage_package() -> None:
    offenders = []
    for name, path in MODULES.items():
        if name.startswith("sync_server.storage") or name == "sync_server.database":
            continue
        if not name.startswith("sync_server"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in SQL_CALLS
            ):
                offenders.append(f"{name}:{node.lineno} calls .{node.func.attr}()")
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and SQL_TEXT.search(node.value)
            ):
                offenders.append(f"{name}:{node.lineno} holds SQL text")
    assert offenders == []


def test_only_the_clock_service_drives_the_server_s_clock() -> None:
    users = {
        name
        for name in MODULES
        if name.startswith("sync_server") and "crdt.hlc" in project_imports(name)
    }
    assert users == {"sync_server.clock"}


#: What the core may not touch: I/O, the network, the database, processes, wall time and
#: randomness (a caller passes time and ids in).
FORBIDDEN_IN_CORE = {
    "asyncio", "aiohttp", "asyncpg", "socket", "os", "subprocess", "random", "secrets",
    "pathlib", "urllib", "http", "sqlite3", "threading",
}  # fmt: skip
FORBIDDEN_CALLS = {"open", "print", "input"}
FORBIDDEN_CLOCKS = {
    ("time", "time"),
    ("time", "monotonic"),
    ("time", "time_ns"),
    ("datetime", "now"),
}


@pytest.mark.parametrize("name", sorted(n for n in MODULES if n.startswith("crdt")))
def test_the_core_does_no_io(name: str) -> None:
    tree = ast.parse(MODULES[name].read_text())
    problems = []
    for target, statement in imports_of(name, MODULES[name]):
        if target.split(".")[0] in FORBIDDEN_IN_CORE:
            problems.append(f"imports {target} (line {statement.lineno})")
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Name) and func.id in FORBIDDEN_CALLS:
            problems.append(f"calls {func.id}() (line {node.lineno})")
        if (
            isinstance(func, ast.Attribute)
            and isinstance(func.value, ast.Name)
            and (func.value.id, func.attr) in FORBIDDEN_CLOCKS
        ):
            problems.append(f"reads the clock: {func.value.id}.{func.attr}() (line {node.lineno})")
    assert problems == []


TS_IMPORT = re.compile(r"""^\s*(?:import|export)\b[^'"]*?from\s+['"](\.[^'"]+)['"]""", re.M)


def test_no_import_circle_in_the_typescript_app() -> None:
    src = ROOT / "frontend" / "src"
    files = {p.relative_to(src).with_suffix("").as_posix(): p for p in src.rglob("*.ts*")}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        targets = set()
        for spec in TS_IMPORT.findall(path.read_text()):
            resolved = (path.parent / spec).resolve()
            key = resolved.relative_to(src.resolve()).as_posix()
            key = re.sub(r"\.(tsx?|js)$", "", key)
            if key in files:
                targets.add(key)
            elif f"{key}/index" in files:
                targets.add(f"{key}/index")
        graph[name] = targets
    assert sum(len(t) for t in graph.values()) > 50, "the import parser found too few imports"
    assert cycles(graph) == []
