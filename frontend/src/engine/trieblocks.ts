/**
 * The device's merkle trie stored as blocks: one IndexedDB record per subtree instead of
 * one per node.
 *
 * Why: a sparse history has about 1.7 trie nodes per message, so a device that adopts a
 * 1M-message snapshot would write 1.7M records; Chromium's IndexedDB spends minutes on that
 * and stalls (measured, BENCHMARKS.md). Grouping the nodes under each depth-`BLOCK_DEPTH`
 * prefix (a 729-minute window) into one record turns that into a few thousand writes, while
 * an edit still rewrites only two small records: the top block (every node shallower than
 * `BLOCK_DEPTH`) and the block of the edited minute.
 *
 * A block keeps its nodes as parallel columns (path suffixes, signed hashes, counts), which
 * IndexedDB's structured clone copies far faster than an object per node. This module is
 * pure; `BlockTrie` does the reads and writes inside the caller's transaction.
 */
import type { Table } from 'dexie';

import type { FlatTrie, TrieView } from './merkle';

/** Prefix length of a block: 3^(16 - 10) = 729 minutes of leaves per block. */
export const BLOCK_DEPTH = 10;

export interface TrieBlock {
  /** The block's prefix; '' for the top block (nodes shallower than BLOCK_DEPTH). */
  b: string;
  /** Path of each node with the prefix cut off. */
  p: string[];
  h: Int32Array;
  c: Int32Array;
}

export type BlockNodes = Map<string, [number, number]>;

export function blockKey(path: string): string {
  return path.length < BLOCK_DEPTH ? '' : path.slice(0, BLOCK_DEPTH);
}

export function packBlock(b: string, nodes: BlockNodes): TrieBlock {
  const live = [...nodes].filter(([, [, c]]) => c > 0);
  return {
    b,
    p: live.map(([path]) => path.slice(b.length)),
    h: Int32Array.from(live, ([, [h]]) => h),
    c: Int32Array.from(live, ([, [, c]]) => c),
  };
}

export function unpackBlock(block: TrieBlock): BlockNodes {
  const out: BlockNodes = new Map();
  block.p.forEach((suffix, i) => out.set(block.b + suffix, [block.h[i] ?? 0, block.c[i] ?? 0]));
  return out;
}

/** Group `[path, hash, count]` nodes (a snapshot's trie) into blocks; empty nodes dropped. */
export function toBlocks(nodes: Iterable<readonly [string, number, number]>): TrieBlock[] {
  const grouped = new Map<string, BlockNodes>();
  for (const [path, h, c] of nodes) {
    if (c <= 0) continue;
    const key = blockKey(path);
    let block = grouped.get(key);
    if (block === undefined) grouped.set(key, (block = new Map<string, [number, number]>()));
    block.set(path, [h, c]);
  }
  return [...grouped].map(([b, block]) => packBlock(b, block));
}

/**
 * The stored trie as seen from one transaction: blocks are read on first use and written
 * back by `flush`. Reads must `load` the paths first, so a missing block is never mistaken
 * for an empty one.
 */
export class BlockTrie implements TrieView {
  private readonly blocks = new Map<string, BlockNodes>();
  private readonly dirty = new Set<string>();

  constructor(private readonly table: Table<TrieBlock, string>) {}

  async load(paths: Iterable<string>): Promise<void> {
    const missing = [...new Set([...paths].map(blockKey))].filter((k) => !this.blocks.has(k));
    if (!missing.length) return;
    const found = await this.table.bulkGet(missing);
    missing.forEach((k, i) => {
      const rec = found[i];
      this.blocks.set(k, rec === undefined ? new Map<string, [number, number]>() : unpackBlock(rec));
    });
  }

  private loaded(path: string): BlockNodes {
    const block = this.blocks.get(blockKey(path));
    if (block === undefined) throw new Error(`trie block of "${path}" used before load`);
    return block;
  }

  get(path: string): readonly [number, number] | undefined {
    const v = this.loaded(path).get(path);
    return v !== undefined && v[1] > 0 ? v : undefined;
  }

  /** Add a delta (hashes XORed, counts added); nodes whose count drops to 0 disappear. */
  async apply(delta: FlatTrie): Promise<void> {
    await this.load(delta.nodes.keys());
    for (const [path, [h, c]] of delta.nodes) {
      const block = this.loaded(path);
      const old = block.get(path);
      const next: [number, number] = [((old?.[0] ?? 0) ^ h) | 0, (old?.[1] ?? 0) + c];
      if (next[1] > 0) block.set(path, next);
      else block.delete(path);
      this.dirty.add(blockKey(path));
    }
  }

  async flush(): Promise<void> {
    const put: TrieBlock[] = [];
    const del: string[] = [];
    for (const key of this.dirty) {
      const block = this.blocks.get(key);
      if (block === undefined || block.size === 0) del.push(key);
      else put.push(packBlock(key, block));
    }
    this.dirty.clear();
    if (put.length) await this.table.bulkPut(put);
    if (del.length) await this.table.bulkDelete(del);
  }
}
