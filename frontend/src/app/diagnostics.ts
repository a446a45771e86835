/**
 * The diagnostics page's logic (ui/Diagnostics.tsx): what this device holds, read in one
 * transaction; the device export (format "recap-device" v1, the contract the CLI
 * `python -m sync_server diff` reads); and, given the server's merkle comparison, which
 * messages each side holds that the other lacks, in human terms.
 *
 * Why naming what differs needs care: the device's log is partial by design (DESIGN.md,
 * "What a device keeps"), so the messages it holds are its log and its registers (each
 * register is the message that wrote its value), while its trie also counts messages it
 * no longer keeps (values others overwrote). A server message in a divergent minute that
 * the device does not hold may still be counted there: the minute's leaf (hash, count)
 * tells which ones, as the one subset of them whose hashes and number make up what the
 * leaf counts beyond what the device holds (`countedByDevice`).
 */
import { FIELD_LABEL } from './fields';
import type { Message, Scalar } from '../engine/message';
import { CHILD_KEYS, FlatTrie, timestampKey } from '../engine/merkle';
import { allRows, type RowRecord } from '../engine/rowgroups';
import type { LocalReplica, SyncStatus, User, Session } from '../engine/store';
import { hashTimestamp, millisOf, nodeOf } from '../engine/timestamp';
import type { Trie } from '../engine/merkle';

// -- what the device holds -------------------------------------------------------------

/** A message in the export's wire form: exactly these five keys. */
export interface WireMessage {
  dataset: string;
  row: string;
  column: string;
  value: Scalar;
  timestamp: string;
}

/** Everything the page and the export read, as of one moment (one read transaction). */
export interface DeviceState {
  node: string;
  user: User | null;
  clock: string;
  offsetMs: number;
  pulledThrough: number;
  lastSyncAt: number | null;
  trie: FlatTrie;
  /** The message log. */
  messages: WireMessage[];
  /** Timestamps of unacknowledged edits. */
  outbox: string[];
  /** Timestamps of edits the server refused: their registers stand, but no trie counts them. */
  refused: string[];
  rows: RowRecord[];
}

/** Oldest first (a timestamp's text sorts as its time). */
function byTimestamp(a: { timestamp: string }, b: { timestamp: string }): number {
  return a.timestamp < b.timestamp ? -1 : a.timestamp > b.timestamp ? 1 : 0;
}

export function wire(m: Message | (WireMessage & { prev?: unknown; seq?: unknown })): WireMessage {
  return { dataset: m.dataset, row: m.row, column: m.column, value: m.value, timestamp: m.timestamp };
}

/** Read the device's state in one transaction (a sync running meanwhile cannot make the
 * trie and the messages disagree). */
export async function readDevice(replica: LocalReplica): Promise<DeviceState> {
  const db = replica.db;
  return db.transaction('r', [db.meta, db.messages, db.rowGroups, db.trieBlocks, db.outbox, db.refused], async () => {
    const session = await replica.getMeta<Session>('session');
    const status = await replica.getMeta<SyncStatus>('status');
    return {
      node: replica.node,
      user: session?.user ?? null,
      clock: (await replica.clock()).last.toString(),
      offsetMs: await replica.offset(),
      pulledThrough: await replica.pulledThrough(),
      lastSyncAt: status?.lastSyncAt ?? null,
      trie: await replica.flatTrie(),
      messages: (await db.messages.toArray()).map(wire),
      outbox: (await db.outbox.toCollection().primaryKeys()).map(String),
      refused: (await db.refused.toCollection().primaryKeys()).map(String),
      rows: await allRows(db.rowGroups),
    };
  });
}

/** Every register as the message that wrote its value. */
export function registersOf(rows: readonly RowRecord[]): WireMessage[] {
  const out: WireMessage[] = [];
  for (const r of rows) {
    for (const [column, reg] of Object.entries(r.cols)) {
      out.push({ dataset: r.ds, row: r.id, column, value: reg.value, timestamp: reg.timestamp });
    }
  }
  return out.sort(byTimestamp);
}

/** The messages the device holds: its log and its registers, one per timestamp, oldest first. */
export function heldMessages(messages: readonly WireMessage[], registers: readonly WireMessage[]): WireMessage[] {
  const byTs = new Map<string, WireMessage>();
  for (const m of [...messages, ...registers]) if (!byTs.has(m.timestamp)) byTs.set(m.timestamp, m);
  return [...byTs.values()].sort(byTimestamp);
}

// -- the export ------------------------------------------------------------------------

export interface DeviceExport {
  format: 'recap-device';
  version: 1;
  exported_at: string;
  server: string;
  user: { id: string; name: string; role: string } | null;
  tenant_id: string | null;
  node: string;
  clock: string;
  clock_offset_ms: number;
  pulled_through: number;
  last_sync_at: number | null;
  trie: Trie;
  messages: WireMessage[];
  outbox: string[];
  registers: WireMessage[];
}

/** The export document (/tmp/export_format.md): what the device holds and nothing the rep
 * could not already see (no session token, no password). */
export function buildExport(state: DeviceState, server: string, now: Date): DeviceExport {
  const user = state.user;
  return {
    format: 'recap-device',
    version: 1,
    exported_at: now.toISOString(),
    server,
    user: user ? { id: user.id, name: user.display_name, role: user.role } : null,
    tenant_id: user?.tenant_id ?? null,
    node: state.node,
    clock: state.clock,
    clock_offset_ms: state.offsetMs,
    pulled_through: state.pulledThrough,
    last_sync_at: state.lastSyncAt,
    trie: state.trie.toJson(),
    messages: [...state.messages].sort(byTimestamp),
    outbox: [...state.outbox].sort(),
    registers: registersOf(state.rows),
  };
}

/** `recap-device-<node>-<YYYYMMDD-HHMM>.json.gz` (UTC). */
export function exportName(node: string, now: Date): string {
  const iso = now.toISOString();
  return `recap-device-${node}-${iso.slice(0, 10).replace(/-/g, '')}-${iso.slice(11, 16).replace(':', '')}.json.gz`;
}

/** The document as gzip-compressed JSON. */
export async function gzipJson(data: unknown): Promise<Blob> {
  const zipped = new Blob([JSON.stringify(data)]).stream().pipeThrough(new CompressionStream('gzip'));
  return new Blob([await new Response(zipped).arrayBuffer()], { type: 'application/gzip' });
}

// -- the comparison ------------------------------------------------------------------------

/** How deep the server's trie is read to trim the device's before a comparison: a node at
 * depth 10 spans 729 minutes. */
export const TRIM_DEPTH = 10;

/**
 * The device's trie with every subtree whose hash equals the server's (`server`, cut at some
 * depth) reduced to its hash: the comparison (`diff_ranges`) never descends where hashes are
 * equal, so it finds the same ranges, and the request stays small (a whole trie is about
 * 25 bytes a node, 1.7 nodes a message: past the server's body limit at a few hundred
 * thousand messages).
 */
export function trimTrie(device: Trie, server: Trie | undefined): Trie {
  if (server !== undefined && server.hash === device.hash) return { hash: device.hash };
  const out: Trie = { hash: device.hash };
  for (const k of CHILD_KEYS) {
    const child = device[k];
    if (child !== undefined) out[k] = trimTrie(child, server?.[k]);
  }
  return out;
}

/** What POST /debug/merkle/compare answers (the fields read here; the later ones only from
 * servers that describe their messages). */
export interface CompareAnswer {
  in_sync: boolean;
  ranges: { start: number; end: number; from?: string; to?: string }[];
  server_messages: (WireMessage & { seq?: number | null; prev?: string | null })[];
  truncated: boolean;
  root_hash?: number;
  count?: number;
  /** `server_messages` in human terms, in the same order. */
  server_described?: ServerDescription[];
  /** The name behind each node id the request asked about. */
  node_names?: Record<string, string>;
}

/** How the server describes one of its messages (sync_server/diagnose.py; the fields read
 * here, all optional: each is used where present). */
export interface ServerDescription {
  timestamp?: string;
  /** The sender's name, or "unknown device". */
  who?: string;
  /** What it changed, e.g. `"Acme" 2026-12-02 order (line: X)`. */
  target?: string;
  field?: string;
  value_text?: string;
}

/** The server's descriptions by timestamp. */
export function descriptionsOf(answer: CompareAnswer): Map<string, ServerDescription> {
  const out = new Map<string, ServerDescription>();
  (answer.server_described ?? []).forEach((d, i) => {
    const ts = d.timestamp ?? answer.server_messages[i]?.timestamp;
    if (ts !== undefined) out.set(ts, d);
  });
  return out;
}

/** Nodes, other than this device's, whose messages only this device holds: the server can
 * name their users. */
export function nodesToName(ranges: readonly RangeDiff[], node: string): string[] {
  const nodes = new Set<string>();
  for (const r of ranges)
    for (const m of r.deviceOnly) if (nodeOf(m.timestamp) !== node) nodes.add(nodeOf(m.timestamp));
  return [...nodes].sort();
}

export interface RangeDiff {
  start: number;
  end: number;
  /** Messages the server holds that this device lacks. */
  serverOnly: WireMessage[];
  /** Messages this device holds that the server lacks. */
  deviceOnly: WireMessage[];
  /** Server messages this device does not keep but counts (it had them; they were overwritten). */
  countedHere: WireMessage[];
  /** Some minutes could not be told apart exactly (see `countedByDevice`), or the server's
   * list was cut short: the lists may name too much. */
  uncertain: boolean;
  /** Messages this device holds here past the end of the server's list when it was cut
   * short (it lists in timestamp order): not compared. */
  beyond: number;
}

/** Combinations tried per minute at most when telling which unkept messages a leaf counts. */
const SEARCH_BUDGET = 50_000;

/** The trie's key for the minute a timestamp falls in (its leaf). */
function minuteKey(ts: string): string {
  return timestampKey(millisOf(ts));
}

function xorHashes(stamps: Iterable<string>): number {
  let h = 0;
  for (const ts of stamps) h = (h ^ hashTimestamp(ts)) | 0;
  return h;
}

function choose(n: number, k: number): number {
  let out = 1;
  for (let i = 1; i <= k; i++) out = (out * (n - k + i)) / i;
  return out;
}

/**
 * Which of `candidates` (one minute's server messages this device does not hold) the
 * device's leaf counts anyway: the subset whose hashes XOR to `hash` and whose size is
 * `count` (the leaf's hash and count with the held messages taken out). Null when no
 * subset or more than one fits, or there are too many to try.
 */
export function countedByDevice(candidates: readonly string[], hash: number, count: number): string[] | null {
  const n = candidates.length;
  if (count < 0 || count > n) return null;
  if (choose(n, count) > SEARCH_BUDGET) return null;
  const hashes = candidates.map(hashTimestamp);
  const found: number[][] = [];
  const pick: number[] = [];
  const walk = (from: number, acc: number): void => {
    if (found.length > 1) return;
    if (pick.length === count) {
      if ((acc | 0) === (hash | 0)) found.push([...pick]);
      return;
    }
    for (let i = from; i <= n - (count - pick.length); i++) {
      pick.push(i);
      walk(i + 1, acc ^ (hashes[i] ?? 0));
      pick.pop();
    }
  };
  walk(0, 0);
  const only = found.length === 1 ? found[0] : undefined;
  return only === undefined ? null : only.map((i) => candidates[i] ?? '');
}

/**
 * Per divergent range: the server's messages this device lacks and this device's messages
 * the server lacks. `held` is what the device holds (log and registers), `trie` the trie
 * the comparison was made with, `notCounted` held timestamps the trie does not count
 * (refused edits: their registers stand until discarded).
 */
export function splitRanges(
  answer: CompareAnswer,
  held: readonly WireMessage[],
  trie: FlatTrie,
  notCounted: ReadonlySet<string> = new Set(),
): RangeDiff[] {
  const inRange = <T extends { timestamp: string }>(list: readonly T[], start: number, end: number): T[] =>
    list.filter((m) => {
      const ms = millisOf(m.timestamp);
      return ms >= start && ms < end;
    });
  // A list cut short (in timestamp order) says nothing past its last message.
  const horizon = answer.truncated
    ? answer.server_messages.reduce((max, m) => (m.timestamp > max ? m.timestamp : max), '')
    : null;
  const horizonKey = horizon ? minuteKey(horizon) : null;
  return answer.ranges.map(({ start, end }) => {
    const server = inRange(answer.server_messages, start, end).map(wire);
    const all = inRange(held, start, end);
    const mine = horizon === null ? all : all.filter((m) => m.timestamp <= horizon);
    const onServer = new Set(server.map((m) => m.timestamp));
    const heldHere = new Set(mine.map((m) => m.timestamp));
    const deviceOnly = mine.filter((m) => !onServer.has(m.timestamp) && !notCounted.has(m.timestamp));
    const unheld = server.filter((m) => !heldHere.has(m.timestamp));
    // By minute: which of the server's unheld messages the device's leaf counts.
    const byMinute = new Map<string, WireMessage[]>();
    for (const m of unheld) {
      const key = minuteKey(m.timestamp);
      byMinute.set(key, [...(byMinute.get(key) ?? []), m]);
    }
    const counted = new Set<string>();
    let uncertain = answer.truncated;
    for (const [key, list] of byMinute) {
      // The minute the list ends in is incomplete: its leaf cannot be matched.
      if (horizonKey !== null && key >= horizonKey) {
        uncertain = true;
        continue;
      }
      const [leafHash, leafCount] = trie.get(key) ?? [0, 0];
      const mineHere = mine.filter((m) => !notCounted.has(m.timestamp) && minuteKey(m.timestamp) === key);
      const restHash = (leafHash ^ xorHashes(mineHere.map((m) => m.timestamp))) | 0;
      const restCount = leafCount - mineHere.length;
      if (restCount === 0 && restHash === 0) continue;
      const subset = countedByDevice(
        list.map((m) => m.timestamp),
        restHash,
        restCount,
      );
      if (subset === null) uncertain = true;
      else for (const ts of subset) counted.add(ts);
    }
    return {
      start,
      end,
      serverOnly: unheld.filter((m) => !counted.has(m.timestamp)),
      deviceOnly,
      countedHere: unheld.filter((m) => counted.has(m.timestamp)),
      uncertain,
      beyond: all.length - mine.length,
    };
  });
}

// -- the timeline ----------------------------------------------------------------------

export interface TimelineDay {
  /** Local calendar date, YYYY-MM-DD. */
  day: string;
  /** Local midnight (epoch ms). */
  start: number;
  /** Divergent minutes of that day as [from, to) minutes since local midnight. */
  marks: [number, number][];
}

const DAY_MINUTES = 24 * 60;

function localDay(ms: number): { day: string; start: number; next: number } {
  const d = new Date(ms);
  const start = new Date(d.getFullYear(), d.getMonth(), d.getDate()).getTime();
  const next = new Date(d.getFullYear(), d.getMonth(), d.getDate() + 1).getTime();
  const day = `${String(d.getFullYear()).padStart(4, '0')}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(
    d.getDate(),
  ).padStart(2, '0')}`;
  return { day, start, next };
}

/** One row per local day the ranges span (at most `maxDays`; `more` says how many days
 * beyond them), each with its divergent minutes. */
export function timeline(
  ranges: readonly { start: number; end: number }[],
  maxDays = 31,
): { days: TimelineDay[]; more: number } {
  const days = new Map<string, TimelineDay>();
  let more = 0;
  for (const { start, end } of [...ranges].sort((a, b) => a.start - b.start)) {
    let at = start;
    while (at < end) {
      const { day, start: midnight, next } = localDay(at);
      const until = Math.min(end, next);
      let row = days.get(day);
      if (row === undefined) {
        if (days.size >= maxDays) {
          // The days not drawn, roughly (a range may span years when one side lacks a subtree).
          more += Math.ceil((end - at) / 86_400_000);
          break;
        }
        row = { day, start: midnight, marks: [] };
        days.set(day, row);
      }
      const from = Math.floor((at - midnight) / 60_000);
      const to = Math.min(DAY_MINUTES, Math.ceil((until - midnight) / 60_000));
      const last = row.marks[row.marks.length - 1];
      if (last !== undefined && from <= last[1]) last[1] = Math.max(last[1], to);
      else row.marks.push([from, to]);
      at = until;
    }
  }
  return { days: [...days.values()], more };
}

// -- in human terms ----------------------------------------------------------------------

/** A message in words: which record, which field, what value, who, when. */
export interface Described {
  timestamp: string;
  record: string;
  field: string;
  value: string;
  who: string;
  /** Epoch ms of the edit. */
  when: number;
}

export interface DescribeContext {
  /** Rows by `dataset/id` (the device's registers). */
  rows: ReadonlyMap<string, RowRecord>;
  /** This device's node id and its user. */
  node: string;
  user: { id: string; name: string } | null;
  /** Users behind other node ids, as the server named them. */
  nodeNames?: ReadonlyMap<string, string>;
}

export function rowIndex(rows: readonly RowRecord[]): Map<string, RowRecord> {
  return new Map(rows.map((r) => [`${r.ds}/${r.id}`, r]));
}

function textOf(rec: RowRecord | undefined, column: string): string {
  const v = rec?.cols[column]?.value;
  return typeof v === 'string' ? v : '';
}

function nameOf(ctx: DescribeContext, ds: string, id: string): string {
  return textOf(ctx.rows.get(`${ds}/${id}`), 'name');
}

function orderWords(ctx: DescribeContext, id: string): string | null {
  const order = ctx.rows.get(`pre_orders/${id}`);
  if (order === undefined) return null;
  const partner = nameOf(ctx, 'partners', textOf(order, 'partner_id')) || 'a partner';
  const date = textOf(order, 'delivery_date');
  return `the pre-order for ${partner}${date ? ` on ${date}` : ''}`;
}

export function recordWords(ctx: DescribeContext, m: { dataset: string; row: string }): string | null {
  const row = ctx.rows.get(`${m.dataset}/${m.row}`);
  if (m.dataset === 'pre_orders') {
    const words = orderWords(ctx, m.row);
    return words === null ? null : words.charAt(0).toUpperCase() + words.slice(1);
  }
  if (m.dataset === 'pre_order_flows') {
    if (row === undefined) return null;
    const product = nameOf(ctx, 'products', textOf(row, 'product_id')) || 'A product line';
    const order = orderWords(ctx, textOf(row, 'pre_order_id'));
    return order === null ? product : `${product} in ${order}`;
  }
  if (m.dataset === 'partners' || m.dataset === 'products') {
    const label = m.dataset === 'partners' ? 'Partner' : 'Product';
    const name = textOf(row, 'name');
    return row === undefined ? null : name ? `${label} ${name}` : label;
  }
  if (m.dataset === 'profiles') {
    if (ctx.user !== null && m.row === ctx.user.id) return 'Your profile';
    return row === undefined ? null : `The profile of ${textOf(row, 'name') || 'a rep'}`;
  }
  return null;
}

/** The value in words; `unknown` for a partner or product this device does not have. */
export function valueWords(ctx: DescribeContext, column: string, value: Scalar, unknown?: string): string {
  if (value === null) return '(empty)';
  if (column === 'partner_id' && typeof value === 'string') return nameOf(ctx, 'partners', value) || unknown || value;
  if (column === 'product_id' && typeof value === 'string') return nameOf(ctx, 'products', value) || unknown || value;
  if (column === 'tombstone') return value === 1 ? 'deleted' : 'restored';
  if (column === 'avatar') return '(picture)';
  return String(value);
}

/** A message in human terms: the device's rows name the record and the value (the server's
 * words where the device lacks the row); who made it is this user when it was this device's
 * node, else the server's name for its sender or node, else "another device". */
export function describeMessage(ctx: DescribeContext, m: WireMessage, server?: ServerDescription): Described {
  const node = nodeOf(m.timestamp);
  const named = server?.who && server.who !== 'unknown device' ? server.who : ctx.nodeNames?.get(node);
  const who = node === ctx.node ? `${ctx.user?.name ?? 'You'} (this device)` : named || 'another device';
  return {
    timestamp: m.timestamp,
    record: recordWords(ctx, m) ?? server?.target ?? `${m.dataset} ${m.row}`,
    field: FIELD_LABEL[m.column] ?? server?.field ?? m.column,
    value: valueWords(ctx, m.column, m.value, server?.value_text),
    who,
    when: millisOf(m.timestamp),
  };
}
