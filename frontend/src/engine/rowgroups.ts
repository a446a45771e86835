/**
 * The device's rows (every column's LWW register) stored as groups: one IndexedDB record
 * holds the rows of one dataset whose id hashes to the same bucket.
 *
 * Why: Chromium's IndexedDB costs about 0.25 ms per `put` on a disk-backed profile,
 * whatever the record's size, number of indexes or transaction size (measured; see
 * BENCHMARKS.md), so a device adopting a 150k-row snapshot spent 50 of its 62 seconds
 * writing one record per row. With `GROUPS` buckets per dataset a snapshot batch writes at
 * most `GROUPS` records, however many rows it carries, and a sync that brings 30k messages
 * rewrites the groups it touches instead of 30k rows.
 *
 * The recap page reads pre-orders by delivery date and flows by pre-order: each group
 * lists its pre-orders' dates and its flows' pre-orders in multiEntry indexes (`dates`,
 * `parents`), so those reads find their groups through an index and filter the rows.
 * The price: a read or an edit decodes a whole group (tens of rows at 1M messages).
 *
 * Pure helpers here; `RowGroups` does the reads and writes inside the caller's transaction.
 */
import Dexie, { type Table } from 'dexie';
import murmurhash from 'murmurhash';

import type { Register } from './merge';

/** 2^11 groups per dataset: ~60 rows a group for 120k flows. */
export const GROUP_BITS = 11;

export interface RowRecord {
  ds: string;
  id: string;
  cols: Record<string, Register>;
  /** pre_orders.delivery_date, derived from `cols`. */
  date?: string;
  /** pre_order_flows.pre_order_id, derived from `cols`. */
  parent?: string;
}

export interface RowGroup {
  ds: string;
  g: number;
  rows: Record<string, Record<string, Register>>;
  /** Delivery dates of the group's pre-orders (multiEntry index). */
  dates: string[];
  /** Pre-orders of the group's flows (multiEntry index). */
  parents: string[];
}

export type GroupKey = [string, number];

export function groupOf(id: string): number {
  return murmurhash.v3(id, 0) >>> (32 - GROUP_BITS);
}

export function groupKey(ds: string, id: string): GroupKey {
  return [ds, groupOf(id)];
}

function keyText([ds, g]: GroupKey): string {
  return `${ds}\u0000${g}`;
}

/** The `dates` entry of a pre-order without a delivery date (a draft made through the
 * Orders API, `POST /orders`, has none until a rep gives it one): `ordersOn(UNDATED)`
 * finds them through the index like any day's. */
export const UNDATED = '';

/** A row with the fields the indexes need copied out of its registers. */
export function derive(ds: string, id: string, cols: Record<string, Register>): RowRecord {
  const out: RowRecord = { ds, id, cols };
  if (ds === 'pre_orders') {
    const v = cols.delivery_date?.value;
    out.date = typeof v === 'string' ? v : UNDATED;
  } else if (ds === 'pre_order_flows') {
    const v = cols.pre_order_id?.value;
    if (typeof v === 'string') out.parent = v;
  }
  return out;
}

export function rowsOf(group: RowGroup): RowRecord[] {
  return Object.entries(group.rows).map(([id, cols]) => derive(group.ds, id, cols));
}

function withIndexes(group: RowGroup): RowGroup {
  const dates = new Set<string>();
  const parents = new Set<string>();
  for (const rec of rowsOf(group)) {
    if (rec.date !== undefined) dates.add(rec.date);
    if (rec.parent !== undefined) parents.add(rec.parent);
  }
  return { ...group, dates: [...dates], parents: [...parents] };
}

/**
 * Rows as seen from one transaction: the groups they live in are read on first use and
 * written back, whole, by `put`.
 */
export class RowGroups {
  private readonly groups = new Map<string, RowGroup>();

  constructor(private readonly table: Table<RowGroup, GroupKey>) {}

  private async load(keys: readonly GroupKey[]): Promise<void> {
    const missing = [...new Map(keys.map((k) => [keyText(k), k])).entries()].filter(([t]) => !this.groups.has(t));
    if (!missing.length) return;
    const found = await this.table.bulkGet(missing.map(([, k]) => k));
    missing.forEach(([text, [ds, g]], i) => {
      this.groups.set(text, found[i] ?? { ds, g, rows: {}, dates: [], parents: [] });
    });
  }

  async get(keys: readonly (readonly [string, string])[]): Promise<(RowRecord | undefined)[]> {
    const gks = keys.map(([ds, id]) => groupKey(ds, id));
    await this.load(gks);
    return keys.map(([ds, id], i) => {
      const gk = gks[i];
      const cols = gk === undefined ? undefined : this.groups.get(keyText(gk))?.rows[id];
      return cols === undefined ? undefined : derive(ds, id, cols);
    });
  }

  /** Store rows (each replacing its previous version; one with no registers is removed)
   * and write their groups back. */
  async put(rows: readonly RowRecord[]): Promise<void> {
    if (!rows.length) return;
    const gks = rows.map((r) => groupKey(r.ds, r.id));
    await this.load(gks);
    const touched = new Set<string>();
    rows.forEach((r, i) => {
      const gk = gks[i];
      if (gk === undefined) return;
      const text = keyText(gk);
      const group = this.groups.get(text);
      if (group === undefined) throw new Error(`row group ${text} used before load`);
      // A row left without any register (every edit of it withdrawn) is no row at all.
      if (Object.keys(r.cols).length) group.rows[r.id] = r.cols;
      else Reflect.deleteProperty(group.rows, r.id);
      touched.add(text);
    });
    const out: RowGroup[] = [];
    for (const text of touched) {
      const group = this.groups.get(text);
      if (group !== undefined) {
        const indexed = withIndexes(group);
        this.groups.set(text, indexed);
        out.push(indexed);
      }
    }
    await this.table.bulkPut(out);
  }
}

// -- queries (the UI's reads; each one is a few index lookups) ----------------------------

export async function rowOf(table: Table<RowGroup, GroupKey>, ds: string, id: string): Promise<RowRecord | undefined> {
  const cols = (await table.get(groupKey(ds, id)))?.rows[id];
  return cols === undefined ? undefined : derive(ds, id, cols);
}

export async function datasetRows(table: Table<RowGroup, GroupKey>, ds: string): Promise<RowRecord[]> {
  const groups = await table.where('[ds+g]').between([ds, Dexie.minKey], [ds, Dexie.maxKey], true, true).toArray();
  return groups.flatMap(rowsOf);
}

export async function ordersOn(table: Table<RowGroup, GroupKey>, date: string): Promise<RowRecord[]> {
  const groups = await table.where('dates').equals(date).toArray();
  return groups.flatMap(rowsOf).filter((r) => r.ds === 'pre_orders' && r.date === date);
}

export async function flowsOf(table: Table<RowGroup, GroupKey>, orderIds: readonly string[]): Promise<RowRecord[]> {
  if (!orderIds.length) return [];
  const wanted = new Set(orderIds);
  const groups = await table
    .where('parents')
    .anyOf([...wanted])
    .toArray();
  const seen = new Set<string>();
  const out: RowRecord[] = [];
  for (const group of groups) {
    const text = keyText([group.ds, group.g]);
    if (seen.has(text)) continue;
    seen.add(text);
    for (const r of rowsOf(group))
      if (r.ds === 'pre_order_flows' && r.parent !== undefined && wanted.has(r.parent)) out.push(r);
  }
  return out;
}

export async function allRows(table: Table<RowGroup, GroupKey>): Promise<RowRecord[]> {
  return (await table.toArray()).flatMap(rowsOf);
}

export async function rowsByKey(
  table: Table<RowGroup, GroupKey>,
  keys: readonly (readonly [string, string])[],
): Promise<(RowRecord | undefined)[]> {
  return new RowGroups(table).get(keys);
}
