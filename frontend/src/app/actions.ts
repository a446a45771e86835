/**
 * The user's actions on the data: each is one batch of field edits, stamped and stored in
 * one IndexedDB transaction (instant and offline), then synced in the background.
 */
import { v7 as uuidv7 } from 'uuid';

import type { Scalar } from '../engine/message';
import type { ConflictRecord, ConflictState, RowRecord } from '../engine/store';
import { utcSeconds } from './dates';
import { noticeKey, reapplyChanges, type RowOf } from './notices';
import { service } from './service';

/** Weight of `quantity` units of a product, rounded to grams. */
export function weightFor(product: RowRecord | undefined, quantity: number): number | null {
  const unit = product?.cols.unit_weight?.value;
  return typeof unit === 'number' ? Math.round(unit * quantity * 1000) / 1000 : null;
}

export async function createPreOrder(partnerId: string, date: string): Promise<string> {
  const id = uuidv7();
  await service.edit([
    { dataset: 'pre_orders', row: id, column: 'partner_id', value: partnerId },
    { dataset: 'pre_orders', row: id, column: 'delivery_date', value: date },
    { dataset: 'pre_orders', row: id, column: 'status', value: 'pending' },
    { dataset: 'pre_orders', row: id, column: 'created_at', value: utcSeconds() },
    { dataset: 'pre_orders', row: id, column: 'tombstone', value: 0 },
  ]);
  return id;
}

export async function setOrderField(
  id: string,
  column: 'partner_id' | 'delivery_date' | 'status',
  value: string,
): Promise<void> {
  await service.edit([{ dataset: 'pre_orders', row: id, column, value }]);
}

export async function setDeleted(
  dataset: 'pre_orders' | 'pre_order_flows',
  id: string,
  deleted: boolean,
): Promise<void> {
  await service.edit([{ dataset, row: id, column: 'tombstone', value: deleted ? 1 : 0 }]);
}

export async function addFlow(orderId: string, product: RowRecord, quantity = 1): Promise<string> {
  const id = uuidv7();
  await service.edit([
    { dataset: 'pre_order_flows', row: id, column: 'pre_order_id', value: orderId },
    { dataset: 'pre_order_flows', row: id, column: 'product_id', value: product.id },
    { dataset: 'pre_order_flows', row: id, column: 'quantity', value: quantity },
    { dataset: 'pre_order_flows', row: id, column: 'weight', value: weightFor(product, quantity) ?? 0 },
    { dataset: 'pre_order_flows', row: id, column: 'tombstone', value: 0 },
  ]);
  return id;
}

export async function setFlowProduct(flowId: string, product: RowRecord, quantity: number | null): Promise<void> {
  const changes: { dataset: string; row: string; column: string; value: Scalar }[] = [
    { dataset: 'pre_order_flows', row: flowId, column: 'product_id', value: product.id },
  ];
  const weight = quantity === null ? null : weightFor(product, quantity);
  if (weight !== null) changes.push({ dataset: 'pre_order_flows', row: flowId, column: 'weight', value: weight });
  await service.edit(changes);
}

/** Quantity, and the weight that goes with it (from the product's unit weight) unless given. */
export async function setFlowQuantity(flowId: string, quantity: number, weight: number | null): Promise<void> {
  const changes: { dataset: string; row: string; column: string; value: Scalar }[] = [
    { dataset: 'pre_order_flows', row: flowId, column: 'quantity', value: quantity },
  ];
  if (weight !== null) changes.push({ dataset: 'pre_order_flows', row: flowId, column: 'weight', value: weight });
  await service.edit(changes);
}

export async function setFlowWeight(flowId: string, weight: number): Promise<void> {
  await service.edit([{ dataset: 'pre_order_flows', row: flowId, column: 'weight', value: weight }]);
}

export async function saveProfile(
  userId: string,
  fields: Partial<Record<'name' | 'email' | 'avatar', string>>,
): Promise<void> {
  const changes = Object.entries(fields).map(([column, value]) => ({
    dataset: 'profiles',
    row: userId,
    column,
    value,
  }));
  if (changes.length) await service.edit(changes);
}

// -- conflicts ----------------------------------------------------------------------

/** The rows conflicts name, deleted ones included, for grouping and checks. */
async function rowsFor(conflicts: readonly ConflictRecord[]): Promise<RowOf> {
  const rows = new Map<string, RowRecord>();
  const get = async (dataset: string, id: string): Promise<RowRecord | undefined> => {
    const key = `${dataset}/${id}`;
    if (!rows.has(key)) {
      const row = await service.replica.row(dataset, id);
      if (row) rows.set(key, row);
    }
    return rows.get(key);
  };
  for (const c of conflicts) {
    const row = await get(c.dataset, c.row);
    if (row?.parent) await get('pre_orders', row.parent);
  }
  return (dataset, id) => rows.get(`${dataset}/${id}`);
}

/** The conflicts of the notice `conflict` belongs to (one user action, or one delete). */
async function noticeOf(conflict: ConflictRecord): Promise<{ items: ConflictRecord[]; lookup: RowOf }> {
  const all = await service.db.conflicts.toArray();
  const lookup = await rowsFor(all);
  const key = noticeKey(conflict, lookup);
  return { items: all.filter((c) => noticeKey(c, lookup) === key), lookup };
}

/** Settle conflicts here at once and tell the server, which every other device of the user
 * hears from (their next sync). */
async function settle(ids: readonly number[], state: ConflictState): Promise<void> {
  if (!ids.length) return;
  await service.db.conflicts
    .where('id')
    .anyOf([...ids])
    .modify((c) => {
      if (c.state === 'resolved') return;
      c.state = state;
      c.pending = state;
      c.notified = 1;
      c.resolved = 1;
    });
  void flushConflictStates().catch(() => undefined);
}

/** Send the says made on this device that the server has not recorded yet (again after
 * each sync until it has). A resolve waits for the outbox to empty: the re-applied edit
 * reaches the server first, so the notice it sends the replaced rep names it. */
export async function flushConflictStates(): Promise<void> {
  const pending = await service.db.conflicts.filter((c) => c.pending !== undefined).toArray();
  if (!pending.length) return;
  const synced = (await service.db.outbox.count()) === 0;
  const dismissed = pending.filter((c) => c.pending === 'dismissed').map((c) => c.id);
  const resolved = synced ? pending.filter((c) => c.pending === 'resolved').map((c) => c.id) : [];
  for (let i = 0; i < Math.max(dismissed.length, resolved.length); i += 1000) {
    const body = { dismissed: dismissed.slice(i, i + 1000), resolved: resolved.slice(i, i + 1000) };
    if (!body.dismissed.length && !body.resolved.length) continue;
    await service.api<{ changed: number }>('POST', '/api/v1/conflicts/states', body);
    const sent = new Set([...body.dismissed, ...body.resolved]);
    await service.db.conflicts
      .where('id')
      .anyOf([...sent])
      .modify((c) => {
        if (c.pending === c.state) delete c.pending;
      });
  }
}

/** Write my losing value(s) again, as one ordinary edit stamped now: the values of the
 * notice's conflicts I lost whose winning value still stands (over a newer value it would
 * overwrite an edit its author never lost); for a delete, the order (or line) back with my
 * edits. The server tells the rep whose value it replaces. */
export async function reapply(conflict: ConflictRecord): Promise<void> {
  const { items, lookup } = await noticeOf(conflict);
  const changes = reapplyChanges(items, lookup);
  if (!changes.length) throw new Error('The other value has changed since: there is nothing to re-apply.');
  await service.edit(changes);
  await settle(
    items.filter((c) => c.yours === 'loser' && c.resolved === 0).map((c) => c.id),
    'resolved',
  );
}

/** The user has seen every notice (the conflicts list is open). */
export async function markAllSeen(): Promise<void> {
  await service.db.conflicts.where('notified').equals(0).modify({ notified: 1 });
}

/** The toast is out of sight (it hid itself): seen here, still open in the list. */
export async function markSeen(ids: readonly number[]): Promise<void> {
  await service.db.conflicts
    .where('id')
    .anyOf([...ids])
    .modify({ notified: 1 });
}

/** Dismiss the notice `id` belongs to, on every device of the user. */
export async function dismissConflict(id: number): Promise<void> {
  const conflict = await service.db.conflicts.get(id);
  if (!conflict) return;
  const { items } = await noticeOf(conflict);
  await settle(
    items.filter((c) => c.resolved === 0).map((c) => c.id),
    'dismissed',
  );
}

/** Dismiss every open notice, on every device of the user. */
export async function dismissAllConflicts(): Promise<void> {
  const open = await service.db.conflicts.filter((c) => c.resolved === 0).primaryKeys();
  await settle(open, 'dismissed');
}
