/**
 * The dashboard's value and priority cards over all orders (seed 002): the sum of the
 * orders' totals, per status, and how many orders each priority has. From
 * `GET /api/orders/summary` (cached on the server), or from this device's replica when the
 * server cannot be reached; re-read on Refresh and after each sync.
 */
import { useEffect, useState, type ReactNode } from 'react';

import { fetchOrdersSummary, localOrdersSummary, type OrdersSummary } from '../dashboard/orders';

/** Cents as an amount with two decimals (the model has no currency). */
function money(cents: number): string {
  return (cents / 100).toLocaleString(undefined, { minimumFractionDigits: 2, maximumFractionDigits: 2 });
}

export function OrderValue(props: { tick: number; lastSync: number | null }): ReactNode {
  const [summary, setSummary] = useState<OrdersSummary | null>(null);
  useEffect(() => {
    const stale = new AbortController();
    void (async () => {
      let s: OrdersSummary;
      try {
        s = await fetchOrdersSummary();
      } catch {
        s = await localOrdersSummary();
      }
      if (!stale.signal.aborted) setSummary(s);
    })();
    return () => stale.abort();
  }, [props.tick, props.lastSync]);
  if (summary === null) return null;
  return (
    <div className="kpis" data-testid="order-value">
      <div className="kpi card">
        <span className="label">Order value (all orders)</span>
        <strong data-testid="kpi-total-value" data-value={summary.totalCents}>
          {money(summary.totalCents)}
        </strong>
        <span className="muted">
          {summary.byStatus
            .filter((s) => s.count > 0)
            .map((s) => `${s.status} ${money(s.totalCents)}`)
            .join(' · ')}
        </span>
      </div>
      {summary.byPriority.map((p) => (
        <div className="kpi card" key={p.priority} data-testid="kpi-priority" data-priority={p.priority}>
          <span className="label">{p.priority} priority</span>
          <strong data-value={p.count}>{p.count}</strong>
        </div>
      ))}
    </div>
  );
}
