"""Sessions kept on the server: a token names its session, and every request reads the
session's state (and its user's and device's) in one statement, so an ended session is
refused at its next request, in every process."""

from __future__ import annotations

import datetime
import uuid
from dataclasses import dataclass

import orjson

from .common import Conn
from .outbox import NOTIFY_CHANNEL

#: Why a session ended (`sessions.ended_reason`).
ENDED_REASONS = ("signed_out", "password_changed", "role_changed", "deactivated", "device_revoked")


@dataclass(frozen=True, slots=True)
class SessionState:
    user_id: str
    tenant_id: str
    role: str
    active: bool
    ended_reason: str | None
    expired: bool
    device_revoked: bool


async def create(
    conn: Conn, tenant_id: str, user_id: str, ttl_s: int, user_agent: str | None
) -> str:
    session_id = str(uuid.uuid4())
    await conn.execute(
        """INSERT INTO sessions (id, tenant_id, user_id, expires_at, user_agent)
           VALUES ($1, $2, $3, now() + $4::interval, $5)""",
        session_id,
        tenant_id,
        user_id,
        datetime.timedelta(seconds=ttl_s),
        (user_agent or "")[:300] or None,
    )
    return session_id


async def state(conn: Conn, session_id: str) -> SessionState | None:
    """The session, its user's role and standing, and whether the device it last synced
    was revoked; None for an unknown session."""
    record = await conn.fetchrow(
        """SELECT s.user_id::text, s.tenant_id::text, u.role, u.active, s.ended_reason,
                  s.expires_at <= now() AS expired,
                  coalesce(n.revoked_at IS NOT NULL, false) AS device_revoked
           FROM sessions s JOIN users u ON u.id = s.user_id AND u.tenant_id = s.tenant_id
           LEFT JOIN nodes n ON n.tenant_id = s.tenant_id AND n.node = s.node
           WHERE s.id = $1""",
        session_id,
    )
    return SessionState(*record) if record else None


async def bind_node(conn: Conn, session_id: str, node: str) -> None:
    """Remember the device this session syncs (a revoked device ends its sessions)."""
    await conn.execute(
        "UPDATE sessions SET node = $2 WHERE id = $1 AND node IS DISTINCT FROM $2",
        session_id,
        node,
    )


async def end(conn: Conn, session_id: str, reason: str) -> None:
    ended = await conn.fetch(
        """UPDATE sessions SET ended_at = now(), ended_reason = $2
           WHERE id = $1 AND ended_at IS NULL RETURNING id::text, tenant_id::text""",
        session_id,
        reason,
    )
    for row in ended:
        await _notify_ended(conn, row["tenant_id"], [row["id"]], reason)


async def end_for_user(
    conn: Conn, tenant_id: str, user_id: str, reason: str, keep: str | None = None
) -> int:
    """End every open session of a user (but `keep`); how many."""
    ended = await conn.fetch(
        """UPDATE sessions SET ended_at = now(), ended_reason = $3
           WHERE tenant_id = $1 AND user_id = $2 AND ended_at IS NULL
             AND id IS DISTINCT FROM $4::uuid
           RETURNING id::text""",
        tenant_id,
        user_id,
        reason,
        keep,
    )
    await _notify_ended(conn, tenant_id, [r["id"] for r in ended], reason)
    return len(ended)


async def end_for_node(conn: Conn, tenant_id: str, node: str) -> None:
    ended = await conn.fetch(
        """UPDATE sessions SET ended_at = now(), ended_reason = 'device_revoked'
           WHERE tenant_id = $1 AND node = $2 AND ended_at IS NULL RETURNING id::text""",
        tenant_id,
        node,
    )
    await _notify_ended(conn, tenant_id, [r["id"] for r in ended], "device_revoked")


async def _notify_ended(conn: Conn, tenant_id: str, session_ids: list[str], reason: str) -> None:
    """Tell every process (on commit) that these sessions ended, so each closes their live
    sockets at once rather than at the device's next request."""
    if session_ids:
        await conn.execute(
            "SELECT pg_notify($1, $2)",
            NOTIFY_CHANNEL,
            orjson.dumps({"tenant": tenant_id, "ended": session_ids, "reason": reason}).decode(),
        )
