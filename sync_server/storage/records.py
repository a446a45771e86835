"""The REST API's reads: live pre-orders with their flows, keyset pages of pre-orders,
partners and products. Each record carries its `version` (an integer the apply path counts
up) and `updated_at`, when its latest field was written (the wall-clock part of the
latest timestamp among its fields)."""

from __future__ import annotations

import datetime
import functools
from dataclasses import dataclass
from typing import Any

import asyncpg

from crdt.schema import DATASETS

from .common import LIVE, Conn, scalar_from_db
from .registers import registers_of_record


def _latest(record: Any, dataset: str) -> str | None:
    regs = registers_of_record(record, dataset)
    return max((r.timestamp for r in regs.values()), default=None)


def wall_clock(timestamp: str | None) -> str | None:
    """A message timestamp's wall-clock part, `YYYY-MM-DDTHH:MM:SS.mmmZ` (an HLC
    timestamp starts with it)."""
    return timestamp[:24] if timestamp else None


async def preorders_by_id(conn: Conn, tenant_id: str, ids: list[str]) -> list[dict[str, Any]]:
    """Live pre-orders with their live flows, in the order of `ids`."""
    if not ids:
        return []
    orders = await conn.fetch(
        f"""SELECT o.*, o.id::text AS sid, p.name AS partner_name,
                   o.created_by::text AS creator, u.display_name AS creator_name
            FROM pre_orders o
            LEFT JOIN partners p ON p.tenant_id = o.tenant_id AND p.id = o.partner_id
            LEFT JOIN users u ON u.id = o.created_by
            WHERE o.tenant_id = $1 AND o.id = ANY($2::uuid[]) AND o.{LIVE}""",  # noqa: S608
        tenant_id,
        ids,
    )
    flows = await conn.fetch(
        f"""SELECT f.*, f.id::text AS sid, f.pre_order_id::text AS parent,
                   pr.name AS product_name, pr.sku AS sku, pr.unit_price_cents
            FROM pre_order_flows f
            LEFT JOIN products pr ON pr.tenant_id = f.tenant_id AND pr.id = f.product_id
            WHERE f.tenant_id = $1 AND f.pre_order_id = ANY($2::uuid[]) AND f.{LIVE}
            ORDER BY f.id""",  # noqa: S608
        tenant_id,
        ids,
    )
    by_parent: dict[str, list[dict[str, Any]]] = {}
    for f in flows:
        by_parent.setdefault(f["parent"], []).append(
            {
                "id": f["sid"],
                "pre_order_id": f["parent"],
                "product_id": scalar_from_db(f["product_id"]),
                "product_name": f["product_name"],
                "sku": f["sku"],
                "quantity": f["quantity"],
                "weight": f["weight"],
                "price_cents": f["price_cents"]
                if f["price_cents"] is not None
                else f["unit_price_cents"],
                "status": f["status"],
                "version": f["version"],
                "updated_at": wall_clock(_latest(f, "pre_order_flows")),
            }
        )
    found = {}
    for o in orders:
        found[o["sid"]] = {
            "id": o["sid"],
            "partner_id": scalar_from_db(o["partner_id"]),
            "partner_name": o["partner_name"],
            "delivery_date": scalar_from_db(o["delivery_date"]),
            "status": o["status"],
            "priority": o["priority"],
            "total_cents": o["total_cents"],
            "created_at": o["created_at"],
            "created_by": o["creator"],
            "created_by_name": o["creator_name"],
            "version": o["version"],
            "updated_at": wall_clock(_latest(o, "pre_orders")),
            "flows": by_parent.get(o["sid"], []),
        }
    return [found[i] for i in ids if i in found]


def _latest_sql(alias: str, dataset: str) -> str:
    """A row's latest timestamp in SQL, as `_latest` computes it: the greatest among its
    fields (compared as Python compares strings: by code point, the "C" collation)."""
    return "greatest(" + ", ".join(f'{alias}.{c}_ts COLLATE "C"' for c in DATASETS[dataset]) + ")"


#: The sort keys of a list page: each a text expression (null as '') that the keyset
#: compares with the row's uuid as tie-break, in the same direction.
SORT_KEYS = {
    "created_at": "coalesce(o.created_at, '')",
    "delivery_date": "coalesce(to_char(o.delivery_date, 'YYYY-MM-DD'), '')",
    "partner": "lower(coalesce(pa.name, '')) COLLATE \"C\"",
    "status": "coalesce(o.status, '') COLLATE \"C\"",
    "creator": "lower(coalesce(cr.display_name, '')) COLLATE \"C\"",
}


@functools.cache
def preorder_page_sql(
    date: bool,
    status: bool,
    partner: bool,
    after: bool,
    limit: int,
    sort: str = "created_at",
    descending: bool = True,
    q: bool = False,
) -> str:
    """One keyset page of pre-orders in one statement: the page's rows (one more than
    asked, to tell whether a next page exists) on the keyset index, each with its sort key
    (the next cursor's), its version, its partner's and its creator's names, and, but for
    the extra row, its live flows with their products and versions: one result row per flow
    (a pre-order without flows has one, with null flow columns), in page order and by flow
    id.

    Plain columns rather than JSON built by PostgreSQL: json_build_object/json_agg cost
    the database about twice the CPU of the whole statement otherwise (issue 20's
    benchmark), and the API's documents are assembled in Python anyway
    (`services.records.page_documents`).

    One text per combination of filters, sort and limit, with only the filters given and
    the limit spelled out: after its fifth run PostgreSQL may cache a prepared statement's
    generic plan, and the generic plan of this statement with `$n IS NULL OR ...` filters
    and a `LIMIT $n` (10% of the rows, it assumes) was a sequential scan and a sort of the
    tenant's every pre-order, which it took. The ORDER BY names the table's uuid column: a
    bare `id` would mean an output column and force a sort on top of the index.

    `sort` is a key of SORT_KEYS (the default, created_at DESC, is the index
    pre_orders_keyset's order; the others sort the filtered rows), ties broken by id in
    the same direction, so `(key, id)` is a keyset in either direction. `q` filters by a
    case-insensitive substring of the partner's name (an ILIKE pattern parameter)."""
    limit = int(limit)
    key = SORT_KEYS[sort]
    where = ["o.tenant_id = $1", f"o.{LIVE}"]
    args = 1
    for given, condition in (
        (date, "o.delivery_date = ${}::date"),
        (status, "o.status = ${}::text"),
        (partner, "o.partner_id = ${}::uuid"),
        (q, "pa.name ILIKE ${}::text"),
    ):
        if given:
            args += 1
            where.append(condition.format(args))
    way, cmp = ("DESC", "<") if descending else ("ASC", ">")
    if after:
        where.append(f"({key}, o.id) {cmp} (${args + 1}::text, ${args + 2}::uuid)")
    order = f"{key} {way}, o.id {way}"
    join = (
        "LEFT JOIN partners pa ON pa.tenant_id = o.tenant_id AND pa.id = o.partner_id"
        if q or sort == "partner"
        else ""
    )
    if sort == "creator":
        join += " LEFT JOIN users cr ON cr.id = o.created_by"
    return f"""
WITH page AS (
    SELECT o.tenant_id, o.id, o.partner_id, o.delivery_date, o.status, o.priority,
           o.total_cents, o.created_at, o.created_by, o.version,
           {key} AS sort_key, {_latest_sql("o", "pre_orders")} AS stamp,
           row_number() OVER (ORDER BY {order}) AS n
    FROM pre_orders o {join}
    WHERE {" AND ".join(where)}
    ORDER BY {order}
    LIMIT {limit + 1}
)
SELECT p.n, p.id::text AS id, p.partner_id::text AS partner_id, pa.name AS partner_name,
       p.delivery_date, p.status, p.priority, p.total_cents, p.created_at,
       p.created_by::text AS created_by, u.display_name AS created_by_name, p.version,
       p.stamp, p.sort_key,
       f.id::text AS flow_id, f.product_id::text AS product_id, pr.name AS product_name,
       pr.sku, f.quantity, f.weight, coalesce(f.price_cents, pr.unit_price_cents) AS price,
       f.status AS flow_status, f.version AS flow_version,
       {_latest_sql("f", "pre_order_flows")} AS flow_stamp
FROM page p
LEFT JOIN partners pa ON pa.tenant_id = p.tenant_id AND pa.id = p.partner_id
LEFT JOIN users u ON u.id = p.created_by
LEFT JOIN pre_order_flows f
       ON p.n <= {limit} AND f.tenant_id = p.tenant_id AND f.pre_order_id = p.id AND f.{LIVE}
LEFT JOIN products pr ON pr.tenant_id = f.tenant_id AND pr.id = f.product_id
ORDER BY p.n, f.id
"""  # noqa: S608  (no caller input: the values are parameters, the limit an int)


def like_pattern(text: str) -> str:
    """An ILIKE pattern matching `text` anywhere, its wildcards escaped."""
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


@dataclass(frozen=True)
class PageFilter:
    """Which pre-orders a list page keeps and in what order: the REST list's and the CSV
    export's query (a key of SORT_KEYS; `q` a substring of the partner's name)."""

    delivery_date: datetime.date | None = None
    status: str | None = None
    partner_id: str | None = None
    q: str | None = None
    sort: str = "created_at"
    descending: bool = True


async def preorder_page(
    conn: Conn,
    tenant_id: str,
    filters: PageFilter,
    after: tuple[str, str] | None,
    limit: int,
) -> list[asyncpg.Record]:
    """One keyset page, ordered by the filter's sort (default created_at DESC, id DESC),
    in one statement (`preorder_page_sql`, which says what a row is): for the default
    order an index scan on pre_orders_keyset; stable under concurrent inserts (no
    duplicates, no gaps), read in one snapshot."""
    f = filters
    sql = preorder_page_sql(
        f.delivery_date is not None,
        f.status is not None,
        f.partner_id is not None,
        bool(after),
        limit,
        f.sort,
        f.descending,
        bool(f.q),
    )
    args: list[Any] = [v for v in (f.delivery_date, f.status, f.partner_id) if v is not None]
    if f.q:
        args.append(like_pattern(f.q))
    return await conn.fetch(sql, tenant_id, *args, *(after or ()))


async def catalog_page(
    conn: Conn,
    tenant_id: str,
    dataset: str,
    columns: list[str],
    after: tuple[str, str] | None,
    limit: int,
    q: str | None,
) -> list[dict[str, Any]]:
    """Partners or products by (name, id), optionally filtered by a case-insensitive
    substring of the name (or SKU)."""
    cols = ", ".join(columns)
    search = "name" if dataset == "partners" else "coalesce(name, '') || ' ' || coalesce(sku, '')"
    records = await conn.fetch(
        f"""SELECT id::text AS id, {cols} FROM {dataset}
            WHERE tenant_id = $1 AND {LIVE}
              AND ($2::text IS NULL OR {search} ILIKE '%' || $2 || '%')
              AND ($3::text IS NULL OR (coalesce(name, ''), id) > ($3, $4::uuid))
            ORDER BY coalesce(name, ''), {dataset}.id LIMIT $5""",  # noqa: S608
        tenant_id,
        q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") if q else None,
        after[0] if after else None,
        after[1] if after else None,
        limit,
    )
    return [{k: scalar_from_db(r[k]) for k in ("id", *columns)} for r in records]
