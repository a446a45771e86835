/**
 * The orders dashboard's figures over all orders (seed 002): `GET /api/orders/summary` when
 * the server answers, else the same figures from the local replica. Only what the
 * dashboard's value and priority cards show: per status the number of orders and the sum of
 * their totals (cents), and per priority the number of orders. The local computation follows
 * the server's SQL (`storage/summary.orders_figures`): live orders, each order's total by the
 * one rule (`orderTotal`, null counting as 0).
 */
import { service } from '../app/service';
import { PRE_ORDER_STATUSES, PRIORITIES } from '../engine/schema';
import { isLive, type RowRecord } from '../engine/store';
import { loadLocal } from './data';
import { orderTotal, type LocalData } from './figures';

export interface OrdersSummary {
  totalOrders: number;
  totalCents: number;
  byStatus: { status: string; count: number; totalCents: number }[];
  byPriority: { priority: string; count: number }[];
}

export function fetchOrdersSummary(): Promise<OrdersSummary> {
  return service.api<OrdersSummary>('GET', '/api/orders/summary');
}

function text(rec: RowRecord | undefined, column: string): string | null {
  const v = rec?.cols[column]?.value;
  return typeof v === 'string' ? v : null;
}

export function computeOrdersSummary(data: LocalData): OrdersSummary {
  const products = new Map(data.products.filter((p) => p.ds === 'products').map((p) => [p.id, p]));
  const flowsOf = new Map<string, RowRecord[]>();
  for (const f of data.flows) {
    const parent = text(f, 'pre_order_id');
    if (f.ds !== 'pre_order_flows' || !isLive(f) || parent === null) continue;
    flowsOf.set(parent, [...(flowsOf.get(parent) ?? []), f]);
  }
  const byStatus = new Map<string, { count: number; totalCents: number }>();
  const byPriority = new Map<string, number>();
  for (const o of data.orders) {
    if (o.ds !== 'pre_orders' || !isLive(o)) continue;
    const status = text(o, 'status');
    if (status !== null) {
      const s = byStatus.get(status) ?? { count: 0, totalCents: 0 };
      s.count += 1;
      s.totalCents += orderTotal(o, flowsOf.get(o.id) ?? [], products) ?? 0;
      byStatus.set(status, s);
    }
    const priority = text(o, 'priority');
    if (priority !== null) byPriority.set(priority, (byPriority.get(priority) ?? 0) + 1);
  }
  const statuses = PRE_ORDER_STATUSES.map((status) => ({
    status,
    ...(byStatus.get(status) ?? { count: 0, totalCents: 0 }),
  }));
  return {
    totalOrders: statuses.reduce((n, s) => n + s.count, 0),
    totalCents: statuses.reduce((n, s) => n + s.totalCents, 0),
    byStatus: statuses,
    byPriority: PRIORITIES.map((priority) => ({ priority, count: byPriority.get(priority) ?? 0 })),
  };
}

export async function localOrdersSummary(): Promise<OrdersSummary> {
  return computeOrdersSummary(await loadLocal());
}
