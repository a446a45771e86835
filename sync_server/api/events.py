"""The business-event feed (the transactional outbox, read by integrations) and the
per-tenant webhook the relay delivers it to."""

from __future__ import annotations

from aiohttp import web

from ..httpio import caller, json_response, parse_body, parse_query
from ..keys import POOL, SETTINGS
from ..models import EventPage, EventQuery, WebhookIn, WebhookOut
from ..operations import ADMINS, operation
from ..services import webhooks
from ..storage import outbox


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
    q = parse_query(request, EventQuery)
    async with request.app[POOL].acquire() as conn:
        items = await outbox.events_after(conn, caller(request).tenant_id, q.after, q.limit)
    page = EventPage.model_validate(
        {"items": items, "next_after": items[-1]["id"] if items else q.after}
    )
    return json_response(page.model_dump(mode="json"))


@operation(
    "GET",
    "/api/v1/settings/webhook",
    "The tenant's webhook URL",
    "events",
    response=WebhookOut,
    roles=ADMINS,
)
async def get_webhook(request: web.Request) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        url = await outbox.webhook(conn, caller(request).tenant_id)
    return json_response({"url": url})


@operation(
    "PUT",
    "/api/v1/settings/webhook",
    "Set or clear the tenant's webhook URL",
    "events",
    body=WebhookIn,
    response=WebhookOut,
    errors=[400, 422],
    roles=ADMINS,
)
async def put_webhook(request: web.Request) -> web.Response:
    body = await parse_body(request, WebhookIn)
    if body.url is not None:
        await webhooks.check_target(
            body.url, webhooks.allow_list(request.app[SETTINGS].webhook_allow)
        )
    async with request.app[POOL].acquire() as conn:
        await outbox.set_webhook(conn, caller(request).tenant_id, body.url)
    return json_response({"url": body.url})
