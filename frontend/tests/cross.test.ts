// The TypeScript engine against the Python core (crdt/) on seeded random inputs: the same
// frontier, refine, uncovered/paths_needed and plan, the same LWW registers and conflicts,
// and the same next sync round. Vectors: tests/fixtures/cross-vectors.json, from make_cross_vectors.py.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { mergeBatch, rowKey, type Registers } from '../src/engine/merge';
import { FlatTrie, timestampKey } from '../src/engine/merkle';
import { messageFromJson } from '../src/engine/message';
import { frontier, pathsNeeded, plan, refine, uncovered } from '../src/engine/reconcile';
import { nextRound } from '../src/engine/rounds';
import { Timestamp } from '../src/engine/timestamp';

interface ReconcileCase {
  id: string;
  client: string[];
  server: string[];
  pushed: string[];
  frontier: { scopes: string[]; nodes: [string, number, number][] };
  uncovered: string[];
  paths_needed: string[];
  plan: { send: string[]; push: string[]; descend: string[] };
  refine_scopes: string[];
  refine: { scopes: string[]; nodes: [string, number, number][] };
  refine_plan: { send: string[]; push: string[]; descend: string[] };
}

interface MergeCase {
  id: string;
  messages: unknown[];
  cut: number;
  first_conflicts: unknown[][];
  second_conflicts: unknown[][];
  second_changed: unknown[][];
}

interface RoundsCase {
  id: string;
  node: string;
  answer: { send: string[]; push: string[]; descend: string[]; root: [number, number]; held: string[] };
  local: { root: [number, number]; in_send: unknown[]; in_push: unknown[]; outbox: unknown[] };
  next: { push: string[]; descend: string[] } | { unrepaired: string[] };
}

const DATA = JSON.parse(readFileSync(join(import.meta.dirname, 'fixtures', 'cross-vectors.json'), 'utf8')) as {
  reconcile: ReconcileCase[];
  merge: MergeCase[];
  rounds: RoundsCase[];
};

function trie(ts: string[]): FlatTrie {
  const t = new FlatTrie();
  for (const s of ts) t.insert(s);
  return t;
}

function serverNodes(server: FlatTrie, paths: string[]): Map<string, [number, number]> {
  const out = new Map<string, [number, number]>();
  for (const p of paths) {
    const v = server.get(p);
    if (v) out.set(p, [v[0], v[1]]);
  }
  return out;
}

describe('same decisions as the Python core', () => {
  it.each(DATA.reconcile.map((c) => [c.id, c] as const))('%s', (_id, c) => {
    const client = trie(c.client);
    const server = trie(c.server);
    const summary = frontier(client);
    expect(summary).toEqual(c.frontier);
    expect(uncovered(summary)).toEqual(c.uncovered);
    expect(pathsNeeded(summary)).toEqual(c.paths_needed);
    const keys = c.pushed.map((s) => timestampKey(Timestamp.parse(s).millis));
    expect(plan(summary, serverNodes(server, pathsNeeded(summary)), keys)).toEqual(c.plan);
    const refined = refine(client, c.refine_scopes);
    expect(refined).toEqual(c.refine);
    expect(plan(refined, serverNodes(server, pathsNeeded(refined)))).toEqual(c.refine_plan);
  });

  it.each(DATA.merge.map((c) => [c.id, c] as const))('%s', (_id, c) => {
    const messages = c.messages.map(messageFromJson);
    const conflicts = (b: ReturnType<typeof mergeBatch>): unknown[][] =>
      b.conflicts.map((x) => [x.kind, x.row, x.column, x.winner.timestamp, x.loser.timestamp]);
    const first = mergeBatch(new Map(), messages.slice(0, c.cut));
    expect(conflicts(first)).toEqual(c.first_conflicts);
    const current = new Map<string, Registers>();
    for (const [k, ch] of first.changed) current.set(k, ch.columns);
    const second = mergeBatch(current, messages.slice(c.cut));
    expect(conflicts(second)).toEqual(c.second_conflicts);
    const changed = [...second.changed.values()]
      .flatMap((ch) => Object.entries(ch.columns).map(([col, reg]) => [ch.row, col, reg.value, reg.timestamp]))
      .sort((a, b) => (JSON.stringify(a) < JSON.stringify(b) ? -1 : 1));
    expect(changed).toEqual(c.second_changed);
    expect(rowKey('a', 'b')).toBe('a\u0000b');
  });

  it.each(DATA.rounds.map((c) => [c.id, c] as const))('%s', (_id, c) => {
    const following = nextRound(
      { ...c.answer, held: new Set(c.answer.held) },
      {
        root: c.local.root,
        inSend: c.local.in_send.map(messageFromJson),
        inPush: c.local.in_push.map(messageFromJson),
        outbox: c.local.outbox.map(messageFromJson),
      },
      c.node,
    );
    expect(
      'done' in following
        ? { unrepaired: following.unrepaired.map((m) => m.timestamp) }
        : { push: following.push.map((m) => m.timestamp), descend: following.descend },
    ).toEqual(c.next);
  });
});
