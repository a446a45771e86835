"""Deleting what has aged out: published business events past the retention period, the
answers of idempotent creates past their key's life, failed sign-ins past the throttling
window, and sessions and invite or reset links long over. Never a message: the log is
the CRDT's history.

Each delete takes at most `batch` rows, so a first run on a large backlog holds no lock
for long; the job calls them until they come back short. One process prunes at a time
(an advisory lock in the two-key space, apart from the tenants' one-key locks)."""

from __future__ import annotations

import datetime

from .common import Conn

#: (class id, object id) of the job's advisory lock
LOCK = (0x52454341, 0x50525554)  # "RECA", "PRUT"

PRUNES = {
    "outbox": """DELETE FROM outbox WHERE (tenant_id, id) IN (
                     SELECT tenant_id, id FROM outbox WHERE published_at < now() - $1::interval
                     LIMIT $2)""",
    "idempotency_keys": """DELETE FROM idempotency_keys WHERE ctid IN (
                     SELECT ctid FROM idempotency_keys WHERE created_at < now() - $1::interval
                     LIMIT $2)""",
    "login_failures": """DELETE FROM login_failures WHERE ctid IN (
                     SELECT ctid FROM login_failures WHERE at < now() - $1::interval
                     LIMIT $2)""",
    "user_tokens": """DELETE FROM user_tokens WHERE id IN (
                     SELECT id FROM user_tokens WHERE expires_at < now() - $1::interval
                     LIMIT $2)""",
    "sessions": """DELETE FROM sessions WHERE id IN (
                     SELECT id FROM sessions
                     WHERE coalesce(ended_at, expires_at) < now() - $1::interval
                     LIMIT $2)""",
}


async def try_lock(conn: Conn) -> bool:
    """Take the job's lock for this session, if no other process holds it."""
    return bool(await conn.fetchval("SELECT pg_try_advisory_lock($1, $2)", *LOCK))


async def unlock(conn: Conn) -> None:
    await conn.execute("SELECT pg_advisory_unlock($1, $2)", *LOCK)


async def prune(conn: Conn, table: str, older_than: datetime.timedelta, batch: int) -> int:
    """Delete up to `batch` rows of `table` aged past `older_than`; how many."""
    status = await conn.execute(PRUNES[table], older_than, batch)
    return int(status.rsplit(" ", 1)[1])
