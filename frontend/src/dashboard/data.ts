/**
 * Where the dashboard's numbers come from: the REST API when the server answers, else the
 * local IndexedDB replica (possibly stale). Reads only, but for running the Airtable
 * connector (admins): status changes go through the engine's normal edit path
 * (app/actions.setOrderField), which works offline and syncs.
 */
import { service } from '../app/service';
import { datasetRows } from '../engine/rowgroups';
import { HttpError, NetworkError } from '../engine/sync';
import type { AirtableConnector, AirtableRun } from './airtable';
import { computeSummary, localOrderRows, type LocalData, type OrderRow, type SortKey, type Summary } from './figures';

function apiCall<T>(method: 'GET' | 'POST', path: string): Promise<T> {
  return service.api<T>(method, path);
}

function apiGet<T>(path: string): Promise<T> {
  return apiCall<T>('GET', path);
}

export function fetchSummary(from: string, to: string, top: number): Promise<Summary> {
  const q = new URLSearchParams({ from, to, top: String(top) });
  return apiGet<Summary>(`/api/v1/summary?${q.toString()}`);
}

interface ApiFlow {
  quantity: number | null;
}

interface ApiPreOrder {
  id: string;
  partner_id: string | null;
  partner_name: string | null;
  delivery_date: string | null;
  status: string | null;
  created_at: string | null;
  created_by_name: string | null;
  priority: string | null;
  total_cents: number | null;
  flows: ApiFlow[];
}

export interface OrderPage {
  rows: OrderRow[];
  next_cursor: string | null;
}

/** The table's columns the server sorts by (`sort=` of GET /api/v1/preorders); the others
 * (lines, quantity) sort only offline, where the whole range is local. */
export const SERVER_SORT: Partial<Record<SortKey, string>> = {
  created_at: 'created_at',
  created_by_name: 'creator',
  delivery_date: 'delivery_date',
  partner_name: 'partner',
  status: 'status',
};

/** The filters and order of the orders table, as the server applies them across all pages. */
export interface OrderQuery {
  status: string | null;
  /** A case-insensitive substring of the partner's name. */
  q: string | null;
  sort: SortKey;
  dir: 1 | -1;
}

export function orderParams(query: OrderQuery): URLSearchParams {
  const q = new URLSearchParams();
  if (query.status) q.set('status', query.status);
  if (query.q) q.set('q', query.q);
  q.set('sort', SERVER_SORT[query.sort] ?? 'created_at');
  q.set('order', query.dir === 1 ? 'asc' : 'desc');
  return q;
}

export async function fetchOrders(limit: number, cursor: string | null, query: OrderQuery): Promise<OrderPage> {
  const q = orderParams(query);
  q.set('limit', String(limit));
  if (cursor) q.set('cursor', cursor);
  const page = await apiGet<{ items: ApiPreOrder[]; next_cursor: string | null }>(`/api/v1/preorders?${q.toString()}`);
  return {
    rows: page.items.map((o) => ({
      id: o.id,
      delivery_date: o.delivery_date,
      partner_id: o.partner_id,
      partner_name: o.partner_name,
      status: o.status,
      flows: o.flows.length,
      quantity: Math.round(o.flows.reduce((s, f) => s + (f.quantity ?? 0), 0) * 1e6) / 1e6,
      created_at: o.created_at,
      created_by_name: o.created_by_name,
      priority: o.priority,
      total_cents: o.total_cents,
    })),
    next_cursor: page.next_cursor,
  };
}

/** Download every order of the table's filters and sort as CSV (GET /api/v1/preorders.csv,
 * which refuses more than 50,000 rows with a 422 saying so). */
export async function downloadOrdersCsv(query: OrderQuery): Promise<void> {
  const session = await service.currentSession();
  let resp: Response;
  try {
    resp = await fetch(`/api/v1/preorders.csv?${orderParams(query).toString()}`, {
      headers: session ? { Authorization: `Bearer ${session.token}` } : {},
      cache: 'no-store',
    });
  } catch (e) {
    throw new NetworkError(e instanceof Error ? e.message : String(e));
  }
  if (!resp.ok) {
    const error = new HttpError(resp.status, await resp.json().catch(() => null));
    service.noticeFailure(error);
    throw error;
  }
  const url = URL.createObjectURL(await resp.blob());
  const link = document.createElement('a');
  link.href = url;
  link.download = `preorders-${new Date().toISOString().slice(0, 10)}.csv`;
  document.body.appendChild(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** The whole local replica's orders, flows, products and partners (thousands of rows at most
 * on a rep's device; read in one transaction so the figures are consistent). */
export async function loadLocal(): Promise<LocalData> {
  const db = service.db;
  return db.transaction('r', db.rowGroups, async () => ({
    orders: await datasetRows(db.rowGroups, 'pre_orders'),
    flows: await datasetRows(db.rowGroups, 'pre_order_flows'),
    products: await datasetRows(db.rowGroups, 'products'),
    partners: await datasetRows(db.rowGroups, 'partners'),
  }));
}

export async function localSummary(from: string, to: string, top: number): Promise<Summary> {
  return computeSummary(await loadLocal(), from, to, top);
}

export async function localOrders(from: string, to: string, query: OrderQuery): Promise<OrderRow[]> {
  const rows = localOrderRows(await loadLocal(), from, to);
  const needle = query.q?.toLowerCase() ?? '';
  return rows.filter(
    (r) =>
      (!query.status || r.status === query.status) &&
      (!needle || (r.partner_name ?? '').toLowerCase().includes(needle)),
  );
}

/** The Airtable connector's settings and last run (admins only: reps get a 403). */
export function fetchAirtable(): Promise<AirtableConnector> {
  return apiGet<AirtableConnector>('/api/v1/connectors/airtable');
}

/** Run the connector now; a failed run is a 502 whose body carries the run (see
 * airtable.syncFailure), concurrent calls share one run on the server. */
export function syncAirtable(): Promise<AirtableRun> {
  return apiCall<AirtableRun>('POST', '/api/v1/connectors/airtable/sync');
}

/** Is this failure "the server cannot be reached" (use the local replica)? */
export function isUnreachable(e: unknown): boolean {
  return (
    e instanceof NetworkError || (e instanceof HttpError && (e.status === 502 || e.status === 503 || e.status === 504))
  );
}
