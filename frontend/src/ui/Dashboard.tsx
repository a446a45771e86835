/**
 * The manager's dashboard: key figures, charts, busiest partners and an orders table.
 *
 * Online, the figures come from `GET /api/v1/summary` and the table from the keyset pages of
 * `GET /api/v1/preorders` (sorted and searched by the server, across all pages). When the server cannot
 * be reached, both are computed from the local replica and marked as possibly stale. A status
 * change is always a local edit (the same path as the recap page), so it works offline and
 * reaches the server with the next sync; the page re-reads after each successful sync.
 * Admins also see the Airtable connector's card (./AirtableCard); reps never request it.
 */
import { useLiveQuery } from 'dexie-react-hooks';
import { useCallback, useEffect, useMemo, useState, type ReactNode } from 'react';
import { Bar, BarChart, CartesianGrid, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';

import { setOrderField } from '../app/actions';
import { addDays, isoDate } from '../app/dates';
import { service } from '../app/service';
import { HttpError } from '../engine/sync';
import { PRE_ORDER_STATUSES, PRIORITIES, STATUS_TRANSITIONS, type PreOrderStatus } from '../engine/schema';
import type { Session, SyncStatus } from '../engine/store';
import { canSeeAirtable } from '../dashboard/airtable';
import {
  downloadOrdersCsv,
  fetchOrders,
  fetchSummary,
  isUnreachable,
  localOrders,
  localSummary,
  SERVER_SORT,
  type OrderQuery,
} from '../dashboard/data';
import { sortRows, totals, type OrderRow, type SortKey, type Summary } from '../dashboard/figures';
import '../dashboard/dashboard.css';
import { AirtableCard } from './AirtableCard';
import { OrderValue } from './OrderValue';
import { usePendingRows } from './hooks';
import { useToast } from './toast';

const TOP = 10;
const PAGE = 20;

type Source = { kind: 'server' } | { kind: 'local'; reason: string };

function fmt(n: number, digits = 3): string {
  return n.toLocaleString(undefined, { maximumFractionDigits: digits });
}

function reasonOf(e: unknown): string {
  if (isUnreachable(e)) return 'the server cannot be reached';
  if (e instanceof HttpError && e.status === 401) return 'your session has expired';
  return e instanceof Error ? e.message : String(e);
}

function useLastSync(): number | null {
  return (
    useLiveQuery(async () => (await service.replica.getMeta<SyncStatus>('status'))?.lastSyncAt ?? null, []) ?? null
  );
}

function useRole(): string | null {
  return useLiveQuery(async () => (await service.replica.getMeta<Session>('session'))?.user.role ?? null, []) ?? null;
}

export default function DashboardPage(): ReactNode {
  const today = isoDate(new Date());
  const [from, setFrom] = useState(() => addDays(today, -30));
  const [to, setTo] = useState(() => addDays(today, 30));
  const [summary, setSummary] = useState<Summary | null>(null);
  const [source, setSource] = useState<Source | null>(null);
  const [tick, setTick] = useState(0);
  const lastSync = useLastSync();
  const role = useRole();
  const rangeOk = from <= to;

  useEffect(() => {
    if (!rangeOk) return;
    const stale = new AbortController();
    void (async () => {
      try {
        const s = await fetchSummary(from, to, TOP);
        if (stale.signal.aborted) return;
        setSummary(s);
        setSource({ kind: 'server' });
      } catch (e) {
        const s = await localSummary(from, to, TOP);
        if (stale.signal.aborted) return;
        setSummary(s);
        setSource({ kind: 'local', reason: reasonOf(e) });
      }
    })();
    return () => stale.abort();
  }, [from, to, rangeOk, tick, lastSync]);

  const setPreset = (days: number): void => {
    setFrom(addDays(today, -days));
    setTo(addDays(today, days));
  };

  return (
    <section className="dashboard" data-testid="dashboard">
      <div className="dash-bar">
        <h1>Dashboard</h1>
        <label className="field inline">
          <span className="label">From</span>
          <input
            type="date"
            value={from}
            data-testid="dash-from"
            onChange={(e) => e.target.value && setFrom(e.target.value)}
          />
        </label>
        <label className="field inline">
          <span className="label">To</span>
          <input
            type="date"
            value={to}
            data-testid="dash-to"
            onChange={(e) => e.target.value && setTo(e.target.value)}
          />
        </label>
        <div className="presets">
          <button type="button" className="btn small ghost" onClick={() => setPreset(7)}>
            ±7 days
          </button>
          <button type="button" className="btn small ghost" onClick={() => setPreset(30)}>
            ±30 days
          </button>
          <button type="button" className="btn small ghost" onClick={() => setPreset(90)}>
            ±90 days
          </button>
        </div>
        <button type="button" className="btn small" data-testid="dash-refresh" onClick={() => setTick((t) => t + 1)}>
          Refresh
        </button>
      </div>
      {!rangeOk ? <p className="error">“From” is after “To”.</p> : null}
      {source?.kind === 'local' ? (
        <div className="offline-banner" role="status" data-testid="dash-offline">
          <strong>Offline — figures from this device, may be stale.</strong> <span>({source.reason})</span>
        </div>
      ) : null}
      {summary === null ? (
        <p className="muted" data-testid="dash-loading">
          Loading…
        </p>
      ) : (
        <Figures summary={summary} source={source} />
      )}
      <OrderValue tick={tick} lastSync={lastSync} />
      {canSeeAirtable(role) ? (
        <AirtableCard offline={source?.kind === 'local' ? source.reason : null} tick={tick} lastSync={lastSync} />
      ) : null}
      <OrdersTable from={from} to={to} tick={tick} lastSync={lastSync} />
    </section>
  );
}

function Figures(props: { summary: Summary; source: Source | null }): ReactNode {
  const { summary } = props;
  const all = totals(summary);
  const perDay = summary.per_day.map((d) => ({ day: d.date.slice(5), date: d.date, orders: d.pre_orders }));
  const products = summary.top_products.map((p) => ({
    name: p.name ?? p.sku ?? p.product_id.slice(0, 8),
    quantity: p.quantity,
  }));
  return (
    <div data-testid="dash-figures" data-source={props.source?.kind ?? ''}>
      <div className="kpis">
        <div className="kpi card">
          <span className="label">Pre-orders</span>
          <strong data-testid="kpi-orders">{all.pre_orders}</strong>
        </div>
        {summary.by_status.map((s) => (
          <div className="kpi card" key={s.status} data-testid="kpi-status" data-status={s.status}>
            <span className="label">
              <span className={`status ${s.status}`}>{s.status}</span>
            </span>
            <strong data-testid="kpi-status-count">{s.pre_orders}</strong>
            <span className="muted">
              {fmt(s.quantity)} units · {fmt(s.weight)} kg
            </span>
          </div>
        ))}
        <div className="kpi card">
          <span className="label">Total quantity</span>
          <strong data-testid="kpi-quantity" data-value={all.quantity}>
            {fmt(all.quantity)}
          </strong>
        </div>
        <div className="kpi card">
          <span className="label">Total weight (kg)</span>
          <strong data-testid="kpi-weight" data-value={all.weight}>
            {fmt(all.weight)}
          </strong>
        </div>
      </div>
      <div className="charts">
        <div
          className="card chart"
          data-testid="chart-per-day"
          data-first={summary.per_day[0]?.date ?? ''}
          data-last={summary.per_day[summary.per_day.length - 1]?.date ?? ''}
          data-count={summary.per_day.length}
          data-days={summary.per_day
            .filter((d) => d.pre_orders > 0)
            .map((d) => `${d.date}:${String(d.pre_orders)}`)
            .join(',')}
        >
          <h2>
            Pre-orders per delivery day ({summary.date_from} to {summary.date_to})
          </h2>
          <ResponsiveContainer width="100%" height={240}>
            <BarChart data={perDay} margin={{ top: 8, right: 8, bottom: 0, left: -16 }}>
              <CartesianGrid strokeDasharray="3 3" vertical={false} />
              <XAxis dataKey="day" tick={{ fontSize: 11 }} interval="preserveStartEnd" />
              <YAxis allowDecimals={false} tick={{ fontSize: 11 }} />
              <Tooltip labelFormatter={(_l, p) => (p[0]?.payload as { date?: string } | undefined)?.date ?? ''} />
              <Bar dataKey="orders" name="Pre-orders" fill="#1f5f8b" isAnimationActive={false} />
            </BarChart>
          </ResponsiveContainer>
        </div>
        <div
          className="card chart"
          data-testid="chart-top-products"
          data-products={summary.top_products.map((p) => p.product_id).join(',')}
        >
          <h2>Top products by quantity</h2>
          <ResponsiveContainer width="100%" height={Math.max(160, products.length * 26 + 40)}>
            <BarChart data={products} layout="vertical" margin={{ top: 8, right: 16, bottom: 0, left: 8 }}>
              <CartesianGrid strokeDasharray="3 3" horizontal={false} />
              <XAxis type="number" tick={{ fontSize: 11 }} />
              <YAxis type="category" dataKey="name" width={130} tick={{ fontSize: 11 }} />
              <Tooltip />
              <Bar dataKey="quantity" name="Quantity" fill="#2e8b57" isAnimationActive={false} />
            </BarChart>
          </ResponsiveContainer>
        </div>
        <div className="card" data-testid="busiest-partners">
          <h2>Busiest partners</h2>
          {summary.busiest_partners.length === 0 ? <p className="muted">No pre-orders in this range.</p> : null}
          <ol className="partner-list">
            {summary.busiest_partners.map((p) => (
              <li key={p.partner_id} data-testid="busy-partner" data-partner-id={p.partner_id}>
                <span className="name">{p.name ?? p.partner_id}</span>
                <span className="muted num">
                  {p.pre_orders} orders · {fmt(p.quantity)} units
                </span>
              </li>
            ))}
          </ol>
        </div>
      </div>
    </div>
  );
}

const COLUMNS: { key: SortKey; label: string; num?: boolean }[] = [
  { key: 'created_at', label: 'Created' },
  { key: 'delivery_date', label: 'Delivery date' },
  { key: 'partner_name', label: 'Partner' },
  { key: 'status', label: 'Status' },
  { key: 'priority', label: 'Priority' },
  { key: 'created_by_name', label: 'Created by' },
  { key: 'flows', label: 'Lines', num: true },
  { key: 'quantity', label: 'Quantity', num: true },
  { key: 'total_cents', label: 'Total', num: true },
];

/** The columns the table edits inline (ordinary local edits through the engine). */
const EDITABLE = ['status', 'priority'] as const;

/** Cents as an amount with two decimals (the model has no currency). */
function money(cents: number | null): string {
  return cents === null
    ? '–'
    : (cents / 100).toLocaleString(undefined, { minimumFractionDigits: 2, maximumFractionDigits: 2 });
}

/** The statuses the table offers for an order: its own and those it may move to. */
function statusChoices(status: string | null): readonly string[] {
  if (status === null || !(PRE_ORDER_STATUSES as readonly string[]).includes(status)) return PRE_ORDER_STATUSES;
  return [status, ...STATUS_TRANSITIONS[status as PreOrderStatus]];
}

/**
 * Online: one keyset page of the API at a time (previous pages by a stack of cursors), sorted
 * and searched by the server across all pages (lines and quantity are not sortable there).
 * Offline: the local orders in the range, filtered, sorted as a whole and cut into pages.
 */
function OrdersTable(props: { from: string; to: string; tick: number; lastSync: number | null }): ReactNode {
  const toast = useToast();
  const pending = usePendingRows();
  const [status, setStatus] = useState<string>('');
  const [cursors, setCursors] = useState<(string | null)[]>([null]);
  const [localPage, setLocalPage] = useState(0);
  const [data, setData] = useState<{ rows: OrderRow[]; next: string | null; local: boolean; key: string } | null>(null);
  const [sort, setSort] = useState<{ key: SortKey; dir: 1 | -1 }>({ key: 'created_at', dir: -1 });
  const [search, setSearch] = useState('');
  const [q, setQ] = useState('');
  const [overrides, setOverrides] = useState<Map<string, string>>(new Map());
  const cursor = cursors[cursors.length - 1] ?? null;
  const { from, to, tick, lastSync } = props;

  // The search applies once typing pauses; a new search starts from the first page.
  useEffect(() => {
    const timer = setTimeout(() => {
      setQ(search.trim());
      setCursors([null]);
      setLocalPage(0);
    }, 250);
    return () => clearTimeout(timer);
  }, [search]);

  useEffect(() => {
    const stale = new AbortController();
    const query: OrderQuery = { status: status || null, q: q || null, sort: sort.key, dir: sort.dir };
    const key = JSON.stringify([cursor, query, from, to]);
    // A local edit shows at once; it is dropped once the data read back agrees with it.
    const show = (rows: OrderRow[], next: string | null, local: boolean): void => {
      if (stale.signal.aborted) return;
      setData({ rows, next, local, key });
      setOverrides((old) => {
        const kept = new Map(old);
        for (const r of rows) {
          for (const column of EDITABLE)
            if (kept.get(`${r.id}:${column}`) === r[column]) kept.delete(`${r.id}:${column}`);
        }
        return kept.size === old.size ? old : kept;
      });
    };
    void (async () => {
      try {
        const page = await fetchOrders(PAGE, cursor, query);
        show(page.rows, page.next_cursor, false);
      } catch {
        show(await localOrders(from, to, query), null, true);
      }
    })();
    return () => stale.abort();
  }, [cursor, status, q, sort, from, to, tick, lastSync]);

  const rows = useMemo(() => {
    if (!data) return [];
    const withEdits = data.rows.map((r) => ({
      ...r,
      status: overrides.get(`${r.id}:status`) ?? r.status,
      priority: overrides.get(`${r.id}:priority`) ?? r.priority,
    }));
    // The server's pages come sorted; the local rows are sorted here, as a whole.
    if (!data.local) return withEdits;
    return sortRows(withEdits, sort.key, sort.dir).slice(localPage * PAGE, (localPage + 1) * PAGE);
  }, [data, overrides, sort, localPage]);

  const pages = data?.local ? Math.max(1, Math.ceil(data.rows.length / PAGE)) : null;
  const hasPrev = data?.local ? localPage > 0 : cursors.length > 1;
  const hasNext = data?.local ? localPage + 1 < (pages ?? 1) : data?.next != null;
  const pageNo = data?.local ? localPage + 1 : cursors.length;
  // What the rows should be for (the effect's key): until they are, the table is busy.
  const wanted = JSON.stringify([
    cursor,
    { status: status || null, q: q || null, sort: sort.key, dir: sort.dir } satisfies OrderQuery,
    from,
    to,
  ]);

  const change = useCallback(
    (row: OrderRow, column: (typeof EDITABLE)[number], value: string) => {
      const key = `${row.id}:${column}`;
      setOverrides((old) => new Map(old).set(key, value));
      setOrderField(row.id, column, value).then(
        () =>
          toast.info(
            `${column === 'status' ? 'Status' : 'Priority'} set to ${value} (saved on this device; it syncs to the server)`,
          ),
        (e: unknown) => {
          setOverrides((old) => {
            const next = new Map(old);
            next.delete(key);
            return next;
          });
          toast.error(e);
        },
      );
    },
    [toast],
  );

  const [exporting, setExporting] = useState(false);
  const exportCsv = (): void => {
    setExporting(true);
    downloadOrdersCsv({ status: status || null, q: q || null, sort: sort.key, dir: sort.dir })
      .then(
        () => toast.info('Orders exported as CSV (every page of the current filters and sort)'),
        (e: unknown) => toast.error(e),
      )
      .finally(() => setExporting(false));
  };

  const header = (c: (typeof COLUMNS)[number]): ReactNode => {
    const active = sort.key === c.key;
    if (data !== null && !data.local && SERVER_SORT[c.key] === undefined) {
      return (
        <th key={c.key} className={c.num ? 'num' : undefined}>
          {c.label}
        </th>
      );
    }
    return (
      <th
        key={c.key}
        className={c.num ? 'num' : undefined}
        aria-sort={active ? (sort.dir === 1 ? 'ascending' : 'descending') : 'none'}
      >
        <button
          type="button"
          className="sort"
          data-testid={`sort-${c.key}`}
          onClick={() => {
            setSort({ key: c.key, dir: active ? (sort.dir === 1 ? -1 : 1) : 1 });
            setCursors([null]);
            setLocalPage(0);
          }}
        >
          {c.label}
          {active ? (sort.dir === 1 ? ' ▲' : ' ▼') : ''}
        </button>
      </th>
    );
  };

  return (
    <div className="card orders-card" data-testid="orders-table-card">
      <div className="orders-head">
        <h2>Orders</h2>
        <span className="muted">
          {data?.local
            ? `from this device, delivery ${from} … ${to}; sorted across all ${data.rows.length}`
            : 'from the server; sorted and searched across all pages'}
        </span>
        <label className="field inline">
          <span className="label">Partner</span>
          <input
            type="search"
            value={search}
            placeholder="Search partner"
            maxLength={100}
            data-testid="orders-search"
            onChange={(e) => setSearch(e.target.value)}
          />
        </label>
        <button
          type="button"
          className="btn small"
          data-testid="orders-export"
          disabled={exporting || data === null || data.local}
          title={data?.local ? 'Export needs the server' : 'Every order of these filters, as CSV'}
          onClick={exportCsv}
        >
          Export CSV
        </button>
        <label className="field inline">
          <span className="label">Status</span>
          <select
            value={status}
            data-testid="orders-status-filter"
            onChange={(e) => {
              setStatus(e.target.value);
              setCursors([null]);
              setLocalPage(0);
            }}
          >
            <option value="">All</option>
            {PRE_ORDER_STATUSES.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
      </div>
      <div className="table-wrap">
        <table className="orders" data-testid="orders-table" aria-busy={data?.key !== wanted}>
          <thead>
            <tr>{COLUMNS.map(header)}</tr>
          </thead>
          <tbody>
            {data === null ? (
              <tr>
                <td colSpan={COLUMNS.length} className="muted">
                  Loading…
                </td>
              </tr>
            ) : null}
            {data !== null && rows.length === 0 ? (
              <tr>
                <td colSpan={COLUMNS.length} className="muted">
                  No orders.
                </td>
              </tr>
            ) : null}
            {rows.map((r) => (
              <tr key={r.id} data-testid="order-row" data-order-id={r.id}>
                <td data-testid="order-row-created" data-value={r.created_at ?? ''}>
                  {r.created_at?.slice(0, 10) ?? '–'}
                </td>
                <td>{r.delivery_date ?? '–'}</td>
                <td>{r.partner_name ?? r.partner_id ?? '–'}</td>
                <td>
                  <select
                    className={`status-select ${r.status ?? ''}`}
                    aria-label="Status"
                    data-testid="order-row-status"
                    value={r.status ?? ''}
                    onChange={(e) => change(r, 'status', e.target.value)}
                  >
                    {r.status === null ? <option value="">–</option> : null}
                    {statusChoices(r.status).map((s) => (
                      <option key={s} value={s}>
                        {s}
                      </option>
                    ))}
                  </select>
                  {pending.has(`pre_orders/${r.id}`) ? (
                    <span className="unsynced" title="Not synced yet" data-testid="order-row-unsynced">
                      {' '}
                      ●
                    </span>
                  ) : null}
                </td>
                <td>
                  <select
                    className={`priority-select ${r.priority ?? ''}`}
                    aria-label="Priority"
                    data-testid="order-row-priority"
                    value={r.priority ?? ''}
                    onChange={(e) => change(r, 'priority', e.target.value)}
                  >
                    {r.priority === null ? <option value="">–</option> : null}
                    {PRIORITIES.map((p) => (
                      <option key={p} value={p}>
                        {p}
                      </option>
                    ))}
                  </select>
                </td>
                <td data-testid="order-row-creator">{r.created_by_name ?? '–'}</td>
                <td className="num">{r.flows}</td>
                <td className="num">{fmt(r.quantity)}</td>
                <td className="num" data-testid="order-row-total" data-value={r.total_cents ?? ''}>
                  {money(r.total_cents)}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <div className="pager">
        <button
          type="button"
          className="btn small ghost"
          data-testid="orders-prev"
          disabled={!hasPrev}
          onClick={() => (data?.local ? setLocalPage((p) => p - 1) : setCursors((c) => c.slice(0, -1)))}
        >
          ‹ Previous
        </button>
        <span data-testid="orders-page">
          Page {pageNo}
          {pages !== null ? ` of ${pages}` : ''}
        </span>
        <button
          type="button"
          className="btn small ghost"
          data-testid="orders-next"
          disabled={!hasNext || data?.key !== wanted}
          onClick={() => (data?.local ? setLocalPage((p) => p + 1) : setCursors((c) => [...c, data?.next ?? null]))}
        >
          Next ›
        </button>
      </div>
    </div>
  );
}
