import { describe, expect, it } from 'vitest';

import type { Message } from '../src/engine/message';
import { allRows } from '../src/engine/rowgroups';
import type { LocalReplica } from '../src/engine/store';
import { HttpError, SyncClient } from '../src/engine/sync';
import { Timestamp } from '../src/engine/timestamp';
import { FakeServer, rowOf } from './fakeServer';
import { newId, newReplica } from './helpers';

/** As a manager: only a pre-order's status may be written. */
function managerRule(m: Message): { status: number; code: string; message: string } | null {
  return m.dataset === 'pre_orders' && m.column === 'status'
    ? null
    : { status: 403, code: 'forbidden_write', message: 'a manager changes only a pre-order’s status' };
}

async function serverRoot(server: FakeServer): Promise<[number, number]> {
  return Promise.resolve([server.trie.hash(''), server.trie.count('')]);
}

/** A device that bootstrapped a flow (quantity 5) and an order from the server: their
 * values are registers adopted from the snapshot, in no log. */
async function bootstrapped(
  server: FakeServer,
  now: () => number = Date.now,
): Promise<{ device: LocalReplica; flow: string; order: string }> {
  const writer = await newReplica();
  const flow = newId();
  const order = newId();
  await writer.edit([
    { dataset: 'pre_orders', row: order, column: 'status', value: 'pending' },
    { dataset: 'pre_order_flows', row: flow, column: 'pre_order_id', value: order },
    { dataset: 'pre_order_flows', row: flow, column: 'quantity', value: 5 },
    { dataset: 'pre_order_flows', row: flow, column: 'weight', value: 2.5 },
  ]);
  await new SyncClient(writer, server).sync();
  const device = await newReplica(now);
  await new SyncClient(device, server, { now }).bootstrap();
  expect(await device.db.messages.count()).toBe(0);
  return { device, flow, order };
}

describe('refused edits', () => {
  it('moves a refused edit out of the outbox, the log and the trie, and syncs the rest', async () => {
    const server = new FakeServer();
    const { device, flow, order } = await bootstrapped(server);
    const [qty] = await device.edit([{ dataset: 'pre_order_flows', row: flow, column: 'quantity', value: 9 }]);
    await device.edit([{ dataset: 'pre_orders', row: order, column: 'status', value: 'confirmed' }]);
    server.refuse = managerRule;

    const report = await new SyncClient(device, server).sync();
    expect(report.refused).toBe(1);
    expect(await device.outboxCount()).toBe(0);
    expect(rowOf(server, 'pre_orders', order)?.status?.value).toBe('confirmed');
    expect(rowOf(server, 'pre_order_flows', flow)?.quantity?.value).toBe(5);
    const refused = await device.refusedEdits();
    expect(refused.map((r) => [r.timestamp, r.code, r.value])).toEqual([[qty?.timestamp, 'forbidden_write', 9]]);
    expect(refused[0]?.reason).toContain('manager');
    expect(refused[0]?.was?.value).toBe(5);
    expect(await device.db.messages.get(qty?.timestamp ?? '')).toBeUndefined();
    // In sync with the server (the refused edit is in no trie); the device still shows it.
    expect(await device.root()).toEqual(await serverRoot(server));
    expect(await device.value('pre_order_flows', flow, 'quantity')).toBe(9);
    const again = await new SyncClient(device, server).sync();
    expect([again.rounds, again.pushed, again.refused]).toEqual([1, 0, 0]);
  });

  it('maps the index to the message of the chunk that failed', async () => {
    const server = new FakeServer();
    const device = await newReplica();
    const rows = Array.from({ length: 8 }, () => newId());
    for (const [i, row] of rows.entries()) {
      await device.edit([{ dataset: 'partners', row, column: 'name', value: i === 4 ? 'refuse me' : `p${i}` }]);
    }
    server.refuse = (m) =>
      m.value === 'refuse me' ? { status: 403, code: 'forbidden_write', message: 'not this one' } : null;
    const report = await new SyncClient(device, server, { pushLimit: 3 }).sync();
    expect(report.refused).toBe(1);
    // The refusal came from the second request of the round: index 1 there.
    const refusedReq = server.requests.find((r) =>
      ((r.body as { messages?: Message[] }).messages ?? []).some((m) => m.value === 'refuse me'),
    );
    const sent = (refusedReq?.body as { messages: Message[] }).messages;
    expect(sent.findIndex((m) => m.value === 'refuse me')).toBe(1);
    expect(server.requests.indexOf(refusedReq ?? { path: '', body: null })).toBe(1);
    expect((await device.refusedEdits()).map((r) => r.row)).toEqual([rows[4]]);
    expect(Object.keys(server.rows('partners')).sort()).toEqual(rows.filter((_, i) => i !== 4).sort());
    expect(await device.outboxCount()).toBe(0);
    expect(await device.root()).toEqual(await serverRoot(server));
  });

  it('refuses several edits one request at a time and keeps syncing', async () => {
    const server = new FakeServer();
    const { device, flow, order } = await bootstrapped(server);
    await device.edit([
      { dataset: 'pre_order_flows', row: flow, column: 'quantity', value: 7 },
      { dataset: 'pre_order_flows', row: flow, column: 'weight', value: 3.5 },
    ]);
    await device.edit([{ dataset: 'pre_orders', row: order, column: 'status', value: 'confirmed' }]);
    await device.edit([{ dataset: 'pre_order_flows', row: flow, column: 'quantity', value: 8 }]);
    server.refuse = managerRule;
    const report = await new SyncClient(device, server).sync();
    expect(report.refused).toBe(3);
    expect((await device.refusedEdits()).map((r) => r.value)).toEqual([7, 3.5, 8]);
    expect(rowOf(server, 'pre_orders', order)?.status?.value).toBe('confirmed');
    expect(await device.root()).toEqual(await serverRoot(server));
  });

  it('a refused profile email (409 email_taken) is refused the same way', async () => {
    const server = new FakeServer();
    const device = await newReplica();
    const me = newId();
    await device.edit([
      { dataset: 'profiles', row: me, column: 'name', value: 'Ana' },
      { dataset: 'profiles', row: me, column: 'email', value: 'taken@example.com' },
    ]);
    server.refuse = (m) =>
      m.column === 'email' ? { status: 409, code: 'email_taken', message: 'another account signs in with it' } : null;
    await new SyncClient(device, server).sync();
    const [refused] = await device.refusedEdits();
    expect([refused?.code, refused?.column]).toEqual(['email_taken', 'email']);
    expect(rowOf(server, 'profiles', me)?.name?.value).toBe('Ana');
  });

  it('other refusals are errors: nothing is moved', async () => {
    const server = new FakeServer();
    const device = await newReplica();
    await device.edit([{ dataset: 'partners', row: newId(), column: 'name', value: 'x' }]);
    server.refuse = () => ({ status: 403, code: 'device_revoked', message: 'revoked' });
    await expect(new SyncClient(device, server).sync()).rejects.toThrow(HttpError);
    expect(await device.outboxCount()).toBe(1);
    expect(await device.db.refused.count()).toBe(0);
  });

  it('discarding puts back the value the edit replaced, even one adopted from a snapshot', async () => {
    const server = new FakeServer();
    const { device, flow } = await bootstrapped(server);
    const before = await device.row('pre_order_flows', flow);
    await device.edit([{ dataset: 'pre_order_flows', row: flow, column: 'quantity', value: 9 }]);
    server.refuse = managerRule;
    await new SyncClient(device, server).sync();
    const [refused] = await device.refusedEdits();
    await device.discardRefused([refused?.timestamp ?? '']);
    expect(await device.db.refused.count()).toBe(0);
    expect((await device.row('pre_order_flows', flow))?.cols.quantity).toEqual(before?.cols.quantity);
    expect(await device.root()).toEqual(await serverRoot(server));
    const again = await new SyncClient(device, server).sync();
    expect([again.pushed, again.refused]).toEqual([0, 0]);
  });

  it('discarding merges the field again with what arrived since', async () => {
    const server = new FakeServer();
    // The device's clock runs 2 minutes ahead (within what the server accepts).
    const ahead = (): number => Date.now() + 120_000;
    const { device, flow } = await bootstrapped(server, ahead);
    await device.edit([{ dataset: 'pre_order_flows', row: flow, column: 'quantity', value: 9 }]);
    // An admin's concurrent edit, stamped before the device's but arriving after it.
    const admin = {
      dataset: 'pre_order_flows',
      row: flow,
      column: 'quantity',
      value: 6,
      timestamp: new Timestamp(Date.now() + 60_000, 0, 'aaaaaaaaaaaaaaaa').toString(),
    };
    server.apply([admin]);
    server.refuse = managerRule;
    await new SyncClient(device, server, { now: ahead }).sync();
    expect(await device.value('pre_order_flows', flow, 'quantity')).toBe(9);
    const [refused] = await device.refusedEdits();
    await device.discardRefused([refused?.timestamp ?? '']);
    expect((await device.row('pre_order_flows', flow))?.cols.quantity?.timestamp).toBe(admin.timestamp);
    expect(await device.value('pre_order_flows', flow, 'quantity')).toBe(6);
  });

  it('discarding edits of one field in either order ends at the value before them', async () => {
    for (const order of [
      [0, 1],
      [1, 0],
    ]) {
      const server = new FakeServer();
      const { device, flow } = await bootstrapped(server);
      await device.edit([{ dataset: 'pre_order_flows', row: flow, column: 'quantity', value: 7 }]);
      await device.edit([{ dataset: 'pre_order_flows', row: flow, column: 'quantity', value: 8 }]);
      server.refuse = managerRule;
      await new SyncClient(device, server).sync();
      const refused = await device.refusedEdits();
      expect(refused.map((r) => r.value)).toEqual([7, 8]);
      const [first, second] = order.map((i) => refused[i]?.timestamp ?? '');
      await device.discardRefused([first ?? '']);
      // Discarding the later edit first shows the earlier (still refused) one.
      expect(await device.value('pre_order_flows', flow, 'quantity')).toBe(order[0] === 1 ? 7 : 8);
      await device.discardRefused([second ?? '']);
      expect(await device.value('pre_order_flows', flow, 'quantity')).toBe(5);
    }
  });

  it('discarding every field of a new row removes the row', async () => {
    const server = new FakeServer();
    const device = await newReplica();
    const row = newId();
    await device.edit([
      { dataset: 'partners', row, column: 'name', value: 'New Foods' },
      { dataset: 'partners', row, column: 'tombstone', value: 0 },
    ]);
    server.refuse = () => ({ status: 403, code: 'forbidden_write', message: 'no' });
    await new SyncClient(device, server).sync();
    expect(await device.db.refused.count()).toBe(2);
    await device.discardRefused((await device.refusedEdits()).map((r) => r.timestamp));
    expect(await device.row('partners', row)).toBeUndefined();
    expect(await allRows(device.db.rowGroups)).toEqual([]);
    expect(await device.root()).toEqual([0, 0]);
  });

  it('a re-stamped outbox keeps what each edit replaced', async () => {
    const server = new FakeServer();
    const { device, flow } = await bootstrapped(server);
    await device.edit([{ dataset: 'pre_order_flows', row: flow, column: 'quantity', value: 7 }]);
    await device.edit([{ dataset: 'pre_order_flows', row: flow, column: 'quantity', value: 8 }]);
    const fresh = await device.restampOutbox(0, new Timestamp(Date.now() + 1000, 0, 'bbbbbbbbbbbbbbbb').toString());
    const queued = await device.db.outbox.orderBy('timestamp').toArray();
    expect(queued.map((q) => q.was?.value)).toEqual([5, 7]);
    expect(queued[1]?.was?.timestamp).toBe(fresh[0]?.timestamp);
    server.refuse = managerRule;
    await new SyncClient(device, server).sync();
    await device.discardRefused((await device.refusedEdits()).map((r) => r.timestamp));
    expect(await device.value('pre_order_flows', flow, 'quantity')).toBe(5);
  });
});
