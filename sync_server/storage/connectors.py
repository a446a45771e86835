"""The Airtable connector's rows: its settings and watermarks, the runs, the link between
each Airtable record and the pre-order (and flow) it mirrors, the reads the planners need,
and the per-base request log that keeps every process under Airtable's rate limit."""

from __future__ import annotations

import datetime
import uuid
from typing import Any

import asyncpg
import orjson

from .common import Conn

#: (record id, pre-order id, flow id or None, {field: [Airtable value, Recap register ts]})
LinkRow = tuple[str, str, str | None, dict[str, list[Any]]]


# -- settings ----------------------------------------------------------------------------
async def status(conn: Conn, tenant_id: str) -> asyncpg.Record | None:
    """The connector's settings, state and last finished run's summary."""
    record: asyncpg.Record | None = await conn.fetchrow(
        """SELECT base_id, table_name, field_map, mode, schedule_s, state, last_error,
                  last_run_at,
                  (SELECT summary FROM airtable_runs r WHERE r.tenant_id = c.tenant_id
                     AND r.status <> 'running' ORDER BY r.id DESC LIMIT 1) AS last_run
           FROM airtable_connectors c WHERE tenant_id = $1""",
        tenant_id,
    )
    return record


async def target_for_update(conn: Conn, tenant_id: str) -> tuple[str, str] | None:
    """The (base, table) the connector points at, row-locked for a reconfiguration."""
    record = await conn.fetchrow(
        "SELECT base_id, table_name FROM airtable_connectors WHERE tenant_id = $1 FOR UPDATE",
        tenant_id,
    )
    return (record["base_id"], record["table_name"]) if record else None


async def create(
    conn: Conn,
    tenant_id: str,
    base_id: str,
    table: str,
    api_key_enc: str,
    field_map: dict[str, str],
    schedule_s: int,
    node: str,
    mode: str = "lines",
) -> None:
    await conn.execute(
        """INSERT INTO airtable_connectors (tenant_id, base_id, table_name, api_key_enc,
               field_map, schedule_s, node, mode)
           VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7, $8)""",
        tenant_id,
        base_id,
        table,
        api_key_enc,
        field_map,
        schedule_s,
        node,
        mode,
    )


async def reconfigure(
    conn: Conn,
    tenant_id: str,
    base_id: str,
    table: str,
    api_key_enc: str | None,
    field_map: dict[str, str],
    schedule_s: int,
    moved: bool,
    mode: str = "lines",
) -> None:
    """New settings (a null key keeps the stored one). `moved`: it now points at another
    base or table, so its state, error and watermarks start over."""
    await conn.execute(
        """UPDATE airtable_connectors SET base_id = $2, table_name = $3,
               api_key_enc = coalesce($4, api_key_enc), field_map = $5::jsonb,
               schedule_s = $6, state = CASE WHEN $7 THEN 'idle' ELSE state END,
               last_error = CASE WHEN $7 OR $4 IS NOT NULL THEN NULL ELSE last_error END,
               import_after = CASE WHEN $7 THEN NULL ELSE import_after END,
               export_seq = CASE WHEN $7 THEN 0 ELSE export_seq END, mode = $8
           WHERE tenant_id = $1""",
        tenant_id,
        base_id,
        table,
        api_key_enc,
        field_map,
        schedule_s,
        moved,
        mode,
    )


async def delete(conn: Conn, tenant_id: str) -> bool:
    """Remove the connector; False if there was none."""
    gone = await conn.fetchval(
        "DELETE FROM airtable_connectors WHERE tenant_id = $1 RETURNING 1", tenant_id
    )
    return bool(gone)


async def load(conn: Conn, tenant_id: str) -> dict[str, Any] | None:
    """Everything a run needs to know about the connector."""
    record = await conn.fetchrow(
        """SELECT tenant_id::text, base_id, table_name, api_key_enc, field_map, node,
                  last_ts, import_after, export_seq, mode
           FROM airtable_connectors WHERE tenant_id = $1""",
        tenant_id,
    )
    return dict(record) if record else None


async def mode(conn: Conn, tenant_id: str) -> str | None:
    """The connector's mode ('lines' or 'orders'), None without a connector."""
    found: str | None = await conn.fetchval(
        "SELECT mode FROM airtable_connectors WHERE tenant_id = $1", tenant_id
    )
    return found


async def due_tenants(conn: Conn) -> list[str]:
    """Tenants whose connector's schedule says it should run now."""
    rows = await conn.fetch(
        """SELECT tenant_id::text FROM airtable_connectors
           WHERE schedule_s > 0 AND (last_run_at IS NULL
                 OR last_run_at + schedule_s * interval '1 second' <= now())"""
    )
    return [r["tenant_id"] for r in rows]


async def save_import(
    conn: Conn, tenant_id: str, links: list[LinkRow], last_ts: str, import_after: str
) -> None:
    """After an import: its links, the bridge clock's last stamp and the new watermark, in
    one transaction."""
    async with conn.transaction():
        await save_links(conn, tenant_id, links)
        await conn.execute(
            """UPDATE airtable_connectors SET last_ts = $2, import_after = $3
               WHERE tenant_id = $1""",
            tenant_id,
            last_ts,
            import_after,
        )


async def set_export_seq(conn: Conn, tenant_id: str, seq: int) -> None:
    await conn.execute(
        "UPDATE airtable_connectors SET export_seq = $2 WHERE tenant_id = $1", tenant_id, seq
    )


# -- runs --------------------------------------------------------------------------------
def run_lock_key(tenant_id: str) -> int:
    """The advisory lock a run holds, distinct from the tenant's write lock."""
    return (uuid.UUID(tenant_id).int >> 64) & 0x7FFF_FFFF_FFFF_FFFF ^ 0x41_52_54_42


async def try_lock_run(conn: Conn, tenant_id: str) -> bool:
    """Take the tenant's run lock for this session, if free."""
    return bool(await conn.fetchval("SELECT pg_try_advisory_lock($1)", run_lock_key(tenant_id)))


async def wait_for_run(conn: Conn, tenant_id: str) -> None:
    """Wait until the run under way (in any process) is over."""
    key = run_lock_key(tenant_id)
    await conn.execute("SELECT pg_advisory_lock($1)", key)
    await conn.execute("SELECT pg_advisory_unlock($1)", key)


async def unlock_run(conn: Conn, tenant_id: str) -> None:
    await conn.execute("SELECT pg_advisory_unlock($1)", run_lock_key(tenant_id))


async def start_run(conn: Conn, tenant_id: str, trigger: str) -> int:
    run_id: int = await conn.fetchval(
        "INSERT INTO airtable_runs (tenant_id, trigger) VALUES ($1, $2) RETURNING id",
        tenant_id,
        trigger,
    )
    return run_id


async def finish_run(
    conn: Conn, tenant_id: str, run_id: int, ok: bool, summary: dict[str, Any], error: str | None
) -> None:
    """Record the run's outcome and the connector's resulting state, together."""
    async with conn.transaction():
        await conn.execute(
            """UPDATE airtable_runs SET finished_at = now(), status = $3, summary = $4
               WHERE tenant_id = $1 AND id = $2""",
            tenant_id,
            run_id,
            "ok" if ok else "error",
            summary,
        )
        await conn.execute(
            """UPDATE airtable_connectors SET state = $2, last_error = $3,
                      last_run_at = now() WHERE tenant_id = $1""",
            tenant_id,
            "ok" if ok else "error",
            error,
        )


async def latest_run(conn: Conn, tenant_id: str) -> dict[str, Any] | None:
    """The summary of the tenant's last finished run."""
    summary: dict[str, Any] | None = await conn.fetchval(
        """SELECT summary FROM airtable_runs WHERE tenant_id = $1 AND status <> 'running'
           ORDER BY id DESC LIMIT 1""",
        tenant_id,
    )
    return summary


# -- links -------------------------------------------------------------------------------
async def save_links(conn: Conn, tenant_id: str, links: list[LinkRow]) -> None:
    if not links:
        return
    await conn.execute(
        """INSERT INTO airtable_links (tenant_id, record_id, pre_order_id, flow_id, fields)
           SELECT $1, u.r, u.p, u.f, u.j::jsonb
           FROM unnest($2::text[], $3::uuid[], $4::uuid[], $5::text[]) AS u(r, p, f, j)
           ON CONFLICT (tenant_id, record_id) DO UPDATE SET pre_order_id = EXCLUDED.pre_order_id,
               flow_id = EXCLUDED.flow_id, fields = EXCLUDED.fields""",
        tenant_id,
        [link[0] for link in links],
        [link[1] for link in links],
        [link[2] for link in links],
        [orjson.dumps(link[3]).decode() for link in links],
    )


_LINKS_BY = {
    "record": "record_id = ANY($2::text[])",
    "pre_order": "pre_order_id = ANY($2::uuid[])",
    "flow": "flow_id = ANY($2::uuid[])",
}


async def links(conn: Conn, tenant_id: str, by: str, ids: list[str]) -> list[LinkRow]:
    """The links whose record, pre-order or flow (`by`) is among `ids`."""
    rows = await conn.fetch(
        "SELECT record_id, pre_order_id::text, flow_id::text, fields FROM airtable_links "  # noqa: S608
        f"WHERE tenant_id = $1 AND {_LINKS_BY[by]}",
        tenant_id,
        ids,
    )
    return [(r["record_id"], r["pre_order_id"], r["flow_id"], r["fields"]) for r in rows]


async def delete_links(conn: Conn, tenant_id: str, record_ids: list[str] | None = None) -> None:
    """Forget the links of these records (of every record, without a list)."""
    if record_ids is None:
        await conn.execute("DELETE FROM airtable_links WHERE tenant_id = $1", tenant_id)
    else:
        await conn.execute(
            "DELETE FROM airtable_links WHERE tenant_id = $1 AND record_id = ANY($2)",
            tenant_id,
            record_ids,
        )


# -- what the planners read ----------------------------------------------------------------
async def partner_names(conn: Conn, tenant_id: str) -> list[tuple[str, str]]:
    """(name, id) of live partners, oldest name first (the first of equal names wins)."""
    return [
        (r["name"], r["id"])
        for r in await conn.fetch(
            "SELECT id::text, name FROM partners WHERE tenant_id = $1 "
            "AND coalesce(tombstone, 0) = 0 AND name IS NOT NULL ORDER BY name_ts",
            tenant_id,
        )
    ]


async def product_keys(conn: Conn, tenant_id: str) -> list[tuple[str | None, str | None, str]]:
    """(sku, name, id) of live products, oldest name first."""
    return [
        (r["sku"], r["name"], r["id"])
        for r in await conn.fetch(
            "SELECT id::text, name, sku FROM products WHERE tenant_id = $1 "
            "AND coalesce(tombstone, 0) = 0 ORDER BY name_ts",
            tenant_id,
        )
    ]


async def parents_of_flows(conn: Conn, tenant_id: str, flow_ids: list[str]) -> set[str]:
    """The pre-orders these flows belong to now, or belonged to at the last export."""
    now = await conn.fetch(
        """SELECT pre_order_id FROM pre_order_flows WHERE tenant_id = $1
           AND id = ANY($2::uuid[]) AND pre_order_id IS NOT NULL""",
        tenant_id,
        flow_ids,
    )
    linked = await conn.fetch(
        """SELECT pre_order_id FROM airtable_links WHERE tenant_id = $1
           AND flow_id = ANY($2::uuid[])""",
        tenant_id,
        flow_ids,
    )
    return {str(r["pre_order_id"]) for r in [*now, *linked]}


async def export_orders(conn: Conn, tenant_id: str, ids: list[str]) -> dict[str, dict[str, Any]]:
    """What the export writes of each pre-order (deleted ones too): the partner's name,
    delivery date, status and tombstone, with the fields' timestamps."""
    return {
        r["id"]: dict(r)
        for r in await conn.fetch(
            """SELECT p.id::text, p.tombstone, p.delivery_date::text, p.delivery_date_ts,
                      p.status, p.status_ts, p.partner_id_ts, pa.name AS partner
               FROM pre_orders p LEFT JOIN partners pa
                 ON pa.tenant_id = p.tenant_id AND pa.id = p.partner_id
               WHERE p.tenant_id = $1 AND p.id = ANY($2::uuid[])""",
            tenant_id,
            ids,
        )
    }


async def export_order_fields(
    conn: Conn, tenant_id: str, ids: list[str]
) -> dict[str, dict[str, Any]]:
    """What the orders mode writes back of each live pre-order: status and priority with
    their timestamps."""
    return {
        r["id"]: dict(r)
        for r in await conn.fetch(
            """SELECT id::text, status, status_ts, priority, priority_ts FROM pre_orders
               WHERE tenant_id = $1 AND id = ANY($2::uuid[]) AND tombstone IS DISTINCT FROM 1""",
            tenant_id,
            ids,
        )
    }


async def export_lines(conn: Conn, tenant_id: str, order_ids: list[str]) -> list[dict[str, Any]]:
    """The live flows of these pre-orders, by id: the product's name (or SKU), the quantity,
    and the fields' timestamps."""
    return [
        dict(r)
        for r in await conn.fetch(
            """SELECT f.id::text, f.pre_order_id::text, f.quantity, f.quantity_ts,
                      f.product_id_ts, f.pre_order_id_ts, coalesce(pr.name, pr.sku) AS product
               FROM pre_order_flows f LEFT JOIN products pr
                 ON pr.tenant_id = f.tenant_id AND pr.id = f.product_id
               WHERE f.tenant_id = $1 AND f.pre_order_id = ANY($2::uuid[])
                 AND coalesce(f.tombstone, 0) = 0
               ORDER BY f.id""",
            tenant_id,
            order_ids,
        )
    ]


# -- the shared request budget -------------------------------------------------------------
async def rate_slot(conn: Conn, base_id: str, rate: int, span: datetime.timedelta) -> float | None:
    """Record one request to the base now, if fewer than `rate` were sent within `span`
    and it is not under a penalty; else the seconds to wait before asking again. Under the
    base's row lock, so every process and tenant shares one budget."""
    async with conn.transaction():
        await conn.execute(
            "INSERT INTO airtable_rate (base_id) VALUES ($1) ON CONFLICT DO NOTHING", base_id
        )
        row = await conn.fetchrow(
            """SELECT sent, penalty_until, clock_timestamp() AS now
               FROM airtable_rate WHERE base_id = $1 FOR UPDATE""",
            base_id,
        )
        assert row is not None
        now: datetime.datetime = row["now"]
        penalty: datetime.datetime | None = row["penalty_until"]
        recent = [t for t in row["sent"] if t > now - span]
        if penalty is not None and penalty > now:
            return float((penalty - now).total_seconds())
        if len(recent) < rate:
            await conn.execute(
                "UPDATE airtable_rate SET sent = $2 WHERE base_id = $1", base_id, [*recent, now]
            )
            return None
        return float((min(recent) + span - now).total_seconds())


async def penalize(conn: Conn, base_id: str, seconds: float) -> None:
    """Nobody sends to this base for `seconds` (Airtable answered 429). The database's
    clock, shared by every process, read first: a volatile function in an UPDATE of a
    table every tenant shares is one a distributed PostgreSQL refuses (issue 22)."""
    async with conn.transaction():
        now = await conn.fetchval("SELECT clock_timestamp()")
        await conn.execute(
            """UPDATE airtable_rate SET penalty_until = greatest(
                   coalesce(penalty_until, $2), $2 + $3 * interval '1 second')
               WHERE base_id = $1""",
            base_id,
            now,
            seconds,
        )
