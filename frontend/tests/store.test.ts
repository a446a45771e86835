import { describe, expect, it } from 'vitest';

import { InvalidMessage } from '../src/engine/errors';
import { FlatTrie } from '../src/engine/merkle';
import { frontier, refine } from '../src/engine/reconcile';
import { allRows, ordersOn } from '../src/engine/rowgroups';
import { isLive } from '../src/engine/store';
import { Timestamp, nodeOf } from '../src/engine/timestamp';
import { newId, newReplica } from './helpers';

describe('local edits', () => {
  it('write message, outbox, register, trie and clock together', async () => {
    const r = await newReplica();
    const flow = newId();
    const [m1, m2] = await r.edit([
      { dataset: 'pre_order_flows', row: flow, column: 'quantity', value: 3 },
      { dataset: 'pre_order_flows', row: flow, column: 'weight', value: 1.5 },
    ]);
    expect(m1 && nodeOf(m1.timestamp)).toBe(r.node);
    expect(await r.db.messages.count()).toBe(2);
    expect(await r.outboxCount()).toBe(2);
    const row = await r.row('pre_order_flows', flow);
    expect(row?.cols.quantity?.value).toBe(3);
    expect(row?.cols.weight?.timestamp).toBe(m2?.timestamp);
    const expected = new FlatTrie();
    for (const m of [m1, m2]) if (m) expected.insert(m.timestamp);
    expect((await r.flatTrie()).nodes).toEqual(expected.nodes);
    expect((await r.clock()).last.toString()).toBe(m2?.timestamp);
  });

  it('chains prev through edits of the same field', async () => {
    const r = await newReplica();
    const flow = newId();
    const [a] = await r.edit([{ dataset: 'pre_order_flows', row: flow, column: 'quantity', value: 1 }]);
    const [b, c] = await r.edit([
      { dataset: 'pre_order_flows', row: flow, column: 'quantity', value: 2 },
      { dataset: 'pre_order_flows', row: flow, column: 'quantity', value: 3 },
    ]);
    expect(a?.prev).toBeUndefined();
    expect(b?.prev).toBe(a?.timestamp);
    expect(c?.prev).toBe(b?.timestamp);
    expect(await r.value('pre_order_flows', flow, 'quantity')).toBe(3);
  });

  it('writes nothing when any change in the batch is invalid', async () => {
    const r = await newReplica();
    const flow = newId();
    await expect(
      r.edit([
        { dataset: 'pre_order_flows', row: flow, column: 'quantity', value: 2 },
        { dataset: 'pre_order_flows', row: flow, column: 'weight', value: -1 },
      ]),
    ).rejects.toThrow(InvalidMessage);
    for (const bad of [
      { dataset: 'pre_order_flows', row: flow, column: 'quantity', value: 'ten' },
      { dataset: 'pre_order_flows', row: flow, column: 'quantity', value: Number.NaN },
      { dataset: 'pre_orders', row: flow, column: 'status', value: 'draft' },
      { dataset: 'pre_orders', row: flow, column: 'delivery_date', value: '2026-02-30' },
      { dataset: 'pre_orders', row: 'not-a-uuid', column: 'status', value: 'pending' },
      { dataset: 'profiles', row: flow, column: 'email', value: 'nope' },
      { dataset: 'profiles', row: flow, column: 'avatar', value: 'http://x/y.png' },
      { dataset: 'nope', row: flow, column: 'x', value: 1 },
      { dataset: 'pre_orders', row: flow, column: 'tombstone', value: null },
      { dataset: 'pre_orders', row: flow, column: 'tombstone', value: true },
      { dataset: 'partners', row: flow, column: 'name', value: 'nul\u0000byte' },
      { dataset: 'partners', row: flow, column: 'name', value: 'x'.repeat(501) },
    ]) {
      await expect(r.edit([bad])).rejects.toThrow(InvalidMessage);
    }
    expect(await r.db.messages.count()).toBe(0);
    expect(await r.outboxCount()).toBe(0);
    expect(await r.db.trieBlocks.count()).toBe(0);
  });

  it('delete wins: a tombstoned row is not live', async () => {
    const r = await newReplica();
    const order = newId();
    await r.edit([
      { dataset: 'pre_orders', row: order, column: 'status', value: 'pending' },
      { dataset: 'pre_orders', row: order, column: 'delivery_date', value: '2026-11-24' },
      { dataset: 'pre_orders', row: order, column: 'tombstone', value: 0 },
    ]);
    expect(isLive(await r.row('pre_orders', order))).toBe(true);
    expect((await ordersOn(r.db.rowGroups, '2026-11-24')).length).toBe(1);
    await r.edit([{ dataset: 'pre_orders', row: order, column: 'tombstone', value: 1 }]);
    expect(isLive(await r.row('pre_orders', order))).toBe(false);
  });
});

describe('remote messages', () => {
  it('are stored once, merged by LWW, and advance the clock', async () => {
    const r = await newReplica();
    const flow = newId();
    const other = 'bbbbbbbbbbbbbbbb';
    const later = new Timestamp(Date.now() + 60_000, 3, other).toString();
    const m = { dataset: 'pre_order_flows', row: flow, column: 'quantity', value: 9, timestamp: later, seq: 5 };
    const first = await r.receiveRemote([m, m]);
    expect(first.inserted).toHaveLength(1);
    const again = await r.receiveRemote([m]);
    expect(again.inserted).toHaveLength(0);
    expect((await r.flatTrie()).count('')).toBe(1);
    expect((await r.clock()).last.toString() > later).toBe(true);
    const [mine] = await r.edit([{ dataset: 'pre_order_flows', row: flow, column: 'quantity', value: 4 }]);
    expect(mine && mine.timestamp > later).toBe(true);
    expect(mine?.prev).toBe(later);
    expect(await r.value('pre_order_flows', flow, 'quantity')).toBe(4);
  });

  it('skips the trie for messages an adopted snapshot already counts', async () => {
    const r = await newReplica();
    const other = 'cccccccccccccccc';
    const t1 = new Timestamp(Date.now() - 1000, 0, other).toString();
    const t2 = new Timestamp(Date.now() - 500, 0, other).toString();
    const snap = new FlatTrie();
    snap.insert(t1);
    await r.adoptSnapshotTrie(
      [...snap.nodes].map(([p, [h, c]]) => [p, h, c] as const),
      10,
    );
    const row = newId();
    await r.receiveRemote([
      { dataset: 'partners', row, column: 'name', value: 'A', timestamp: t1, seq: 10 },
      { dataset: 'partners', row, column: 'short_name', value: 'B', timestamp: t2, seq: 11 },
    ]);
    const expected = new FlatTrie();
    expected.insert(t1);
    expected.insert(t2);
    expect((await r.flatTrie()).nodes).toEqual(expected.nodes);
  });
});

describe('trie summaries read from IndexedDB', () => {
  it('equal the pure frontier and refine over the whole trie', async () => {
    const r = await newReplica();
    const other = 'dddddddddddddddd';
    const base = Date.parse('2026-01-01T00:00:00Z');
    const items = Array.from({ length: 200 }, (_, i) => ({
      dataset: 'partners',
      row: newId(),
      column: 'name',
      value: `p${i}`,
      timestamp: new Timestamp(base + i * 7_919_000, i % 5, other).toString(),
    }));
    await r.receiveRemote(items);
    const whole = await r.flatTrie();
    expect(await r.frontierSummary()).toEqual(frontier(whole));
    const scopes = (await r.frontierSummary()).nodes.map(([p]) => p).slice(0, 3);
    expect(await r.refineSummary(scopes)).toEqual(refine(whole, scopes));
    // Frontier covers everything.
    expect(frontier(whole).nodes.reduce((n, [, , c]) => n + c, 0)).toBe(200);
  });
});

describe('conflict notices', () => {
  it('are stored once, on the side this device is on', async () => {
    const r = await newReplica();
    const mine = new Timestamp(Date.now(), 0, r.node).toString();
    const theirs = new Timestamp(Date.now() + 1, 0, 'eeeeeeeeeeeeeeee').toString();
    const side = (timestamp: string, user: string) => ({ value: 1, timestamp, user_id: user, user_name: user });
    const base = {
      kind: 'overwrote' as const,
      dataset: 'profiles',
      row: newId(),
      column: 'name',
      detected_at: '2026-11-23T06:00:00Z',
    };
    // The same user on two devices: the server says "loser" to both; the node decides.
    await r.addConflicts([
      { ...base, id: 7, winner: side(mine, 'u1'), loser: side(theirs, 'u1'), yours: 'loser' },
      { ...base, id: 8, winner: side(theirs, 'u1'), loser: side(mine, 'u1'), yours: 'loser' },
    ]);
    await r.addConflicts([{ ...base, id: 7, winner: side(mine, 'u1'), loser: side(theirs, 'u1'), yours: 'loser' }]);
    const stored = await r.db.conflicts.toArray();
    expect(stored.map((c) => [c.id, c.yours, c.notified])).toEqual([
      [7, 'winner', 0],
      [8, 'loser', 0],
    ]);
    expect(await r.conflictsAfter()).toBe(8);
  });
});

describe('snapshot rows', () => {
  const other = 'eeeeeeeeeeeeeeee';
  const at = (ms: number): string => new Timestamp(Date.parse('2026-02-01T00:00:00Z') + ms, 0, other).toString();

  it('store a fresh page whole, and merge a page seen again (a retried bootstrap) by timestamp', async () => {
    const r = await newReplica();
    const [a, b, c] = [newId(), newId(), newId()]; // v7: increasing, as the server pages them
    await r.adoptSnapshotRows(
      'partners',
      ['name', 'short_name'],
      [
        [a, 'A', at(1), 'a', at(1)],
        [c, 'C', at(1), 'c', at(1)],
      ],
    );
    expect(await r.value('partners', a, 'name')).toBe('A');
    // A later page inside the same id range, with one field newer and one older than stored.
    await r.adoptSnapshotRows(
      'partners',
      ['name', 'short_name'],
      [
        [a, 'A2', at(5), 'old', at(0)],
        [b, 'B', at(1), 'b', at(1)],
      ],
    );
    expect(await r.value('partners', a, 'name')).toBe('A2');
    expect(await r.value('partners', a, 'short_name')).toBe('a');
    expect(await r.value('partners', b, 'name')).toBe('B');
    expect(await r.value('partners', c, 'short_name')).toBe('c');
    expect((await allRows(r.db.rowGroups)).length).toBe(3);
  });
});
