"""Conflicts found while applying, with both sides' values, timestamps and users, and each
user's feed of the conflicts they are party to."""

from __future__ import annotations

from typing import Any

from crdt.merge import Conflict, Register

from . import messages, users
from .common import Conn, json_text

INSERT_CONFLICTS = """
INSERT INTO conflicts (tenant_id, kind, dataset, row_id, col, winner_value, winner_ts,
    winner_user, loser_value, loser_ts, loser_user)
SELECT $1, u.k, u.ds, u.r, u.c, u.wv::jsonb, u.wts, u.wu, u.lv::jsonb, u.lts, u.lu
FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
    $8::uuid[], $9::text[], $10::text[], $11::uuid[]) AS u(k, ds, r, c, wv, wts, wu, lv, lts, lu)
"""


async def store(conn: Conn, tenant_id: str, pusher: str | None, conflicts: list[Conflict]) -> None:
    """Record conflicts, naming each side's user: a device's node maps to its user; a
    node no device registered is the server's own (REST writes, shared by every REST
    caller), whose messages are attributed to the user the log records for them."""
    nodes = {c.winner.node for c in conflicts} | {c.loser.node for c in conflicts}
    owners = await users.node_owners(conn, tenant_id, list(nodes))
    unowned = [
        side.timestamp for c in conflicts for side in (c.winner, c.loser) if side.node not in owners
    ]
    senders = await messages.users_of(conn, tenant_id, unowned)

    def owner(side: Register) -> str | None:
        return owners.get(side.node) or senders.get(side.timestamp, pusher)

    await conn.execute(
        INSERT_CONFLICTS,
        tenant_id,
        [c.kind for c in conflicts],
        [c.dataset for c in conflicts],
        [c.row for c in conflicts],
        [c.column for c in conflicts],
        [json_text(c.winner.value) for c in conflicts],
        [c.winner.timestamp for c in conflicts],
        [owner(c.winner) for c in conflicts],
        [json_text(c.loser.value) for c in conflicts],
        [c.loser.timestamp for c in conflicts],
        [owner(c.loser) for c in conflicts],
    )


async def for_user(
    conn: Conn, tenant_id: str, user_id: str, after_id: int, limit: int = 200
) -> tuple[list[dict[str, Any]], int]:
    """This user's conflicts after `after_id`, and the tenant's newest conflict id, in one
    statement (one snapshot). Within a tenant, conflict ids commit in order (writes hold the
    tenant lock), so every conflict committed later has a larger id: a client that saw
    everything up to that id may start its next query after it. Without that, a rep who is
    never party to a conflict would rescan them all on every sync."""
    records = await conn.fetch(
        """WITH latest AS (
               SELECT coalesce(max(id), 0) AS id FROM conflicts WHERE tenant_id = $1)
           SELECT l.id AS latest, c.* FROM latest l LEFT JOIN LATERAL (
               SELECT c.id, c.kind, c.dataset, c.row_id, c.col, c.winner_value, c.winner_ts,
                      c.winner_user, wu.display_name AS winner_name, c.loser_value,
                      c.loser_ts, c.loser_user, lu.display_name AS loser_name, c.detected_at
               FROM conflicts c
               LEFT JOIN users wu ON wu.id = c.winner_user
               LEFT JOIN users lu ON lu.id = c.loser_user
               WHERE c.tenant_id = $1 AND c.id > $3 AND c.id <= l.id
                 AND (c.winner_user = $2 OR c.loser_user = $2)
               ORDER BY c.id LIMIT $4) c ON true
           ORDER BY c.id""",
        tenant_id,
        user_id,
        after_id,
        limit,
    )
    latest = int(records[0]["latest"]) if records else 0
    return [
        {
            "id": r["id"],
            "kind": r["kind"],
            "dataset": r["dataset"],
            "row": r["row_id"],
            "column": r["col"],
            "winner": {
                "value": r["winner_value"],
                "timestamp": r["winner_ts"],
                "user_id": str(r["winner_user"]) if r["winner_user"] else None,
                "user_name": r["winner_name"],
            },
            "loser": {
                "value": r["loser_value"],
                "timestamp": r["loser_ts"],
                "user_id": str(r["loser_user"]) if r["loser_user"] else None,
                "user_name": r["loser_name"],
            },
            "detected_at": r["detected_at"].isoformat(),
            "yours": "loser" if str(r["loser_user"]) == user_id else "winner",
        }
        for r in records
        if r["id"] is not None
    ], latest
