/**
 * The user's actions on the data: each is one batch of field edits, stamped and stored in
 * one IndexedDB transaction (instant and offline), then synced in the background.
 */
import { v7 as uuidv7 } from 'uuid';

import type { Scalar } from '../engine/message';
import { flowsOf, rowOf, rowsOf } from '../engine/rowgroups';
import { isLive, type ConflictRecord, type ConflictState, type RowRecord } from '../engine/store';
import { addDays, utcSeconds } from './dates';
import { noticeKey, reapplyChanges, type RowOf } from './notices';
import { service } from './service';

/** A line's quantity: a whole number in this range (the UI refuses anything else). */
export const QTY_MIN = 1;
export const QTY_MAX = 100_000;

/** Why `draft` is no valid quantity, or null. */
export function quantityError(draft: string): string | null {
  const t = draft.trim();
  if (t === '') return 'Enter a quantity.';
  if (!/^[+-]?\d+([.,]\d+)?$/.test(t)) return 'Enter a whole number, like 12.';
  const n = Number(t.replace(',', '.'));
  if (!Number.isInteger(n)) return 'Whole numbers only.';
  if (n < QTY_MIN) return `At least ${QTY_MIN}.`;
  if (n > QTY_MAX) return `At most ${QTY_MAX.toLocaleString('en-US')}.`;
  return null;
}

/** A quantity kept within the range (the stepper's − / +). */
export function clampQuantity(n: number): number {
  return Math.min(QTY_MAX, Math.max(QTY_MIN, Math.round(n)));
}

/** Weight of `quantity` units of a product, rounded to grams. */
export function weightFor(product: RowRecord | undefined, quantity: number): number | null {
  const unit = product?.cols.unit_weight?.value;
  return typeof unit === 'number' ? Math.round(unit * quantity * 1000) / 1000 : null;
}

/** Was the line's weight typed by a rep? It was when it differs from quantity × the product's
 * unit weight (rounded to grams): no schema field remembers it. A product without a unit
 * weight has no automatic weight, so its weight is always the rep's. */
export function weightTyped(flow: RowRecord | undefined, product: RowRecord | undefined): boolean {
  const quantity = flow?.cols.quantity?.value;
  const weight = flow?.cols.weight?.value;
  if (typeof weight !== 'number') return false;
  const auto = typeof quantity === 'number' ? weightFor(product, quantity) : null;
  return auto === null || Math.abs(auto - weight) > 1e-9;
}

export async function createPreOrder(partnerId: string, date: string): Promise<string> {
  const id = uuidv7();
  await service.edit([
    { dataset: 'pre_orders', row: id, column: 'partner_id', value: partnerId },
    { dataset: 'pre_orders', row: id, column: 'delivery_date', value: date },
    { dataset: 'pre_orders', row: id, column: 'status', value: 'pending' },
    { dataset: 'pre_orders', row: id, column: 'priority', value: 'medium' },
    { dataset: 'pre_orders', row: id, column: 'created_at', value: utcSeconds() },
    { dataset: 'pre_orders', row: id, column: 'tombstone', value: 0 },
  ]);
  return id;
}

export async function setOrderField(
  id: string,
  column: 'partner_id' | 'delivery_date' | 'status' | 'priority',
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

/** Undo a line's removal: bring it back (an ordinary new edit) with the values it had. */
export async function restoreFlow(flow: RowRecord): Promise<void> {
  const changes: { dataset: string; row: string; column: string; value: Scalar }[] = [];
  for (const column of ['pre_order_id', 'product_id', 'quantity', 'weight']) {
    const value = flow.cols[column]?.value;
    if (value !== undefined && value !== null)
      changes.push({ dataset: 'pre_order_flows', row: flow.id, column, value });
  }
  changes.push({ dataset: 'pre_order_flows', row: flow.id, column: 'tombstone', value: 0 });
  await service.edit(changes);
}

export async function addFlow(orderId: string, product: RowRecord, quantity = 1): Promise<string> {
  const id = uuidv7();
  await service.edit([
    { dataset: 'pre_order_flows', row: id, column: 'pre_order_id', value: orderId },
    { dataset: 'pre_order_flows', row: id, column: 'product_id', value: product.id },
    { dataset: 'pre_order_flows', row: id, column: 'quantity', value: quantity },
    { dataset: 'pre_order_flows', row: id, column: 'weight', value: weightFor(product, quantity) ?? 0 },
    { dataset: 'pre_order_flows', row: id, column: 'status', value: 'open' },
    { dataset: 'pre_order_flows', row: id, column: 'tombstone', value: 0 },
  ]);
  return id;
}

/** A line's product; the weight follows the new product's unit weight unless `keepWeight` (a
 * weight the rep typed). */
export async function setFlowProduct(
  flowId: string,
  product: RowRecord,
  quantity: number | null,
  keepWeight = false,
): Promise<void> {
  const changes: { dataset: string; row: string; column: string; value: Scalar }[] = [
    { dataset: 'pre_order_flows', row: flowId, column: 'product_id', value: product.id },
  ];
  const weight = quantity === null || keepWeight ? null : weightFor(product, quantity);
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

/** The partner's products, most recently ordered first (by when the line got its product),
 * from their other live pre-orders on this device with delivery dates from 90 days back to
 * 30 days ahead; at most `limit`. */
export async function recentProducts(
  partnerId: string,
  exceptOrder: string,
  today: string,
  limit = 8,
): Promise<string[]> {
  const table = service.db.rowGroups;
  const groups = await table.where('dates').between(addDays(today, -90), addDays(today, 30), true, true).toArray();
  const orders = new Set<string>();
  for (const g of groups)
    for (const r of rowsOf(g))
      if (r.ds === 'pre_orders' && r.id !== exceptOrder && isLive(r) && r.cols.partner_id?.value === partnerId)
        orders.add(r.id);
  if (!orders.size) return [];
  const latest = new Map<string, string>();
  for (const f of await flowsOf(table, [...orders])) {
    const product = f.cols.product_id;
    if (!isLive(f) || typeof product?.value !== 'string') continue;
    if ((latest.get(product.value) ?? '') < product.timestamp) latest.set(product.value, product.timestamp);
  }
  return [...latest.entries()]
    .sort((a, b) => (a[1] < b[1] ? 1 : a[1] > b[1] ? -1 : 0))
    .slice(0, limit)
    .map(([id]) => id);
}

/** The live pre-orders of a partner for a delivery date (a second one is usually a mistake). */
export function sameDayOrders(orders: readonly RowRecord[], partnerId: string, except?: string): RowRecord[] {
  return orders.filter((o) => o.id !== except && isLive(o) && o.cols.partner_id?.value === partnerId);
}

/** A pre-order (deleted or not) with its live lines, by id. */
export async function orderWithFlows(id: string): Promise<{ order: RowRecord; flows: RowRecord[] } | null> {
  const order = await rowOf(service.db.rowGroups, 'pre_orders', id);
  if (!order) return null;
  const flows = (await flowsOf(service.db.rowGroups, [id])).filter((f) => isLive(f));
  flows.sort((a, b) => (a.id < b.id ? -1 : 1));
  return { order, flows };
}

/** Who wrote a register, as far as this device can tell: this device; a device the
 * devices list names (one's own devices; every device for an admin); the other side of a
 * conflict the server reported about this row; else null. */
export async function writerOf(dataset: string, row: string, timestamp: string): Promise<string | null> {
  const node = timestamp.slice(-16);
  if (node === service.replica.node) return 'you';
  const conflicts = await service.db.conflicts.toArray();
  for (const c of conflicts) {
    if (c.dataset !== dataset || c.row !== row) continue;
    for (const side of [c.winner, c.loser]) if (side.timestamp === timestamp && side.user_name) return side.user_name;
  }
  const known = deviceNames.get(node);
  if (known !== undefined) return known;
  try {
    const { listDevices } = await import('./accounts');
    for (const d of await listDevices()) deviceNames.set(d.node, d.user_name);
  } catch {
    return null; // offline: the caller says "another user"
  }
  return deviceNames.get(node) ?? null;
}

const deviceNames = new Map<string, string>();

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
