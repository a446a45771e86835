import { v7 as uuidv7 } from 'uuid';

import { allRows } from '../src/engine/rowgroups';
import { LocalReplica, RecapDB } from '../src/engine/store';
import type { FakeServer } from './fakeServer';

let counter = 0;

/** A fresh replica in its own (fake) IndexedDB database. */
export async function newReplica(now: () => number = Date.now): Promise<LocalReplica> {
  counter += 1;
  const replica = new LocalReplica(new RecapDB(`test-${counter}-${uuidv7()}`), now);
  await replica.open();
  return replica;
}

export const newId = (): string => uuidv7();

/** Every register of a replica, `dataset/row/column -> [value, timestamp]`. */
export async function state(r: LocalReplica): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  for (const rec of await allRows(r.db.rowGroups)) {
    for (const [c, reg] of Object.entries(rec.cols)) out[`${rec.ds}/${rec.id}/${c}`] = [reg.value, reg.timestamp];
  }
  return out;
}

/** The same of the in-memory server. */
export function serverState(s: FakeServer): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const r of s.registers.values()) {
    for (const [c, reg] of Object.entries(r.cols)) out[`${r.dataset}/${r.row}/${c}`] = [reg.value, reg.timestamp];
  }
  return out;
}
