"""Group commit: concurrent pushes of one tenant, in this process, share one transaction.

Writes of a tenant are serialized by its lock, and each transaction pays a commit flush, so
one-transaction-per-push caps a busy tenant at a few dozen pushes per second however idle
the CPU is. Here a push joins the tenant's queue; while one transaction runs, the pushes
that arrive wait, and the next transaction takes them all. Each caller still gets its answer
only after its messages are durably committed. If a combined batch fails, each push is
retried alone, so one push's failure is never another's.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import asyncpg

from crdt.message import Message

from ..metrics import Metrics
from ..storage.apply import ApplyOutcome, apply_messages


@dataclass
class _Push:
    user_id: str | None
    origin: str | None
    messages: list[Message]
    done: asyncio.Future[ApplyOutcome] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class TenantWriter:
    def __init__(self, pool: asyncpg.Pool, metrics: Metrics | None = None) -> None:
        self.pool = pool
        self.metrics = metrics
        self.pending: dict[str, list[_Push]] = {}
        self.draining: dict[str, asyncio.Task[None]] = {}
        self.transactions = 0
        self.pushes = 0

    async def apply(
        self, tenant_id: str, user_id: str | None, origin: str | None, messages: list[Message]
    ) -> ApplyOutcome:
        if not messages:
            return ApplyOutcome()
        push = _Push(user_id, origin, messages)
        self.pending.setdefault(tenant_id, []).append(push)
        if tenant_id not in self.draining:
            self.draining[tenant_id] = asyncio.create_task(self._drain(tenant_id))
        return await asyncio.shield(push.done)

    async def _drain(self, tenant_id: str) -> None:
        try:
            while self.pending.get(tenant_id):
                group = self.pending.pop(tenant_id)
                try:
                    await self._apply_group(tenant_id, group)
                except Exception:
                    for push in group:  # alone, so one failure stays one push's
                        if push.done.done():
                            continue
                        try:
                            await self._apply_group(tenant_id, [push])
                        except Exception as exc:
                            push.done.set_exception(exc)
        finally:
            del self.draining[tenant_id]

    async def _apply_group(self, tenant_id: str, group: list[_Push]) -> None:
        messages = [m for push in group for m in push.messages]
        senders = [(push.user_id, push.origin) for push in group for _ in push.messages]
        async with self.pool.acquire() as conn:
            outcome = await apply_messages(conn, tenant_id, group[0].user_id, messages, senders)
        self.transactions += 1
        self.pushes += len(group)
        if self.metrics is not None:
            self.metrics.counters["messages_applied"] += outcome.applied
            self.metrics.counters["conflicts"] += len(outcome.conflicts)
            self.metrics.counters["write_transactions"] += 1
        new = {m.timestamp for m in outcome.inserted}
        for push in group:
            mine = ApplyOutcome(
                inserted=list(
                    {m.timestamp: m for m in push.messages if m.timestamp in new}.values()
                ),
                applied=outcome.applied if len(group) == 1 else 0,
                conflicts=outcome.conflicts if len(group) == 1 else [],
                max_seq=outcome.max_seq,
                events=outcome.events if len(group) == 1 else 0,
            )
            if not push.done.done():
                push.done.set_result(mine)
