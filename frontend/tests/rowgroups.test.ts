import { describe, expect, it } from 'vitest';

import {
  GROUP_BITS,
  allRows,
  datasetRows,
  flowsOf,
  groupOf,
  ordersOn,
  rowOf,
  rowsByKey,
  UNDATED,
} from '../src/engine/rowgroups';
import { newId, newReplica } from './helpers';

describe('row groups', () => {
  it('spread ids over at most 2^GROUP_BITS groups and give back every row put', async () => {
    const r = await newReplica();
    const ids = Array.from({ length: 600 }, () => newId());
    for (const id of ids) expect(groupOf(id)).toBeLessThan(2 ** GROUP_BITS);
    expect(new Set(ids.map(groupOf)).size).toBeGreaterThan(400);
    await r.edit(ids.map((id, i) => ({ dataset: 'partners', row: id, column: 'name', value: `p${i}` })));
    const got = await rowsByKey(
      r.db.rowGroups,
      ids.map((id) => ['partners', id] as const),
    );
    expect(got.map((g) => g?.cols.name?.value)).toEqual(ids.map((_, i) => `p${i}`));
    expect((await datasetRows(r.db.rowGroups, 'partners')).length).toBe(600);
    expect(await datasetRows(r.db.rowGroups, 'products')).toEqual([]);
    expect(await rowOf(r.db.rowGroups, 'products', ids[0] ?? '')).toBeUndefined();
    // Fewer records than rows: the point of the layout.
    expect(await r.db.rowGroups.count()).toBeLessThan(600);
  });

  it('find pre-orders by date and flows by pre-order, following edits that move them', async () => {
    const r = await newReplica();
    const orders = Array.from({ length: 40 }, () => newId());
    await r.edit(
      orders.flatMap((id, i) => [
        { dataset: 'pre_orders', row: id, column: 'delivery_date', value: i % 2 ? '2026-12-01' : '2026-12-02' },
        { dataset: 'pre_orders', row: id, column: 'status', value: 'pending' },
      ]),
    );
    const flows = orders.flatMap((order) => [newId(), newId()].map((id) => ({ id, order })));
    await r.edit(flows.map((f) => ({ dataset: 'pre_order_flows', row: f.id, column: 'pre_order_id', value: f.order })));
    expect((await ordersOn(r.db.rowGroups, '2026-12-01')).length).toBe(20);
    const first = orders[0] ?? '';
    const firstFlows = await flowsOf(r.db.rowGroups, [first]);
    expect(firstFlows.map((f) => f.id).sort()).toEqual(
      flows
        .filter((f) => f.order === first)
        .map((f) => f.id)
        .sort(),
    );
    expect((await flowsOf(r.db.rowGroups, orders)).length).toBe(80);

    // Switch an order's date and move a flow to another order: the indexes follow.
    await r.edit([{ dataset: 'pre_orders', row: first, column: 'delivery_date', value: '2026-12-01' }]);
    expect((await ordersOn(r.db.rowGroups, '2026-12-01')).map((o) => o.id)).toContain(first);
    expect((await ordersOn(r.db.rowGroups, '2026-12-02')).map((o) => o.id)).not.toContain(first);
    const moved = flows[0]?.id ?? '';
    const other = orders[1] ?? '';
    await r.edit([{ dataset: 'pre_order_flows', row: moved, column: 'pre_order_id', value: other }]);
    expect((await flowsOf(r.db.rowGroups, [first])).map((f) => f.id)).not.toContain(moved);
    expect((await flowsOf(r.db.rowGroups, [other])).map((f) => f.id)).toContain(moved);
    expect((await allRows(r.db.rowGroups)).length).toBe(120);
  });

  it('file pre-orders without a delivery date (Orders API drafts) under UNDATED until they get one', async () => {
    const r = await newReplica();
    const [draft, dated] = [newId(), newId()];
    await r.edit([
      { dataset: 'pre_orders', row: draft, column: 'status', value: 'pending' },
      { dataset: 'pre_orders', row: dated, column: 'delivery_date', value: '2026-12-01' },
    ]);
    expect((await ordersOn(r.db.rowGroups, UNDATED)).map((o) => o.id)).toEqual([draft]);
    await r.edit([{ dataset: 'pre_orders', row: draft, column: 'delivery_date', value: '2026-12-01' }]);
    expect(await ordersOn(r.db.rowGroups, UNDATED)).toEqual([]);
    expect((await ordersOn(r.db.rowGroups, '2026-12-01')).map((o) => o.id).sort()).toEqual([draft, dated].sort());
  });
});
