import { describe, expect, it } from 'vitest';

import { computeSummary, localOrderRows, sortRows, totals, type LocalData } from '../src/dashboard/figures';
import type { Scalar } from '../src/engine/message';
import type { RowRecord } from '../src/engine/store';

const TS = '2026-11-01T00:00:00.000Z-0000-0000000000000001';

function row(ds: string, id: string, cols: Record<string, Scalar>): RowRecord {
  return { ds, id, cols: Object.fromEntries(Object.entries(cols).map(([k, value]) => [k, { value, timestamp: TS }])) };
}

const order = (
  id: string,
  date: string,
  status: string | null,
  partner: string,
  extra: Record<string, Scalar> = {},
): RowRecord =>
  row('pre_orders', id, {
    delivery_date: date,
    partner_id: partner,
    created_at: `${date}T08:00:00Z`,
    ...(status === null ? {} : { status }),
    ...extra,
  });
const flow = (
  id: string,
  orderId: string,
  product: string,
  quantity: number,
  weight: number,
  extra: Record<string, Scalar> = {},
): RowRecord => row('pre_order_flows', id, { pre_order_id: orderId, product_id: product, quantity, weight, ...extra });

function fixture(): LocalData {
  return {
    orders: [
      order('o1', '2026-11-10', 'pending', 'pa'),
      order('o2', '2026-11-10', 'confirmed', 'pa'),
      order('o3', '2026-11-12', 'confirmed', 'pb'),
      order('o4', '2026-11-12', 'pending', 'pb', { tombstone: 1 }), // deleted
      order('o5', '2026-12-25', 'pending', 'pc'), // after the range
      order('o6', '2026-10-20', null, 'pc'), // no status, before the range but within 30 days
      order('o7', '2026-11-11', 'pending', 'pc'), // no flows
    ],
    flows: [
      flow('f1', 'o1', 'p1', 2, 1.1),
      flow('f2', 'o1', 'p2', 3, 0.6),
      flow('f3', 'o2', 'p1', 5, 2.75),
      flow('f4', 'o2', 'p2', 100, 20, { tombstone: 1 }), // deleted line
      flow('f5', 'o3', 'p3', 5, 1),
      flow('f6', 'o4', 'p3', 50, 10), // its order is deleted
      flow('f7', 'o5', 'p3', 50, 10), // its order is out of range
    ],
    products: [
      row('products', 'p1', { name: 'Apples', sku: 'APL' }),
      row('products', 'p2', { name: 'Pears', sku: 'PER' }),
      row('products', 'p3', { name: 'Plums', sku: 'PLM' }),
    ],
    partners: [
      row('partners', 'pa', { name: 'Alpha' }),
      row('partners', 'pb', { name: 'Beta' }),
      row('partners', 'pc', { name: 'Gamma' }),
    ],
  };
}

describe('local dashboard figures (the offline mirror of GET /api/v1/summary)', () => {
  const s = computeSummary(fixture(), '2026-11-01', '2026-11-30', 10, new Date('2026-11-05T00:00:00Z'));

  it('counts live orders by status with their live flows', () => {
    expect(s.by_status).toEqual([
      { status: 'confirmed', pre_orders: 2, quantity: 10, weight: 3.75 },
      { status: 'pending', pre_orders: 2, quantity: 5, weight: 1.7 },
    ]);
    expect(totals(s)).toEqual({ pre_orders: 4, quantity: 15, weight: 5.45 });
  });

  it('ranks top products by quantity, then id, and cuts at top N', () => {
    expect(s.top_products.map((p) => [p.product_id, p.name, p.sku, p.quantity, p.weight])).toEqual([
      ['p1', 'Apples', 'APL', 7, 3.85],
      ['p3', 'Plums', 'PLM', 5, 1],
      ['p2', 'Pears', 'PER', 3, 0.6],
    ]);
    const top1 = computeSummary(fixture(), '2026-11-01', '2026-11-30', 1);
    expect(top1.top_products.map((p) => p.product_id)).toEqual(['p1']);
    expect(top1.busiest_partners.map((p) => p.partner_id)).toEqual(['pa']);
  });

  it('counts orders per day for every day of the range, zeros included', () => {
    expect(s.per_day).toHaveLength(30);
    expect(s.per_day[0]?.date).toBe('2026-11-01');
    expect(s.per_day[29]?.date).toBe('2026-11-30');
    const nonZero = s.per_day.filter((d) => d.pre_orders > 0);
    expect(nonZero).toEqual([
      { date: '2026-11-10', pre_orders: 2 },
      { date: '2026-11-11', pre_orders: 1 },
      { date: '2026-11-12', pre_orders: 1 },
    ]);
    // The per-day window is exactly the range (like the server's, issue 19): a 3-day
    // range has 3 days, a 60-day one 60.
    const short = computeSummary(fixture(), '2026-11-10', '2026-11-12', 10);
    expect(short.per_day.map((d) => d.date)).toEqual(['2026-11-10', '2026-11-11', '2026-11-12']);
    const long = computeSummary(fixture(), '2026-10-01', '2026-11-29', 10);
    expect(long.per_day).toHaveLength(60);
    expect(long.per_day[0]?.date).toBe('2026-10-01');
    expect(long.per_day.find((d) => d.date === '2026-10-20')?.pre_orders).toBe(1);
    expect(short.by_status.map((x) => x.status)).toEqual(['confirmed', 'pending']);
  });

  it('ranks busiest partners by orders, then quantity, then id', () => {
    expect(s.busiest_partners).toEqual([
      { partner_id: 'pa', name: 'Alpha', pre_orders: 2, quantity: 10 },
      { partner_id: 'pb', name: 'Beta', pre_orders: 1, quantity: 5 },
      { partner_id: 'pc', name: 'Gamma', pre_orders: 1, quantity: 0 },
    ]);
  });

  it('is empty for a range with no orders', () => {
    const e = computeSummary(fixture(), '2030-01-01', '2030-01-31', 10);
    expect(e.by_status).toEqual([]);
    expect(e.top_products).toEqual([]);
    expect(e.busiest_partners).toEqual([]);
    expect(e.per_day.every((d) => d.pre_orders === 0)).toBe(true);
  });
});

describe('local orders table', () => {
  const rows = localOrderRows(fixture(), '2026-11-01', '2026-11-30');

  it('lists the live orders in range with their flow counts and quantities, newest first', () => {
    expect(rows.map((r) => [r.id, r.partner_name, r.status, r.flows, r.quantity])).toEqual([
      ['o3', 'Beta', 'confirmed', 1, 5],
      ['o7', 'Gamma', 'pending', 0, 0],
      ['o2', 'Alpha', 'confirmed', 1, 5],
      ['o1', 'Alpha', 'pending', 2, 5],
    ]);
  });

  it('sorts by any column, both ways, ties by id', () => {
    expect(sortRows(rows, 'quantity', -1).map((r) => r.id)).toEqual(['o1', 'o2', 'o3', 'o7']);
    expect(sortRows(rows, 'flows', 1).map((r) => r.id)).toEqual(['o7', 'o2', 'o3', 'o1']);
    expect(sortRows(rows, 'partner_name', 1).map((r) => r.id)).toEqual(['o1', 'o2', 'o3', 'o7']);
    expect(sortRows(rows, 'delivery_date', -1).map((r) => r.id)).toEqual(['o3', 'o7', 'o1', 'o2']);
  });
});
