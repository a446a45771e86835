/**
 * What a device keeps (store.ts `keeps`, DESIGN.md "What a device keeps"): its log holds only
 * its unacknowledged and recent own edits and what a pending edit may need; the trie of a
 * synced range is settled from what the server sent, so messages sent again (a busy minute
 * is sent whole) are never counted twice, though the device no longer logs them.
 */
import { describe, expect, it } from 'vitest';

import { OWN_RETENTION_MS } from '../src/engine/store';
import { SyncClient } from '../src/engine/sync';
import { nodeOf } from '../src/engine/timestamp';
import { FakeServer } from './fakeServer';
import { newId, newReplica, serverState, state } from './helpers';

/** mulberry32: a seeded generator, so a failing seed replays. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const root = (s: FakeServer): [number, number] => [s.trie.hash(''), s.trie.count('')];

describe('what a device keeps', () => {
  it("logs no other device's message, and counts one sent again once", async () => {
    const server = new FakeServer();
    const a = await newReplica();
    const b = await newReplica();
    const row = newId();
    // Both edit in the same minute, so every sync of b gets that minute whole again.
    for (let i = 0; i < 5; i++) {
      await a.edit([{ dataset: 'partners', row, column: 'name', value: `a${i}` }]);
      await new SyncClient(a, server).sync();
      await b.edit([{ dataset: 'partners', row: newId(), column: 'name', value: `b${i}` }]);
      await new SyncClient(b, server).sync();
    }
    await new SyncClient(a, server).sync();
    for (const r of [a, b]) {
      expect(await r.root()).toEqual(root(server));
      expect(await state(r)).toEqual(serverState(server));
      const logged = await r.db.messages.toArray();
      expect(logged.every((m) => nodeOf(m.timestamp) === r.node)).toBe(true);
    }
    expect(server.requests.length).toBeGreaterThan(10);
  });

  it('converges under random edits and syncs of three devices, each log bounded by its own edits', async () => {
    for (const seed of [1, 2, 3, 4, 5, 6]) {
      const rand = random(seed);
      const server = new FakeServer();
      server.pageMessages = 7; // pages, so a range comes over several requests
      const devices = [await newReplica(), await newReplica(), await newReplica()];
      const rows = Array.from({ length: 4 }, () => newId());
      const columns = ['name', 'short_name'];
      const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;
      for (let step = 0; step < 120; step++) {
        const d = pick(devices);
        if (rand() < 0.6) {
          const n = 1 + Math.floor(rand() * 3);
          await d.edit(
            Array.from({ length: n }, () => ({
              dataset: 'partners',
              row: pick(rows),
              column: pick(columns),
              value: `v${seed}-${step}`,
            })),
          );
        } else {
          await new SyncClient(d, server).sync();
        }
      }
      for (let pass = 0; pass < 2; pass++) for (const d of devices) await new SyncClient(d, server).sync();
      for (const d of devices) {
        expect(await d.root(), `seed ${seed}`).toEqual(root(server));
        expect(await state(d), `seed ${seed}`).toEqual(serverState(server));
        expect(await d.outboxCount()).toBe(0);
        const logged = await d.db.messages.toArray();
        expect(logged.every((m) => nodeOf(m.timestamp) === d.node)).toBe(true);
      }
      // A device bootstrapped now agrees too, and logs nothing.
      const fresh = await newReplica();
      await new SyncClient(fresh, server).bootstrap();
      expect(await fresh.root()).toEqual(root(server));
      expect(await fresh.db.messages.count()).toBe(0);
    }
  }, 60_000);

  it('drops its own acknowledged edits after OWN_RETENTION_MS, and keeps the unacknowledged', async () => {
    let now = Date.now();
    const server = new FakeServer();
    server.maxDriftMs = 400 * 86_400_000;
    const a = await newReplica(() => now);
    const acked = newId();
    await a.edit([{ dataset: 'partners', row: acked, column: 'name', value: 'synced' }]);
    await new SyncClient(a, server, { now: () => now }).sync();
    expect(await a.db.messages.count()).toBe(1); // recent: a restored server gets it back
    now += OWN_RETENTION_MS + 60_000;
    server.offline = true;
    await a.edit([{ dataset: 'partners', row: newId(), column: 'name', value: 'offline' }]);
    expect(await a.prune()).toBe(1);
    const left = await a.db.messages.toArray();
    expect(left.map((m) => m.value)).toEqual(['offline']);
    expect(await a.value('partners', acked, 'name')).toBe('synced');
    server.offline = false;
    await new SyncClient(a, server, { now: () => now }).sync();
    expect(await a.root()).toEqual(root(server));
  });

  it("keeps another device's message for a field with an edit pending, until it is taken", async () => {
    const server = new FakeServer();
    const a = await newReplica();
    const b = await newReplica();
    const row = newId();
    await a.edit([{ dataset: 'partners', row, column: 'name', value: 'from a' }]);
    await new SyncClient(a, server).sync();
    // b edits the same field offline, then receives a's message: a discard would need it.
    server.offline = true;
    await b.edit([{ dataset: 'partners', row, column: 'name', value: 'from b' }]);
    server.offline = false;
    const other = (await a.db.messages.toArray())[0];
    expect(other).toBeDefined();
    if (other === undefined) return;
    await b.receivePage([other]);
    expect((await b.db.messages.get(other.timestamp))?.value).toBe('from a');
    await new SyncClient(b, server).sync();
    expect(await b.db.messages.get(other.timestamp)).toBeUndefined();
    expect(await b.root()).toEqual(root(server));
  });
});
