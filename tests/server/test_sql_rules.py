"""The rules that let Recap spread tenants over the workers of a distributed PostgreSQL
(Citus, issue 22), checked on every run so that a new table or statement cannot break them
unnoticed (DESIGN.md, "Scaling past one machine"):

1. every key (primary key, unique constraint or index) of a tenant table includes
   `tenant_id`; a table without `tenant_id` is global and must be named in
   `sync_server.storage.distribution.GLOBAL_TABLES` with why; tables that have `tenant_id`
   but stay global (a reference table) too;
2. no volatile function in `ON CONFLICT ... DO UPDATE SET` (Citus refuses them there; take
   the value from EXCLUDED or a parameter);
3. every statement of the storage package on a tenant table filters by `tenant_id`, but for
   the cross-tenant sweeps named in CROSS_TENANT with why.

The first reads the catalog of a database the migrations built; the others read the SQL text
of `sync_server/storage/` (module-level SQL constants are substituted into the f-strings
that use them)."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest

from sync_server.storage import distribution
from sync_server.storage.distribution import GLOBAL_TABLES
from tests.conftest import db_fetch

ROOT = Path(__file__).resolve().parents[2]
STORAGE = ROOT / "sync_server" / "storage"

#: Statements that deliberately span tenants: (module, function or constant) -> why.
CROSS_TENANT = {
    ("outbox", "due_tenants"): "the relay finds the tenants with due events (a plain read; "
    "it then claims tenant by tenant)",
    ("retention", "PRUNES"): "the retention job sweeps aged rows of every tenant in batches",
    ("users", "reserve_server_node"): "a node id is checked against every tenant's devices",
    ("connectors", "due_tenants"): "the scheduler finds every tenant whose import is due",
}
VOLATILE = re.compile(
    r"\b(now|clock_timestamp|random|nextval|gen_random_uuid|statement_timestamp|transaction_timestamp|timeofday)\s*\(",
    re.I,
)


async def _tables(db_url: str) -> tuple[set[str], set[str]]:
    conn = await asyncpg.connect(db_url)
    try:
        return await distribution.tables(conn)
    finally:
        await conn.close()


async def test_every_key_of_a_tenant_table_includes_the_tenant(db_url: str) -> None:
    with_tenant, without = await _tables(db_url)
    assert without <= set(GLOBAL_TABLES), (
        f"global tables not documented: {without - set(GLOBAL_TABLES)}"
    )
    keys = await db_fetch(
        db_url,
        """SELECT c.relname AS table_name, pg_get_indexdef(x.indexrelid) AS definition,
                  EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid
                          AND a.attnum = ANY(x.indkey) AND a.attname = 'tenant_id') AS keyed
           FROM pg_index x JOIN pg_class c ON c.oid = x.indrelid
           JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = 'public' AND x.indisunique AND c.relkind IN ('r', 'p')""",
    )
    bad = [
        k["definition"]
        for k in keys
        if k["table_name"] in with_tenant - set(GLOBAL_TABLES) and not k["keyed"]
    ]
    assert bad == [], "keys of tenant tables without tenant_id"


def _sql_texts() -> list[tuple[str, str, str]]:
    """(module, enclosing function or constant, SQL text) for every SQL string of the
    storage package, with module-level string constants substituted into f-strings."""
    out: list[tuple[str, str, str]] = []
    for path in sorted(STORAGE.glob("*.py")):
        tree = ast.parse(path.read_text())
        constants: dict[str, str] = {}
        # The literal parts of an f-string are read with it, not as statements of their own.
        pieces = {id(v) for n in ast.walk(tree) if isinstance(n, ast.JoinedStr) for v in n.values}

        def render(node: ast.AST, constants: dict[str, str] = constants) -> str | None:
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                return node.value
            if isinstance(node, ast.JoinedStr):
                parts = []
                for v in node.values:
                    if isinstance(v, ast.Constant):
                        parts.append(str(v.value))
                    elif isinstance(v, ast.FormattedValue) and isinstance(v.value, ast.Name):
                        parts.append(constants.get(v.value.id, "{}"))
                    else:
                        parts.append("{}")
                return "".join(parts)
            return None

        for stmt in tree.body:  # module constants first, in order
            if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
                target = stmt.targets[0]
                if isinstance(target, ast.Name):
                    text = render(stmt.value)
                    if text is not None:
                        constants[target.id] = text
                    for node in ast.walk(stmt.value):
                        text = render(node)
                        if text is not None and id(node) not in pieces:
                            out.append((path.stem, target.id, text))
        for fn in ast.walk(tree):
            if isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
                for node in ast.walk(fn):
                    text = render(node)
                    if text is not None and id(node) not in pieces:
                        out.append((path.stem, fn.name, text))
    return [(m, f, t) for m, f, t in out if re.search(r"\b(SELECT|UPDATE|DELETE|INSERT)\b", t)]


#: Volatile in PostgreSQL's sense (a new value at every call), which a distributed
#: PostgreSQL refuses in an UPDATE of a table every worker holds a copy of.
TRULY_VOLATILE = re.compile(
    r"\b(clock_timestamp|random|nextval|gen_random_uuid|timeofday)\s*\(", re.I
)


def test_no_volatile_function_in_updates_of_global_tables() -> None:
    found = []
    for module, where, text in _sql_texts():
        for table, clause in re.findall(
            r"UPDATE\s+([a-z_]+)\s+SET(.*?)(?:WHERE|RETURNING|$)", text, re.S | re.I
        ):
            if table in GLOBAL_TABLES and TRULY_VOLATILE.search(clause):
                found.append((module, where, table))
    assert found == []
    assert TRULY_VOLATILE.search("penalty_until = clock_timestamp() + $2")


def test_no_volatile_function_in_do_update_set() -> None:
    found = []
    texts = [
        ("migrations", p.name, p.read_text()) for p in sorted((ROOT / "migrations").glob("*.sql"))
    ]
    for module, where, text in [*_sql_texts(), *texts]:
        for clause in re.findall(
            r"DO\s+UPDATE\s+SET(.*?)(?:RETURNING|WHERE|;|$)", text, re.S | re.I
        ):
            if VOLATILE.search(clause):
                found.append((module, where, clause.strip()[:80]))
    assert found == []


async def test_every_statement_on_a_tenant_table_filters_by_tenant(db_url: str) -> None:
    with_tenant, _ = await _tables(db_url)
    tenant_tables = with_tenant - set(GLOBAL_TABLES)
    texts = _sql_texts()
    assert len(texts) > 50, "the SQL of the storage package was not found"
    unfiltered = set()
    for module, where, text in texts:
        named = set(re.findall(r"\b(?:FROM|JOIN|UPDATE|INTO)\s+([a-z_]+)", text))
        if named & tenant_tables and "tenant_id" not in text:
            unfiltered.add((module, where))
    assert unfiltered - set(CROSS_TENANT) == set()
    # The exceptions are real: each names a statement that exists and spans tenants.
    assert set(CROSS_TENANT) <= {(m, w) for m, w, _ in texts}


#: The columns that order a tenant's rows for readers paging "after N" (bootstrap, the
#: pull, the relay, the events and conflicts feeds): numbered from the tenant's own counter
#: row (migrations 0018, 0019), never by a sequence (values taken at statement time, and
#: under Citus from a different range on each node).
TENANT_ORDERS = {("messages", "seq"), ("conflicts", "seq"), ("outbox", "id")}


async def test_no_sequence_orders_a_tenants_rows(db_url: str) -> None:
    rows = await db_fetch(
        db_url,
        """SELECT table_name, column_name FROM information_schema.columns
           WHERE table_schema = 'public' AND column_default LIKE 'nextval(%'""",
    )
    assert {(r["table_name"], r["column_name"]) for r in rows} & TENANT_ORDERS == set()
    assert [(m, w) for m, w, text in _sql_texts() if re.search(r"\bnextval\s*\(", text)] == []


def test_the_rule_catches_what_it_is_for() -> None:
    """The checks above would fail on the statements they are written against."""
    assert VOLATILE.search("last_seen = now(), user_agent = EXCLUDED.user_agent")
    assert not VOLATILE.search("last_seen = EXCLUDED.last_seen")
    text = "UPDATE outbox SET published_at = now() WHERE id = ANY($1)"
    assert "outbox" in re.findall(r"\b(?:FROM|JOIN|UPDATE|INTO)\s+([a-z_]+)", text)
    assert "tenant_id" not in text


async def test_the_citus_plan_covers_every_table_once(db_url: str) -> None:
    """`citus-distribute`'s steps over the migrated schema: each table once, the global
    ones as reference tables first (in their foreign keys' order), then the anchor, then
    every other tenant table; nothing left once all are done; an undocumented global
    table refused."""
    with_tenant, without = await _tables(db_url)
    steps = distribution.plan(with_tenant, without, {})
    assert sorted(t for t, _ in steps) == sorted(with_tenant | without)
    kinds = [kind for _, kind in steps]
    assert kinds == sorted(kinds, key=lambda k: k != "reference")
    reference = [t for t, kind in steps if kind == "reference"]
    assert reference == [t for t in GLOBAL_TABLES if t in with_tenant | without]
    assert reference[:2] == ["tenants", "users"]
    assert next(t for t, kind in steps if kind == "distributed") == distribution.ANCHOR
    assert distribution.plan(with_tenant, without, dict(steps)) == []
    with pytest.raises(ValueError, match="not documented"):
        distribution.plan(with_tenant, without | {"scratch"}, {})


async def test_distributing_needs_citus_and_changes_nothing_without_it(db_url: str) -> None:
    conn = await asyncpg.connect(db_url)
    try:
        with pytest.raises(distribution.CitusMissing):
            await distribution.distribute(conn)
    finally:
        await conn.close()


def test_the_cli_refuses_a_database_without_citus(db_url: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "sync_server", "citus-distribute"],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": db_url},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert "citus extension is not installed" in done.stderr
    assert "Traceback" not in done.stderr
