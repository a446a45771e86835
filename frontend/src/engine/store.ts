/**
 * The device's replica in IndexedDB (through Dexie): the client side of the engine, the
 * same steps as recap_client/replica.py.
 *
 * Tables (one database per signed-in device, deleted on sign-out):
 * - `meta`       key -> value: node id, clock, session (token + user), clock offset,
 *                snapshot seq, conflicts_after, sync status, bootstrap state;
 * - `rowGroups`  every row's LWW registers (value, timestamp, prev), grouped by dataset and
 *                id hash, with multiEntry indexes on pre-order dates and flow parents that
 *                the UI reads by (see rowgroups.ts);
 * - `messages`   the message log by timestamp (range scans by trie path): not the history,
 *                only what repair and a discard need (see `keeps`, and DESIGN.md "What a
 *                device keeps"), so it does not grow with the tenant's history;
 * - `trieBlocks` the merkle trie, one record per subtree (see trieblocks.ts);
 * - `outbox`     edits the server has not acknowledged, by timestamp, indexed by row, each
 *                with the register it replaced (`was`: to put it back if it is refused);
 * - `conflicts`  the server's conflict notices for this user, by id;
 * - `refused`    edits the server refused for good (a role that may not write them, an
 *                email another account uses), by timestamp, until the user discards them.
 *
 * Every write is ONE readwrite transaction that awaits nothing but IndexedDB, so an edit
 * is stamped, logged, queued, applied and hashed atomically before any network I/O, and
 * readwrite transactions over the same stores from several tabs are serialized by
 * IndexedDB itself: the clock's read-modify-write cannot interleave across tabs.
 */
import Dexie, { type Table } from 'dexie';

import { InvalidMessage } from './errors';
import { clockFromJson, clockToJson, newClock, recv, send, type Clock, type ClockJson } from './hlc';
import { mergeBatch, mergeField, registerOf, rowKey, type Conflict, type Register, type Registers } from './merge';
import { CHILD_KEYS, FlatTrie, KEY_LENGTH, keyRange, timestampKey } from './merkle';
import { fieldKey, type Message, type Scalar } from './message';
import { frontier, refine, type Summary } from './reconcile';
import { validate } from './schema';
import { Timestamp, hashTimestamp, minTimestampAt, nodeOf } from './timestamp';
import { RowGroups, derive, rowOf, type GroupKey, type RowGroup, type RowRecord } from './rowgroups';
import { BlockTrie, toBlocks, unpackBlock, type TrieBlock } from './trieblocks';

export type { RowRecord };

/** A trie node as version 1 of the database stored it (one record per node). */
interface TrieRecordV1 {
  path: string;
  h: number;
  c: number;
}

export interface MetaRecord {
  key: string;
  value: unknown;
}

export interface ConflictSide {
  value: Scalar;
  timestamp: string;
  user_id: string | null;
  user_name: string | null;
}

/** The user's say on a conflict notice, the same on every device of theirs. */
export type ConflictState = 'dismissed' | 'resolved';

/** A conflict notice as the server reports it (GET conflicts in POST /sync). */
export interface ServerConflict {
  id: number;
  /** `reapplied`: the loser of a conflict put their value back over yours. */
  kind: 'superseded' | 'overwrote' | 'deleted' | 'reapplied';
  dataset: string;
  row: string;
  column: string;
  winner: ConflictSide;
  loser: ConflictSide;
  detected_at: string;
  yours: 'winner' | 'loser';
  /** Its place in the user's feed: it moves up (and comes again) when its state changes. */
  seq?: number;
  /** Dismissed, or resolved (re-applied), on any device of the user; null while open. */
  state?: ConflictState | null;
}

export interface ConflictRecord extends ServerConflict {
  /** 0 until the user has seen the notification (dismissed the toast). */
  notified: 0 | 1;
  /** 1 once settled: re-applied or dismissed, here or on another device of the user. */
  resolved: 0 | 1;
  /** A say made on this device that the server has not recorded yet. */
  pending?: ConflictState;
}

export interface User {
  id: string;
  tenant_id: string;
  email: string;
  display_name: string;
  role: string;
}

export interface Session {
  token: string;
  user: User;
  expires_at: number;
}

export type SyncPhase = 'idle' | 'syncing' | 'offline' | 'error' | 'signed_out';

export interface SyncStatus {
  phase: SyncPhase;
  lastSyncAt: number | null;
  error: string | null;
  at: number;
}

export interface RemoteMessage extends Message {
  readonly seq?: number;
}

/** An unacknowledged edit, with the register it replaced when it was made (none: the field
 * had no value). A bootstrapped device holds adopted values only as registers, not in its
 * log, so a refused edit could not otherwise be taken back to the value it overwrote. */
export interface OutboxRecord extends Message {
  readonly was?: Register;
}

/** An edit the server refused (403 `forbidden_write`, 409 `email_taken`): out of the
 * outbox, the log and the trie, so the rest syncs; its register still shows it until the
 * user discards it. */
export interface RefusedRecord extends OutboxRecord {
  readonly code: string;
  readonly reason: string;
  /** When it was refused (epoch ms). */
  readonly at: number;
}

/** The message alone (the wire and log form), without an outbox or refused record's extras. */
export function messageOf(m: Message): Message {
  const base = { dataset: m.dataset, row: m.row, column: m.column, value: m.value, timestamp: m.timestamp };
  return m.prev === undefined ? base : { ...base, prev: m.prev };
}

export interface Change {
  dataset: string;
  row: string;
  column: string;
  value: Scalar;
}

export class RecapDB extends Dexie {
  declare meta: Table<MetaRecord, string>;
  declare rowGroups: Table<RowGroup, GroupKey>;
  declare messages: Table<Message, string>;
  declare trieBlocks: Table<TrieBlock, string>;
  declare outbox: Table<OutboxRecord, string>;
  declare conflicts: Table<ConflictRecord, number>;
  declare refused: Table<RefusedRecord, string>;

  constructor(name = 'recap') {
    super(name);
    // Upgrades: add `this.version(n).stores({...}).upgrade(...)` below; Dexie runs every
    // version's upgrade in order, like a falling-through switch on oldVersion.
    this.version(1).stores({
      meta: 'key',
      registers: '[ds+id], ds, [ds+date], [ds+parent]',
      messages: 'timestamp',
      trie: 'path',
      outbox: 'timestamp, [dataset+row]',
      conflicts: 'id, notified',
    });
    // Version 2: the trie as blocks (one record per subtree) instead of one per node.
    this.version(2)
      .stores({ trieBlocks: 'b' })
      .upgrade(async (tx) => {
        const old = (await tx.table('trie').toArray()) as TrieRecordV1[];
        await tx.table('trieBlocks').bulkPut(toBlocks(old.map((r) => [r.path, r.h, r.c] as const)));
      });
    this.version(3).stores({ trie: null });
    // Version 4: rows in groups (one record per dataset and id hash) instead of one per row.
    this.version(4)
      .stores({ rowGroups: '[ds+g], *dates, *parents' })
      .upgrade(async (tx) => {
        const old = (await tx.table('registers').toArray()) as RowRecord[];
        await new RowGroups(tx.table<RowGroup, GroupKey>('rowGroups')).put(old.map((r) => derive(r.ds, r.id, r.cols)));
      });
    this.version(5).stores({ registers: null });
    // Version 6: edits the server refused for good, until the user discards them.
    this.version(6).stores({ refused: 'timestamp' });
  }
}

function randomNode(): string {
  const bytes = new Uint8Array(8);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

export interface ApplyResult {
  inserted: Message[];
  applied: Message[];
  conflicts: Conflict[];
}

/** How long the log keeps this device's own acknowledged edits: a server restored from a
 * backup up to this old gets them back from the device (repair pushes them again). */
export const OWN_RETENTION_MS = 30 * 86_400_000;

export class LocalReplica {
  private nodeId = '';

  constructor(
    readonly db: RecapDB,
    /** Physical time; the server-learned offset is added to it. */
    private readonly physicalNow: () => number = Date.now,
  ) {}

  get node(): string {
    if (!this.nodeId) throw new Error('replica not opened');
    return this.nodeId;
  }

  /** Create the node id and clock on first use; load them otherwise. */
  async open(): Promise<void> {
    const db = this.db;
    this.nodeId = await db.transaction('rw', db.meta, async () => {
      const found = await db.meta.get('node');
      if (typeof found?.value === 'string') return found.value;
      const node = randomNode();
      await db.meta.bulkPut([
        { key: 'node', value: node },
        { key: 'clock', value: clockToJson(newClock(node)) },
      ]);
      return node;
    });
  }

  // -- meta --------------------------------------------------------------------------
  async getMeta<T>(key: string): Promise<T | undefined> {
    return (await this.db.meta.get(key))?.value as T | undefined;
  }

  async setMeta(key: string, value: unknown): Promise<void> {
    await this.db.meta.put({ key, value });
  }

  async offset(): Promise<number> {
    return (await this.getMeta<number>('offset')) ?? 0;
  }

  async now(): Promise<number> {
    return this.physicalNow() + (await this.offset());
  }

  private async readClock(): Promise<Clock> {
    const json = await this.getMeta<ClockJson>('clock');
    return json ? clockFromJson(json) : newClock(this.node);
  }

  async clock(): Promise<Clock> {
    return this.readClock();
  }

  // -- local edits -----------------------------------------------------------------
  /** Stamp and store local edits: validated first (nothing invalid is written), then
   * clock, message log, outbox, registers and trie in one transaction. */
  async edit(changes: readonly Change[]): Promise<Message[]> {
    for (const c of changes) validate(c);
    if (!changes.length) return [];
    const db = this.db;
    return db.transaction('rw', [db.meta, db.messages, db.rowGroups, db.trieBlocks, db.outbox], async () => {
      let clock = await this.readClock();
      const now = this.physicalNow() + (await this.offset());
      const keys = [
        ...new Map(changes.map((c) => [rowKey(c.dataset, c.row), [c.dataset, c.row] as [string, string]])).values(),
      ];
      const store = new RowGroups(db.rowGroups);
      const rows = await store.get(keys);
      const current = new Map<string, Registers>();
      rows.forEach((r) => {
        if (r) current.set(rowKey(r.ds, r.id), r.cols);
      });
      const latest = new Map<string, Register>();
      const messages: Message[] = [];
      const queued: OutboxRecord[] = [];
      for (const c of changes) {
        const [next, ts] = send(clock, now);
        clock = next;
        const fk = fieldKey(c);
        const was = latest.get(fk) ?? current.get(rowKey(c.dataset, c.row))?.[c.column];
        const timestamp = ts.toString();
        const base = { dataset: c.dataset, row: c.row, column: c.column, value: c.value, timestamp };
        const m: Message = was === undefined ? base : { ...base, prev: was.timestamp };
        messages.push(m);
        queued.push(was === undefined ? m : { ...m, was });
        latest.set(fk, registerOf(m));
      }
      const merged = mergeBatch(current, messages);
      await writeRows(store, rows, merged.changed);
      const delta = new FlatTrie();
      for (const m of messages) delta.insert(m.timestamp);
      await this.applyTrieDelta(delta);
      await db.messages.bulkAdd(messages);
      await db.outbox.bulkAdd(queued);
      await db.meta.put({ key: 'clock', value: clockToJson(clock) });
      return messages;
    });
  }

  /** Add a delta (hashes XORed, counts added) to the stored trie. */
  private async applyTrieDelta(delta: FlatTrie): Promise<void> {
    if (!delta.nodes.size) return;
    const trie = new BlockTrie(this.db.trieBlocks);
    await trie.apply(delta);
    await trie.flush();
  }

  // -- remote messages -------------------------------------------------------------
  /** Messages not counted in this device's trie yet (the bootstrap's late messages): advance
   * the clock past the newest, count the new ones in the trie, merge. New means in no
   * register and not in the log (the log keeps only some messages: see `keeps`); messages
   * with `0 < seq <= snapshot seq` are already counted in an adopted trie. A sync's pages
   * go through `receivePage` and `settleRanges` instead, which need no such test. */
  async receiveRemote(items: readonly RemoteMessage[]): Promise<ApplyResult> {
    const db = this.db;
    const result: ApplyResult = { inserted: [], applied: [], conflicts: [] };
    if (!items.length) return result;
    return db.transaction(
      'rw',
      [db.meta, db.messages, db.rowGroups, db.trieBlocks, db.outbox, db.refused],
      async () => {
        const horizon = (await this.getMeta<number>('snapshotSeq')) ?? 0;
        const unique = [...new Map(items.map((m) => [m.timestamp, m])).values()];
        const stored = await db.messages.bulkGet(unique.map((m) => m.timestamp));
        const held = await new RowGroups(db.rowGroups).get(unique.map((m) => [m.dataset, m.row] as [string, string]));
        const fresh = unique.filter(
          (m, i) => stored[i] === undefined && held[i]?.cols[m.column]?.timestamp !== m.timestamp,
        );
        await this.advanceClock(unique);
        if (!fresh.length) return result;
        const messages: Message[] = fresh.map(stripSeq);
        const delta = new FlatTrie();
        fresh.forEach((m) => {
          const seq = m.seq ?? 0;
          if (!(horizon > 0 && seq > 0 && seq <= horizon)) delta.insert(m.timestamp);
        });
        await this.applyTrieDelta(delta);
        const merged = await this.mergeRemote(messages);
        return { inserted: messages, applied: merged.applied, conflicts: merged.conflicts };
      },
    );
  }

  /** One page of a sync's messages: advance the clock past the newest and merge them into
   * the registers (merging a message held already changes nothing). The trie is not
   * touched here: once the round's pages are all in, `settleRanges` sets the ranges they
   * came for to what they hold. */
  async receivePage(items: readonly RemoteMessage[]): Promise<void> {
    if (!items.length) return;
    const db = this.db;
    await db.transaction('rw', [db.meta, db.messages, db.rowGroups, db.outbox, db.refused], async () => {
      const unique = [...new Map(items.map((m) => [m.timestamp, stripSeq(m)])).values()];
      await this.advanceClock(unique);
      await this.mergeRemote(unique);
    });
  }

  /** The server sent everything it holds in `paths` but what this round pushed, so each of
   * those ranges of the trie now counts exactly: `known` (what the pages brought and what
   * the round pushed) in it, and what the log holds there (an edit not pushed yet, or one
   * the server lacks, which the next round pushes). No message log is needed to tell a
   * message sent again from a new one.
   *
   * Also for `push` ranges (the server holds nothing there), with `known` what the round
   * pushed: they count what the log holds there. What they counted beyond that are
   * messages the server lost and this device keeps only as register values (another
   * device's, or its own beyond OWN_RETENTION_MS): it cannot push them. Returns how many
   * messages the ranges counted before and count now. */
  async settleRanges(paths: readonly string[], known: Iterable<string>): Promise<{ before: number; after: number }> {
    const counts = { before: 0, after: 0 };
    const outer = [...new Set(paths)].filter((p) => !paths.some((q) => q !== p && p.startsWith(q)));
    if (!outer.length) return counts;
    const stamps = [...new Set(known)].map((ts) => [ts, Timestamp.parse(ts).millis] as const);
    const db = this.db;
    await db.transaction('rw', [db.messages, db.trieBlocks], async () => {
      const trie = new BlockTrie(db.trieBlocks);
      const delta = new FlatTrie();
      const add = (path: string, h: number, c: number): void => {
        const node = delta.nodes.get(path);
        if (node === undefined) delta.nodes.set(path, [h | 0, c]);
        else {
          node[0] = (node[0] ^ h) | 0;
          node[1] += c;
        }
      };
      for (const path of outer) {
        const [start, end] = keyRange(path);
        // Out with what the range counted...
        await trie.load([path]);
        const top = trie.get(path);
        if (top !== undefined) {
          counts.before += top[1];
          for (let i = 0; i < path.length; i++) add(path.slice(0, i), top[0], -top[1]);
          add(path, top[0], -top[1]);
          let level = [path];
          while (level.length && (level[0]?.length ?? KEY_LENGTH) < KEY_LENGTH) {
            const next = level.flatMap((p) => CHILD_KEYS.map((k) => p + k));
            await trie.load(next);
            level = next.filter((p) => {
              const node = trie.get(p);
              if (node !== undefined) add(p, node[0], -node[1]);
              return node !== undefined;
            });
          }
        }
        // ...in with what it holds.
        const inRange = new Set(
          await db.messages
            .where('timestamp')
            .between(minTimestampAt(start), minTimestampAt(end), true, false)
            .primaryKeys(),
        );
        for (const [ts, ms] of stamps) if (ms >= start && ms < end) inRange.add(ts);
        for (const ts of inRange) delta.insert(ts);
        counts.after += inRange.size;
      }
      await trie.apply(delta);
      await trie.flush();
    });
    return counts;
  }

  private async advanceClock(messages: readonly Message[]): Promise<void> {
    // Our own node's messages too: a reused node id must not stamp them again.
    const newest = messages.reduce<string | null>((a, m) => (a === null || m.timestamp > a ? m.timestamp : a), null);
    if (newest === null) return;
    const now = this.physicalNow() + (await this.offset());
    const clock = recv(await this.readClock(), Timestamp.parse(newest), now);
    await this.db.meta.put({ key: 'clock', value: clockToJson(clock) });
  }

  /** Merge remote messages into the registers, and log those the log keeps (inside the
   * caller's transaction over meta, messages, rowGroups, outbox and refused). */
  private async mergeRemote(messages: readonly Message[]): Promise<ReturnType<typeof mergeBatch>> {
    const db = this.db;
    const pending = await this.pendingFields();
    const since = (await this.now()) - OWN_RETENTION_MS;
    const kept = messages.filter((m) => this.keeps(m, pending, since));
    if (kept.length) await db.messages.bulkPut(kept);
    const keys = [
      ...new Map(messages.map((m) => [rowKey(m.dataset, m.row), [m.dataset, m.row] as [string, string]])).values(),
    ];
    const store = new RowGroups(db.rowGroups);
    const rows = await store.get(keys);
    const current = new Map<string, Registers>();
    rows.forEach((r) => {
      if (r) current.set(rowKey(r.ds, r.id), r.cols);
    });
    const merged = mergeBatch(current, messages);
    await writeRows(store, rows, merged.changed);
    return merged;
  }

  // -- what the log keeps ----------------------------------------------------------
  /** Fields with an edit of this device the server has not taken (in the outbox, or
   * refused and not yet discarded). */
  private async pendingFields(): Promise<Set<string>> {
    const fields = new Set<string>();
    await this.db.outbox.each((m) => fields.add(fieldKey(m)));
    await this.db.refused.each((m) => fields.add(fieldKey(m)));
    return fields;
  }

  /** Whether the log keeps `m`. The server holds every message it acknowledged, and each
   * device can push again only its own, so the log keeps: this device's own messages until
   * acknowledged and OWN_RETENTION_MS after (a server restored from an older backup gets them
   * back), and any message of a field with a pending edit (discarding that edit merges the
   * field again from what it replaced and the log's later messages). Everything else lives
   * on as the registers (the state) and the trie (which still counts it). */
  private keeps(m: Message, pending: ReadonlySet<string>, since: number): boolean {
    if (pending.has(fieldKey(m))) return true;
    return nodeOf(m.timestamp) === this.node && Timestamp.parse(m.timestamp).millis >= since;
  }

  /** Drop from the log what it no longer keeps (after a sync: acknowledged edits age out,
   * discarded or acknowledged ones release their fields). How many were dropped. */
  async prune(): Promise<number> {
    const db = this.db;
    return db.transaction('rw', [db.meta, db.messages, db.outbox, db.refused], async () => {
      const pending = await this.pendingFields();
      const since = (await this.now()) - OWN_RETENTION_MS;
      const queued = new Set(await db.outbox.toCollection().primaryKeys());
      const drop: string[] = [];
      await db.messages.each((m) => {
        if (!queued.has(m.timestamp) && !this.keeps(m, pending, since)) drop.push(m.timestamp);
      });
      if (drop.length) await db.messages.bulkDelete(drop);
      return drop.length;
    });
  }

  // -- reads for the protocol ------------------------------------------------------
  async messagesIn(startMs: number, endMs: number): Promise<Message[]> {
    return this.db.messages
      .where('timestamp')
      .between(minTimestampAt(startMs), minTimestampAt(endMs), true, false)
      .toArray();
  }

  async outboxPage(limit: number): Promise<Message[]> {
    return (await this.db.outbox.orderBy('timestamp').limit(limit).toArray()).map(messageOf);
  }

  /** Every unacknowledged edit, oldest first (to export them). */
  async outboxMessages(): Promise<Message[]> {
    return (await this.db.outbox.orderBy('timestamp').toArray()).map(messageOf);
  }

  async outboxCount(): Promise<number> {
    return this.db.outbox.count();
  }

  async ack(timestamps: readonly string[]): Promise<void> {
    if (timestamps.length) await this.db.outbox.bulkDelete([...timestamps]);
  }

  async root(): Promise<[number, number]> {
    const trie = new BlockTrie(this.db.trieBlocks);
    await trie.load(['']);
    const r = trie.get('');
    return r ? [r[0], r[1]] : [0, 0];
  }

  /** The first-round summary, reading only the blocks along the newest path. */
  async frontierSummary(): Promise<Summary> {
    const db = this.db;
    return db.transaction('r', db.trieBlocks, async () => {
      const trie = new BlockTrie(db.trieBlocks);
      await trie.load(['']);
      let path = '';
      while (trie.get(path) !== undefined && path.length < KEY_LENGTH) {
        const kids = CHILD_KEYS.map((k) => path + k);
        await trie.load(kids);
        const newest = kids.filter((p) => trie.get(p) !== undefined).pop();
        if (newest === undefined) break;
        path = newest;
      }
      return frontier(trie);
    });
  }

  /** Summary of `paths`, STRIDE levels deeper, reading only the blocks they fall in. */
  async refineSummary(paths: readonly string[]): Promise<Summary> {
    const db = this.db;
    return db.transaction('r', db.trieBlocks, async () => {
      const trie = new BlockTrie(db.trieBlocks);
      await trie.load(paths);
      for (const scope of paths) {
        let level = trie.get(scope) !== undefined ? [scope] : [];
        const depth = Math.min(KEY_LENGTH, scope.length + 3);
        while (level.length && (level[0]?.length ?? depth) < depth) {
          const next = level.flatMap((p) => CHILD_KEYS.map((k) => p + k));
          await trie.load(next);
          level = next.filter((p) => trie.get(p) !== undefined);
        }
      }
      return refine(trie, paths);
    });
  }

  /** The whole trie (debugging, tests). */
  async flatTrie(): Promise<FlatTrie> {
    const out = new FlatTrie();
    for (const block of await this.db.trieBlocks.toArray()) {
      for (const [path, node] of unpackBlock(block)) out.nodes.set(path, node);
    }
    return out;
  }

  // -- clock drift -----------------------------------------------------------------
  /** Give every unacknowledged edit a fresh timestamp from the corrected clock (the server
   * refused their request, for clock drift or because one of their stamps, `after`,
   * already names another message, so no one has seen them): they leave the log, the trie
   * and the outbox and are made again, in their original order, by a clock reset to the
   * newest timestamp held that is not one of theirs (and past `after`). */
  async restampOutbox(offsetMs: number, after: string | null = null): Promise<Message[]> {
    const db = this.db;
    return db.transaction('rw', [db.meta, db.messages, db.rowGroups, db.trieBlocks, db.outbox], async () => {
      await db.meta.put({ key: 'offset', value: offsetMs });
      const old = await db.outbox.orderBy('timestamp').toArray();
      if (!old.length) return [];
      const oldTs = new Set(old.map((m) => m.timestamp));
      const removal = new FlatTrie();
      for (const m of old)
        removal.insertHashed(timestampKey(Timestamp.parse(m.timestamp).millis), hashTimestamp(m.timestamp), -1);
      await this.applyTrieDelta(removal);
      await db.messages.bulkDelete([...oldTs]);
      await db.outbox.clear();
      let newest = (await db.messages.orderBy('timestamp').last())?.timestamp ?? null;
      if (after !== null && (newest === null || after > newest)) newest = after;
      await db.rowGroups.each((group) => {
        for (const cols of Object.values(group.rows)) {
          for (const reg of Object.values(cols)) {
            if (!oldTs.has(reg.timestamp) && (newest === null || reg.timestamp > newest)) newest = reg.timestamp;
          }
        }
      });
      let clock: Clock = newClock(this.node);
      if (newest !== null) {
        const t = Timestamp.parse(newest);
        clock = { last: new Timestamp(t.millis, t.counter, this.node) };
      }
      const now = this.physicalNow() + offsetMs;
      const renamed = new Map<string, string>();
      const fresh: Message[] = [];
      const queued: OutboxRecord[] = [];
      for (const m of old) {
        const [next, ts] = send(clock, now);
        clock = next;
        const timestamp = ts.toString();
        renamed.set(m.timestamp, timestamp);
        const prev = m.prev === undefined ? undefined : (renamed.get(m.prev) ?? m.prev);
        const b = { dataset: m.dataset, row: m.row, column: m.column, value: m.value, timestamp };
        const made: Message = prev === undefined ? b : { ...b, prev };
        fresh.push(made);
        // What it replaced keeps its place; an earlier edit of this batch has its new stamp.
        const was = m.was && { ...m.was, timestamp: renamed.get(m.was.timestamp) ?? m.was.timestamp };
        queued.push(was ? { ...made, was } : made);
      }
      const keys = [
        ...new Map(fresh.map((m) => [rowKey(m.dataset, m.row), [m.dataset, m.row] as [string, string]])).values(),
      ];
      const store = new RowGroups(db.rowGroups);
      const rows = await store.get(keys);
      const put: RowRecord[] = [];
      rows.forEach((r, i) => {
        const [ds, id] = keys[i] ?? ['', ''];
        const cols: Record<string, Register> = { ...(r?.cols ?? {}) };
        for (const m of fresh) {
          if (m.dataset !== ds || m.row !== id) continue;
          const cur = cols[m.column];
          // A register holding one of the withdrawn timestamps held this edit: the fresh
          // stamp takes its place; otherwise the ordinary rule decides.
          if (cur === undefined || oldTs.has(cur.timestamp)) cols[m.column] = registerOf(m);
          else {
            const { register } = mergeField(cur, [m]);
            if (register) cols[m.column] = register;
          }
        }
        put.push(derive(ds, id, cols));
      });
      await store.put(put);
      const delta = new FlatTrie();
      for (const m of fresh) delta.insert(m.timestamp);
      await this.applyTrieDelta(delta);
      await db.messages.bulkAdd(fresh);
      await db.outbox.bulkAdd(queued);
      await db.meta.put({ key: 'clock', value: clockToJson(clock) });
      return fresh;
    });
  }

  // -- refused edits ---------------------------------------------------------------
  /** The server refused `m` for good (its whole request, with `m`'s index): take it out of
   * the outbox, the log and the trie, so the rest syncs and it is never pushed again, and
   * keep it in `refused` with the reason. Its register still shows it (the user sees what
   * they did, marked refused) until they discard it. */
  async refuse(m: Message, code: string, reason: string, at: number = Date.now()): Promise<void> {
    const db = this.db;
    await db.transaction('rw', [db.messages, db.trieBlocks, db.outbox, db.refused], async () => {
      const queued = await db.outbox.get(m.timestamp);
      const logged = await db.messages.get(m.timestamp);
      if (logged) {
        await this.withdrawFromLog([m.timestamp]);
      }
      if (queued) await db.outbox.delete(m.timestamp);
      const base = messageOf(queued ?? logged ?? m);
      const was = queued?.was;
      await db.refused.put(was ? { ...base, was, code, reason, at } : { ...base, code, reason, at });
    });
  }

  /** Take messages out of the log and the trie (inside the caller's transaction). */
  private async withdrawFromLog(timestamps: readonly string[]): Promise<void> {
    if (!timestamps.length) return;
    const removal = new FlatTrie();
    for (const ts of timestamps) removal.remove(ts);
    await this.applyTrieDelta(removal);
    await this.db.messages.bulkDelete([...timestamps]);
  }

  async refusedEdits(): Promise<RefusedRecord[]> {
    return this.db.refused.orderBy('timestamp').toArray();
  }

  /** Withdraw refused edits on this device: out of the `refused` table (and of the log, the
   * trie and the outbox, should they still be there), and each field whose register holds
   * one of them is merged again from what remains: the register the edit replaced when it
   * was made (`was`; an adopted snapshot value is in no log) and the log's later messages
   * for that field. A `was` that is itself a discarded edit is followed to what that one
   * replaced. */
  async discardRefused(timestamps: readonly string[]): Promise<void> {
    const db = this.db;
    await db.transaction('rw', [db.messages, db.trieBlocks, db.outbox, db.refused, db.rowGroups], async () => {
      const found = (await db.refused.bulkGet([...timestamps])).filter((r): r is RefusedRecord => r !== undefined);
      if (!found.length) return;
      const gone = new Map(found.map((r) => [r.timestamp, r]));
      const resolve = (w: Register | undefined): Register | undefined => {
        let cur = w;
        for (let guard = 0; cur !== undefined && gone.has(cur.timestamp) && guard <= gone.size; guard++) {
          cur = gone.get(cur.timestamp)?.was;
        }
        return cur !== undefined && gone.has(cur.timestamp) ? undefined : cur;
      };
      const stamps = [...gone.keys()];
      const logged = (await db.messages.bulkGet(stamps)).filter((m): m is Message => m !== undefined);
      await this.withdrawFromLog(logged.map((m) => m.timestamp));
      await db.outbox.bulkDelete(stamps);
      await db.refused.bulkDelete(stamps);
      // Records that replaced a discarded edit now replaced what it had replaced.
      const relink = <T extends OutboxRecord>(r: T): T | null => {
        if (r.was === undefined || !gone.has(r.was.timestamp)) return null;
        const { was: old, ...rest } = r;
        const was = resolve(old);
        return (was === undefined ? rest : { ...rest, was }) as T;
      };
      const refused = (await db.refused.toArray()).map(relink).filter((r): r is RefusedRecord => r !== null);
      if (refused.length) await db.refused.bulkPut(refused);
      const queued = (await db.outbox.toArray()).map(relink).filter((r): r is OutboxRecord => r !== null);
      if (queued.length) await db.outbox.bulkPut(queued);
      // Fields whose register still holds a discarded edit: merge them again.
      const keys = [
        ...new Map(found.map((r) => [rowKey(r.dataset, r.row), [r.dataset, r.row] as [string, string]])).values(),
      ];
      const store = new RowGroups(db.rowGroups);
      const rows = await store.get(keys);
      const redo = new Map<string, { base: Register | undefined }>();
      for (const r of found) {
        const held = rows.find((x) => x?.ds === r.dataset && x.id === r.row)?.cols[r.column];
        if (held !== undefined && gone.has(held.timestamp)) {
          const fk = fieldKey(r);
          if (!redo.has(fk)) redo.set(fk, { base: resolve(gone.get(held.timestamp)?.was) });
        }
      }
      if (!redo.size) return;
      let from: string | null = null;
      for (const { base } of redo.values()) {
        const t = base?.timestamp ?? '';
        if (from === null || t < from) from = t;
      }
      const later = new Map<string, Message[]>();
      await db.messages
        .where('timestamp')
        .above(from ?? '')
        .each((m) => {
          const fk = fieldKey(m);
          if (redo.has(fk)) later.set(fk, [...(later.get(fk) ?? []), m]);
        });
      const put: RowRecord[] = [];
      rows.forEach((rec, i) => {
        const [ds, id] = keys[i] ?? ['', ''];
        if (rec === undefined) return;
        const cols: Record<string, Register> = { ...rec.cols };
        let changed = false;
        for (const column of Object.keys(cols)) {
          const fk = fieldKey({ dataset: ds, row: id, column });
          const entry = redo.get(fk);
          if (entry === undefined) continue;
          const { register } = mergeField(entry.base, later.get(fk) ?? []);
          if (register === undefined) Reflect.deleteProperty(cols, column);
          else cols[column] = register;
          changed = true;
        }
        if (changed) put.push(derive(ds, id, cols));
      });
      await store.put(put);
    });
  }

  // -- bootstrap -------------------------------------------------------------------
  /** Adopt snapshot rows (`[id, v1, ts1, v2, ts2, ...]`) of one dataset as registers. The
   * caller passes rows in large batches: a batch rewrites up to 2^GROUP_BITS groups. */
  async adoptSnapshotRows(dataset: string, columns: readonly string[], rows: readonly unknown[][]): Promise<void> {
    const db = this.db;
    await db.transaction('rw', [db.meta, db.rowGroups], async () => {
      const keys = rows.map((r) => [dataset, String(r[0])] as [string, string]);
      const store = new RowGroups(db.rowGroups);
      const existing = await store.get(keys);
      const acc: { newest: string | null } = { newest: null };
      const put = rows.map((row, i) => {
        const cols: Record<string, Register> = { ...(existing[i]?.cols ?? {}) };
        columns.forEach((column, j) => {
          const value = row[1 + 2 * j] as Scalar;
          const ts = row[2 + 2 * j];
          if (typeof ts !== 'string') return;
          const cur = cols[column];
          if (cur === undefined || cur.timestamp < ts) cols[column] = { value, timestamp: ts };
          if (acc.newest === null || ts > acc.newest) acc.newest = ts;
        });
        return derive(dataset, String(row[0]), cols);
      });
      await store.put(put);
      if (acc.newest !== null) {
        // Keep the clock ahead of every adopted value, so an edit wins over what it replaces.
        const ts = Timestamp.parse(acc.newest);
        const now = this.physicalNow() + (await this.offset());
        const clock = recv(await this.readClock(), ts, now);
        await db.meta.put({ key: 'clock', value: clockToJson(clock) });
      }
    });
  }

  /** Adopt the snapshot's trie as ours: it counts every message up to `seq`. */
  async adoptSnapshotTrie(nodes: readonly (readonly [string, number, number])[], seq: number): Promise<void> {
    const db = this.db;
    const blocks = toBlocks(nodes);
    await db.transaction('rw', [db.meta, db.trieBlocks], async () => {
      await db.trieBlocks.clear();
      await db.trieBlocks.bulkPut(blocks);
      await db.meta.put({ key: 'snapshotSeq', value: seq });
    });
  }

  // -- conflicts -------------------------------------------------------------------
  /** Which side of a conflict this device is on. The server says it per user; the node in
   * the timestamps says it per device (a rep with two devices can lose to themself). */
  side(c: ServerConflict): 'winner' | 'loser' {
    if (nodeOf(c.loser.timestamp) === this.node) return 'loser';
    if (nodeOf(c.winner.timestamp) === this.node) return 'winner';
    return c.yours;
  }

  /** Store the notices of a /sync response: new ones (a notice already settled on another
   * device arrives seen), and the state of those held already (a notice comes again when
   * its state changes); the feed's cursor moves to the last one or the `watermark`. */
  async addConflicts(list: readonly ServerConflict[], watermark = 0): Promise<void> {
    if (!list.length && !watermark) return;
    const db = this.db;
    await db.transaction('rw', [db.meta, db.conflicts], async () => {
      const existing = await db.conflicts.bulkGet(list.map((c) => c.id));
      const put: ConflictRecord[] = [];
      list.forEach((c, i) => {
        const had = existing[i];
        const state = c.state ?? null;
        if (had === undefined) {
          const settled = state !== null ? 1 : 0;
          put.push({ ...c, state, yours: this.side(c), notified: settled, resolved: settled });
        } else if (state !== null && had.state !== state && had.state !== 'resolved') {
          const { pending, ...rest } = had;
          const keep = pending !== undefined && pending !== state && state !== 'resolved';
          put.push({ ...rest, state, notified: 1, resolved: 1, ...(keep ? { pending } : {}) });
        }
      });
      if (put.length) await db.conflicts.bulkPut(put);
      const after = (await this.getMeta<number>('conflictsAfter')) ?? 0;
      const max = Math.max(after, watermark, ...list.map((c) => c.seq ?? c.id));
      await db.meta.put({ key: 'conflictsAfter', value: max });
    });
  }

  /** A new device starts the feed where the snapshot was taken: its user's past conflicts
   * are history, not news (nor a wave of notices). */
  async skipConflictsTo(position: number): Promise<void> {
    await this.addConflicts([], position);
  }

  async conflictsAfter(): Promise<number> {
    return (await this.getMeta<number>('conflictsAfter')) ?? 0;
  }

  /** The server sequence up to which this device holds every message: a sync pulls what
   * came after it (DESIGN.md, "Incremental pull"). */
  async pulledThrough(): Promise<number> {
    return (await this.getMeta<number>('pulledThrough')) ?? 0;
  }

  /** Where the last pull ended, as the server said (also back, after a restore). */
  async setPulledThrough(seq: number): Promise<void> {
    await this.setMeta('pulledThrough', seq);
  }

  /** Move the watermark forward only (a reconciliation that ended in sync). */
  async advancePulledThrough(seq: number): Promise<void> {
    if (seq > (await this.pulledThrough())) await this.setPulledThrough(seq);
  }

  // -- reads for the UI ------------------------------------------------------------
  async row(dataset: string, id: string): Promise<RowRecord | undefined> {
    return rowOf(this.db.rowGroups, dataset, id);
  }

  async value(dataset: string, id: string, column: string): Promise<Scalar | undefined> {
    return (await this.row(dataset, id))?.cols[column]?.value;
  }
}

async function writeRows(
  store: RowGroups,
  existing: (RowRecord | undefined)[],
  changed: ReturnType<typeof mergeBatch>['changed'],
): Promise<void> {
  if (!changed.size) return;
  const byKey = new Map<string, RowRecord>();
  for (const r of existing) if (r) byKey.set(rowKey(r.ds, r.id), r);
  const out: RowRecord[] = [];
  for (const [k, ch] of changed) {
    const base = byKey.get(k) ?? { ds: ch.dataset, id: ch.row, cols: {} };
    out.push(derive(base.ds, base.id, { ...base.cols, ...ch.columns }));
  }
  await store.put(out);
}

function stripSeq(m: RemoteMessage): Message {
  const base = { dataset: m.dataset, row: m.row, column: m.column, value: m.value, timestamp: m.timestamp };
  return m.prev === undefined ? base : { ...base, prev: m.prev };
}

/** Live rows of a dataset as plain objects (a row whose tombstone is 1 is gone). */
export function isLive(rec: RowRecord | undefined): rec is RowRecord {
  return rec !== undefined && rec.cols.tombstone?.value !== 1;
}

export function val(rec: RowRecord | undefined, column: string): Scalar | undefined {
  return rec?.cols[column]?.value;
}

export { InvalidMessage };
