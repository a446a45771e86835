import { describe, expect, it } from 'vitest';

import { FlatTrie, KEY_LENGTH, keyRange, timestampKey } from '../src/engine/merkle';
import { frontier, pathsNeeded, plan, refine, uncovered } from '../src/engine/reconcile';
import { Timestamp } from '../src/engine/timestamp';

function trieOf(millis: number[]): FlatTrie {
  const t = new FlatTrie();
  millis.forEach((ms, i) => t.insert(new Timestamp(ms, i % 7, 'aaaaaaaaaaaaaaaa').toString()));
  return t;
}

const BASE = Date.parse('2026-01-01T00:00:00Z');

describe('reconcile', () => {
  it('frontier of an empty trie asks for everything', () => {
    expect(frontier(new FlatTrie())).toEqual({ scopes: [''], nodes: [] });
    expect(uncovered({ scopes: [''], nodes: [] })).toEqual(['']);
  });

  it('frontier covers every message with disjoint nodes ending at the newest minute', () => {
    const ms = Array.from({ length: 300 }, (_, i) => BASE + i * 3_333_333);
    const t = trieOf(ms);
    const f = frontier(t);
    expect(f.nodes.reduce((n, [, , c]) => n + c, 0)).toBe(300);
    const paths = f.nodes.map(([p]) => p);
    for (const a of paths) for (const b of paths) if (a !== b) expect(b.startsWith(a)).toBe(false);
    expect(paths.at(-1)).toBe(timestampKey(Math.max(...ms)));
    expect(f.nodes.length).toBeLessThanOrEqual(2 * KEY_LENGTH + 1);
  });

  it('refine goes STRIDE levels deeper and keeps the counts', () => {
    const t = trieOf(Array.from({ length: 50 }, (_, i) => BASE + i * 86_400_000));
    const scope = frontier(t).nodes[0]?.[0] ?? '';
    const r = refine(t, [scope]);
    expect(r.scopes).toEqual([scope]);
    expect(r.nodes.every(([p]) => p.startsWith(scope) && p.length === Math.min(16, scope.length + 3))).toBe(true);
    expect(r.nodes.reduce((n, [, , c]) => n + c, 0)).toBe(t.count(scope));
  });

  it('plan: equal nothing, server-empty push, small send, large descend', () => {
    const client = trieOf(Array.from({ length: 400 }, (_, i) => BASE + i * 600_000));
    const server = trieOf(Array.from({ length: 401 }, (_, i) => BASE + i * 600_000));
    const summary = frontier(client);
    const nodes = new Map<string, [number, number]>();
    for (const p of pathsNeeded(summary)) {
      const v = server.get(p);
      if (v) nodes.set(p, [v[0], v[1]]);
    }
    const p = plan(summary, nodes);
    expect([...p.send, ...p.descend].length).toBeGreaterThan(0);
    expect(plan(summary, new Map())).toEqual({ send: [], push: summary.nodes.map(([x]) => x).sort(), descend: [] });
    const same = new Map(summary.nodes.map(([x, h, c]) => [x, [h, c] as [number, number]]));
    expect(plan(summary, same)).toEqual({ send: [], push: [], descend: [] });
    const big = new Map([['', [123, 10_000] as [number, number]]]);
    expect(plan({ scopes: [''], nodes: [['', 5, 9_000]] }, big).descend).toEqual(['']);
  });

  it('key ranges tile the timeline', () => {
    const [s, e] = keyRange('1');
    const [s0] = keyRange('10');
    const [, e2] = keyRange('12');
    expect([s0, e2]).toEqual([s, e]);
  });
});
