"""Partners and products: searchable keyset lists; creation by admins (an ERP import)."""

from __future__ import annotations

import uuid_utils
from aiohttp import web

from crdt.message import Scalar

from .. import storage
from ..app import POOL, json_response, principal
from . import queries
from .common import decode_keyset_cursor, encode_cursor, parse_body, parse_query, stamp
from .models import PageQuery, Partner, PartnerIn, PartnerPage, Product, ProductIn, ProductPage
from .registry import operation

COLUMNS = {"partners": ["name", "short_name"], "products": ["name", "sku", "unit_weight"]}


async def _page(request: web.Request, dataset: str) -> dict[str, object]:
    who = principal(request)
    q = parse_query(request, PageQuery)
    after = decode_keyset_cursor(q.cursor) if q.cursor else None
    async with request.app[POOL].acquire() as conn:
        rows = await queries.catalog_page(
            conn,
            who.tenant_id,
            dataset,
            COLUMNS[dataset],
            after,
            q.limit + 1,
            q.q,
        )
    cursor = None
    if len(rows) > q.limit:
        rows = rows[: q.limit]
        cursor = encode_cursor([str(rows[-1]["name"] or ""), str(rows[-1]["id"])])
    return {"items": rows, "next_cursor": cursor}


@operation(
    "GET",
    "/api/v1/partners",
    "List partners (search with q)",
    "catalog",
    response=PartnerPage,
    query=PageQuery,
    errors=[400, 422],
)
async def list_partners(request: web.Request) -> web.Response:
    page = PartnerPage.model_validate(await _page(request, "partners"))
    return json_response(page.model_dump(mode="json"))


@operation(
    "GET",
    "/api/v1/products",
    "List products (search name or SKU with q)",
    "catalog",
    response=ProductPage,
    query=PageQuery,
    errors=[400, 422],
)
async def list_products(request: web.Request) -> web.Response:
    page = ProductPage.model_validate(await _page(request, "products"))
    return json_response(page.model_dump(mode="json"))


async def _create(request: web.Request, dataset: str, fields: dict[str, Scalar]) -> str:
    who = principal(request, admin=True)
    row = str(uuid_utils.uuid7())
    edits = [(dataset, row, c, v) for c, v in fields.items() if v is not None]
    edits.append((dataset, row, "tombstone", 0))
    async with request.app[POOL].acquire() as conn:
        await storage.apply_messages(conn, who.tenant_id, who.user_id, stamp(request, {}, edits))
    return row


@operation(
    "POST",
    "/api/v1/partners",
    "Create a partner (admin)",
    "catalog",
    status=201,
    body=PartnerIn,
    response=Partner,
    errors=[400, 403, 422],
)
async def create_partner(request: web.Request) -> web.Response:
    principal(request, admin=True)
    body = await parse_body(request, PartnerIn)
    row = await _create(request, "partners", body.model_dump(mode="json"))
    return json_response(
        Partner.model_validate({"id": row, **body.model_dump()}).model_dump(mode="json"), 201
    )


@operation(
    "POST",
    "/api/v1/products",
    "Create a product (admin)",
    "catalog",
    status=201,
    body=ProductIn,
    response=Product,
    errors=[400, 403, 422],
)
async def create_product(request: web.Request) -> web.Response:
    principal(request, admin=True)
    body = await parse_body(request, ProductIn)
    row = await _create(request, "products", body.model_dump(mode="json"))
    return json_response(
        Product.model_validate({"id": row, **body.model_dump()}).model_dump(mode="json"), 201
    )
