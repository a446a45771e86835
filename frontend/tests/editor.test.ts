import { describe, expect, it } from 'vitest';

import { clampQuantity, QTY_MAX, QTY_MIN, quantityError, weightFor, weightTyped } from '../src/app/actions';
import type { Register } from '../src/engine/merge';
import type { RowRecord } from '../src/engine/store';
import { newId } from './helpers';

const TS = '2026-12-01T10:00:00.000Z-0000-0123456789abcdef';

function row(ds: string, cols: Record<string, number | string>): RowRecord {
  const registers: Record<string, Register> = {};
  for (const [k, v] of Object.entries(cols)) registers[k] = { value: v, timestamp: TS };
  return { ds, id: 'x', cols: registers };
}

describe('quantities', () => {
  it('are whole numbers from 1 to 100,000', () => {
    expect([QTY_MIN, QTY_MAX]).toEqual([1, 100_000]);
    for (const ok of ['1', '7', ' 42 ', '100000', '100000.0']) expect(quantityError(ok)).toBeNull();
    expect(quantityError('0')).toBe('At least 1.');
    expect(quantityError('-3')).toBe('At least 1.');
    expect(quantityError('100001')).toBe('At most 100,000.');
    expect(quantityError('999999999')).toBe('At most 100,000.');
    expect(quantityError('2.5')).toBe('Whole numbers only.');
    expect(quantityError('abc')).toMatch(/whole number/);
    expect(quantityError('1e3')).toMatch(/whole number/);
    expect(quantityError('')).toBe('Enter a quantity.');
  });

  it('the stepper stays within the range', () => {
    expect(clampQuantity(0)).toBe(1);
    expect(clampQuantity(100_001)).toBe(100_000);
    expect(clampQuantity(5)).toBe(5);
  });
});

describe('a typed weight', () => {
  const product = row('products', { unit_weight: 0.25 });

  it('is one that differs from quantity × unit weight', () => {
    expect(weightFor(product, 7)).toBe(1.75);
    expect(weightTyped(row('pre_order_flows', { quantity: 7, weight: 1.75 }), product)).toBe(false);
    expect(weightTyped(row('pre_order_flows', { quantity: 7, weight: 12.5 }), product)).toBe(true);
    // Rounded to grams, as weightFor writes it.
    const odd = row('products', { unit_weight: 0.3333 });
    expect(weightTyped(row('pre_order_flows', { quantity: 3, weight: weightFor(odd, 3) ?? -1 }), odd)).toBe(false);
  });

  it('is always the rep’s for a product without a unit weight', () => {
    const bare = row('products', { name: 'loose' });
    expect(weightTyped(row('pre_order_flows', { quantity: 2, weight: 3 }), bare)).toBe(true);
    expect(weightTyped(row('pre_order_flows', { quantity: 2 }), bare)).toBe(false);
  });
});

describe('edits behind the panel (the app service over fake-indexeddb)', () => {
  it('undo writes the old values again as new edits; recent products are the partner’s latest', async () => {
    const { service } = await import('../src/app/service');
    const actions = await import('../src/app/actions');
    await service.replica.open();
    const product = (id: string, unit: number): RowRecord => ({
      ...row('products', { unit_weight: unit, name: id }),
      id,
    });
    const [p1, p2, p3] = [product(newId(), 0.5), product(newId(), 2), product(newId(), 1)];
    const partner = newId();
    const first = await actions.createPreOrder(partner, '2026-12-02');
    await actions.addFlow(first, p1, 3);
    await actions.addFlow(first, p2, 1);
    const other = await actions.createPreOrder(newId(), '2026-12-02');
    await actions.addFlow(other, p3, 1);
    const second = await actions.createPreOrder(partner, '2026-12-03');
    const line = await actions.addFlow(second, p3, 4);

    // The partner's products, newest line first; not the other partner's; not this order's.
    expect(await actions.recentProducts(partner, second, '2026-12-01')).toEqual([p2.id, p1.id]);
    expect(await actions.recentProducts(partner, first, '2026-12-01')).toEqual([p3.id]);

    // Removing a line, then Undo: back with its values, the removal still in the log.
    const before = (await actions.orderWithFlows(second))?.flows[0];
    expect(before?.cols.weight?.value).toBe(4);
    await actions.setDeleted('pre_order_flows', line, true);
    expect((await actions.orderWithFlows(second))?.flows).toEqual([]);
    if (!before) throw new Error('no line');
    await actions.restoreFlow(before);
    const after = (await actions.orderWithFlows(second))?.flows[0];
    expect([after?.cols.quantity?.value, after?.cols.weight?.value, after?.cols.tombstone?.value]).toEqual([4, 4, 0]);
    expect((after?.cols.tombstone?.timestamp ?? '') > (before.cols.tombstone?.timestamp ?? '')).toBe(true);
    const log = await service.db.messages.toArray();
    expect(log.filter((m) => m.row === line && m.column === 'tombstone').map((m) => m.value)).toEqual([0, 1, 0]);

    // A deleted order is still found by id (the open panel shows it as deleted).
    await actions.setDeleted('pre_orders', first, true);
    expect((await actions.orderWithFlows(first))?.order.cols.tombstone?.value).toBe(1);
    expect(await actions.recentProducts(partner, second, '2026-12-01')).toEqual([]);
    expect(
      await actions.writerOf(
        'pre_orders',
        first,
        (await actions.orderWithFlows(first))?.order.cols.tombstone?.timestamp ?? '',
      ),
    ).toBe('you');
  });
});
