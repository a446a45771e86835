"""Partners and products: searchable keyset lists; creation by admins (an ERP import)."""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel

from ..httpio import caller, json_response, parse_body, parse_query
from ..keys import POOL, RECORDS
from ..models import PageQuery, Partner, PartnerIn, PartnerPage, Product, ProductIn, ProductPage
from ..operations import ADMINS, operation
from ..services.records import CATALOG_COLUMNS
from ..storage import records
from .cursors import decode_keyset_cursor, encode_cursor


async def _page(request: web.Request, dataset: str) -> dict[str, object]:
    q = parse_query(request, PageQuery)
    after = decode_keyset_cursor(q.cursor) if q.cursor else None
    async with request.app[POOL].acquire() as conn:
        rows = await records.catalog_page(
            conn,
            caller(request).tenant_id,
            dataset,
            CATALOG_COLUMNS[dataset],
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


async def _create(
    request: web.Request, dataset: str, body: BaseModel, shown: type[BaseModel]
) -> web.Response:
    who = caller(request)
    fields = body.model_dump(mode="json")
    row = await request.app[RECORDS].create_catalog_row(who, dataset, fields)
    document = shown.model_validate({"id": row, **body.model_dump()})
    return json_response(document.model_dump(mode="json"), 201)


@operation(
    "POST",
    "/api/v1/partners",
    "Create a partner",
    "catalog",
    status=201,
    body=PartnerIn,
    response=Partner,
    errors=[400, 422],
    roles=ADMINS,
)
async def create_partner(request: web.Request) -> web.Response:
    return await _create(request, "partners", await parse_body(request, PartnerIn), Partner)


@operation(
    "POST",
    "/api/v1/products",
    "Create a product",
    "catalog",
    status=201,
    body=ProductIn,
    response=Product,
    errors=[400, 422],
    roles=ADMINS,
)
async def create_product(request: web.Request) -> web.Response:
    return await _create(request, "products", await parse_body(request, ProductIn), Product)
