"""One run of the Airtable bridge for a tenant: import what changed in Airtable, then write
back what changed in Recap. Runs are coalesced (one at a time per tenant, across processes)
and also started by a schedule.

This module does the I/O: it reads what the planners need (`storage.connectors`), calls
them (`planning.py`, pure), writes the import through the tenant writer like any push,
and sends the export to Airtable. Import turns changed cells into ordinary messages stamped
by the bridge's own node at the record's Airtable modification time, so they replicate to
reps like any edit and meet a rep's concurrent edit under the same LWW rule.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import time
from dataclasses import asdict, dataclass, field

import aiohttp
import asyncpg

from crdt.errors import RecapError
from crdt.merge import Register
from crdt.message import Message, Scalar
from crdt.schema import validate

from ..clock import ImportStamper
from ..services.writer import TenantWriter
from ..storage import connectors, messages, registers
from ..storage.common import Conn
from .client import BATCH, AirtableClient
from .limiter import SharedRateLimiter
from .mapping import Line, format_time, namespace, parse_time, read_record, to_cells
from .orders_mapping import OrderRecord, read_order_record, write_back_cells
from .orders_planning import order_rows_to_read, plan_order_export, plan_order_import
from .planning import (
    ExportInput,
    ExportOps,
    ImportInput,
    Link,
    plan_export,
    plan_import,
    rows_to_read,
)
from .secrets_box import SecretsBox

log = logging.getLogger("recap.airtable")

#: Incremental runs re-read records modified this long before the watermark, so a record
#: written in the same millisecond as the last one seen is never missed (re-reading an
#: unchanged record emits nothing).
OVERLAP_MS = 2_000
MAX_PROBLEMS = 50


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
    mode: str = "lines"


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


def _iso_now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat()


def _link(row: connectors.LinkRow) -> Link:
    return Link(*row)


def _as_values(
    current: dict[tuple[str, str], dict[str, Register]],
) -> dict[tuple[str, str], dict[str, tuple[Scalar, str]]]:
    """Registers as the import planner reads them: (value, timestamp) per column."""
    return {
        key: {col: (r.value, r.timestamp) for col, r in regs.items()}
        for key, regs in current.items()
    }


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
        async with self.pool.acquire() as conn:
            if not await connectors.try_lock_run(conn, tenant_id):
                if trigger != "schedule":
                    await connectors.wait_for_run(conn, tenant_id)
                return await self.latest(tenant_id) or RunSummary(status="skipped")
            try:
                return await self._run(tenant_id, trigger)
            finally:
                await connectors.unlock_run(conn, tenant_id)

    async def latest(self, tenant_id: str) -> RunSummary | None:
        async with self.pool.acquire() as conn:
            summary = await connectors.latest_run(conn, tenant_id)
        return RunSummary(**summary) if summary else None

    async def due_tenants(self) -> list[str]:
        async with self.pool.acquire() as conn:
            return await connectors.due_tenants(conn)

    async def run_schedule(self, poll_s: float) -> None:
        """Forever: every `poll_s`, run the connectors whose schedule is due."""
        while True:
            await asyncio.sleep(poll_s)
            try:
                for tenant in await self.due_tenants():
                    await self.trigger(tenant, "schedule")
            except Exception:
                log.exception("airtable schedule failed")

    # -- one run ---------------------------------------------------------------------------
    async def _run(self, tenant_id: str, trigger: str) -> RunSummary:
        started = time.monotonic()
        summary = RunSummary(trigger=trigger, started_at=_iso_now())
        async with self.pool.acquire() as conn:
            found = await connectors.load(conn, tenant_id)
            if found is None:
                summary.status = "error"
                summary.error = {"code": "not_configured", "message": "no Airtable connector"}
                return summary
            summary.run_id = await connectors.start_run(conn, tenant_id, trigger)
        connector = Connector(**found)
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
            if connector.mode == "orders":
                touched = await self._import_orders(connector, client, summary)
                await self._export_orders(connector, client, touched, summary)
            else:
                touched = await self._import(connector, client, summary)
                await self._export(connector, client, touched, summary)
            summary.status = "ok"
        except RecapError as exc:
            summary.status = "error"
            summary.error = {"code": exc.code, "message": exc.message}
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
            async with self.pool.acquire() as conn:
                await connectors.finish_run(
                    conn,
                    tenant_id,
                    summary.run_id,
                    summary.status == "ok",
                    asdict(summary),
                    summary.error["message"] if summary.error else None,
                )
        return summary

    # -- import ----------------------------------------------------------------------------
    async def _write_plan(
        self, c: Connector, imported: int, planned: list[Message], summary: RunSummary
    ) -> None:
        """Apply an import plan's messages (each checked against the model first) through
        the tenant writer, as the bridge's node, and count them in the run's summary."""
        summary.records_imported += imported
        for message in planned:
            validate(message)
        if planned:
            outcome = await self.writer.apply(c.tenant_id, None, c.node, planned)
            summary.messages_written += len(outcome.inserted)
            summary.conflicts += len(outcome.conflicts)

    async def _read_changed(
        self, c: Connector, client: AirtableClient, summary: RunSummary
    ) -> list[Line]:
        """The records modified since the watermark (with overlap), as lines; a record
        Recap cannot read is a problem in the summary."""
        lines: list[Line] = []
        async for page in client.pages(self._since_formula(c)):
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
        return lines

    async def _import(self, c: Connector, client: AirtableClient, summary: RunSummary) -> set[str]:
        lines = await self._read_changed(c, client, summary)
        if not lines:
            return set()
        ns = namespace(c.tenant_id, c.base_id, c.table_name)
        async with self.pool.acquire() as conn:
            known = {
                link.record_id: link
                for link in map(
                    _link,
                    await connectors.links(
                        conn, c.tenant_id, "record", [line.record_id for line in lines]
                    ),
                )
            }
            partners: dict[str, str] = {}
            for name, row in await connectors.partner_names(conn, c.tenant_id):
                partners.setdefault(name.lower(), row)
            products: dict[str, str] = {}
            for sku, product, row in await connectors.product_keys(conn, c.tenant_id):
                for key in (sku, product):
                    if key:
                        products.setdefault(key.lower(), row)
            current = await registers.read(conn, c.tenant_id, rows_to_read(lines, known, ns))
        given = ImportInput(
            known,
            partners,
            products,
            _as_values(current),
        )
        stamper = ImportStamper(c.node, c.last_ts)
        plan = plan_import(lines, given, ns, stamper)
        await self._write_plan(c, plan.imported, plan.messages, summary)
        watermark = max(line.modified_ms for line in lines)
        if c.import_after:
            watermark = max(watermark, parse_time(c.import_after))
        async with self.pool.acquire() as conn:
            await connectors.save_import(
                conn,
                c.tenant_id,
                [link.row() for link in plan.links.values()],
                str(stamper.last),
                format_time(watermark),
            )
        c.last_ts = str(stamper.last)
        return plan.touched

    # -- orders mode (seed 002: one record per order, Airtable the source of truth) ----------
    def _since_formula(self, c: Connector) -> str:
        if not c.import_after:
            return ""
        since = format_time(parse_time(c.import_after) - OVERLAP_MS)
        return f"IS_AFTER(LAST_MODIFIED_TIME(), '{since}')"

    async def _import_orders(
        self, c: Connector, client: AirtableClient, summary: RunSummary
    ) -> set[str]:
        """Every record modified since the watermark (all of them the first time), as
        pre-orders, through the tenant writer like any push. The watermark is when this
        read began (Airtable's `Updated At` is a plain datetime column, not its modified
        time, so it cannot bound what `LAST_MODIFIED_TIME()` selects); the next run reads
        from OVERLAP_MS before it, which also absorbs a small clock skew."""
        began = int(time.time() * 1000)
        records: list[OrderRecord] = []
        async for page in client.pages(self._since_formula(c)):
            for raw in page:
                summary.records_read += 1
                try:
                    record = read_order_record(raw, c.field_map)
                except ValueError as exc:
                    summary.problem(str(exc))
                    continue
                for problem in record.problems:
                    summary.problem(problem)
                # Stamped when read, not at `Updated At`: Airtable is the source of truth,
                # so a change read from it wins over any Recap edit made before the read
                # (an older stamp would lose to it under LWW and be written back over).
                record.modified_ms = max(record.modified_ms, began)
                records.append(record)
        if not records:
            return set()
        ns = namespace(c.tenant_id, c.base_id, c.table_name)
        async with self.pool.acquire() as conn:
            known = {
                link.record_id: link
                for link in map(
                    _link,
                    await connectors.links(
                        conn, c.tenant_id, "record", [r.record_id for r in records]
                    ),
                )
            }
            partners: dict[str, str] = {}
            for name, row in await connectors.partner_names(conn, c.tenant_id):
                partners.setdefault(name.lower(), row)
            current = await registers.read(
                conn, c.tenant_id, order_rows_to_read(records, known, ns)
            )
        given = ImportInput(
            known,
            partners,
            {},
            _as_values(current),
        )
        stamper = ImportStamper(c.node, c.last_ts)
        plan = plan_order_import(records, given, ns, stamper)
        await self._write_plan(c, plan.imported, plan.messages, summary)
        watermark = began
        if c.import_after:
            watermark = max(watermark, parse_time(c.import_after))
        async with self.pool.acquire() as conn:
            await connectors.save_import(
                conn,
                c.tenant_id,
                [link.row() for link in plan.links.values()],
                str(stamper.last),
                format_time(watermark),
            )
        c.last_ts = str(stamper.last)
        return plan.touched

    async def _export_orders(
        self, c: Connector, client: AirtableClient, touched: set[str], summary: RunSummary
    ) -> None:
        """Status and priority of linked pre-orders changed in Recap since `export_seq`
        (or that this run's import met a newer Recap value on), written back in batches of
        10 with `Updated At` now; each batch's links saved once Airtable accepted it."""
        async with self.pool.acquire() as conn:
            upto = await messages.max_seq(conn, c.tenant_id)
            changed = await messages.rows_changed(
                conn, c.tenant_id, c.export_seq, upto, ["pre_orders"], c.node
            )
            ids = sorted(set(touched) | {row for _, row in changed})
            links = [_link(r) for r in await connectors.links(conn, c.tenant_id, "pre_order", ids)]
            orders = await connectors.export_order_fields(
                conn, c.tenant_id, sorted({link.pre_order_id for link in links})
            )
        plan = plan_order_export(orders, links)
        for problem in plan.problems:
            summary.problem(problem)
        for i in range(0, len(plan.updates), BATCH):
            batch = plan.updates[i : i + BATCH]
            now = int(time.time() * 1000)
            await client.update(
                [
                    {"id": link.record_id, "fields": write_back_cells(diff, c.field_map, now)}
                    for link, diff in batch
                ]
            )
            async with self.pool.acquire() as conn:
                await connectors.save_links(conn, c.tenant_id, [link.row() for link, _ in batch])
            summary.records_updated += len(batch)
        async with self.pool.acquire() as conn:
            await connectors.set_export_seq(conn, c.tenant_id, upto)

    # -- export ----------------------------------------------------------------------------
    async def _export(
        self, c: Connector, client: AirtableClient, touched: set[str], summary: RunSummary
    ) -> None:
        """Pre-orders touched by messages since `export_seq` (from other nodes) plus the
        ones this run imported, recomputed as the records Airtable should hold."""
        async with self.pool.acquire() as conn:
            upto = await messages.max_seq(conn, c.tenant_id)
            changed = await messages.rows_changed(
                conn, c.tenant_id, c.export_seq, upto, ["pre_orders", "pre_order_flows"], c.node
            )
            orders = set(touched) | {row for ds, row in changed if ds == "pre_orders"}
            flows = [row for ds, row in changed if ds == "pre_order_flows"]
            if flows:
                orders |= await connectors.parents_of_flows(conn, c.tenant_id, flows)
            ops = await self._plan_export(conn, c, sorted(orders)) if orders else ExportOps()
        await self._write_back(c, client, ops, summary)
        async with self.pool.acquire() as conn:
            await connectors.set_export_seq(conn, c.tenant_id, upto)

    async def _plan_export(self, conn: Conn, c: Connector, ids: list[str]) -> ExportOps:
        lines = await connectors.export_lines(conn, c.tenant_id, ids)
        given = ExportInput(
            orders=await connectors.export_orders(conn, c.tenant_id, ids),
            lines=lines,
            order_links=[
                _link(r) for r in await connectors.links(conn, c.tenant_id, "pre_order", ids)
            ],
            line_links=[
                _link(r)
                for r in await connectors.links(
                    conn, c.tenant_id, "flow", [line["id"] for line in lines]
                )
            ],
        )
        return plan_export(ids, given)

    async def _write_back(
        self, c: Connector, client: AirtableClient, ops: ExportOps, summary: RunSummary
    ) -> None:
        """Batches of at most 10 records; each batch's links are saved as soon as Airtable
        has accepted it, so a run that fails half-way resumes without redoing them."""
        if ops.relinks:
            async with self.pool.acquire() as conn:
                await connectors.save_links(
                    conn, c.tenant_id, [link.row() for link, _ in ops.relinks]
                )
        for i in range(0, len(ops.updates), BATCH):
            batch = ops.updates[i : i + BATCH]
            await client.update(
                [
                    {"id": link.record_id, "fields": to_cells(cells, c.field_map)}
                    for link, cells in batch
                ]
            )
            async with self.pool.acquire() as conn:
                await connectors.save_links(conn, c.tenant_id, [link.row() for link, _ in batch])
            summary.records_updated += len(batch)
        for i in range(0, len(ops.creates), BATCH):
            created = ops.creates[i : i + BATCH]
            records = await client.create([to_cells(vals, c.field_map) for _, vals in created])
            links = []
            for (link, _), record in zip(created, records, strict=True):
                link.record_id = str(record["id"])
                links.append(link.row())
            async with self.pool.acquire() as conn:
                await connectors.save_links(conn, c.tenant_id, links)
            summary.records_created += len(created)
        for i in range(0, len(ops.deletes), BATCH):
            ids = ops.deletes[i : i + BATCH]
            await client.delete(ids)
            async with self.pool.acquire() as conn:
                await connectors.delete_links(conn, c.tenant_id, ids)
            summary.records_deleted += len(ids)
