/**
 * The user's actions on the data: each is one batch of field edits, stamped and stored in
 * one IndexedDB transaction (instant and offline), then synced in the background.
 */
import { v7 as uuidv7 } from 'uuid';

import type { Scalar } from '../engine/message';
import type { ConflictRecord, RowRecord } from '../engine/store';
import { utcSeconds } from './dates';
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

/** The lost edits made by the same action as `conflict`'s (one batch is stamped within one
 * millisecond: e.g. a quantity and the weight that goes with it), still unresolved. */
async function sameAction(conflict: ConflictRecord): Promise<ConflictRecord[]> {
  const millis = conflict.loser.timestamp.slice(0, 24);
  const all = await service.db.conflicts.toArray();
  return all.filter(
    (c) =>
      c.id === conflict.id ||
      (c.yours === 'loser' &&
        c.resolved === 0 &&
        c.dataset === conflict.dataset &&
        c.row === conflict.row &&
        c.loser.timestamp.slice(0, 24) === millis),
  );
}

/** Write my losing value(s) again: a knowing overwrite (its `prev` is the winner), so it is
 * no new conflict for the winner; an edit lost to a delete restores the row too. */
export async function reapply(conflict: ConflictRecord): Promise<void> {
  const group = await sameAction(conflict);
  const changes = new Map<string, { dataset: string; row: string; column: string; value: Scalar }>();
  for (const c of group) {
    if (c.kind === 'deleted' && c.column !== 'tombstone') {
      changes.set('tombstone', { dataset: c.dataset, row: c.row, column: 'tombstone', value: 0 });
    }
    changes.set(c.column, { dataset: c.dataset, row: c.row, column: c.column, value: c.loser.value });
  }
  await service.edit([...changes.values()]);
  await service.db.conflicts.bulkUpdate(group.map((c) => ({ key: c.id, changes: { resolved: 1, notified: 1 } })));
}

/** The user has seen every notice (the conflicts list is open). */
export async function markAllSeen(): Promise<void> {
  await service.db.conflicts.where('notified').equals(0).modify({ notified: 1 });
}

export async function dismissConflict(id: number): Promise<void> {
  await service.db.conflicts.update(id, { notified: 1 });
}
