/**
 * The sync protocol's reconciliation logic, free of I/O (mirrors crdt/reconcile.py). The
 * client summarizes its messages as disjoint trie nodes inside some scopes; the server
 * answers with ranges to `send`, to `push` and to `descend` into. `plan` (the server's half)
 * is here too so the unit tests can run the whole protocol against an in-memory server.
 */
import { CHILD_KEYS, KEY_LENGTH, type TrieView } from './merkle';

export const STRIDE = 3;
export const SEND_ALL_MAX = 64;
export const WASTE_RATIO = 0.2;

export type NodeSummary = [path: string, hash: number, count: number];

export interface Summary {
  scopes: string[];
  nodes: NodeSummary[];
}

export interface Plan {
  send: string[];
  push: string[];
  descend: string[];
}

function node(trie: TrieView, path: string): NodeSummary {
  const v = trie.get(path);
  return [path, v?.[0] ?? 0, v?.[1] ?? 0];
}

function present(trie: TrieView, path: string): boolean {
  const v = trie.get(path);
  return v !== undefined && v[1] > 0;
}

/** First-round summary: along the newest message's path, every non-empty left sibling at
 * every level, and the newest minute itself. */
export function frontier(trie: TrieView): Summary {
  if (!present(trie, '')) return { scopes: [''], nodes: [] };
  let path = '';
  const nodes: NodeSummary[] = [];
  while (path.length < KEY_LENGTH) {
    const here = CHILD_KEYS.filter((k) => present(trie, path + k));
    const newest = here[here.length - 1];
    if (newest === undefined) break;
    for (const k of here.slice(0, -1)) nodes.push(node(trie, path + k));
    path += newest;
  }
  nodes.push(node(trie, path));
  return { scopes: [''], nodes };
}

/** The paths whose nodes `frontier` reads at the next level (for loaders that fetch lazily). */
export function frontierChildPaths(path: string): string[] {
  return CHILD_KEYS.map((k) => path + k);
}

/** Summary of the given ranges, `stride` levels below each (their non-empty descendants). */
export function refine(trie: TrieView, paths: Iterable<string>, stride = STRIDE): Summary {
  const scopes = [...paths];
  const nodes: NodeSummary[] = [];
  for (const scope of scopes) {
    const depth = Math.min(KEY_LENGTH, scope.length + stride);
    let level = present(trie, scope) ? [scope] : [];
    while (level.length && (level[0]?.length ?? depth) < depth) {
      level = level.flatMap((p) => CHILD_KEYS.map((k) => p + k)).filter((p) => present(trie, p));
    }
    nodes.push(...level.map((p) => node(trie, p)));
  }
  return { scopes, nodes };
}

/** Nodes inside the scopes that no summary node covers: the client holds nothing there. */
export function uncovered(summary: Summary): string[] {
  const partition = new Set(summary.nodes.map(([p]) => p));
  const out: string[] = [];
  for (const scope of summary.scopes) {
    const inside = [...partition].filter((p) => p.startsWith(scope));
    if (!inside.length) {
      out.push(scope);
      continue;
    }
    const ancestors = new Set<string>();
    for (const p of inside) for (let i = scope.length; i < p.length; i++) ancestors.add(p.slice(0, i));
    for (const a of ancestors) {
      for (const k of CHILD_KEYS) {
        const child = a + k;
        if (!ancestors.has(child) && !partition.has(child)) out.push(child);
      }
    }
  }
  return out.sort();
}

/** Every server node the plan will look at. */
export function pathsNeeded(summary: Summary): string[] {
  return [...new Set([...summary.nodes.map(([p]) => p), ...uncovered(summary)])].sort();
}

/** Decide what to exchange, given the server's `(hash, count)` for `pathsNeeded` (absent =
 * empty) and the minute keys of the messages pushed in this request. */
export function plan(
  summary: Summary,
  server: ReadonlyMap<string, readonly [number, number]>,
  pushedKeys: Iterable<string> = [],
): Plan {
  const pushed = [...pushedKeys];
  const result: Plan = { send: [], push: [], descend: [] };
  for (const path of uncovered(summary)) {
    if ((server.get(path)?.[1] ?? 0) > 0) result.send.push(path);
  }
  for (const [path, clientHash, clientCount] of summary.nodes) {
    const [serverHash, serverCount] = server.get(path) ?? [0, 0];
    if (serverHash === clientHash && serverCount === clientCount) continue;
    if (serverCount === 0) {
      result.push.push(path);
      continue;
    }
    const pushedHere = pushed.filter((k) => k.startsWith(path)).length;
    const useful = Math.max(serverCount - clientCount, 0);
    const waste = Math.max(clientCount - pushedHere, 0);
    if (path.length >= KEY_LENGTH || serverCount - pushedHere <= SEND_ALL_MAX || waste <= WASTE_RATIO * useful) {
      result.send.push(path);
    } else {
      result.descend.push(path);
    }
  }
  result.send.sort();
  result.push.sort();
  result.descend.sort();
  return result;
}
