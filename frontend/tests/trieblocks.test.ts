import Dexie from 'dexie';
import { v7 as uuidv7 } from 'uuid';
import { describe, expect, it } from 'vitest';

import { FlatTrie, timestampKey } from '../src/engine/merkle';
import { rowOf } from '../src/engine/rowgroups';
import { RecapDB } from '../src/engine/store';
import { Timestamp, hashTimestamp } from '../src/engine/timestamp';
import { BLOCK_DEPTH, BlockTrie, blockKey, toBlocks, unpackBlock } from '../src/engine/trieblocks';

/** A small deterministic PRNG (mulberry32), so a failure replays. */
function rng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const BASE = Date.parse('2025-06-01T00:00:00Z');

function randomTimestamps(n: number, seed: number): string[] {
  const next = rng(seed);
  // Over ~40 days: dozens of blocks, some minutes holding several timestamps.
  return Array.from({ length: n }, () =>
    new Timestamp(BASE + Math.floor(next() * 40 * 86_400_000), Math.floor(next() * 3), 'abcdefabcdefabcd').toString(),
  );
}

function entries(trie: FlatTrie): [string, number, number][] {
  return [...trie.nodes].map(([p, [h, c]]) => [p, h, c]);
}

describe('trie blocks', () => {
  it('group every node under its prefix, shallow nodes in the top block, and unpack to the same nodes', () => {
    const trie = new FlatTrie();
    for (const ts of new Set(randomTimestamps(500, 1))) trie.insert(ts);
    const blocks = toBlocks(entries(trie));
    expect(blocks.length).toBeGreaterThan(10);
    const back = new FlatTrie();
    for (const block of blocks) {
      for (const [path, node] of unpackBlock(block)) {
        expect(blockKey(path)).toBe(block.b);
        if (block.b === '') expect(path.length).toBeLessThan(BLOCK_DEPTH);
        else expect(path.startsWith(block.b)).toBe(true);
        back.nodes.set(path, node);
      }
    }
    expect(back.nodes).toEqual(trie.nodes);
  });

  it('apply random inserts and removals exactly as the in-memory trie does, dropping emptied blocks', async () => {
    const db = new RecapDB(`blocks-${uuidv7()}`);
    const next = rng(7);
    const expected = new FlatTrie();
    const present: string[] = [];
    for (let round = 0; round < 30; round++) {
      const delta = new FlatTrie();
      for (const ts of randomTimestamps(20, round + 100)) {
        if (present.includes(ts)) continue;
        present.push(ts);
        delta.insert(ts);
        expected.insert(ts);
      }
      // Remove a random third of what is there (a restamp withdraws timestamps like this).
      for (const ts of present.splice(0, Math.floor(present.length * next() * 0.66))) {
        delta.insertHashed(timestampKey(Timestamp.parse(ts).millis), hashTimestamp(ts), -1);
        expected.remove(ts);
      }
      await db.transaction('rw', db.trieBlocks, async () => {
        const trie = new BlockTrie(db.trieBlocks);
        await trie.apply(delta);
        await trie.flush();
      });
      const stored = new FlatTrie();
      for (const block of await db.trieBlocks.toArray()) {
        expect(block.p.length).toBeGreaterThan(0);
        for (const [path, node] of unpackBlock(block)) stored.nodes.set(path, node);
      }
      const live = new Map([...expected.nodes].filter(([, [, c]]) => c > 0));
      expect(stored.nodes).toEqual(live);
    }
    for (const ts of present) expected.remove(ts);
    const clear = new FlatTrie();
    for (const ts of present) clear.insertHashed(timestampKey(Timestamp.parse(ts).millis), hashTimestamp(ts), -1);
    await db.transaction('rw', db.trieBlocks, async () => {
      const trie = new BlockTrie(db.trieBlocks);
      await trie.apply(clear);
      await trie.flush();
    });
    expect(await db.trieBlocks.count()).toBe(0);
  });

  it('refuse to answer for a block that was never loaded', async () => {
    const db = new RecapDB(`blocks-${uuidv7()}`);
    const trie = new BlockTrie(db.trieBlocks);
    await trie.load(['']);
    expect(trie.get('')).toBeUndefined();
    expect(() => trie.get('1'.repeat(BLOCK_DEPTH))).toThrow(/before load/);
  });

  it('carry a version-1 database (a record per trie node and per row) over on upgrade', async () => {
    const name = `upgrade-${uuidv7()}`;
    const v1 = new Dexie(name);
    v1.version(1).stores({
      meta: 'key',
      registers: '[ds+id], ds, [ds+date], [ds+parent]',
      messages: 'timestamp',
      trie: 'path',
      outbox: 'timestamp, [dataset+row]',
      conflicts: 'id, notified',
    });
    const trie = new FlatTrie();
    for (const ts of new Set(randomTimestamps(300, 3))) trie.insert(ts);
    await v1.table('trie').bulkPut(entries(trie).map(([path, h, c]) => ({ path, h, c })));
    await v1.table('meta').put({ key: 'node', value: '0123456789abcdef' });
    const row = uuidv7();
    const reg = { value: 'Acme', timestamp: new Timestamp(BASE, 0, 'abcdefabcdefabcd').toString() };
    await v1.table('registers').put({ ds: 'partners', id: row, cols: { name: reg } });
    v1.close();

    const db = new RecapDB(name);
    await db.open();
    expect(db.tables.map((t) => t.name)).not.toContain('trie');
    const stored = new FlatTrie();
    for (const block of await db.trieBlocks.toArray()) for (const [p, n] of unpackBlock(block)) stored.nodes.set(p, n);
    expect(stored.nodes).toEqual(trie.nodes);
    expect((await db.meta.get('node'))?.value).toBe('0123456789abcdef');
    // Version 4 moved the rows into groups (and version 5 dropped the old table).
    expect(db.tables.map((t) => t.name)).not.toContain('registers');
    expect((await rowOf(db.rowGroups, 'partners', row))?.cols.name).toEqual(reg);
  });
});
