import { describe, expect, it } from 'vitest';

import type { Message } from '../src/engine/message';
import { NetworkError, SyncClient, chunk, type BootstrapProgress } from '../src/engine/sync';
import { Timestamp } from '../src/engine/timestamp';
import { FakeServer, rowOf } from './fakeServer';
import { newId, newReplica, serverState, state } from './helpers';

function remoteMessages(n: number, node: string, start: number, step: number): Message[] {
  return Array.from({ length: n }, (_, i) => ({
    dataset: 'partners',
    row: newId(),
    column: 'name',
    value: `partner ${i}`,
    timestamp: new Timestamp(start + i * step, i % 3, node).toString(),
  }));
}

describe('sync loop', () => {
  it('pushes the outbox and pulls the other rep’s edits', async () => {
    const server = new FakeServer();
    const a = await newReplica();
    const b = await newReplica();
    const order = newId();
    await a.edit([
      { dataset: 'pre_orders', row: order, column: 'status', value: 'pending' },
      { dataset: 'pre_orders', row: order, column: 'delivery_date', value: '2026-11-24' },
    ]);
    const report = await new SyncClient(a, server).sync();
    expect(report.pushed).toBe(2);
    expect(await a.outboxCount()).toBe(0);
    expect(rowOf(server, 'pre_orders', order)?.status?.value).toBe('pending');
    await new SyncClient(b, server).sync();
    expect(await b.value('pre_orders', order, 'status')).toBe('pending');
    expect(await b.root()).toEqual(await a.root());
    // In sync: one round, nothing moves.
    const again = await new SyncClient(a, server).sync();
    expect([again.rounds, again.pushed, again.received]).toEqual([1, 0, 0]);
  });

  it('pulls a large catch-up in pages after its watermark, in one round', async () => {
    const server = new FakeServer();
    server.pageMessages = 7;
    server.apply(remoteMessages(100, 'eeeeeeeeeeeeeeee', Date.now() - 3_600_000, 1000));
    const b = await newReplica();
    const report = await new SyncClient(b, server).sync();
    expect(report.received).toBe(100);
    expect(report.rounds).toBe(1); // the pages verified against the root: no repair
    const pulls = server.requests.filter((r) => (r.body as { pull_after?: number }).pull_after !== undefined);
    expect(pulls.length).toBe(15); // 100 in pages of 7
    expect(pulls.map((r) => (r.body as { pull_after: number }).pull_after)).toEqual(
      Array.from({ length: 15 }, (_, i) => i * 7),
    );
    expect(await b.pulledThrough()).toBe(100);
    expect(await state(b)).toEqual(serverState(server));
    expect(await b.root()).toEqual([server.trie.hash(''), server.trie.count('')]);
    // Nothing new: one request, nothing received.
    const again = await new SyncClient(b, server).sync();
    expect([again.requests, again.received]).toEqual([1, 0]);
  });

  it('repairs what its watermark claims but it lacks through the ranges and their cursor', async () => {
    const server = new FakeServer();
    server.pageMessages = 7;
    server.apply(remoteMessages(100, 'eeeeeeeeeeeeeeee', Date.now() - 3_600_000, 1000));
    const b = await newReplica();
    await b.setPulledThrough(server.seq); // claims everything, holds nothing
    const report = await new SyncClient(b, server).sync();
    expect(report.received).toBe(100);
    expect(report.rounds).toBeGreaterThan(1);
    expect(
      server.requests.filter((r) => (r.body as { cursor?: string }).cursor !== undefined).length,
    ).toBeGreaterThanOrEqual(14);
    expect(await state(b)).toEqual(serverState(server));
    expect(await b.root()).toEqual([server.trie.hash(''), server.trie.count('')]);
  });

  it('splits a push larger than one request', async () => {
    const server = new FakeServer();
    const a = await newReplica();
    for (let i = 0; i < 35; i++) {
      await a.edit([{ dataset: 'partners', row: newId(), column: 'name', value: `p${i}` }]);
    }
    await new SyncClient(a, server, { pushLimit: 10 }).sync();
    expect(server.log.size).toBe(35);
    const sizes = server.requests.map((r) => ((r.body as { messages?: unknown[] }).messages ?? []).length);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(10);
    expect(chunk([], 10)).toEqual([]);
  });

  it('keeps the outbox when the network fails, and delivers it later', async () => {
    const server = new FakeServer();
    const a = await newReplica();
    const row = newId();
    await a.edit([{ dataset: 'partners', row, column: 'name', value: 'Offline Foods' }]);
    server.offline = true;
    await expect(new SyncClient(a, server).sync()).rejects.toThrow(NetworkError);
    expect(await a.outboxCount()).toBe(1);
    server.offline = false;
    await new SyncClient(a, server).sync();
    expect(await a.outboxCount()).toBe(0);
    expect(rowOf(server, 'partners', row)?.name?.value).toBe('Offline Foods');
  });

  it('converges from any two histories (push, send and descend)', async () => {
    for (const seed of [1, 2, 3]) {
      const server = new FakeServer();
      const base = Date.parse('2025-01-01T00:00:00Z');
      const shared = remoteMessages(150, 'eeeeeeeeeeeeeeee', base + seed * 1000, 3_600_000);
      const serverOnly = remoteMessages(90 * seed, '1111111111111111', base + 500, 7_200_000 + seed);
      server.apply([...shared, ...serverOnly]);
      const c = await newReplica();
      // The client's own edits the server lacks (pushed before a server restore, say),
      // recent enough for the device's log to keep them (OWN_RETENTION_MS).
      const clientOnly = remoteMessages(70, c.node, Date.now() - 10 * 86_400_000, 5_400_000);
      await c.receiveRemote([...shared, ...clientOnly]);
      const report = await new SyncClient(c, server).sync();
      expect(report.rounds).toBeLessThanOrEqual(12);
      expect(report.unrepaired).toBe(0);
      expect(server.log.size).toBe(150 + 90 * seed + 70);
      expect(await c.root()).toEqual([server.trie.hash(''), server.trie.count('')]);
      expect(await state(c)).toEqual(serverState(server));
    }
  });

  it("never pushes another node's messages: those the server lacks end the sync as unrepaired", async () => {
    const server = new FakeServer();
    const base = Date.parse('2025-01-01T00:00:00Z');
    const shared = remoteMessages(50, 'eeeeeeeeeeeeeeee', base, 3_600_000);
    const theirs = remoteMessages(20, '2222222222222222', base + 900, 5_400_000);
    server.apply(shared);
    const c = await newReplica();
    await c.receiveRemote([...shared, ...theirs]);
    // Held in the log (as for a field with an edit of this device pending).
    await c.db.messages.bulkPut(theirs);
    const report = await new SyncClient(c, server).sync();
    expect(report.unrepaired).toBe(20);
    expect(report.rounds).toBeLessThanOrEqual(12);
    expect(server.log.size).toBe(50);
    // Once the log no longer keeps them, the device holds them only as register values: the
    // trie stops counting them where the server's ranges say so, and the sync ends even.
    expect(await c.db.messages.count()).toBe(0);
    const again = await new SyncClient(c, server).sync();
    expect(again.rounds).toBeLessThanOrEqual(12);
    expect(await c.root()).toEqual([server.trie.hash(''), server.trie.count('')]);
    expect(server.log.size).toBe(50);
    const pushed = server.requests.flatMap((r) => (r.body as { messages?: { timestamp: string }[] }).messages ?? []);
    expect(pushed.filter((m) => m.timestamp.endsWith('2222222222222222'))).toEqual([]);
  });

  it('re-stamps unsent edits when the server refuses them for clock drift', async () => {
    const server = new FakeServer();
    const skew = 20 * 60_000;
    const a = await newReplica(() => Date.now() + skew);
    const flow = newId();
    await a.edit([{ dataset: 'pre_order_flows', row: flow, column: 'quantity', value: 1 }]);
    await a.edit([{ dataset: 'pre_order_flows', row: flow, column: 'quantity', value: 2 }]);
    const client = new SyncClient(a, server, { now: () => Date.now() + skew });
    await client.sync();
    expect(await a.outboxCount()).toBe(0);
    const stored = [...server.log.values()].map((s) => s.m);
    expect(stored).toHaveLength(2);
    for (const m of stored) expect(Timestamp.parse(m.timestamp).millis).toBeLessThanOrEqual(Date.now() + 1000);
    expect(rowOf(server, 'pre_order_flows', flow)?.quantity?.value).toBe(2);
    expect(await a.value('pre_order_flows', flow, 'quantity')).toBe(2);
    expect(Math.abs((await a.offset()) + skew)).toBeLessThan(2000);
    expect(await a.root()).toEqual([server.trie.hash(''), server.trie.count('')]);
    // New edits are stamped with the corrected clock.
    const [m] = await a.edit([{ dataset: 'pre_order_flows', row: flow, column: 'quantity', value: 3 }]);
    expect(Timestamp.parse(m?.timestamp).millis).toBeLessThan(Date.now() + 5000);
  });

  it('re-stamps unsent edits when the server already holds one of their stamps', async () => {
    // A device restored from a backup: the server holds an edit this node stamped after the
    // backup, at the very timestamp the restored device stamps its next edit with.
    const server = new FakeServer();
    const a = await newReplica();
    const row = newId();
    const [mine] = await a.edit([{ dataset: 'partners', row, column: 'name', value: 'After restore' }]);
    const other = newId();
    const lost = {
      dataset: 'partners',
      row: other,
      column: 'name',
      value: 'Before restore',
      timestamp: mine?.timestamp ?? '',
    };
    server.apply([lost]);
    await new SyncClient(a, server).sync();
    expect(await a.outboxCount()).toBe(0);
    expect(rowOf(server, 'partners', row)?.name?.value).toBe('After restore');
    expect(rowOf(server, 'partners', other)?.name?.value).toBe('Before restore');
    expect(await a.value('partners', other, 'name')).toBe('Before restore');
    expect(server.log.get(mine?.timestamp ?? '')?.m.row).toBe(other);
    expect(await a.root()).toEqual([server.trie.hash(''), server.trie.count('')]);
  });

  it('bootstraps a new device from the snapshot, then stays in sync', async () => {
    const server = new FakeServer();
    server.snapshotPageRows = 3;
    const a = await newReplica();
    for (let i = 0; i < 10; i++) {
      await a.edit([
        { dataset: 'partners', row: newId(), column: 'name', value: `p${i}` },
        { dataset: 'partners', row: newId(), column: 'short_name', value: `P${i}` },
      ]);
    }
    await new SyncClient(a, server).sync();
    const fresh = await newReplica();
    const progress: BootstrapProgress[] = [];
    await new SyncClient(fresh, server).bootstrap((p) => progress.push(p));
    expect(progress.at(-1)).toEqual({ phase: 'done', done: 20, total: 20 });
    expect(progress.filter((p) => p.phase === 'rows').length).toBeGreaterThan(2);
    // Once every row is in, the phase says so: the bar is not left at 100% with work to do.
    const phases = progress.map((p) => p.phase).filter((p, i, all) => p !== all[i - 1]);
    expect(phases).toEqual(['rows', 'index', 'catch-up', 'done']);
    expect(await fresh.db.messages.count()).toBe(0); // rows, not history
    expect(await fresh.root()).toEqual([server.trie.hash(''), server.trie.count('')]);
    expect(await state(fresh)).toEqual(serverState(server));
    // Later messages (seq beyond the snapshot) are counted normally.
    const row = newId();
    await a.edit([{ dataset: 'partners', row, column: 'name', value: 'late' }]);
    await new SyncClient(a, server).sync();
    await new SyncClient(fresh, server).sync();
    expect(await fresh.value('partners', row, 'name')).toBe('late');
    expect(await fresh.root()).toEqual([server.trie.hash(''), server.trie.count('')]);
  });

  it('asks for the next snapshot page before storing the current one, one store per dataset', async () => {
    const server = new FakeServer();
    server.snapshotPageRows = 3;
    const a = await newReplica();
    for (let i = 0; i < 7; i++) {
      await a.edit([
        { dataset: 'partners', row: newId(), column: 'name', value: `p${i}` },
        { dataset: 'products', row: newId(), column: 'name', value: `q${i}` },
      ]);
    }
    await new SyncClient(a, server).sync();
    const fresh = await newReplica();
    let asked = 0; // pages asked for, counted when asked (the fake logs them a tick later)
    const get = server.get.bind(server);
    server.get = (path) => {
      asked += 1;
      return get(path);
    };
    const stores: { dataset: string; rows: number; requestsSoFar: number; requestsAtEnd: number }[] = [];
    const adopt = fresh.adoptSnapshotRows.bind(fresh);
    fresh.adoptSnapshotRows = async (dataset, columns, rows) => {
      const entry = { dataset, rows: rows.length, requestsSoFar: asked, requestsAtEnd: -1 };
      stores.push(entry);
      await adopt(dataset, columns, rows);
      entry.requestsAtEnd = asked;
    };
    await new SyncClient(fresh, server).bootstrap();
    // partners: 3 pages (3+3+1 rows), products: 3 pages, an empty page for each of the
    // other three datasets, then the closing page.
    expect(asked).toBe(10);
    expect(stores.map((s) => [s.dataset, s.rows])).toEqual([
      ['partners', 7],
      ['products', 7],
    ]);
    // Each dataset is stored once its last page is in, with the following page already
    // asked for: the products' first page (4th request) and the pre-orders' page (7th).
    expect(stores.map((s) => s.requestsSoFar)).toEqual([4, 7]);
    // ... and the bootstrap does not wait for a store to ask for more pages: every page,
    // the closing one included, was asked for while the products were being stored.
    expect(stores.at(-1)?.requestsAtEnd).toBe(10);
    expect(await state(fresh)).toEqual(serverState(server));
    expect(await fresh.root()).toEqual([server.trie.hash(''), server.trie.count('')]);
  });

  it('takes the messages that arrive during a bootstrap, a page at a time', async () => {
    const server = new FakeServer();
    server.snapshotPageRows = 3;
    server.pageMessages = 7;
    const a = await newReplica();
    for (let i = 0; i < 5; i++) await a.edit([{ dataset: 'partners', row: newId(), column: 'name', value: `p${i}` }]);
    await new SyncClient(a, server).sync();
    const fresh = await newReplica();
    const get = server.get.bind(server);
    let pages = 0;
    const answers: Record<string, unknown>[] = [];
    server.get = async (path) => {
      pages += 1;
      // Another rep pushes 20 edits while the device downloads its second page.
      if (pages === 2) server.apply(remoteMessages(20, 'cccccccccccccccc', Date.now() - 60_000, 100));
      const answer = (await get(path)) as Record<string, unknown>;
      answers.push(answer);
      return answer;
    };
    await new SyncClient(fresh, server).bootstrap();
    // Pages of late messages (7 and 7) before the closing page (the other 6 and the trie).
    const late = answers.filter((b) => b.done === false && b.dataset === undefined);
    expect(late.map((b) => (b.messages as unknown[]).length)).toEqual([7, 7]);
    expect((answers.at(-1)?.messages as unknown[]).length).toBe(6);
    expect(await state(fresh)).toEqual(serverState(server));
    expect(await fresh.root()).toEqual([server.trie.hash(''), server.trie.count('')]);
    // The log keeps none of another node's messages: the registers hold their values.
    expect(await fresh.db.messages.count()).toBe(0);
  });

  it('reports a failed store, not the page fetched meanwhile', async () => {
    const server = new FakeServer();
    const a = await newReplica();
    await a.edit([{ dataset: 'partners', row: newId(), column: 'name', value: 'p' }]);
    await new SyncClient(a, server).sync();
    const fresh = await newReplica();
    fresh.adoptSnapshotRows = async () => {
      server.offline = true; // the prefetched page fails too, later
      await Promise.resolve();
      throw new Error('quota exceeded');
    };
    await expect(new SyncClient(fresh, server).bootstrap()).rejects.toThrow('quota exceeded');
  });

  it('stores conflict notices once and advances conflicts_after', async () => {
    const server = new FakeServer();
    const a = await newReplica();
    const b = await newReplica();
    const flow = newId();
    await a.edit([{ dataset: 'pre_order_flows', row: flow, column: 'quantity', value: 1 }]);
    await b.edit([{ dataset: 'pre_order_flows', row: flow, column: 'quantity', value: 2 }]);
    await new SyncClient(a, server).sync();
    const seen: number[] = [];
    await new SyncClient(b, server, { onConflicts: (cs) => seen.push(...cs.map((c) => c.id)) }).sync();
    expect(seen).toEqual([1]);
    expect(await b.conflictsAfter()).toBe(1);
    await new SyncClient(b, server).sync();
    expect(await b.db.conflicts.count()).toBe(1);
    await new SyncClient(a, server).sync();
    expect(await a.value('pre_order_flows', flow, 'quantity')).toBe(await b.value('pre_order_flows', flow, 'quantity'));
  });
});
