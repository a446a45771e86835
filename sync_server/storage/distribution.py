"""Which tables are split by tenant and which stay whole, and the step that spreads them
over a Citus cluster (`python -m sync_server citus-distribute`; DESIGN.md "Scaling past
one machine").

Every table with a `tenant_id` column is a tenant table: distributed by `tenant_id` and
colocated with the others, so all of one tenant's rows live on one worker and every
statement, which filters by tenant (tests/server/test_sql_rules.py), runs there. The
tables in GLOBAL_TABLES are not split, each for the reason given; under Citus they are
reference tables (a copy on every node), which is right for them: small, read far more
than written, and needed before a tenant is known."""

from __future__ import annotations

from .common import Conn

#: Tables not split by tenant, and why.
GLOBAL_TABLES = {
    "tenants": "the tenants themselves",
    "users": "an email signs in to one account across all tenants (globally unique)",
    "sessions": "a bearer token names its session before its tenant is known",
    "user_tokens": "an invite or reset link is looked up by its token alone",
    "login_failures": "sign-in throttling by address and email, before a tenant is known",
    "system_nodes": "a server process's node id is reserved across all tenants",
    "airtable_rate": "Airtable's rate limit is per base, shared by every tenant using it",
}

#: The table every other tenant table is colocated with: the one each write locks first.
ANCHOR = "tenant_sequences"


class CitusMissing(Exception):
    """The database is not a Citus coordinator."""


async def tables(conn: Conn) -> tuple[set[str], set[str]]:
    """The application's tables (partitions and yoyo's bookkeeping left out): those with a
    `tenant_id` column and those without."""
    rows = await conn.fetch(
        """SELECT c.relname AS name,
                  EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid
                          AND a.attname = 'tenant_id' AND NOT a.attisdropped) AS tenant
           FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition
             AND c.relname NOT LIKE '%yoyo%'"""
    )
    return {r["name"] for r in rows if r["tenant"]}, {r["name"] for r in rows if not r["tenant"]}


def plan(with_tenant: set[str], without: set[str], done: dict[str, str]) -> list[tuple[str, str]]:
    """The steps still to take, in order, as `(table, "reference" | "distributed")`:
    reference tables first (tenant tables' foreign keys point at them), then the anchor,
    then every other tenant table colocated with it. `done` maps a table already in
    Citus's metadata to its kind and is skipped, so the step can be run again. A table
    that is neither a tenant table nor a documented global one is refused: it would have
    to be decided, not guessed."""
    unknown = without - set(GLOBAL_TABLES)
    if unknown:
        raise ValueError(f"tables with no tenant_id that are not documented as global: {unknown}")
    present = with_tenant | without
    # GLOBAL_TABLES is in the order of their foreign keys (users point at tenants, sessions
    # and tokens at users): a reference table's targets must be reference tables first.
    steps = [(t, "reference") for t in GLOBAL_TABLES if t in present]
    tenant_tables = sorted(with_tenant - set(GLOBAL_TABLES), key=lambda t: (t != ANCHOR, t))
    steps += [(t, "distributed") for t in tenant_tables]
    return [(table, kind) for table, kind in steps if table not in done]


async def distribute(conn: Conn) -> list[tuple[str, str]]:
    """Make the global tables reference tables and distribute every tenant table by
    `tenant_id`, colocated with ANCHOR; returns the steps taken (none when done before).
    Run on the coordinator after the migrations."""
    if not await conn.fetchval("SELECT count(*) FROM pg_extension WHERE extname = 'citus'"):
        raise CitusMissing("the citus extension is not installed in this database")
    done = {
        r["name"]: "reference" if r["method"] == "n" else "distributed"
        for r in await conn.fetch(
            "SELECT logicalrelid::regclass::text AS name, partmethod AS method"
            " FROM pg_dist_partition"
        )
    }
    steps = plan(*await tables(conn), done)
    for table, kind in steps:
        if kind == "reference":
            await conn.execute("SELECT create_reference_table($1::regclass)", table)
        elif table == ANCHOR:
            await conn.execute("SELECT create_distributed_table($1::regclass, 'tenant_id')", table)
        else:
            await conn.execute(
                "SELECT create_distributed_table($1::regclass, 'tenant_id', colocate_with => $2)",
                table,
                ANCHOR,
            )
    return steps
