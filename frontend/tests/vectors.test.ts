// The shared vectors generated from the reference @actual-app/crdt 3.1.3
// (tests/vectors/merkle.json, tests/reference/make_vectors.mjs): the TypeScript engine
// must produce the same tries, hashes, diffs, prunes and timestamp strings as the Python
// core and the reference.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { FlatTrie, build, diff, emptyTrie, insert, prune, type Trie } from '../src/engine/merkle';
import { Timestamp } from '../src/engine/timestamp';

interface Vectors {
  reference: string;
  build: { id: string; timestamps: string[]; hash: number; trie: Trie }[];
  diff: { id: string; a: Trie; b: Trie; diff: number | null; diff_reversed: number | null }[];
  prune: { id: string; build: string; n: number | null; trie: Trie }[];
  timestamps: { id: string; millis: number; counter: number; node: string; string: string; hash: number }[];
}

const VECTORS = JSON.parse(
  readFileSync(join(import.meta.dirname, '..', '..', 'tests', 'vectors', 'merkle.json'), 'utf8'),
) as Vectors;

/** JSON with sorted keys at every level: byte-for-byte comparison. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : 1)))
      : v,
  );
}

describe('shared vectors', () => {
  it('come from the reference', () => {
    expect(VECTORS.reference).toBe('@actual-app/crdt 3.1.3');
    expect(VECTORS.build.length).toBeGreaterThan(10);
  });

  describe.each(VECTORS.build.map((c) => [c.id, c] as const))('build %s', (_id, c) => {
    it('folds FlatTrie inserts to the reference trie', () => {
      const built = build(c.timestamps);
      expect(built).toEqual(c.trie);
      expect(canonical(built)).toBe(canonical(c.trie));
      expect(built.hash).toBe(c.hash);
    });
    it('folds pure inserts without touching the input', () => {
      let trie = emptyTrie();
      c.timestamps.forEach((ts, i) => {
        const before = i < 20 ? canonical(trie) : '';
        const after = insert(trie, ts);
        if (i < 20) expect(canonical(trie)).toBe(before);
        trie = after;
      });
      expect(canonical(trie)).toBe(canonical(c.trie));
    });
    it('counts every insert in the flat form', () => {
      const flat = new FlatTrie();
      for (const ts of c.timestamps) flat.insert(ts);
      expect(flat.count('')).toBe(c.timestamps.length);
      expect(flat.hash('')).toBe(c.hash);
    });
  });

  it.each(VECTORS.diff.map((c) => [c.id, c] as const))('diff %s', (_id, c) => {
    expect(diff(c.a, c.b)).toBe(c.diff);
    expect(diff(c.b, c.a)).toBe(c.diff_reversed);
  });

  it.each(VECTORS.prune.map((c) => [c.id, c] as const))('prune %s', (_id, c) => {
    const source = VECTORS.build.find((b) => b.id === c.build);
    expect(source).toBeDefined();
    if (!source) return;
    const out = c.n === null ? prune(source.trie) : prune(source.trie, c.n);
    expect(canonical(out)).toBe(canonical(c.trie));
  });

  it.each(VECTORS.timestamps.map((c) => [c.id, c] as const))('timestamp %s', (_id, c) => {
    const ts = new Timestamp(c.millis, c.counter, c.node);
    expect(ts.toString()).toBe(c.string);
    expect(ts.hash()).toBe(c.hash);
    const parsed = Timestamp.parse(c.string);
    expect([parsed.millis, parsed.counter, parsed.node]).toEqual([c.millis, c.counter, c.node]);
  });
});
