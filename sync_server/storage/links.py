"""Invites and password resets: single-use links that expire, kept as the hash of their
secret (the secret itself is only ever in the link)."""

from __future__ import annotations

import datetime
import uuid

import asyncpg

from .common import Conn

LINK_COLUMNS = """id::text AS id, tenant_id::text AS tenant_id, kind, email, role,
    user_id::text AS user_id, created_at, expires_at, used_at, revoked_at"""


async def create(
    conn: Conn,
    tenant_id: str,
    kind: str,
    email: str,
    role: str | None,
    user_id: str | None,
    secret_hash: str,
    created_by: str,
    ttl: datetime.timedelta,
) -> asyncpg.Record:
    record = await conn.fetchrow(
        f"""INSERT INTO user_tokens (id, tenant_id, kind, email, role, user_id, token_hash,
                created_by, expires_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, now() + $9::interval)
            RETURNING {LINK_COLUMNS}""",  # noqa: S608
        str(uuid.uuid4()),
        tenant_id,
        kind,
        email,
        role,
        user_id,
        secret_hash,
        created_by,
        ttl,
    )
    assert record is not None
    return record


async def claim(conn: Conn, kind: str, secret_hash: str) -> asyncpg.Record | None:
    """Use a link once: the link, if it exists, is of this kind, unused, unrevoked and
    unexpired (then it is marked used, in the caller's transaction)."""
    record: asyncpg.Record | None = await conn.fetchrow(
        f"""UPDATE user_tokens SET used_at = now()
            WHERE token_hash = $1 AND kind = $2 AND used_at IS NULL AND revoked_at IS NULL
              AND expires_at > now()
            RETURNING {LINK_COLUMNS}""",  # noqa: S608
        secret_hash,
        kind,
    )
    return record


async def pending(conn: Conn, tenant_id: str, kind: str) -> list[asyncpg.Record]:
    records: list[asyncpg.Record] = await conn.fetch(
        f"""SELECT {LINK_COLUMNS} FROM user_tokens
            WHERE tenant_id = $1 AND kind = $2 AND used_at IS NULL AND revoked_at IS NULL
              AND expires_at > now()
            ORDER BY created_at DESC""",  # noqa: S608
        tenant_id,
        kind,
    )
    return records


async def revoke(conn: Conn, tenant_id: str, link_id: str) -> bool:
    done = await conn.fetchval(
        """UPDATE user_tokens SET revoked_at = now()
           WHERE tenant_id = $1 AND id = $2 AND used_at IS NULL AND revoked_at IS NULL
           RETURNING 1""",
        tenant_id,
        link_id,
    )
    return bool(done)


async def revoke_resets(conn: Conn, tenant_id: str, user_id: str) -> None:
    """Earlier reset links of a user stop working when a new one is made or used."""
    await conn.execute(
        """UPDATE user_tokens SET revoked_at = now()
           WHERE tenant_id = $1 AND user_id = $2 AND kind = 'reset' AND used_at IS NULL
             AND revoked_at IS NULL""",
        tenant_id,
        user_id,
    )
