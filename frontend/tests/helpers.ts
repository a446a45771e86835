import { v7 as uuidv7 } from 'uuid';

import { LocalReplica, RecapDB } from '../src/engine/store';

let counter = 0;

/** A fresh replica in its own (fake) IndexedDB database. */
export async function newReplica(now: () => number = Date.now): Promise<LocalReplica> {
  counter += 1;
  const replica = new LocalReplica(new RecapDB(`test-${counter}-${uuidv7()}`), now);
  await replica.open();
  return replica;
}

export const newId = (): string => uuidv7();
