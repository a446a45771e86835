/**
 * An in-memory stand-in for sync_server's /sync and /snapshot (same plan, paging, node
 * exclusion, drift check and conflict notices), so the engine's sync loop is unit-tested
 * through the real protocol without a network. Not a second server: it mirrors
 * sync_server/routes/sync.py closely enough for the client's contract.
 */
import { HttpError, NetworkError, type Transport } from '../src/engine/sync';
import { mergeBatch, rowKey, type Register, type Registers } from '../src/engine/merge';
import { FlatTrie, keyRange, timestampKey } from '../src/engine/merkle';
import { messageFromJson, type Message } from '../src/engine/message';
import { pathsNeeded, plan, type Summary } from '../src/engine/reconcile';
import { validate } from '../src/engine/schema';
import type { ServerConflict } from '../src/engine/store';
import { Timestamp, minTimestampAt, nodeOf } from '../src/engine/timestamp';

interface Stored {
  m: Message;
  seq: number;
}

export class FakeServer implements Transport {
  readonly log = new Map<string, Stored>();
  readonly trie = new FlatTrie();
  readonly registers = new Map<string, { dataset: string; row: string; cols: Record<string, Register> }>();
  readonly conflicts: ServerConflict[] = [];
  seq = 0;
  pageMessages = 5000;
  snapshotPageRows = 5000;
  maxDriftMs = 5 * 60 * 1000;
  now: () => number = Date.now;
  offline = false;
  requests: { path: string; body: unknown }[] = [];
  /** As the server's permissions (and the profile email check): a message this rule refuses
   * fails its whole request with the rule's status and code and the message's index. */
  refuse: ((m: Message) => { status: number; code: string; message: string } | null) | null = null;

  apply(messages: Message[]): Message[] {
    const inserted: Message[] = [];
    for (const m of messages) {
      if (this.log.has(m.timestamp)) continue;
      this.seq += 1;
      this.log.set(m.timestamp, { m, seq: this.seq });
      this.trie.insert(m.timestamp);
      inserted.push(m);
    }
    const current = new Map<string, Registers>();
    for (const [k, r] of this.registers) current.set(k, r.cols);
    const merged = mergeBatch(current, inserted);
    for (const [k, ch] of merged.changed) {
      const r = this.registers.get(k) ?? { dataset: ch.dataset, row: ch.row, cols: {} };
      r.cols = { ...r.cols, ...ch.columns };
      this.registers.set(k, r);
    }
    for (const c of merged.conflicts) {
      this.conflicts.push({
        id: this.conflicts.length + 1,
        kind: c.kind,
        dataset: c.dataset,
        row: c.row,
        column: c.column,
        winner: { value: c.winner.value, timestamp: c.winner.timestamp, user_id: null, user_name: 'W' },
        loser: { value: c.loser.value, timestamp: c.loser.timestamp, user_id: null, user_name: 'L' },
        detected_at: new Date(this.now()).toISOString(),
        yours: 'loser',
      });
    }
    return inserted;
  }

  messagesIn(paths: string[], after: string): Stored[] {
    const out: Stored[] = [];
    for (const path of paths) {
      const [start, end] = keyRange(path);
      const lo = minTimestampAt(start);
      const hi = minTimestampAt(end);
      for (const s of this.log.values()) {
        const ts = s.m.timestamp;
        if (ts >= lo && ts < hi && ts > after) out.push(s);
      }
    }
    return out.sort((a, b) => (a.m.timestamp < b.m.timestamp ? -1 : 1));
  }

  rows(dataset: string): Record<string, Record<string, unknown>> {
    const out: Record<string, Record<string, unknown>> = {};
    for (const r of this.registers.values()) {
      if (r.dataset !== dataset || r.cols.tombstone?.value === 1) continue;
      out[r.row] = Object.fromEntries(Object.entries(r.cols).map(([c, reg]) => [c, reg.value]));
    }
    return out;
  }

  async post(path: string, body: unknown): Promise<unknown> {
    await Promise.resolve();
    if (this.offline) throw new NetworkError('offline');
    this.requests.push({ path, body });
    if (path !== '/sync') throw new HttpError(404, { code: 'not_found' });
    const req = body as {
      node: string;
      messages?: unknown[];
      summary?: Summary;
      cursor?: string;
      conflicts_after: number;
      pull_after?: number;
    };
    const serverNow = this.now();
    const messages = (req.messages ?? []).map((raw, i) => {
      let m: Message;
      try {
        m = messageFromJson(raw);
        validate(m);
      } catch (exc) {
        throw new HttpError(422, { code: 'invalid', message: `message ${i}: ${String(exc)}` });
      }
      if (nodeOf(m.timestamp) !== req.node) {
        throw new HttpError(403, { code: 'foreign_node', message: `message ${i}: not this device's node`, index: i });
      }
      if (Timestamp.parse(m.timestamp).millis - serverNow > this.maxDriftMs) {
        throw new HttpError(422, { code: 'clock_drift', message: 'ahead', index: i, server_time: serverNow });
      }
      return m;
    });
    // As the server: a timestamp already stored with other content refuses the request.
    messages.forEach((m, i) => {
      const held = this.log.get(m.timestamp)?.m;
      const same = (a: Message, b: Message): boolean =>
        a.dataset === b.dataset && a.row === b.row && a.column === b.column && a.value === b.value;
      if (held && !same(held, m)) {
        throw new HttpError(409, { code: 'timestamp_reused', message: 'reused', timestamp: m.timestamp, index: i });
      }
    });
    const rule = this.refuse;
    if (rule) {
      messages.forEach((m, i) => {
        const no = rule(m);
        if (no) throw new HttpError(no.status, { code: no.code, message: `message ${i}: ${no.message}`, index: i });
      });
    }
    const inserted = this.apply(messages);
    let sendPaths: string[] = [];
    let after = '';
    const response: Record<string, unknown> = { server_time: serverNow, inserted: inserted.length };
    if (req.cursor !== undefined) {
      const c = JSON.parse(req.cursor) as { paths: string[]; after: string };
      sendPaths = c.paths;
      after = c.after;
    } else if (req.summary !== undefined) {
      const nodes = new Map<string, [number, number]>();
      for (const p of pathsNeeded(req.summary)) {
        const v = this.trie.get(p);
        if (v && v[1] > 0) nodes.set(p, [v[0], v[1]]);
      }
      const keys = messages.map((m) => timestampKey(Timestamp.parse(m.timestamp).millis));
      const decided = plan(req.summary, nodes, keys);
      response.push = decided.push;
      response.descend = decided.descend;
      sendPaths = decided.send;
    }
    response.send = sendPaths;
    // As the server: every message of the ranges but those pushed in this very request.
    const pushed = new Set(messages.map((m) => m.timestamp));
    // As the server: the incremental pull, in seq order, a page at a time.
    response.head = this.seq;
    const pulled: { m: Message; seq: number }[] = [];
    if (req.pull_after !== undefined && req.cursor === undefined) {
      const after = [...this.log.values()].filter((x) => x.seq > (req.pull_after ?? 0)).sort((a, b) => a.seq - b.seq);
      const page = after.slice(0, this.pageMessages);
      pulled.push(...page.filter((x) => !pushed.has(x.m.timestamp)));
      const lastRead = page[page.length - 1];
      response.pulled_through = after.length > page.length && lastRead ? lastRead.seq : this.seq;
    }
    const records = sendPaths.length ? this.messagesIn(sendPaths, after) : [];
    const read = records.slice(0, this.pageMessages);
    response.messages = [...pulled, ...read.filter((s) => !pushed.has(s.m.timestamp))].map((s) => ({
      ...s.m,
      seq: s.seq,
    }));
    const last = read[read.length - 1];
    response.cursor =
      records.length > read.length && last ? JSON.stringify({ paths: sendPaths, after: last.m.timestamp }) : null;
    response.root = [this.trie.hash(''), this.trie.count('')];
    response.conflicts = this.conflicts.filter((c) => c.id > req.conflicts_after).slice(0, 200);
    return response;
  }

  async get(path: string): Promise<unknown> {
    await Promise.resolve();
    if (this.offline) throw new NetworkError('offline');
    this.requests.push({ path, body: null });
    const url = new URL(path, 'http://x');
    if (url.pathname !== '/snapshot') throw new HttpError(404, { code: 'not_found' });
    const datasets = ['partners', 'products', 'pre_orders', 'pre_order_flows', 'profiles'];
    const cursor = url.searchParams.get('cursor');
    // As the server: `start` is the seq at the first page; the closing pages bring every
    // message since, a page at a time (pages of messages without a dataset come first).
    const state = cursor
      ? (JSON.parse(cursor) as { ds: number; after: number; start: number })
      : { ds: 0, after: 0, start: this.seq };
    const columns: Record<string, string[]> = {
      partners: ['name', 'short_name', 'tombstone'],
      products: ['name', 'sku', 'unit_weight', 'tombstone'],
      pre_orders: ['partner_id', 'delivery_date', 'status', 'created_at', 'tombstone'],
      pre_order_flows: ['pre_order_id', 'product_id', 'quantity', 'weight', 'tombstone'],
      profiles: ['name', 'email', 'avatar', 'tombstone'],
    };
    const dataset = datasets[state.ds];
    if (dataset === undefined) {
      const late = [...this.log.values()].filter((x) => x.seq > state.start).sort((a, b) => a.seq - b.seq);
      const page = late.slice(0, this.pageMessages);
      const last = page[page.length - 1];
      if (late.length > this.pageMessages && last) {
        return {
          done: false,
          cursor: JSON.stringify({ ...state, start: last.seq }),
          messages: page.map((x) => ({ ...x.m, seq: x.seq })),
        };
      }
      return {
        done: true,
        seq: this.seq,
        messages: late.map((x) => ({ ...x.m, seq: x.seq })),
        trie: [...this.trie.nodes].map(([p, [h, c]]) => [p, h, c]),
      };
    }
    const cols = columns[dataset] ?? [];
    const all = [...this.registers.values()]
      .filter((r) => r.dataset === dataset)
      .sort((a, b) => (a.row < b.row ? -1 : 1));
    const slice = all.slice(state.after, state.after + this.snapshotPageRows);
    const rows = slice.map((r) => [
      r.row,
      ...cols.flatMap((c) => [r.cols[c]?.value ?? null, r.cols[c]?.timestamp ?? null]),
    ]);
    const next =
      state.after + this.snapshotPageRows < all.length
        ? { ds: state.ds, after: state.after + this.snapshotPageRows, start: state.start }
        : { ds: state.ds + 1, after: 0, start: state.start };
    const out: Record<string, unknown> = {
      dataset,
      columns: cols,
      rows,
      cursor: JSON.stringify(next),
      dataset_done: next.ds !== state.ds,
      done: false,
    };
    if (!cursor) out.total_rows = [...this.registers.values()].length;
    return out;
  }
}

export function rowOf(server: FakeServer, dataset: string, row: string): Record<string, Register> | undefined {
  return server.registers.get(rowKey(dataset, row))?.cols;
}
