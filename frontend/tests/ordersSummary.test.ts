import { describe, expect, it } from 'vitest';

import { computeOrdersSummary } from '../src/dashboard/orders';
import type { Scalar } from '../src/engine/message';
import type { RowRecord } from '../src/engine/store';

const TS = '2026-11-01T00:00:00.000Z-0000-0000000000000001';

function row(ds: string, id: string, cols: Record<string, Scalar>): RowRecord {
  return { ds, id, cols: Object.fromEntries(Object.entries(cols).map(([k, value]) => [k, { value, timestamp: TS }])) };
}

describe('computeOrdersSummary (the server summary of seed 002, offline)', () => {
  it('sums each order total by status, set or from its lines, and counts priorities', () => {
    const summary = computeOrdersSummary({
      orders: [
        row('pre_orders', 'o1', { status: 'pending', priority: 'high', total_cents: 1000 }),
        row('pre_orders', 'o2', { status: 'pending', priority: 'low' }),
        row('pre_orders', 'o3', { status: 'shipped', priority: 'high' }),
        row('pre_orders', 'o4', { status: 'shipped', priority: 'high', tombstone: 1, total_cents: 5 }),
      ],
      flows: [
        row('pre_order_flows', 'f1', { pre_order_id: 'o2', product_id: 'p1', quantity: 2.5 }),
        row('pre_order_flows', 'f2', { pre_order_id: 'o2', product_id: 'p1', quantity: 1, price_cents: 7 }),
        row('pre_order_flows', 'f3', { pre_order_id: 'o2', product_id: 'p1', quantity: 9, status: 'cancelled' }),
        row('pre_order_flows', 'f4', { pre_order_id: 'o3', product_id: 'p2', quantity: 3 }),
      ],
      products: [row('products', 'p1', { unit_price_cents: 101 }), row('products', 'p2', {})],
      partners: [],
    });
    const pending = summary.byStatus.find((s) => s.status === 'pending');
    const shipped = summary.byStatus.find((s) => s.status === 'shipped');
    // o2: floor(2.5 x 101 + 0.5) + 1 x 7 = 253 + 7; o3 has no price: null, counted as 0.
    expect(pending).toEqual({ status: 'pending', count: 2, totalCents: 1000 + 260 });
    expect(shipped).toEqual({ status: 'shipped', count: 1, totalCents: 0 });
    expect(summary.totalOrders).toBe(3);
    expect(summary.totalCents).toBe(1260);
    expect(summary.byPriority).toEqual([
      { priority: 'low', count: 1 },
      { priority: 'medium', count: 0 },
      { priority: 'high', count: 2 },
    ]);
    expect(summary.byStatus.map((s) => s.status)).toContain('cancelled');
  });
});
