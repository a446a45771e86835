/**
 * Conflict notices as people read them: the server reports one conflict per field, the app
 * shows one notice per user action (a quantity and the weight that goes with it are one
 * edit), one per delete for everything it hides of a pre-order, and groups notices by the
 * record they are about (a line's record is its pre-order). Pure: rows come in as lookups.
 */
import type { RowRecord } from '../engine/rowgroups';
import type { ConflictRecord } from '../engine/store';

/** A row of the replica by dataset and id (deleted rows included). */
export type RowOf = (dataset: string, id: string) => RowRecord | undefined;

/** One user action: its edits are stamped in one millisecond by one node. */
export function actionOf(timestamp: string): string {
  return `${timestamp.slice(0, 24)}${timestamp.slice(-16)}`;
}

/** The pre-order a conflict is about (a line's order), when known. */
export function orderOf(c: ConflictRecord, rowOf: RowOf): string | null {
  if (c.dataset === 'pre_orders') return c.row;
  if (c.dataset === 'pre_order_flows') return rowOf(c.dataset, c.row)?.parent ?? null;
  return null;
}

/** The record a notice is listed under: the pre-order for its lines, else the row. */
export function recordOf(c: ConflictRecord, rowOf: RowOf): { dataset: string; row: string } {
  const order = orderOf(c, rowOf);
  return order !== null ? { dataset: 'pre_orders', row: order } : { dataset: c.dataset, row: c.row };
}

/** This user's side of a conflict. */
export function mineOf(c: ConflictRecord): ConflictRecord['winner'] {
  return c.yours === 'loser' ? c.loser : c.winner;
}

export function noticeKey(c: ConflictRecord, rowOf: RowOf): string {
  const record = recordOf(c, rowOf);
  if (c.kind === 'deleted') return `deleted ${record.dataset}/${record.row} ${c.winner.timestamp}`;
  if (c.kind === 'reapplied') return `reapplied ${actionOf(c.winner.timestamp)}`;
  return `${c.kind} ${c.dataset}/${c.row} ${actionOf(mineOf(c).timestamp)}`;
}

export interface Notice {
  key: string;
  /** The record it is listed under. */
  record: { dataset: string; row: string };
  /** The conflicts it stands for (one per field), oldest first. */
  items: ConflictRecord[];
  /** The newest conflict's id: notices sort by it. */
  id: number;
  /** 1 when every conflict of it is settled (dismissed or re-applied, on any device). */
  settled: boolean;
  /** Not yet seen on this device. */
  fresh: boolean;
}

/** Notices of conflicts, newest first. */
export function groupNotices(conflicts: readonly ConflictRecord[], rowOf: RowOf): Notice[] {
  const byKey = new Map<string, Notice>();
  for (const c of [...conflicts].sort((a, b) => a.id - b.id)) {
    const key = noticeKey(c, rowOf);
    const notice = byKey.get(key);
    if (notice === undefined) {
      byKey.set(key, {
        key,
        record: recordOf(c, rowOf),
        items: [c],
        id: c.id,
        settled: c.resolved === 1,
        fresh: c.notified === 0,
      });
    } else {
      notice.items.push(c);
      notice.id = c.id;
      notice.settled &&= c.resolved === 1;
      notice.fresh ||= c.notified === 0;
    }
  }
  return [...byKey.values()].sort((a, b) => b.id - a.id);
}

/** Notices grouped by their record, the record with the newest notice first. */
export function byRecord(notices: readonly Notice[]): { key: string; notices: Notice[] }[] {
  const out = new Map<string, Notice[]>();
  for (const n of notices) {
    const key = `${n.record.dataset}/${n.record.row}`;
    const list = out.get(key) ?? [];
    list.push(n);
    out.set(key, list);
  }
  return [...out.entries()].map(([key, list]) => ({ key, notices: list }));
}

/** Does the value that won still stand? Re-applying is offered only then: over a newer
 * value, it would overwrite an edit its author never lost. For a delete: the row (the
 * line, or its order) is still deleted by that very delete. */
export function winnerStands(c: ConflictRecord, rowOf: RowOf): boolean {
  if (c.kind === 'deleted') {
    const own = rowOf(c.dataset, c.row)?.cols.tombstone;
    if (own?.timestamp === c.winner.timestamp) return own.value === 1;
    const order = orderOf(c, rowOf);
    const tomb = order !== null && order !== c.row ? rowOf('pre_orders', order)?.cols.tombstone : undefined;
    return tomb?.timestamp === c.winner.timestamp && tomb.value === 1;
  }
  return rowOf(c.dataset, c.row)?.cols[c.column]?.timestamp === c.winner.timestamp;
}

export interface Change {
  dataset: string;
  row: string;
  column: string;
  value: ConflictRecord['loser']['value'];
}

/** The edit that puts this user's lost values back, from the notice's conflicts they lost
 * whose winner still stands: each value again; for a delete, the row it deleted back
 * (tombstone 0: the order, or the line deleted on its own), with the edits it hid again
 * where they no longer stand. Empty when nothing can be re-applied. */
export function reapplyChanges(items: readonly ConflictRecord[], rowOf: RowOf): Change[] {
  const changes = new Map<string, Change>();
  const set = (dataset: string, row: string, column: string, value: Change['value']): void => {
    changes.set(`${dataset}/${row}/${column}`, { dataset, row, column, value });
  };
  for (const c of items) {
    if (c.yours !== 'loser' || c.resolved === 1 || !winnerStands(c, rowOf)) continue;
    if (c.kind !== 'deleted') {
      set(c.dataset, c.row, c.column, c.loser.value);
      continue;
    }
    const own = rowOf(c.dataset, c.row)?.cols.tombstone;
    if (own?.timestamp === c.winner.timestamp) set(c.dataset, c.row, 'tombstone', 0);
    else set('pre_orders', orderOf(c, rowOf) ?? c.row, 'tombstone', 0);
    const now = rowOf(c.dataset, c.row)?.cols[c.column];
    if (c.column !== 'tombstone' && now?.timestamp !== c.loser.timestamp) {
      set(c.dataset, c.row, c.column, c.loser.value);
    }
  }
  return [...changes.values()];
}
