"""One run of the Airtable bridge for a tenant: import what changed in Airtable, then write
back what changed in Recap. Runs are coalesced (one at a time per tenant, across processes)
and also started by a schedule.

Import turns changed cells into ordinary messages stamped by the bridge's own node at the
record's Airtable modification time, so they replicate to reps like any edit and meet a
rep's concurrent edit under the same LWW rule (a rep who loses is told, as with any
conflict). Each link remembers, per field, the value Airtable had and the Recap register
timestamp when the bridge last synced it: a cell is imported only if Airtable changed it
since, and export writes only the cells whose Recap value differs from what Airtable holds,
so neither side echoes the other's writes back.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import time
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

import aiohttp
import asyncpg
import orjson

from crdt.message import Message, Scalar
from crdt.schema import validate
from crdt.timestamp import MAX_COUNTER, Timestamp

from .. import storage
from ..writer import TenantWriter
from .client import BATCH, AirtableClient, AirtableError
from .limiter import SharedRateLimiter
from .mapping import (
    LINE_FIELDS,
    ORDER_FIELDS,
    Line,
    Value,
    derived_id,
    format_time,
    namespace,
    order_id,
    parse_time,
    read_record,
    to_cells,
)
from .secrets_box import SecretsBox, UnreadableSecret

log = logging.getLogger("recap.airtable")

#: Incremental runs re-read records modified this long before the watermark, so a record
#: written in the same millisecond as the last one seen is never missed (re-reading an
#: unchanged record emits nothing).
OVERLAP_MS = 2_000
MAX_PROBLEMS = 50

#: logical field -> (dataset, column) of the Recap register it mirrors
REGISTER_OF: dict[str, tuple[str, str]] = {
    "order": ("pre_order_flows", "pre_order_id"),
    "partner": ("pre_orders", "partner_id"),
    "delivery_date": ("pre_orders", "delivery_date"),
    "status": ("pre_orders", "status"),
    "product": ("pre_order_flows", "product_id"),
    "quantity": ("pre_order_flows", "quantity"),
}


@dataclass
class Connector:
    tenant_id: str
    base_id: str
    table_name: str
    api_key_enc: str
    field_map: dict[str, str]
    node: str
    last_ts: str | None
    import_after: str | None
    export_seq: int


@dataclass
class Link:
    record_id: str
    pre_order_id: str
    flow_id: str | None
    fields: dict[str, list[Any]]  # logical field -> [Airtable value, Recap register ts]


@dataclass
class RunSummary:
    run_id: int = 0
    trigger: str = "manual"
    status: str = "running"
    started_at: str = ""
    finished_at: str | None = None
    seconds: float = 0.0
    records_read: int = 0
    records_imported: int = 0
    messages_written: int = 0
    conflicts: int = 0
    records_created: int = 0
    records_updated: int = 0
    records_deleted: int = 0
    requests: int = 0
    rate_limited: int = 0
    retried: int = 0
    problems: list[str] = field(default_factory=list)
    error: dict[str, str] | None = None

    def problem(self, text: str) -> None:
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(text)


def run_lock_key(tenant_id: str) -> int:
    """The advisory lock a run holds, distinct from the tenant's write lock."""
    return (uuid.UUID(tenant_id).int >> 64) & 0x7FFF_FFFF_FFFF_FFFF ^ 0x41_52_54_42


def _next_stamp(last: Timestamp, millis: int) -> Timestamp:
    """The bridge's HLC step, at an Airtable time rather than the wall clock."""
    if millis > last.millis:
        return Timestamp(millis, 0, last.node)
    if last.counter < MAX_COUNTER:
        return Timestamp(last.millis, last.counter + 1, last.node)
    return Timestamp(last.millis + 1, 0, last.node)


def _iso_now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat()


class AirtableBridge:
    def __init__(
        self,
        pool: asyncpg.Pool,
        writer: TenantWriter,
        box: SecretsBox,
        api_url: str,
        rate_per_s: int = 5,
        penalty_s: float = 30.0,
        max_retries: int = 5,
        backoff_s: float = 0.5,
    ) -> None:
        self.pool = pool
        self.writer = writer
        self.box = box
        self.api_url = api_url
        self.limiter = SharedRateLimiter(pool, rate_per_s)
        self.penalty_s = penalty_s
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.inflight: dict[str, asyncio.Task[RunSummary]] = {}
        self._session: aiohttp.ClientSession | None = None

    def _client_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60))
        return self._session

    async def close(self) -> None:
        for task in list(self.inflight.values()):
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
        if self._session is not None:
            await self._session.close()

    # -- triggering ------------------------------------------------------------------------
    async def trigger(self, tenant_id: str, trigger: str = "manual") -> RunSummary:
        """Run now, or join the run already under way for this tenant."""
        task = self.inflight.get(tenant_id)
        if task is None:
            task = asyncio.create_task(self._run_exclusive(tenant_id, trigger))
            self.inflight[tenant_id] = task
            task.add_done_callback(lambda _t: self.inflight.pop(tenant_id, None))
        return await asyncio.shield(task)

    async def _run_exclusive(self, tenant_id: str, trigger: str) -> RunSummary:
        """Across processes: the run holds a session advisory lock; a manual trigger that
        finds it held waits for that run and reports it, a scheduled one just skips."""
        key = run_lock_key(tenant_id)
        async with self.pool.acquire() as conn:
            if not await conn.fetchval("SELECT pg_try_advisory_lock($1)", key):
                if trigger == "schedule":
                    return await self.latest(tenant_id) or RunSummary(status="skipped")
                await conn.execute("SELECT pg_advisory_lock($1)", key)
                await conn.execute("SELECT pg_advisory_unlock($1)", key)
                return await self.latest(tenant_id) or RunSummary(status="skipped")
            try:
                return await self._run(tenant_id, trigger)
            finally:
                await conn.execute("SELECT pg_advisory_unlock($1)", key)

    async def latest(self, tenant_id: str) -> RunSummary | None:
        async with self.pool.acquire() as conn:
            summary = await conn.fetchval(
                """SELECT summary FROM airtable_runs WHERE tenant_id = $1 AND status <> 'running'
                   ORDER BY id DESC LIMIT 1""",
                tenant_id,
            )
        return RunSummary(**summary) if summary else None

    async def due_tenants(self) -> list[str]:
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(
                """SELECT tenant_id::text FROM airtable_connectors
                   WHERE schedule_s > 0 AND (last_run_at IS NULL
                         OR last_run_at + schedule_s * interval '1 second' <= now())"""
            )
        return [r["tenant_id"] for r in rows]

    # -- one run ---------------------------------------------------------------------------
    async def _load(self, tenant_id: str) -> Connector | None:
        async with self.pool.acquire() as conn:
            row = await conn.fetchrow(
                """SELECT tenant_id::text, base_id, table_name, api_key_enc, field_map, node,
                          last_ts, import_after, export_seq
                   FROM airtable_connectors WHERE tenant_id = $1""",
                tenant_id,
            )
        if row is None:
            return None
        values = dict(row)
        return Connector(**values)

    async def _run(self, tenant_id: str, trigger: str) -> RunSummary:
        started = time.monotonic()
        summary = RunSummary(trigger=trigger, started_at=_iso_now())
        connector = await self._load(tenant_id)
        if connector is None:
            summary.status = "error"
            summary.error = {"code": "not_configured", "message": "no Airtable connector"}
            return summary
        async with self.pool.acquire() as conn:
            summary.run_id = await conn.fetchval(
                "INSERT INTO airtable_runs (tenant_id, trigger) VALUES ($1, $2) RETURNING id",
                tenant_id,
                trigger,
            )
        client: AirtableClient | None = None
        try:
            client = AirtableClient(
                self._client_session(),
                self.api_url,
                self.box.open(connector.api_key_enc),
                connector.base_id,
                connector.table_name,
                self.limiter,
                self.penalty_s,
                self.max_retries,
                self.backoff_s,
            )
            touched = await self._import(connector, client, summary)
            await self._export(connector, client, touched, summary)
            summary.status = "ok"
        except (AirtableError, UnreadableSecret) as exc:
            summary.status = "error"
            code = exc.code if isinstance(exc, AirtableError) else "credentials_unreadable"
            summary.error = {"code": code, "message": str(exc)}
            log.warning("airtable run failed", extra={"tenant": tenant_id, "error": str(exc)})
        except Exception as exc:
            summary.status = "error"
            summary.error = {"code": "internal", "message": f"bridge failed: {type(exc).__name__}"}
            log.exception("airtable run crashed", extra={"tenant": tenant_id})
        finally:
            if client is not None:
                summary.requests = client.requests
                summary.rate_limited = client.rate_limited
                summary.retried = client.retried
            summary.finished_at = _iso_now()
            summary.seconds = round(time.monotonic() - started, 3)
            async with self.pool.acquire() as conn, conn.transaction():
                await conn.execute(
                    """UPDATE airtable_runs SET finished_at = now(), status = $2, summary = $3
                       WHERE id = $1""",
                    summary.run_id,
                    summary.status,
                    asdict(summary),
                )
                await conn.execute(
                    """UPDATE airtable_connectors SET state = $2, last_error = $3,
                              last_run_at = now() WHERE tenant_id = $1""",
                    tenant_id,
                    "ok" if summary.status == "ok" else "error",
                    summary.error["message"] if summary.error else None,
                )
        return summary

    # -- import ----------------------------------------------------------------------------
    async def _import(self, c: Connector, client: AirtableClient, summary: RunSummary) -> set[str]:
        formula = ""
        if c.import_after:
            since = format_time(parse_time(c.import_after) - OVERLAP_MS)
            formula = f"IS_AFTER(LAST_MODIFIED_TIME(), '{since}')"
        lines: list[Line] = []
        async for page in client.pages(formula):
            for record in page:
                summary.records_read += 1
                try:
                    line = read_record(record, c.field_map)
                except ValueError as exc:
                    summary.problem(str(exc))
                    continue
                for problem in line.problems:
                    summary.problem(problem)
                lines.append(line)
        if not lines:
            return set()
        lines.sort(key=lambda line: (line.modified_ms, line.record_id))
        plan = await _ImportPlan.prepare(self.pool, c, lines)
        messages = plan.build(lines, summary)
        for message in messages:
            validate(message)
        if messages:
            outcome = await self.writer.apply(c.tenant_id, None, c.node, messages)
            summary.messages_written += len(outcome.inserted)
            summary.conflicts += len(outcome.conflicts)
        watermark = max(line.modified_ms for line in lines)
        if c.import_after:
            watermark = max(watermark, parse_time(c.import_after))
        async with self.pool.acquire() as conn, conn.transaction():
            await _save_links(conn, c.tenant_id, plan.new_links.values())
            await conn.execute(
                """UPDATE airtable_connectors SET last_ts = $2, import_after = $3
                   WHERE tenant_id = $1""",
                c.tenant_id,
                str(plan.last),
                format_time(watermark),
            )
        c.last_ts = str(plan.last)
        return plan.touched

    # -- export ----------------------------------------------------------------------------
    async def _export(
        self, c: Connector, client: AirtableClient, touched: set[str], summary: RunSummary
    ) -> None:
        async with self.pool.acquire() as conn:
            upto = await conn.fetchval(
                "SELECT coalesce(max(seq), 0) FROM messages WHERE tenant_id = $1", c.tenant_id
            )
            changed = await conn.fetch(
                """SELECT DISTINCT dataset, row_id FROM messages
                   WHERE tenant_id = $1 AND seq > $2 AND seq <= $3
                     AND dataset IN ('pre_orders', 'pre_order_flows')
                     AND origin IS DISTINCT FROM $4""",
                c.tenant_id,
                c.export_seq,
                upto,
                c.node,
            )
            orders = set(touched) | {r["row_id"] for r in changed if r["dataset"] == "pre_orders"}
            flows = [r["row_id"] for r in changed if r["dataset"] == "pre_order_flows"]
            if flows:
                orders |= {
                    str(r["pre_order_id"])
                    for r in await conn.fetch(
                        """SELECT pre_order_id FROM pre_order_flows WHERE tenant_id = $1
                           AND id = ANY($2::uuid[]) AND pre_order_id IS NOT NULL""",
                        c.tenant_id,
                        flows,
                    )
                }
                orders |= {
                    str(r["pre_order_id"])
                    for r in await conn.fetch(
                        """SELECT pre_order_id FROM airtable_links WHERE tenant_id = $1
                           AND flow_id = ANY($2::uuid[])""",
                        c.tenant_id,
                        flows,
                    )
                }
            ops = await _plan_export(conn, c, orders) if orders else _ExportOps()
        await self._write_back(c, client, ops, summary)
        async with self.pool.acquire() as conn:
            await conn.execute(
                "UPDATE airtable_connectors SET export_seq = $2 WHERE tenant_id = $1",
                c.tenant_id,
                upto,
            )

    async def _write_back(
        self, c: Connector, client: AirtableClient, ops: _ExportOps, summary: RunSummary
    ) -> None:
        """Batches of at most 10 records; each batch's links are saved as soon as Airtable
        has accepted it, so a run that fails half-way resumes without redoing them."""
        if ops.relinks:
            async with self.pool.acquire() as conn:
                await _save_links(conn, c.tenant_id, [link for link, _ in ops.relinks])
        for i in range(0, len(ops.updates), BATCH):
            batch = ops.updates[i : i + BATCH]
            await client.update(
                [
                    {"id": link.record_id, "fields": to_cells(cells, c.field_map)}
                    for link, cells in batch
                ]
            )
            async with self.pool.acquire() as conn:
                await _save_links(conn, c.tenant_id, [link for link, _ in batch])
            summary.records_updated += len(batch)
        for i in range(0, len(ops.creates), BATCH):
            created = ops.creates[i : i + BATCH]
            records = await client.create([to_cells(vals, c.field_map) for _, vals in created])
            links = []
            for (link, _), record in zip(created, records, strict=True):
                link.record_id = str(record["id"])
                links.append(link)
            async with self.pool.acquire() as conn:
                await _save_links(conn, c.tenant_id, links)
            summary.records_created += len(created)
        for i in range(0, len(ops.deletes), BATCH):
            ids = ops.deletes[i : i + BATCH]
            await client.delete(ids)
            async with self.pool.acquire() as conn:
                await conn.execute(
                    "DELETE FROM airtable_links WHERE tenant_id = $1 AND record_id = ANY($2)",
                    c.tenant_id,
                    ids,
                )
            summary.records_deleted += len(ids)


async def _save_links(conn: storage.Conn, tenant_id: str, links: Any) -> None:
    links = list(links)
    if not links:
        return
    await conn.execute(
        """INSERT INTO airtable_links (tenant_id, record_id, pre_order_id, flow_id, fields)
           SELECT $1, u.r, u.p, u.f, u.j::jsonb
           FROM unnest($2::text[], $3::uuid[], $4::uuid[], $5::text[]) AS u(r, p, f, j)
           ON CONFLICT (tenant_id, record_id) DO UPDATE SET pre_order_id = EXCLUDED.pre_order_id,
               flow_id = EXCLUDED.flow_id, fields = EXCLUDED.fields""",
        tenant_id,
        [link.record_id for link in links],
        [link.pre_order_id for link in links],
        [link.flow_id for link in links],
        [orjson.dumps(link.fields).decode() for link in links],
    )


async def _load_links(conn: storage.Conn, tenant_id: str, where: str, arg: Any) -> list[Link]:
    rows = await conn.fetch(
        "SELECT record_id, pre_order_id::text, flow_id::text, fields FROM airtable_links "  # noqa: S608
        f"WHERE tenant_id = $1 AND {where}",
        tenant_id,
        arg,
    )
    return [Link(r["record_id"], r["pre_order_id"], r["flow_id"], r["fields"]) for r in rows]


class _ImportPlan:
    """What the changed records mean for Recap: the messages, the new links, the rows
    touched. Reads everything it needs up front, then decides without I/O."""

    def __init__(self, c: Connector, ns: uuid.UUID) -> None:
        self.c = c
        self.ns = ns
        self.links: dict[str, Link] = {}
        self.partners: dict[str, str] = {}
        self.products: dict[str, str] = {}
        self.registers: dict[tuple[str, str], dict[str, tuple[Scalar, str]]] = {}
        self.last = Timestamp.parse(c.last_ts) if c.last_ts else Timestamp(0, 0, c.node)
        self.messages: list[Message] = []
        self.new_links: dict[str, Link] = {}
        self.touched: set[str] = set()

    @classmethod
    async def prepare(cls, pool: asyncpg.Pool, c: Connector, lines: list[Line]) -> _ImportPlan:
        plan = cls(c, namespace(c.tenant_id, c.base_id, c.table_name))
        async with pool.acquire() as conn:
            for link in await _load_links(
                conn, c.tenant_id, "record_id = ANY($2)", [line.record_id for line in lines]
            ):
                plan.links[link.record_id] = link
            for r in await conn.fetch(
                "SELECT id::text, name FROM partners WHERE tenant_id = $1 "
                "AND coalesce(tombstone, 0) = 0 AND name IS NOT NULL ORDER BY name_ts",
                c.tenant_id,
            ):
                plan.partners.setdefault(r["name"].lower(), r["id"])
            for r in await conn.fetch(
                "SELECT id::text, name, sku FROM products WHERE tenant_id = $1 "
                "AND coalesce(tombstone, 0) = 0 ORDER BY name_ts",
                c.tenant_id,
            ):
                for key in (r["sku"], r["name"]):
                    if key:
                        plan.products.setdefault(key.lower(), r["id"])
            rows: set[tuple[str, str]] = set()
            for line in lines:
                key = line.values.get("order") or line.record_id
                rows.add(("pre_orders", order_id(plan.ns, str(key))))
                rows.add(("pre_order_flows", derived_id(plan.ns, "flow", line.record_id)))
                known = plan.links.get(line.record_id)
                if known:
                    rows.add(("pre_orders", known.pre_order_id))
                    if known.flow_id:
                        rows.add(("pre_order_flows", known.flow_id))
            for key, regs in (await storage.read_registers(conn, c.tenant_id, rows)).items():
                plan.registers[key] = {col: (r.value, r.timestamp) for col, r in regs.items()}
        return plan

    def current(self, dataset: str, row: str, column: str) -> tuple[Scalar, str | None]:
        found = self.registers.get((dataset, row), {}).get(column)
        return found if found else (None, None)

    def exists(self, dataset: str, row: str) -> bool:
        return "tombstone" in self.registers.get((dataset, row), {})

    def emit(
        self, dataset: str, row: str, column: str, value: Scalar, prev: str | None, millis: int
    ) -> str:
        self.last = _next_stamp(self.last, millis)
        stamp = str(self.last)
        self.messages.append(Message(dataset, row, column, value, stamp, prev))
        self.registers.setdefault((dataset, row), {})[column] = (value, stamp)
        return stamp

    def set_field(
        self,
        dataset: str,
        row: str,
        column: str,
        value: Scalar,
        snapshot_ts: str | None,
        millis: int,
    ) -> None:
        """Write a value Airtable changed, unless Recap already holds it. `prev` is the
        register the bridge last synced: a rep's edit since then makes this a conflict."""
        held, held_ts = self.current(dataset, row, column)
        if held == value:
            return
        self.emit(dataset, row, column, value, snapshot_ts or held_ts, millis)

    def _entity(self, kind: str, table: dict[str, str], name: str, millis: int) -> str:
        found = table.get(name.lower())
        if found:
            return found
        row = derived_id(self.ns, kind, name.lower())
        table[name.lower()] = row
        if not self.exists(kind, row):
            self.emit(kind, row, "name", name, None, millis)
            self.emit(kind, row, "tombstone", 0, None, millis)
        return row

    def build(self, lines: list[Line], summary: RunSummary) -> list[Message]:
        for line in lines:
            self._line(line, summary)
        return self.messages

    def _line(self, line: Line, summary: RunSummary) -> None:
        link = self.links.get(line.record_id) or self.new_links.get(line.record_id)
        old = link.fields if link else {}
        changed = {
            name
            for name in LINE_FIELDS
            if name in line.values and (name not in old or old[name][0] != line.values[name])
        }
        if not changed:
            return
        summary.records_imported += 1
        t = line.modified_ms
        snap = {name: old[name][1] for name in old}
        order_key = line.values.get("order") or (old.get("order", [None])[0]) or line.record_id
        if link and "order" not in changed:
            po = link.pre_order_id
        else:
            po = order_id(self.ns, str(order_key))
        if not self.exists("pre_orders", po):
            self.emit("pre_orders", po, "created_at", line.created or format_time(t), None, t)
            self.emit("pre_orders", po, "tombstone", 0, None, t)
            changed |= set(ORDER_FIELDS)
        for name in ORDER_FIELDS:
            value = line.values.get(name)
            if name not in changed or value is None:
                continue
            dataset, column = REGISTER_OF[name]
            if name == "partner":
                value = self._entity("partners", self.partners, str(value), t)
            self.set_field(dataset, po, column, value, snap.get(name), t)

        flow = link.flow_id if link else None
        product = line.values.get("product")
        if product:
            product_id = self._entity("products", self.products, str(product), t)
            if flow is None:
                flow = derived_id(self.ns, "flow", line.record_id)
            fresh = (
                not self.exists("pre_order_flows", flow)
                or self.current("pre_order_flows", flow, "tombstone")[0] == 1
            )
            if fresh:
                changed |= {"order", "product", "quantity"}
                self.emit("pre_order_flows", flow, "tombstone", 0, None, t)
            if "order" in changed or link is None:
                self.set_field("pre_order_flows", flow, "pre_order_id", po, snap.get("order"), t)
            if "product" in changed:
                self.set_field(
                    "pre_order_flows", flow, "product_id", product_id, snap.get("product"), t
                )
            quantity = line.values.get("quantity")
            if "quantity" in changed and quantity is not None:
                self.set_field(
                    "pre_order_flows", flow, "quantity", quantity, snap.get("quantity"), t
                )
        elif flow is not None and "product" in changed and "product" in line.values:
            self.set_field("pre_order_flows", flow, "tombstone", 1, None, t)
            flow = None

        fields: dict[str, list[Any]] = {}
        for name in LINE_FIELDS:
            value = line.values.get(name) if name in line.values else old.get(name, [None])[0]
            dataset, column = REGISTER_OF[name]
            row = po if dataset == "pre_orders" else flow
            ts = self.current(dataset, row, column)[1] if row else None
            fields[name] = [value, ts]
        self.new_links[line.record_id] = Link(line.record_id, po, flow, fields)
        self.touched.add(po)


@dataclass
class _ExportOps:
    updates: list[tuple[Link, dict[str, Value]]] = field(default_factory=list)
    creates: list[tuple[Link, dict[str, Value]]] = field(default_factory=list)
    deletes: list[str] = field(default_factory=list)
    relinks: list[tuple[Link, dict[str, Value]]] = field(default_factory=list)  # no cell changed


async def _plan_export(conn: storage.Conn, c: Connector, orders: set[str]) -> _ExportOps:
    """Each affected pre-order as the records Airtable should hold (one per live line, or
    one empty line), matched against the linked records: changed cells are updated, missing
    records created, records of deleted lines and pre-orders deleted."""
    ids = sorted(orders)
    pre_orders = {
        r["id"]: r
        for r in await conn.fetch(
            """SELECT p.id::text, p.tombstone, p.delivery_date::text, p.delivery_date_ts,
                      p.status, p.status_ts, p.partner_id_ts, pa.name AS partner
               FROM pre_orders p LEFT JOIN partners pa
                 ON pa.tenant_id = p.tenant_id AND pa.id = p.partner_id
               WHERE p.tenant_id = $1 AND p.id = ANY($2::uuid[])""",
            c.tenant_id,
            ids,
        )
    }
    lines: dict[str, list[asyncpg.Record]] = {po: [] for po in ids}
    for r in await conn.fetch(
        """SELECT f.id::text, f.pre_order_id::text, f.quantity, f.quantity_ts, f.product_id_ts,
                  f.pre_order_id_ts, coalesce(pr.name, pr.sku) AS product
           FROM pre_order_flows f LEFT JOIN products pr
             ON pr.tenant_id = f.tenant_id AND pr.id = f.product_id
           WHERE f.tenant_id = $1 AND f.pre_order_id = ANY($2::uuid[])
             AND coalesce(f.tombstone, 0) = 0
           ORDER BY f.id""",
        c.tenant_id,
        ids,
    ):
        lines[r["pre_order_id"]].append(r)
    links: dict[str, list[Link]] = {po: [] for po in ids}
    by_flow: dict[str, Link] = {}
    for known in await _load_links(conn, c.tenant_id, "pre_order_id = ANY($2::uuid[])", ids):
        links[known.pre_order_id].append(known)
        if known.flow_id:
            by_flow[known.flow_id] = known
    flow_ids = [r["id"] for rs in lines.values() for r in rs]
    for known in await _load_links(conn, c.tenant_id, "flow_id = ANY($2::uuid[])", flow_ids):
        if known.flow_id not in by_flow:  # a line moved here from a pre-order not in the set
            by_flow[known.flow_id or ""] = known

    ops = _ExportOps()
    claimed: set[str] = set()
    for po in ids:
        order = pre_orders.get(po)
        own = links[po]
        if order is None or order["tombstone"] == 1:
            ops.deletes += [link.record_id for link in own if link.record_id not in claimed]
            claimed |= {link.record_id for link in own}
            continue
        key = next(
            (str(lk.fields["order"][0]) for lk in own if lk.fields.get("order", [None])[0]), po
        )
        head: dict[str, tuple[Value, str | None]] = {
            "order": (key, None),
            "partner": (order["partner"], order["partner_id_ts"]),
            "delivery_date": (order["delivery_date"], order["delivery_date_ts"]),
            "status": (order["status"], order["status_ts"]),
        }
        wanted: list[tuple[str | None, dict[str, tuple[Value, str | None]]]] = []
        for r in lines[po]:
            quantity = float(r["quantity"]) if r["quantity"] is not None else None
            wanted.append(
                (
                    r["id"],
                    {
                        **head,
                        "order": (key, r["pre_order_id_ts"]),
                        "product": (r["product"], r["product_id_ts"]),
                        "quantity": (quantity, r["quantity_ts"]),
                    },
                )
            )
        if not wanted:
            wanted.append((None, {**head, "product": (None, None), "quantity": (None, None)}))
        spare = [
            lk
            for lk in own
            if lk.record_id not in claimed
            and (lk.flow_id is None or lk.flow_id not in {w[0] for w in wanted})
        ]
        spare.sort(key=lambda lk: lk.flow_id is not None)  # reuse empty lines first
        for flow, values in wanted:
            link: Link | None = by_flow.get(flow) if flow else None
            if link is not None and link.record_id in claimed:
                link = None
            if link is None and spare:
                link = spare.pop(0)
            cells = {name: v for name, (v, _) in values.items()}
            if link is None:
                new = Link("", po, flow, {n: [v, ts] for n, (v, ts) in values.items()})
                ops.creates.append((new, cells))
                continue
            claimed.add(link.record_id)
            diff = {n: v for n, v in cells.items() if link.fields.get(n, [object()])[0] != v}
            link.pre_order_id, link.flow_id = po, flow
            link.fields = {n: [v, ts] for n, (v, ts) in values.items()}
            (ops.updates if diff else ops.relinks).append((link, diff))
        for link in spare:
            if link.record_id not in claimed:
                ops.deletes.append(link.record_id)
                claimed.add(link.record_id)
    return ops
