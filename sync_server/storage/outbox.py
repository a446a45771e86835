"""The transactional outbox (business events written in the same transaction as the change
they describe), its delivery bookkeeping, the tenants' webhooks, and the NOTIFY channel that
tells every server process about commits and published events."""

from __future__ import annotations

from typing import Any

import asyncpg
import orjson

from ..events import Event
from .common import Conn, lock_tenant, without_flush_wait

NOTIFY_CHANNEL = "recap_changes"


INSERT_EVENTS = """
WITH counter AS (
    UPDATE tenant_sequences SET outbox = outbox + cardinality($2::text[])
    WHERE tenant_id = $1
    RETURNING outbox - cardinality($2::text[]) AS base
)
INSERT INTO outbox (tenant_id, id, event_type, aggregate_id, payload)
SELECT $1, c.base + u.n, u.t, u.a, u.p::jsonb
FROM unnest($2::text[], $3::uuid[], $4::text[]) WITH ORDINALITY AS u(t, a, p, n)
CROSS JOIN counter c
"""


async def insert_events(conn: Conn, tenant_id: str, events: list[Event]) -> None:
    """Queue the events, numbered from the tenant's own counter (migration 0019: ids in
    commit order, without gaps, which the relay and the events feed read in)."""
    if not events:
        return
    args = (
        [e.type for e in events],
        [e.aggregate_id for e in events],
        [orjson.dumps(e.payload).decode() for e in events],
    )
    if await conn.execute(INSERT_EVENTS, tenant_id, *args) != f"INSERT 0 {len(events)}":
        await lock_tenant(conn, tenant_id)  # a tenant without its counter row yet gets it
        await conn.execute(INSERT_EVENTS, tenant_id, *args)


async def notify_change(conn: Conn, tenant_id: str, seq: int | None) -> None:
    """Tell every listening process the tenant has new messages (delivered on commit)."""
    await conn.execute(
        "SELECT pg_notify($1, $2)",
        NOTIFY_CHANNEL,
        orjson.dumps({"tenant": tenant_id, "seq": seq}).decode(),
    )


async def notify_events(conn: Conn, notices: list[dict[str, Any]]) -> None:
    """Publish events on the live channel, all in one round trip."""
    await conn.executemany(
        "SELECT pg_notify($1, $2)",
        [(NOTIFY_CHANNEL, orjson.dumps(n).decode()) for n in notices],
    )


async def due_tenants(conn: Conn, limit: int, skip_tenants: list[str]) -> list[str]:
    """Tenants with an event due now (but `skip_tenants`), the oldest event's first: a
    plain read across tenants, with no lock (the claims that follow lock per tenant)."""
    records = await conn.fetch(
        """SELECT tenant_id::text AS tenant_id FROM outbox
           WHERE published_at IS NULL AND next_attempt_at <= now()
             AND tenant_id <> ALL($2::uuid[])
           GROUP BY tenant_id ORDER BY min(id) LIMIT $1""",
        limit,
        skip_tenants,
    )
    return [r["tenant_id"] for r in records]


async def claim_tenant(
    conn: Conn, tenant_id: str, limit: int, lease_s: int
) -> list[asyncpg.Record]:
    """Claim up to `limit` of a tenant's due, unpublished events: their next attempt moves
    `lease_s` ahead, so no other process takes them meanwhile, and a process killed
    mid-publish leaves them due again when the lease ends. An event waits while an earlier
    one of its tenant is not due (leased by a process delivering it, or backing off after a
    failure), so a tenant's events go out in order whichever process holds them. "Before
    the first event that is not due", not "no earlier event that is not due": the second,
    as an anti-join, compared every unpublished event with every earlier one, and a
    backlog of 4,300 events kept one claim on the CPU for over 20 s."""
    async with without_flush_wait(conn):
        return await _claim(conn, tenant_id, limit, lease_s)


async def _claim(conn: Conn, tenant_id: str, limit: int, lease_s: int) -> list[asyncpg.Record]:
    records: list[asyncpg.Record] = await conn.fetch(
        """UPDATE outbox SET next_attempt_at = now() + make_interval(secs => $3)
           WHERE tenant_id = $1 AND id IN (
               SELECT id FROM outbox o
               WHERE o.tenant_id = $1 AND published_at IS NULL AND next_attempt_at <= now()
                 AND o.id < coalesce((
                     SELECT min(e.id) FROM outbox e
                     WHERE e.tenant_id = $1 AND e.published_at IS NULL
                       AND e.next_attempt_at > now()), 9223372036854775807)
               ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED)
           RETURNING id, tenant_id::text AS tenant_id, event_type, aggregate_id::text
               AS aggregate_id, payload, attempts, created_at""",
        tenant_id,
        limit,
        lease_s,
    )
    return records


async def claim_due(
    conn: Conn, limit: int, lease_s: int, skip_tenants: list[str] | None = None
) -> list[asyncpg.Record]:
    """Claim up to `limit` due events, tenant by tenant, oldest due first (none of
    `skip_tenants`, whose earlier events this process is still delivering). Each claim
    locks rows of one tenant only: a distributed PostgreSQL routes it to the tenant's
    worker (it refuses FOR UPDATE SKIP LOCKED across shards)."""
    claimed: list[asyncpg.Record] = []
    for tenant in await due_tenants(conn, limit, skip_tenants or []):
        if len(claimed) >= limit:
            break
        claimed += await claim_tenant(conn, tenant, limit - len(claimed), lease_s)
    return claimed


async def postpone(conn: Conn, tenant_id: str, event_ids: list[int], seconds: float) -> None:
    """Move a tenant's claimed events' next attempt `seconds` ahead without counting an
    attempt (they wait behind an earlier event of theirs that failed)."""
    if event_ids:
        await conn.execute(
            "UPDATE outbox SET next_attempt_at = now() + make_interval(secs => $3) "
            "WHERE tenant_id = $1 AND id = ANY($2::bigint[])",
            tenant_id,
            event_ids,
            seconds,
        )


async def mark_failed(
    conn: Conn, tenant_id: str, event_id: int, error: str, backoff_s: float
) -> None:
    await conn.execute(
        "UPDATE outbox SET attempts = attempts + 1, last_error = $3, "
        "next_attempt_at = now() + make_interval(secs => $4) WHERE tenant_id = $1 AND id = $2",
        tenant_id,
        event_id,
        error,
        backoff_s,
    )


async def mark_published(conn: Conn, tenant_id: str, event_ids: list[int]) -> None:
    """Record delivered events (a mark a crash loses means a second delivery)."""
    async with without_flush_wait(conn):
        await conn.execute(
            "UPDATE outbox SET published_at = now(), attempts = attempts + 1, "
            "last_error = NULL WHERE tenant_id = $1 AND id = ANY($2::bigint[])",
            tenant_id,
            event_ids,
        )


async def events_after(conn: Conn, tenant_id: str, after: int, limit: int) -> list[dict[str, Any]]:
    """The tenant's events after an id, in id order (the pull feed)."""
    records = await conn.fetch(
        """SELECT id, event_type AS type, aggregate_id, payload, created_at, published_at
           FROM outbox WHERE tenant_id = $1 AND id > $2 ORDER BY id LIMIT $3""",
        tenant_id,
        after,
        limit,
    )
    return [dict(r) for r in records]


async def webhook(conn: Conn, tenant_id: str) -> str | None:
    url: str | None = await conn.fetchval(
        "SELECT webhook_url FROM tenant_settings WHERE tenant_id = $1", tenant_id
    )
    return url


async def set_webhook(conn: Conn, tenant_id: str, url: str | None) -> None:
    await conn.execute(
        """INSERT INTO tenant_settings (tenant_id, webhook_url) VALUES ($1, $2)
           ON CONFLICT (tenant_id) DO UPDATE SET webhook_url = EXCLUDED.webhook_url""",
        tenant_id,
        url,
    )


async def webhooks(conn: Conn, tenant_ids: list[str]) -> dict[str, str]:
    """The webhook of each of these tenants that has one."""
    return {
        str(r["tenant_id"]): r["webhook_url"]
        for r in await conn.fetch(
            "SELECT tenant_id, webhook_url FROM tenant_settings "
            "WHERE tenant_id = ANY($1::uuid[]) AND webhook_url IS NOT NULL",
            tenant_ids,
        )
    }
