"""One batch of validated messages stored and applied in one transaction.

A fixed number of statements whatever the batch size: the tenant lock; one insert of the
messages (duplicates vanish there, and only the returned rows are new); one merkle upsert
of the new messages' deltas; per dataset touched, one read of the current registers and one
upsert of those that moved (merged by `crdt.merge.merge_batch`, the rule every replica
runs); the conflicts found; the business events the change amounts to (the outbox, in the
same transaction); and a NOTIFY delivered on commit.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import asyncpg

from crdt.merge import Conflict, Register, merge_batch
from crdt.merkle import FlatTrie
from crdt.message import Message
from crdt.schema import login_email

from ..errors import EmailTaken, TimestampReused
from ..events import derive_events
from . import conflicts, merkle, messages, outbox, registers, users
from .common import Conn, lock_tenant


@dataclass
class ApplyOutcome:
    inserted: list[Message] = field(default_factory=list)
    applied: int = 0
    conflicts: list[Conflict] = field(default_factory=list)
    max_seq: int | None = None
    events: int = 0


async def _follow_profiles(
    conn: Conn, tenant_id: str, changed: dict[tuple[str, str, str], Register]
) -> None:
    """A profile's name and email are its user's display name and login email: when the
    LWW winner of either changes, the user's row follows (an email another account signs
    in with fails the batch: 409 `email_taken`)."""
    identity: dict[str, dict[str, str]] = {}
    for (dataset, row, column), reg in changed.items():
        if dataset == "profiles" and column in ("name", "email") and isinstance(reg.value, str):
            identity.setdefault(row, {})[column] = reg.value
    for user_id, values in sorted(identity.items()):
        if "email" in values:
            values["email"] = login_email(values["email"])
        try:
            async with conn.transaction():  # a savepoint: the error below is ours to map
                await users.set_identity(
                    conn, tenant_id, user_id, values.get("email"), values.get("name")
                )
        except asyncpg.UniqueViolationError:
            raise EmailTaken(
                f"another account signs in with {values.get('email')}", user_id=user_id
            ) from None


async def apply_messages(
    conn: Conn,
    tenant_id: str,
    user_id: str | None,
    batch: list[Message],
    senders: list[tuple[str | None, str | None]] | None = None,
    origin: str | None = None,
) -> ApplyOutcome:
    """Store and apply a validated batch in one transaction (a savepoint when the caller
    already holds one, e.g. to check an If-Match under the tenant lock first). Duplicates
    (in the batch or already stored) are ignored; only newly stored messages touch the trie
    and registers. A timestamp already stored with other content raises TimestampReused
    and nothing of the batch is kept: a message's timestamp is its identity. Each message
    records who sent it: `user_id` and the pushing node `origin`, or per message `senders`
    [(user, origin)] when a batch coalesces several pushes."""
    outcome = ApplyOutcome()
    if not batch:
        return outcome
    by_stamp = {m.timestamp: i for i, m in enumerate(batch)}
    unique = [batch[i] for i in by_stamp.values()]
    sent_by = [senders[i] if senders else (user_id, origin) for i in by_stamp.values()]
    async with conn.transaction():
        await lock_tenant(conn, tenant_id)
        returned = await messages.insert(conn, tenant_id, unique, sent_by)
        new = {r["timestamp"] for r in returned}
        if len(new) < len(unique):  # some were stored already: the same message, or not?
            reused = await messages.first_reused(
                conn, tenant_id, [m for m in unique if m.timestamp not in new]
            )
            if reused is not None:
                raise TimestampReused(
                    f"timestamp {reused} is already stored with other content", timestamp=reused
                )
        if not returned:
            return outcome
        outcome.max_seq = max(r["seq"] for r in returned)
        outcome.inserted = [m for m in unique if m.timestamp in new]

        deltas = FlatTrie()
        deltas.insert_many(m.timestamp for m in outcome.inserted)
        await merkle.add(conn, tenant_id, deltas)

        rows = {(m.dataset, m.row) for m in outcome.inserted}
        current = await registers.read(conn, tenant_id, rows)
        # With the lines' orders and the deleted orders' lines: what a delete hides.
        related = await conflicts.related(conn, tenant_id, current, outcome.inserted)
        merged = merge_batch({**current, **related}, outcome.inserted)
        outcome.applied = len(merged.applied)
        outcome.conflicts = merged.conflicts
        creators: dict[tuple[str, str], str | None] = {}
        for m, (sender, _) in zip(unique, sent_by, strict=True):
            if m.timestamp in new:  # the first message of a row in this batch, by order
                creators.setdefault((m.dataset, m.row), sender)
        await registers.write(conn, tenant_id, merged.changed, creators)
        await _follow_profiles(conn, tenant_id, merged.changed)
        if merged.conflicts:
            await conflicts.store(conn, tenant_id, user_id, merged.conflicts)
        events = derive_events(current, merged.changed)
        if events:
            await outbox.insert_events(conn, tenant_id, events)
            outcome.events = len(events)
        await outbox.notify_change(conn, tenant_id, outcome.max_seq)
    return outcome
