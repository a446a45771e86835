import { describe, expect, it } from 'vitest';

import { byRecord, groupNotices, reapplyChanges, winnerStands, type RowOf } from '../src/app/notices';
import type { Register } from '../src/engine/merge';
import type { RowRecord } from '../src/engine/rowgroups';
import type { ConflictRecord, ServerConflict } from '../src/engine/store';
import { Timestamp } from '../src/engine/timestamp';
import { newId, newReplica } from './helpers';

const ME = 'aaaaaaaaaaaaaaaa';
const BOB = 'bbbbbbbbbbbbbbbb';
const T = Date.parse('2026-12-01T09:00:00Z');
const ts = (ms: number, node: string, counter = 0): string => new Timestamp(T + ms, counter, node).toString();

let nextId = 1;
function conflict(over: Partial<ConflictRecord> & Pick<ConflictRecord, 'dataset' | 'row' | 'column'>): ConflictRecord {
  return {
    id: nextId++,
    kind: 'superseded',
    winner: { value: 2, timestamp: ts(10, BOB), user_id: 'bob', user_name: 'Bob' },
    loser: { value: 1, timestamp: ts(5, ME), user_id: 'me', user_name: 'Me' },
    detected_at: '2026-12-01T09:00:01Z',
    yours: 'loser',
    notified: 0,
    resolved: 0,
    ...over,
  };
}

function rows(list: RowRecord[]): RowOf {
  const map = new Map(list.map((r) => [`${r.ds}/${r.id}`, r]));
  return (ds, id) => map.get(`${ds}/${id}`);
}

function row(ds: string, id: string, cols: Record<string, Register>, parent?: string): RowRecord {
  return parent === undefined ? { ds, id, cols } : { ds, id, cols, parent };
}

describe('conflict notices', () => {
  const order = newId();
  const line = newId();
  const other = newId();
  const del = ts(3, BOB);
  const world = rows([
    row('pre_orders', order, { tombstone: { value: 1, timestamp: del } }),
    row(
      'pre_order_flows',
      line,
      {
        pre_order_id: { value: order, timestamp: ts(0, BOB) },
        quantity: { value: 7, timestamp: ts(5, ME) },
        weight: { value: 3.5, timestamp: ts(5, ME, 1) },
      },
      order,
    ),
    row('pre_order_flows', other, { quantity: { value: 2, timestamp: ts(10, BOB) } }, order),
  ]);

  it('are one per user action: a quantity and the weight that goes with it', () => {
    const q = conflict({ dataset: 'pre_order_flows', row: other, column: 'quantity' });
    const w = conflict({
      dataset: 'pre_order_flows',
      row: other,
      column: 'weight',
      loser: { ...q.loser, timestamp: ts(5, ME, 1) },
      winner: { ...q.winner, timestamp: ts(10, BOB, 1) },
    });
    const later = conflict({
      dataset: 'pre_order_flows',
      row: other,
      column: 'quantity',
      loser: { ...q.loser, timestamp: ts(60_000, ME) },
    });
    const notices = groupNotices([q, w, later], world);
    expect(notices.map((n) => n.items.map((c) => c.id))).toEqual([[later.id], [q.id, w.id]]);
    // Listed under the line's pre-order.
    expect(byRecord(notices).map((g) => g.key)).toEqual([`pre_orders/${order}`]);
  });

  it('are one per delete for everything it hid of the order, with Restore as one edit', () => {
    const side = (value: number, counter: number) => ({
      value,
      timestamp: ts(5, ME, counter),
      user_id: 'me',
      user_name: 'Me',
    });
    const tomb = { value: 1, timestamp: del, user_id: 'bob', user_name: 'Bob' };
    const lost = [
      conflict({
        kind: 'deleted',
        dataset: 'pre_order_flows',
        row: line,
        column: 'quantity',
        winner: tomb,
        loser: side(7, 0),
      }),
      conflict({
        kind: 'deleted',
        dataset: 'pre_order_flows',
        row: line,
        column: 'weight',
        winner: tomb,
        loser: side(3.5, 1),
      }),
    ];
    const [notice, ...rest] = groupNotices(lost, world);
    expect(rest).toEqual([]);
    expect(notice?.record).toEqual({ dataset: 'pre_orders', row: order });
    expect(lost.every((c) => winnerStands(c, world))).toBe(true);
    // The order comes back; the hidden values still stand, so they are not written again.
    expect(reapplyChanges(notice?.items ?? [], world)).toEqual([
      { dataset: 'pre_orders', row: order, column: 'tombstone', value: 0 },
    ]);
    // Someone restored it meanwhile: nothing to restore.
    const restored = rows([
      row('pre_orders', order, { tombstone: { value: 0, timestamp: ts(20, BOB) } }),
      row('pre_order_flows', line, {}, order),
    ]);
    expect(reapplyChanges(lost, restored)).toEqual([]);
  });

  it('offer Re-apply only while the winning value stands', () => {
    const c = conflict({ dataset: 'pre_order_flows', row: other, column: 'quantity' });
    expect(reapplyChanges([c], world)).toEqual([
      { dataset: 'pre_order_flows', row: other, column: 'quantity', value: 1 },
    ]);
    const newer = rows([row('pre_order_flows', other, { quantity: { value: 5, timestamp: ts(90, BOB) } })]);
    expect(winnerStands(c, newer)).toBe(false);
    expect(reapplyChanges([c], newer)).toEqual([]);
    expect(reapplyChanges([{ ...c, resolved: 1 }], world)).toEqual([]);
  });
});

describe('conflict states from the server', () => {
  const base: ServerConflict = {
    id: 4,
    kind: 'superseded',
    dataset: 'pre_order_flows',
    row: newId(),
    column: 'quantity',
    winner: { value: 2, timestamp: ts(10, BOB), user_id: 'bob', user_name: 'Bob' },
    loser: { value: 1, timestamp: ts(5, 'cccccccccccccccc'), user_id: 'me', user_name: 'Me' },
    detected_at: '2026-12-01T09:00:01Z',
    yours: 'loser',
    seq: 4,
    state: null,
  };

  it('settle a notice held already, and one arriving settled is no news', async () => {
    const r = await newReplica();
    await r.addConflicts([base]);
    expect((await r.db.conflicts.get(4))?.notified).toBe(0);
    await r.addConflicts([
      { ...base, seq: 9, state: 'dismissed' },
      { ...base, id: 5, seq: 8, state: 'resolved' },
    ]);
    const [four, five] = await r.db.conflicts.bulkGet([4, 5]);
    expect([four?.state, four?.notified, four?.resolved]).toEqual(['dismissed', 1, 1]);
    expect([five?.state, five?.notified, five?.resolved]).toEqual(['resolved', 1, 1]);
    expect(await r.conflictsAfter()).toBe(9);
    // A resolve is final; a watermark moves the cursor on.
    await r.addConflicts([{ ...base, id: 5, seq: 10, state: 'dismissed' }], 12);
    expect((await r.db.conflicts.get(5))?.state).toBe('resolved');
    expect(await r.conflictsAfter()).toBe(12);
  });

  it('a new device starts the feed at its snapshot', async () => {
    const r = await newReplica();
    await r.skipConflictsTo(30);
    expect(await r.conflictsAfter()).toBe(30);
    await r.skipConflictsTo(10);
    expect(await r.conflictsAfter()).toBe(30);
  });
});
