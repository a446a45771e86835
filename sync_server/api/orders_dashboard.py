"""The orders dashboard over Airtable at the seed 002 document's own paths (camelCase, as the
dashboard reads it): `/api/orders/summary`, `/api/orders/sync`, `PATCH /api/orders/{id}`,
`/api/orders?page=&pageSize=`. Thin over `services.orders_dashboard`, which says how the
summary is cached and kept fresh. Its documents are declared here: they are this API's
alone."""

from __future__ import annotations

import datetime
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ..httpio import caller, json_response, parse_body, parse_query
from ..keys import ORDERS_DASHBOARD
from ..models import Priority, Status, Strict
from ..operations import Header, operation


class StatusFigure(BaseModel):
    status: Status
    count: int
    totalCents: int = Field(description="sum of the orders' totals, in cents")


class PriorityFigure(BaseModel):
    priority: Priority
    count: int


class DayFigure(BaseModel):
    date: datetime.date
    count: int = Field(description="orders created that UTC day")


class OrdersSummary(BaseModel):
    totalOrders: int
    totalCents: int
    byStatus: list[StatusFigure] = Field(description="every status, zeros included")
    byPriority: list[PriorityFigure]
    perDay: list[DayFigure] = Field(description="the last 30 UTC days, oldest first")
    generatedAt: datetime.datetime
    version: int = Field(description="the tenant's change sequence the figures are of")


class DashboardOrder(BaseModel):
    id: str = Field(description="Recap's id")
    airtableRecordId: str | None = Field(description="the linked Airtable record")
    orderId: str | None = Field(description="the linked record's Order ID")
    customer: str | None
    status: Status | None
    priority: Priority | None
    totalCents: int | None
    createdAt: str | None
    updatedAt: str | None
    version: int


class DashboardOrderPage(BaseModel):
    items: list[DashboardOrder]
    page: int
    pageSize: int
    total: int = Field(description="orders in all pages")


class DashboardOrdersQuery(Strict):
    page: int = Field(default=1, ge=1, le=1_000_000, description="1-based")
    pageSize: int = Field(default=50, ge=1, le=200)

    model_config = ConfigDict(extra="forbid")


class DashboardOrderPatch(Strict):
    """Status and/or priority; Airtable's title case (`Shipped`, `High`) is accepted."""

    status: Status | None = None
    priority: Priority | None = None

    @field_validator("status", "priority", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _something(self) -> DashboardOrderPatch:
        if self.status is None and self.priority is None:
            raise ValueError("give status and/or priority")
        return self


@operation(
    "GET",
    "/api/orders/summary",
    "Orders and order totals by status, orders by priority, orders created per day (30 days)",
    "orders dashboard",
    response=OrdersSummary,
)
async def dashboard_summary(request: web.Request) -> web.Response:
    body = await request.app[ORDERS_DASHBOARD].summary(caller(request).tenant_id)
    response = json_response(body)
    response.headers["Cache-Control"] = "private, max-age=0"
    return response


@operation(
    "POST",
    "/api/orders/sync",
    "Import from Airtable now (joining a run under way), then the summary",
    "orders dashboard",
    response=OrdersSummary,
    errors=[404, 502],
)
async def dashboard_sync(request: web.Request) -> web.Response:
    body = await request.app[ORDERS_DASHBOARD].sync(caller(request).tenant_id)
    return json_response(body)


@operation(
    "PATCH",
    "/api/orders/{id}",
    "Change an order's status and/or priority (by Recap id, Airtable record id or Order ID)",
    "orders dashboard",
    body=DashboardOrderPatch,
    response=DashboardOrder,
    headers=[Header("If-Match", False, "Optional: the order's version, as its ETag gives it")],
    errors=[400, 403, 404, 409, 422],
    response_headers={"ETag": "The new version"},
)
async def dashboard_patch_order(request: web.Request) -> web.Response:
    body = await parse_body(request, DashboardOrderPatch)
    changes: dict[str, Any] = body.model_dump(exclude_none=True)
    order = await request.app[ORDERS_DASHBOARD].patch(
        caller(request),
        request.match_info["id"],
        changes,
        request.headers.get("If-Match"),
    )
    return json_response(order, ETag=f'"{order["version"]}"')


@operation(
    "GET",
    "/api/orders",
    "A page of orders, newest first (page numbers, 1-based)",
    "orders dashboard",
    query=DashboardOrdersQuery,
    response=DashboardOrderPage,
    errors=[422],
)
async def dashboard_list_orders(request: web.Request) -> web.Response:
    q = parse_query(request, DashboardOrdersQuery)
    body = await request.app[ORDERS_DASHBOARD].page(caller(request).tenant_id, q.page, q.pageSize)
    return json_response(body)
