/**
 * The merkle trie over message timestamps, in the exact format of `@actual-app/crdt` v3
 * (mirrors crdt/merkle.py). A timestamp's key is its minute in base 3 (unpadded); every node
 * on the key's path XORs in the murmur3 hash of the timestamp string, stored signed 32-bit as
 * JavaScript's `^` leaves it.
 *
 * Two forms, same hashes: the reference's nested JSON (`insert`, `diff`, `prune` as the
 * reference has them) and `FlatTrie`, a mutable `path -> [hash, count]` map that the replica
 * and the sync protocol use. XOR cancels a timestamp inserted twice: insert only messages
 * that were newly stored.
 */
import { Timestamp, hashTimestamp } from './timestamp';

export interface Trie {
  hash: number;
  '0'?: Trie;
  '1'?: Trie;
  '2'?: Trie;
}

export type ChildKey = '0' | '1' | '2';
export const CHILD_KEYS: readonly ChildKey[] = ['0', '1', '2'];
export const KEY_LENGTH = 16;
export const MINUTE_MS = 60_000;

export function toSigned32(value: number): number {
  return value | 0;
}

/** `Number(Math.floor(millis / 1000 / 60)).toString(3)`. */
export function timestampKey(millis: number): string {
  return Math.floor(millis / MINUTE_MS).toString(3);
}

/** The reference's `keyToTimestamp`: pad the key with zeros to 16 digits, read base 3. */
export function keyToMillis(key: string): number {
  const full = key.padEnd(KEY_LENGTH, '0');
  return full ? parseInt(full, 3) * MINUTE_MS : 0;
}

/** [start, end) in millis of every timestamp whose key starts with `key`. */
export function keyRange(key: string): [number, number] {
  const start = keyToMillis(key);
  return [start, start + 3 ** (KEY_LENGTH - key.length) * MINUTE_MS];
}

export function emptyTrie(): Trie {
  return { hash: 0 };
}

export function children(node: Trie): ChildKey[] {
  return CHILD_KEYS.filter((k) => node[k] !== undefined);
}

function parseTs(ts: Timestamp | string): Timestamp {
  return typeof ts === 'string' ? Timestamp.parse(ts) : ts;
}

/** A new trie with `timestamp` added; `trie` is not modified (unchanged subtrees shared). */
export function insert(trie: Trie, timestamp: Timestamp | string): Trie {
  const ts = parseTs(timestamp);
  const key = timestampKey(ts.millis);
  const h = ts.hash();
  const top: Trie = { ...trie, hash: toSigned32(trie.hash ^ h) };
  let node = top;
  for (const c of key as Iterable<ChildKey>) {
    const old = node[c] ?? emptyTrie();
    const child: Trie = { ...old, hash: toSigned32(old.hash ^ h) };
    node[c] = child;
    node = child;
  }
  return top;
}

/** Fold `insert` over the timestamps (the reference's own `build` returns an empty trie). */
export function build(timestamps: Iterable<Timestamp | string>): Trie {
  const flat = new FlatTrie();
  for (const ts of timestamps) flat.insert(ts.toString());
  return flat.toJson();
}

/** The reference's `diff`: millis where the earliest divergence it can see starts. */
export function diff(trie1: Trie, trie2: Trie): number | null {
  if (trie1.hash === trie2.hash) return null;
  let node1 = trie1;
  let node2 = trie2;
  let k = '';
  for (;;) {
    const keys = CHILD_KEYS.filter((key) => node1[key] !== undefined || node2[key] !== undefined);
    let diffkey: ChildKey | null = null;
    for (const key of keys) {
      const next1 = node1[key];
      const next2 = node2[key];
      if (next1 === undefined || next2 === undefined) break;
      if (next1.hash !== next2.hash) {
        diffkey = key;
        break;
      }
    }
    if (diffkey === null) return keyToMillis(k);
    k += diffkey;
    node1 = node1[diffkey] ?? emptyTrie();
    node2 = node2[diffkey] ?? emptyTrie();
  }
}

/** Every divergent time range, as sorted, coalesced [start, end) millis pairs. */
export function diffRanges(trie1: Trie, trie2: Trie): [number, number][] {
  const ranges: [number, number][] = [];
  const walk = (a: Trie, b: Trie, prefix: string): void => {
    if (a.hash === b.hash) return;
    let explained = false;
    for (const key of CHILD_KEYS) {
      const ca = a[key];
      const cb = b[key];
      if (ca === undefined && cb === undefined) continue;
      if (ca === undefined || cb === undefined) {
        ranges.push(keyRange(prefix + key));
        explained = true;
      } else if (ca.hash !== cb.hash) {
        walk(ca, cb, prefix + key);
        explained = true;
      }
    }
    if (!explained) ranges.push(keyRange(prefix));
  };
  walk(trie1, trie2, '');
  return coalesce(ranges);
}

export function coalesce(ranges: [number, number][]): [number, number][] {
  const out: [number, number][] = [];
  for (const [start, end] of [...ranges].sort((x, y) => x[0] - y[0] || x[1] - y[1])) {
    const last = out[out.length - 1];
    if (last !== undefined && start <= last[1]) last[1] = Math.max(last[1], end);
    else out.push([start, end]);
  }
  return out;
}

/** The reference's `prune`: keep the last `n` children per level (a zero-hash trie is
 * returned as it is). Like JavaScript's `slice(-n)`, n = 0 keeps every child. */
export function prune(trie: Trie, n = 2): Trie {
  if (!trie.hash) return trie;
  const out: Trie = { hash: trie.hash };
  const keys = children(trie);
  for (const k of keys.slice(-n)) {
    const child = trie[k];
    if (child !== undefined) out[k] = prune(child, n);
  }
  return out;
}

/** Read access to (part of) a flat trie: what the reconciliation functions need. */
export interface TrieView {
  get(path: string): readonly [number, number] | undefined;
}

/** The trie as a mutable `path -> [signed hash, message count]` map. Path "" is the root. */
export class FlatTrie implements TrieView {
  readonly nodes = new Map<string, [number, number]>();

  insert(timestamp: string, millis?: number): void {
    const ms = millis ?? Timestamp.parse(timestamp).millis;
    this.insertHashed(timestampKey(ms), hashTimestamp(timestamp), 1);
  }

  /** Undo `insert` of a timestamp (XOR is its own inverse); a node left empty disappears. */
  remove(timestamp: string): void {
    this.insertHashed(timestampKey(Timestamp.parse(timestamp).millis), hashTimestamp(timestamp), -1);
  }

  insertHashed(key: string, h: number, delta: 1 | -1): void {
    for (let i = 0; i <= key.length; i++) {
      const path = key.slice(0, i);
      const node = this.nodes.get(path);
      if (node === undefined) {
        this.nodes.set(path, [toSigned32(h), delta]);
      } else {
        node[0] = toSigned32(node[0] ^ h);
        node[1] += delta;
        if (node[1] === 0 && node[0] === 0 && delta < 0) this.nodes.delete(path);
      }
    }
  }

  get(path: string): readonly [number, number] | undefined {
    return this.nodes.get(path);
  }

  hash(path = ''): number {
    return this.nodes.get(path)?.[0] ?? 0;
  }

  count(path = ''): number {
    return this.nodes.get(path)?.[1] ?? 0;
  }

  /** The reference's nested JSON form (without counts). */
  toJson(): Trie {
    const root: Trie = { hash: this.hash('') };
    const built = new Map<string, Trie>([['', root]]);
    const paths = [...this.nodes.keys()].filter((p) => p !== '').sort((a, b) => a.length - b.length);
    for (const path of paths) {
      const node: Trie = { hash: this.hash(path) };
      const parent = built.get(path.slice(0, -1));
      if (parent === undefined) continue;
      parent[path.slice(-1) as ChildKey] = node;
      built.set(path, node);
    }
    return root;
  }

  copy(): FlatTrie {
    const out = new FlatTrie();
    for (const [p, v] of this.nodes) out.nodes.set(p, [v[0], v[1]]);
    return out;
  }
}
