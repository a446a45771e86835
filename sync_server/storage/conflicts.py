"""Conflicts found while applying, with both sides' values, timestamps and users, and each
user's feed of the conflicts they are party to, with their say on each (dismissed or
resolved), which every device of theirs shows."""

from __future__ import annotations

from typing import Any, Literal

from crdt.merge import LINES, ORDERS, PARENT, TOMBSTONE, Conflict, Register, related_rows
from crdt.message import Message
from crdt.schema import DATASETS

from . import messages, outbox, registers, users
from .common import Conn, json_text, lock_tenant

State = Literal["dismissed", "resolved"]
RowKey = tuple[str, str]

SELECT_LINES_OF = (
    f"SELECT id::text AS id, {', '.join(f'{c}, {c}_ts' for c in DATASETS[LINES])} "  # noqa: S608
    f"FROM {LINES} WHERE tenant_id = $1 AND {PARENT} = ANY($2::uuid[])"
)


async def related(
    conn: Conn,
    tenant_id: str,
    current: dict[RowKey, dict[str, Register]],
    inserted: list[Message],
) -> dict[RowKey, dict[str, Register]]:
    """The registers `merge_batch` needs besides the touched rows (`current`), to tell the
    line edits a pre-order's delete hides: the orders of the lines the batch edits, and
    the lines of the orders it deletes (`crdt.merge.related_rows`). At most two reads, only
    when the batch has lines or deletes orders."""
    parents, deleted = related_rows(current, inserted)
    wanted = {("pre_orders", p) for p in parents} - current.keys()
    out = await registers.read(conn, tenant_id, wanted) if wanted else {}
    if deleted:
        for record in await conn.fetch(SELECT_LINES_OF, tenant_id, sorted(deleted)):
            key = (LINES, record["id"])
            if key not in current:
                out[key] = registers.registers_of_record(record, LINES)
    return out


#: Feed positions come from the tenant's counter (migration 0019), bumped by the statement
#: that writes them: commit order within the tenant, without gaps.
NEXT_POSITIONS = """
UPDATE tenant_sequences SET conflicts = conflicts + cardinality($2::text[])
WHERE tenant_id = $1
RETURNING conflicts - cardinality($2::text[]) AS base
"""

INSERT_CONFLICTS = f"""
WITH counter AS ({NEXT_POSITIONS})
INSERT INTO conflicts (tenant_id, seq, kind, dataset, row_id, col, winner_value, winner_ts,
    winner_user, loser_value, loser_ts, loser_user)
SELECT $1, c.base + u.n, u.k, u.ds, u.r, u.c, u.wv::jsonb, u.wts, u.wu, u.lv::jsonb, u.lts,
    u.lu
FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
    $8::uuid[], $9::text[], $10::text[], $11::uuid[])
    WITH ORDINALITY AS u(k, ds, r, c, wv, wts, wu, lv, lts, lu, n)
CROSS JOIN counter c
"""  # noqa: S608 (constants only)


def _as_sent(value: object) -> object:
    """A value as a client sent it: a register read back from a double precision column
    (a quantity, a weight) is a float even when it was sent as 10; JSON has one number
    type, so a whole float is stored as the integer (10, not 10.0) in the notice."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


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

    await _insert(
        conn,
        INSERT_CONFLICTS,
        tenant_id,
        [c.kind for c in conflicts],
        [c.dataset for c in conflicts],
        [c.row for c in conflicts],
        [c.column for c in conflicts],
        [json_text(_as_sent(c.winner.value)) for c in conflicts],
        [c.winner.timestamp for c in conflicts],
        [owner(c.winner) for c in conflicts],
        [json_text(_as_sent(c.loser.value)) for c in conflicts],
        [c.loser.timestamp for c in conflicts],
        [owner(c.loser) for c in conflicts],
    )


async def latest(conn: Conn, tenant_id: str) -> int:
    """The tenant's newest feed position (0 with no conflicts)."""
    return int(
        await conn.fetchval(
            "SELECT coalesce(max(seq), 0) FROM conflicts WHERE tenant_id = $1", tenant_id
        )
    )


async def for_user(
    conn: Conn, tenant_id: str, user_id: str, after_id: int, limit: int = 200
) -> tuple[list[dict[str, Any]], int]:
    """This user's conflicts after `after_id` in the feed's order (`seq`: a notice's place
    moves up when a party's state on it changes, so it comes again), and the tenant's
    newest feed position, in one statement (one snapshot). Within a tenant, positions
    commit in order (every writer holds the tenant lock), so everything committed later
    has a larger one: a client that saw everything up to it may start its next query
    after it. Without that, a rep who is never party to a conflict would rescan them all on
    every sync."""
    records = await conn.fetch(
        """WITH latest AS (
               SELECT coalesce(max(seq), 0) AS seq FROM conflicts WHERE tenant_id = $1)
           SELECT l.seq AS latest, c.* FROM latest l LEFT JOIN LATERAL (
               SELECT c.id, c.seq, c.kind, c.dataset, c.row_id, c.col, c.winner_value,
                      c.winner_ts, c.winner_user, wu.display_name AS winner_name,
                      c.loser_value, c.loser_ts, c.loser_user, lu.display_name AS loser_name,
                      c.detected_at, c.winner_state, c.loser_state
               FROM conflicts c
               LEFT JOIN users wu ON wu.id = c.winner_user
               LEFT JOIN users lu ON lu.id = c.loser_user
               WHERE c.tenant_id = $1 AND c.seq > $3 AND c.seq <= l.seq
                 AND (c.winner_user = $2 OR c.loser_user = $2)
               ORDER BY c.seq LIMIT $4) c ON true
           ORDER BY c.seq""",
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
            "seq": r["seq"],
            "state": r["loser_state"] if str(r["loser_user"]) == user_id else r["winner_state"],
        }
        for r in records
        if r["id"] is not None
    ], latest


async def set_states(
    conn: Conn, tenant_id: str, user_id: str, dismissed: list[int], resolved: list[int]
) -> int:
    """Record this user's say on conflicts they are party to (others' are ignored):
    `dismissed`, or `resolved` (only the loser's: they re-applied their value; it outranks
    a dismissal). A change moves the notice up the feed, so every device of the user gets
    it again with its state. A newly resolved notice tells the rep whose value the
    re-apply replaced: a `reapplied` notice, already dismissed on the re-applier's side.
    Returns how many notices changed; live devices are told on commit. Under the tenant
    lock: feed positions commit in order."""
    async with conn.transaction():
        await lock_tenant(conn, tenant_id)
        changed = await conn.fetch(
            """WITH wanted AS (
                   SELECT DISTINCT ON (u.id) u.id, u.state FROM unnest($3::bigint[], $4::text[])
                       AS u(id, state) ORDER BY u.id, u.state DESC)
               UPDATE conflicts c SET
                   loser_state = CASE WHEN c.loser_user = $2
                       AND c.loser_state IS DISTINCT FROM 'resolved'
                       THEN w.state ELSE c.loser_state END,
                   winner_state = CASE WHEN c.loser_user IS DISTINCT FROM $2
                       AND w.state = 'dismissed' THEN 'dismissed' ELSE c.winner_state END
               FROM wanted w
               WHERE c.tenant_id = $1 AND c.id = w.id
                 AND CASE WHEN c.loser_user = $2
                     THEN c.loser_state IS DISTINCT FROM 'resolved'
                         AND c.loser_state IS DISTINCT FROM w.state
                     ELSE c.winner_user = $2 AND w.state = 'dismissed'
                         AND c.winner_state IS NULL END
               RETURNING c.id, c.kind, c.dataset, c.row_id, c.col, c.loser_state,
                   c.winner_value, c.winner_ts, c.winner_user, c.loser_value, c.loser_ts""",
            tenant_id,
            user_id,
            [*dismissed, *resolved],
            ["dismissed"] * len(dismissed) + ["resolved"] * len(resolved),
        )
        if changed:  # a changed notice moves to the end of the feed, in the counter's order
            ids = sorted(r["id"] for r in changed)
            await conn.execute(
                """WITH counter AS (
                       UPDATE tenant_sequences SET conflicts = conflicts + cardinality($2::bigint[])
                       WHERE tenant_id = $1
                       RETURNING conflicts - cardinality($2::bigint[]) AS base)
                   UPDATE conflicts x SET seq = c.base + u.n
                   FROM unnest($2::bigint[]) WITH ORDINALITY AS u(id, n) CROSS JOIN counter c
                   WHERE x.tenant_id = $1 AND x.id = u.id""",
                tenant_id,
                ids,
            )
        told = [
            r
            for r in changed
            if r["loser_state"] == "resolved"
            and r["winner_user"] is not None
            and str(r["winner_user"]) != user_id
        ]
        if told:
            await _tell_replaced(conn, tenant_id, user_id, told)
        if changed:  # the user's other devices (and a told rep's) sync now, not in 30 s
            await outbox.notify_change(conn, tenant_id, None)
        return len(changed)


async def _tell_replaced(conn: Conn, tenant_id: str, user_id: str, told: list[Any]) -> None:
    """A `reapplied` notice for each re-apply's replaced rep: on the field put back, or, for
    an edit lost to a delete, on the row brought back (the order, or the line deleted on
    its own), once per row. The winner's stamp is the field's register now (the re-apply,
    synced before its resolve is sent), else the value's own."""
    rows = {(r["dataset"], r["row_id"]) for r in told}
    now = await registers.read(conn, tenant_id, rows)
    notices: dict[tuple[str, str, str], tuple[Any, Any, Any]] = {}
    for r in told:
        regs = now.get((r["dataset"], r["row_id"]), {})
        key, value = (r["dataset"], r["row_id"], r["col"]), r["loser_value"]
        if r["kind"] == "deleted":
            own = regs.get(TOMBSTONE)
            parent = regs.get(PARENT)
            if r["dataset"] == LINES and (own is None or own.timestamp != r["winner_ts"]):
                key = (ORDERS, str(parent.value) if parent is not None else r["row_id"], TOMBSTONE)
            else:
                key = (r["dataset"], r["row_id"], TOMBSTONE)
            value = 0
        notices.setdefault(key, (value, r["winner_value"], r))
    if any(ds == ORDERS for ds, _, _ in notices):
        now.update(await registers.read(conn, tenant_id, {(ds, row) for ds, row, _ in notices}))
    items = sorted(notices.items())

    def stamp(key: tuple[str, str, str], r: Any) -> str:
        reg = now.get((key[0], key[1]), {}).get(key[2])
        return reg.timestamp if reg is not None else str(r["loser_ts"])

    await _insert(
        conn,
        f"""WITH counter AS ({NEXT_POSITIONS})
           INSERT INTO conflicts (tenant_id, seq, kind, dataset, row_id, col, winner_value,
               winner_ts, winner_user, winner_state, loser_value, loser_ts, loser_user)
           SELECT $1, c.base + u.n, 'reapplied', u.ds, u.r, u.c, u.wv::jsonb, u.wts, $10::uuid,
               'dismissed', u.lv::jsonb, u.lts, u.lu
           FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
               $7::text[], $8::text[], $9::uuid[])
               WITH ORDINALITY AS u(ds, r, c, wv, wts, lv, lts, lu, n)
           CROSS JOIN counter c""",  # noqa: S608 (constants only)
        tenant_id,
        [k[0] for k, _ in items],
        [k[1] for k, _ in items],
        [k[2] for k, _ in items],
        [json_text(v[0]) for _, v in items],
        [stamp(k, v[2]) for k, v in items],
        [json_text(v[1]) for _, v in items],
        [v[2]["winner_ts"] for _, v in items],
        [v[2]["winner_user"] for _, v in items],
        user_id,
    )


async def _insert(conn: Conn, sql: str, tenant_id: str, *arrays: Any) -> None:
    """Run an insert of notices numbered from the tenant's counter (`$2` is its first
    array); a tenant without its counter row yet (the insert then writes nothing) gets it."""
    expected = f"INSERT 0 {len(arrays[0])}"
    if arrays[0] and await conn.execute(sql, tenant_id, *arrays) != expected:
        await lock_tenant(conn, tenant_id)
        await conn.execute(sql, tenant_id, *arrays)
