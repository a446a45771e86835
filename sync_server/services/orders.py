"""The Orders API of the seed 004 document (`/orders`), over the same pre-orders, writes
and reads as `/api/v1/preorders`.

An "order" there is a pre-order here; its "draft" is our `pending` (shown as "draft" both
ways at these paths, the other statuses as they are), its `tenantId` the caller's tenant
slug (migration 0015), its `version` the record's integer version. Every write is messages
from the server's node through `apply_messages`, like any REST write (`Records._write`: the
roles' rules, replication to the reps' devices, the derived events), under the tenant lock
in one transaction with its checks:

- create: a draft (pending, medium priority, no partner, no delivery date), once per
  Idempotency-Key for IDEMPOTENCY_TTL (the document's hour);
- confirm: a draft's total and its `confirmed` status in one batch, so one version more;
- close: `confirmed` -> `closed`, and in the same transaction one `orders.closed` outbox row
  with the document's payload `{orderId, tenantId, totalCents, closedAt}`. The apply path
  also derives its generic status-change event for the change, as for any other writer.
"""

from __future__ import annotations

import datetime
import hashlib
from typing import Any

import orjson
import uuid_utils

from crdt.merge import Register

from ..auth import Principal
from ..clock import Edit
from ..errors import Forbidden, InvalidTransition, NotFound
from ..events import Event
from ..storage import idempotency, outbox, records, users
from ..storage.common import Conn, lock_tenant
from .records import Records, _order_registers, page_documents, read, replay
from .versions import check_if_match

#: How long a create's Idempotency-Key is remembered: the document's "for 1 hour".
IDEMPOTENCY_TTL = datetime.timedelta(hours=1)
CLOSED_EVENT = "orders.closed"
#: What an order can become at these paths (the document's lifecycle).
NEXT = {"pending": ["confirmed"], "confirmed": ["closed"]}


def shown_status(status: str | None) -> str | None:
    """A status as these paths show it: pending is the document's draft."""
    return "draft" if status == "pending" else status


def order_document(doc: dict[str, Any], slug: str) -> dict[str, Any]:
    """A pre-order (`records.read`'s or `page_documents`' shape) as the Orders API shows
    it: camelCase, the tenant's slug, draft for pending."""
    return {
        "id": doc["id"],
        "tenantId": slug,
        "status": shown_status(doc["status"]),
        "version": doc["version"],
        "totalCents": doc["total_cents"],
        "priority": doc["priority"],
        "partnerId": doc["partner_id"],
        "deliveryDate": doc["delivery_date"],
        "createdAt": doc["created_at"],
        "updatedAt": doc["updated_at"],
    }


def _require_status(regs: dict[str, Register], wanted: str, becoming: str) -> None:
    """409 `invalid_transition` unless the order's status is `wanted` (the document's
    only moves: draft -> confirmed, confirmed -> closed)."""
    reg = regs.get("status")
    now = shown_status(str(reg.value)) if reg is not None else None
    if reg is None or reg.value != wanted:
        raise InvalidTransition(
            f"only a {shown_status(wanted)} order can be {becoming}; this one is {now}",
            status=now,
            allowed=NEXT.get(str(reg.value), []) if reg is not None else [],
        )


class Orders(Records):
    """The Orders API's writes and reads (a Records: its pool, clock and write path)."""

    async def _slug(self, conn: Conn, tenant_id: str) -> str:
        slug = await users.tenant_slug(conn, tenant_id)
        if slug is None:  # a token outlives no tenant, but say so rather than crash
            raise NotFound("no such tenant")
        return slug

    async def create(
        self, who: Principal, key: str, tenant_given: str
    ) -> tuple[dict[str, Any], bool]:
        """A draft order, once per key: the answer and whether it replays an earlier one.
        The key is looked up first, within the caller's tenant: a key already used with
        another body is the document's 409 `conflict`, whatever that body says (the
        document's own test sends another `tenantId`). A `tenantId` other than the
        caller's tenant slug with a new key is 403, with nothing written. The key's request
        hash covers the path, so a key used on `/api/v1/preorders` is not replayed here."""
        tenant = who.tenant_id
        digest = hashlib.sha256(
            orjson.dumps({"create": "/orders", "tenantId": tenant_given})
        ).hexdigest()
        async with self.pool.acquire() as conn, conn.transaction():
            slug = await self._slug(conn, tenant)
            await lock_tenant(conn, tenant)
            prior = await replay(conn, tenant, key, digest, IDEMPOTENCY_TTL)
            if prior is not None:
                return prior, True
            if tenant_given != slug:
                raise Forbidden(f"tenantId must be your tenant's ({slug!r})")
            order_id = str(uuid_utils.uuid7())
            created = self.created_at()
            edits: list[Edit] = [
                ("pre_orders", order_id, "status", "pending"),
                ("pre_orders", order_id, "priority", "medium"),
                ("pre_orders", order_id, "created_at", created),
                ("pre_orders", order_id, "tombstone", 0),
            ]
            await self._write(conn, who, {}, edits)
            doc = await read(conn, tenant, order_id)
            response = {
                "id": doc["id"],
                "tenantId": slug,
                "status": shown_status(doc["status"]),
                "version": doc["version"],
                "createdAt": doc["created_at"],
            }
            await idempotency.save(conn, tenant, key, digest, 201, response)
        return response, False

    async def confirm(
        self, who: Principal, order_id: str, total_cents: int, if_match: str | None
    ) -> dict[str, Any]:
        """draft -> confirmed with its total, in one batch (one version more). If-Match
        is required; a stale one is 409 "stale version"; a non-draft 409 invalid_transition."""
        tenant = who.tenant_id
        async with self.pool.acquire() as conn, conn.transaction():
            await lock_tenant(conn, tenant)
            regs, version = await _order_registers(conn, tenant, order_id)
            check_if_match(if_match, version)
            _require_status(regs, "pending", "confirmed")
            edits: list[Edit] = [
                ("pre_orders", order_id, "status", "confirmed"),
                ("pre_orders", order_id, "total_cents", total_cents),
            ]
            await self._write(conn, who, {("pre_orders", order_id): regs}, edits)
            doc = await read(conn, tenant, order_id)
            return order_document(doc, await self._slug(conn, tenant))

    async def close(self, who: Principal, order_id: str, if_match: str | None) -> dict[str, Any]:
        """confirmed -> closed and its `orders.closed` outbox row, in one transaction.
        If-Match is honoured when given."""
        tenant = who.tenant_id
        async with self.pool.acquire() as conn, conn.transaction():
            await lock_tenant(conn, tenant)
            regs, version = await _order_registers(conn, tenant, order_id)
            if if_match is not None:
                check_if_match(if_match, version)
            _require_status(regs, "confirmed", "closed")
            edits: list[Edit] = [("pre_orders", order_id, "status", "closed")]
            await self._write(conn, who, {("pre_orders", order_id): regs}, edits)
            doc = await read(conn, tenant, order_id)
            slug = await self._slug(conn, tenant)
            payload = {
                "orderId": order_id,
                "tenantId": slug,
                "totalCents": doc["total_cents"],
                "closedAt": doc["updated_at"],  # the close's own stamp: its latest field
            }
            await outbox.insert_events(conn, tenant, [Event(CLOSED_EVENT, order_id, payload)])
        return {"id": order_id, "status": "closed", "version": doc["version"]}

    async def page(
        self, tenant: str, after: tuple[str, str] | None, limit: int
    ) -> tuple[list[dict[str, Any]], tuple[str, str] | None]:
        """One keyset page, newest first by (created_at, id) (`storage.records.preorder_page`,
        one statement, so stable under concurrent inserts), and the next cursor's key."""
        async with self.pool.acquire() as conn:
            rows = await records.preorder_page(conn, tenant, records.PageFilter(), after, limit)
            docs, last = page_documents(rows, limit)
            slug = await self._slug(conn, tenant)
        return [order_document(d, slug) for d in docs], last
