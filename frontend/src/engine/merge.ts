/**
 * The merge rule (mirrors crdt/merge.py): one last-writer-wins register per
 * (dataset, row, column); the greatest timestamp wins, an equal timestamp is the same
 * message. Alongside the state it reports conflicts, judged with the writer's `prev`:
 *
 * - `superseded`: an incoming message loses to a current value from another node whose
 *   writer had not seen it;
 * - `overwrote`: an incoming message wins over a current value from another node that its
 *   writer had not seen;
 * - `deleted`: an edit lands on a row another node tombstoned (delete wins), or a new delete
 *   lands over edits from another node stamped after it.
 */
import { fieldKey, type Message, type Scalar } from './message';
import { NODE_LENGTH } from './timestamp';

export const TOMBSTONE = 'tombstone';
export type ConflictKind = 'superseded' | 'overwrote' | 'deleted';

export interface Register {
  readonly value: Scalar;
  readonly timestamp: string;
  readonly prev?: string;
}

export interface Conflict {
  readonly kind: ConflictKind;
  readonly dataset: string;
  readonly row: string;
  readonly column: string;
  /** The value that stands. */
  readonly winner: Register;
  /** The value that lost. */
  readonly loser: Register;
}

export type Registers = Readonly<Record<string, Register>>;

export function registerNode(r: Register): string {
  return r.timestamp.slice(-NODE_LENGTH);
}

export function registerOf(m: Message): Register {
  return m.prev === undefined
    ? { value: m.value, timestamp: m.timestamp }
    : { value: m.value, timestamp: m.timestamp, prev: m.prev };
}

function nodeOfTs(ts: string): string {
  return ts.slice(-NODE_LENGTH);
}

/** The conflict, if any, between an incoming message and its field's current register. */
export function classify(incoming: Message, current: Register | undefined): Conflict | null {
  if (
    current === undefined ||
    registerNode(current) === nodeOfTs(incoming.timestamp) ||
    current.timestamp === incoming.timestamp
  ) {
    return null;
  }
  const mine = registerOf(incoming);
  const where = { dataset: incoming.dataset, row: incoming.row, column: incoming.column };
  if (incoming.timestamp < current.timestamp) {
    if (current.prev === incoming.timestamp) return null; // sequential, just late
    return { kind: 'superseded', ...where, winner: current, loser: mine };
  }
  if (incoming.prev === current.timestamp) return null;
  return { kind: 'overwrote', ...where, winner: mine, loser: current };
}

/** Fold messages for one field into its register: the final register, the messages that
 * became current along the way (timestamp order), and the conflicts found. */
export function mergeField(
  current: Register | undefined,
  incoming: Iterable<Message>,
): { register: Register | undefined; applied: Message[]; conflicts: Conflict[] } {
  const applied: Message[] = [];
  const conflicts: Conflict[] = [];
  let reg = current;
  const sorted = [...incoming].sort((a, b) => (a.timestamp < b.timestamp ? -1 : a.timestamp > b.timestamp ? 1 : 0));
  for (const m of sorted) {
    const conflict = classify(m, reg);
    if (conflict !== null) conflicts.push(conflict);
    if (reg === undefined || m.timestamp > reg.timestamp) {
      reg = registerOf(m);
      applied.push(m);
    }
  }
  return { register: reg, applied, conflicts };
}

/** Edits lost to a delete among a row's registers after a batch (reported once, when the
 * later of the two arrives). */
export function deletionConflicts(
  dataset: string,
  row: string,
  registers: Registers,
  newTimestamps: ReadonlySet<string>,
): Conflict[] {
  const tomb = registers[TOMBSTONE];
  if (tomb === undefined || tomb.value !== 1) return [];
  const out: Conflict[] = [];
  const tombIsNew = newTimestamps.has(tomb.timestamp);
  for (const [column, reg] of Object.entries(registers)) {
    if (column === TOMBSTONE || registerNode(reg) === registerNode(tomb)) continue;
    if (newTimestamps.has(reg.timestamp) || (tombIsNew && reg.timestamp > tomb.timestamp)) {
      out.push({ kind: 'deleted', dataset, row, column, winner: tomb, loser: reg });
    }
  }
  return out;
}

export function rowKey(dataset: string, row: string): string {
  return `${dataset}\u0000${row}`;
}

export interface BatchMerge {
  /** Every register that moved, by row key then column. */
  readonly changed: Map<string, { dataset: string; row: string; columns: Record<string, Register> }>;
  readonly applied: Message[];
  readonly conflicts: Conflict[];
}

/** Merge newly stored messages (never duplicates) into the current registers of the rows
 * they touch. `current` is not modified. */
export function mergeBatch(current: ReadonlyMap<string, Registers>, inserted: readonly Message[]): BatchMerge {
  const out: BatchMerge = { changed: new Map(), applied: [], conflicts: [] };
  const newTimestamps = new Set(inserted.map((m) => m.timestamp));
  const groups = new Map<string, Message[]>();
  for (const m of inserted) {
    const k = fieldKey(m);
    const g = groups.get(k);
    if (g) g.push(m);
    else groups.set(k, [m]);
  }
  const rows = new Map<string, { dataset: string; row: string; regs: Record<string, Register> }>();
  for (const group of groups.values()) {
    const first = group[0];
    if (first === undefined) continue;
    const rk = rowKey(first.dataset, first.row);
    let entry = rows.get(rk);
    if (entry === undefined) {
      entry = { dataset: first.dataset, row: first.row, regs: { ...(current.get(rk) ?? {}) } };
      rows.set(rk, entry);
    }
    const { register, applied, conflicts } = mergeField(entry.regs[first.column], group);
    if (register !== undefined && applied.length) {
      entry.regs[first.column] = register;
      let changed = out.changed.get(rk);
      if (changed === undefined) {
        changed = { dataset: first.dataset, row: first.row, columns: {} };
        out.changed.set(rk, changed);
      }
      changed.columns[first.column] = register;
    }
    out.applied.push(...applied);
    out.conflicts.push(...conflicts);
  }
  const sortedRows = [...rows.values()].sort((a, b) =>
    a.dataset === b.dataset ? (a.row < b.row ? -1 : a.row > b.row ? 1 : 0) : a.dataset < b.dataset ? -1 : 1,
  );
  for (const r of sortedRows) out.conflicts.push(...deletionConflicts(r.dataset, r.row, r.regs, newTimestamps));
  return out;
}
