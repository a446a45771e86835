/**
 * Dashboard figures: the shape of `GET /api/v1/summary`, and the same figures computed from
 * the local replica (offline). The local computation mirrors the server's SQL
 * (sync_server/api/summary.py) rule for rule, so both sides agree on the same data:
 *  - a pre-order counts when its tombstone is not 1 and its delivery date is in the range;
 *  - a flow counts when its tombstone is not 1 and its pre-order counts;
 *  - by status: orders with a status, their flows' quantity and weight summed;
 *  - top products: by summed quantity (desc), then product id; name and sku as stored;
 *  - per day: live orders per delivery date, every day from `from` to `to`, zeros included;
 *  - busiest partners: by order count, then quantity (desc), then partner id.
 */
import { addDays } from '../app/dates';
import { isLive, type RowRecord } from '../engine/store';

export interface StatusTotals {
  status: string;
  pre_orders: number;
  quantity: number;
  weight: number;
}

export interface ProductTotals {
  product_id: string;
  name: string | null;
  sku: string | null;
  quantity: number;
  weight: number;
}

export interface DayCount {
  date: string;
  pre_orders: number;
}

export interface PartnerTotals {
  partner_id: string;
  name: string | null;
  pre_orders: number;
  quantity: number;
}

export interface Summary {
  date_from: string;
  date_to: string;
  by_status: StatusTotals[];
  top_products: ProductTotals[];
  per_day: DayCount[];
  busiest_partners: PartnerTotals[];
  generated_at: string;
  version?: number;
}

export interface LocalData {
  orders: RowRecord[];
  flows: RowRecord[];
  products: RowRecord[];
  partners: RowRecord[];
}

function str(rec: RowRecord | undefined, column: string): string | null {
  const v = rec?.cols[column]?.value;
  return typeof v === 'string' ? v : null;
}

function numOr0(rec: RowRecord, column: string): number {
  const v = rec.cols[column]?.value;
  return typeof v === 'number' ? v : 0;
}

function numOrNull(rec: RowRecord | undefined, column: string): number | null {
  const v = rec?.cols[column]?.value;
  return typeof v === 'number' ? v : null;
}

/** A line's amount in cents: quantity x price, rounded half up (the server's
 * `services.records.line_amount`, floor(x + 0.5) on the same doubles). */
export function lineAmount(quantity: number | null, priceCents: number | null): number | null {
  if (quantity === null || priceCents === null) return null;
  return Math.floor(quantity * priceCents + 0.5);
}

/** An order's total (the server's `order_total`): the one set on it, else the sum of its
 * live, not cancelled lines' amounts (each line's price, else its product's); null while no
 * line has both a quantity and a price. */
export function orderTotal(
  order: RowRecord,
  flows: RowRecord[],
  products: ReadonlyMap<string, RowRecord>,
): number | null {
  const stored = numOrNull(order, 'total_cents');
  if (stored !== null) return stored;
  let total: number | null = null;
  for (const f of flows) {
    if (str(f, 'status') === 'cancelled') continue;
    const product = str(f, 'product_id');
    const price =
      numOrNull(f, 'price_cents') ?? (product === null ? null : numOrNull(products.get(product), 'unit_price_cents'));
    const amount = lineAmount(numOrNull(f, 'quantity'), price);
    if (amount !== null) total = (total ?? 0) + amount;
  }
  return total;
}

const byId = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** Round away float noise from summing decimals (the server sums exact numerics). */
const tidy = (n: number): number => Math.round(n * 1e6) / 1e6;

export function computeSummary(
  data: LocalData,
  from: string,
  to: string,
  top: number,
  now: Date = new Date(),
): Summary {
  const dayStart = from;
  const liveOrders = data.orders.filter((o) => o.ds === 'pre_orders' && isLive(o));
  const inRange = liveOrders.filter((o) => {
    const d = str(o, 'delivery_date');
    return d !== null && d >= from && d <= to;
  });
  const inRangeIds = new Set(inRange.map((o) => o.id));
  const flowsOf = new Map<string, RowRecord[]>();
  for (const f of data.flows) {
    if (f.ds !== 'pre_order_flows' || !isLive(f)) continue;
    const parent = str(f, 'pre_order_id');
    if (parent === null || !inRangeIds.has(parent)) continue;
    const list = flowsOf.get(parent) ?? [];
    list.push(f);
    flowsOf.set(parent, list);
  }

  const statuses = new Map<string, StatusTotals>();
  const partners = new Map<string, PartnerTotals>();
  const products = new Map<string, ProductTotals>();
  const partnerRows = new Map(data.partners.map((p) => [p.id, p]));
  const productRows = new Map(data.products.map((p) => [p.id, p]));

  for (const o of inRange) {
    const flows = flowsOf.get(o.id) ?? [];
    const quantity = flows.reduce((s, f) => s + numOr0(f, 'quantity'), 0);
    const weight = flows.reduce((s, f) => s + numOr0(f, 'weight'), 0);
    const status = str(o, 'status');
    if (status !== null) {
      const t = statuses.get(status) ?? { status, pre_orders: 0, quantity: 0, weight: 0 };
      t.pre_orders += 1;
      t.quantity += quantity;
      t.weight += weight;
      statuses.set(status, t);
    }
    const partnerId = str(o, 'partner_id');
    if (partnerId !== null) {
      const p = partners.get(partnerId) ?? {
        partner_id: partnerId,
        name: str(partnerRows.get(partnerId), 'name'),
        pre_orders: 0,
        quantity: 0,
      };
      p.pre_orders += 1;
      p.quantity += quantity;
      partners.set(partnerId, p);
    }
    for (const f of flows) {
      const productId = str(f, 'product_id');
      if (productId === null) continue;
      const row = productRows.get(productId);
      const p = products.get(productId) ?? {
        product_id: productId,
        name: str(row, 'name'),
        sku: str(row, 'sku'),
        quantity: 0,
        weight: 0,
      };
      p.quantity += numOr0(f, 'quantity');
      p.weight += numOr0(f, 'weight');
      products.set(productId, p);
    }
  }

  const perDayCounts = new Map<string, number>();
  for (const o of liveOrders) {
    const d = str(o, 'delivery_date');
    if (d !== null && d >= dayStart && d <= to) perDayCounts.set(d, (perDayCounts.get(d) ?? 0) + 1);
  }
  const per_day: DayCount[] = [];
  // At most the server's ten-year range.
  for (let date = dayStart; date <= to && per_day.length <= 3660; date = addDays(date, 1)) {
    per_day.push({ date, pre_orders: perDayCounts.get(date) ?? 0 });
  }

  return {
    date_from: from,
    date_to: to,
    by_status: [...statuses.values()]
      .sort((a, b) => byId(a.status, b.status))
      .map((s) => ({ ...s, quantity: tidy(s.quantity), weight: tidy(s.weight) })),
    top_products: [...products.values()]
      .sort((a, b) => b.quantity - a.quantity || byId(a.product_id, b.product_id))
      .slice(0, top)
      .map((p) => ({ ...p, quantity: tidy(p.quantity), weight: tidy(p.weight) })),
    per_day,
    busiest_partners: [...partners.values()]
      .sort((a, b) => b.pre_orders - a.pre_orders || b.quantity - a.quantity || byId(a.partner_id, b.partner_id))
      .slice(0, top)
      .map((p) => ({ ...p, quantity: tidy(p.quantity) })),
    generated_at: now.toISOString(),
  };
}

export interface Totals {
  pre_orders: number;
  quantity: number;
  weight: number;
}

export function totals(summary: Summary): Totals {
  return summary.by_status.reduce(
    (t, s) => ({
      pre_orders: t.pre_orders + s.pre_orders,
      quantity: tidy(t.quantity + s.quantity),
      weight: tidy(t.weight + s.weight),
    }),
    { pre_orders: 0, quantity: 0, weight: 0 },
  );
}

/** One row of the orders table, from the REST API or from the local replica. */
export interface OrderRow {
  id: string;
  delivery_date: string | null;
  partner_id: string | null;
  partner_name: string | null;
  status: string | null;
  flows: number;
  quantity: number;
  created_at: string | null;
  /** Who created the order: known from the server only (a device's log does not say who
   * sent a message), so null in the offline table. */
  created_by_name: string | null;
  priority: string | null;
  /** The order's total in cents (`orderTotal`). */
  total_cents: number | null;
}

export type SortKey =
  | 'created_at'
  | 'created_by_name'
  | 'delivery_date'
  | 'partner_name'
  | 'status'
  | 'priority'
  | 'flows'
  | 'quantity'
  | 'total_cents';

export function sortRows(rows: OrderRow[], key: SortKey, dir: 1 | -1): OrderRow[] {
  const cmp = (a: OrderRow, b: OrderRow): number => {
    const x = a[key];
    const y = b[key];
    if (x === y) return byId(a.id, b.id);
    if (x === null) return 1; // missing values last, whichever the direction
    if (y === null) return -1;
    const c = typeof x === 'number' && typeof y === 'number' ? x - y : String(x).localeCompare(String(y));
    return c * dir;
  };
  return [...rows].sort(cmp);
}

/** The local orders in the range as table rows (newest first, like the API's keyset order). */
export function localOrderRows(data: LocalData, from: string, to: string): OrderRow[] {
  const partnerRows = new Map(data.partners.map((p) => [p.id, p]));
  const productRows = new Map(data.products.map((p) => [p.id, p]));
  const flowsOf = new Map<string, RowRecord[]>();
  for (const f of data.flows) {
    if (!isLive(f)) continue;
    const parent = str(f, 'pre_order_id');
    if (parent === null) continue;
    const list = flowsOf.get(parent) ?? [];
    list.push(f);
    flowsOf.set(parent, list);
  }
  return data.orders
    .filter((o) => {
      const d = str(o, 'delivery_date');
      return isLive(o) && d !== null && d >= from && d <= to;
    })
    .map((o) => {
      const flows = flowsOf.get(o.id) ?? [];
      const partnerId = str(o, 'partner_id');
      return {
        id: o.id,
        delivery_date: str(o, 'delivery_date'),
        partner_id: partnerId,
        partner_name: partnerId === null ? null : str(partnerRows.get(partnerId), 'name'),
        status: str(o, 'status'),
        flows: flows.length,
        quantity: tidy(flows.reduce((s, f) => s + numOr0(f, 'quantity'), 0)),
        created_at: str(o, 'created_at'),
        created_by_name: null,
        priority: str(o, 'priority'),
        total_cents: orderTotal(o, flows, productRows),
      };
    })
    .sort((a, b) => byId(b.created_at ?? '', a.created_at ?? '') || byId(b.id, a.id));
}
