"""The business-event feed (the transactional outbox, read by integrations) and the
per-tenant webhook the relay delivers it to."""

from __future__ import annotations

from aiohttp import web

from ..app import POOL, json_response, principal
from .common import parse_body, parse_query
from .models import EventPage, EventQuery, WebhookIn, WebhookOut
from .registry import operation


@operation(
    "GET",
    "/api/v1/events",
    "Business events after an id (the outbox feed)",
    "events",
    response=EventPage,
    query=EventQuery,
    errors=[422],
)
async def list_events(request: web.Request) -> web.Response:
    who = principal(request)
    q = parse_query(request, EventQuery)
    async with request.app[POOL].acquire() as conn:
        records = await conn.fetch(
            """SELECT id, event_type AS type, aggregate_id, payload, created_at, published_at
               FROM outbox WHERE tenant_id = $1 AND id > $2 ORDER BY id LIMIT $3""",
            who.tenant_id,
            q.after,
            q.limit,
        )
    items = [dict(r) for r in records]
    page = EventPage.model_validate(
        {"items": items, "next_after": items[-1]["id"] if items else q.after}
    )
    return json_response(page.model_dump(mode="json"))


@operation(
    "GET",
    "/api/v1/settings/webhook",
    "The tenant's webhook URL (admin)",
    "events",
    response=WebhookOut,
    errors=[403],
)
async def get_webhook(request: web.Request) -> web.Response:
    who = principal(request, admin=True)
    async with request.app[POOL].acquire() as conn:
        url = await conn.fetchval(
            "SELECT webhook_url FROM tenant_settings WHERE tenant_id = $1", who.tenant_id
        )
    return json_response({"url": url})


@operation(
    "PUT",
    "/api/v1/settings/webhook",
    "Set or clear the tenant's webhook URL (admin)",
    "events",
    body=WebhookIn,
    response=WebhookOut,
    errors=[400, 403, 422],
)
async def put_webhook(request: web.Request) -> web.Response:
    who = principal(request, admin=True)
    body = await parse_body(request, WebhookIn)
    async with request.app[POOL].acquire() as conn:
        await conn.execute(
            """INSERT INTO tenant_settings (tenant_id, webhook_url) VALUES ($1, $2)
               ON CONFLICT (tenant_id) DO UPDATE SET webhook_url = EXCLUDED.webhook_url""",
            who.tenant_id,
            body.url,
        )
    return json_response({"url": body.url})
