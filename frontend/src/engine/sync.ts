/**
 * The sync loop over HTTP: the I/O around `nextRound` (rounds.ts, the step every client
 * runs): push the outbox, page through large catch-ups with the server's cursor, ask the
 * step what comes next, follow the server's clock and re-stamp unsent edits when it
 * refuses them for drift, set aside an edit it refuses for good (a role that may not write
 * it) and sync the rest; and the bootstrap of a new device from /snapshot. Transport is injected: the unit tests run this against an
 * in-memory server.
 */
import { keyRange } from './merkle';
import { messageToJson, type Message } from './message';
import type { Summary } from './reconcile';
import { MAX_ROUNDS, nextRound, type Answer, type Local } from './rounds';
import type { LocalReplica, RemoteMessage, ServerConflict } from './store';

/** Messages per request (the server allows 20 000) and a byte budget (avatars are big). */
export const PUSH_LIMIT = 1000;
export const PUSH_BYTES = 2 * 1024 * 1024;

export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly body: unknown,
  ) {
    super(`${status}: ${HttpError.describe(body)}`);
  }

  get code(): string | null {
    const b = this.body;
    return typeof b === 'object' && b !== null && typeof (b as { code?: unknown }).code === 'string'
      ? (b as { code: string }).code
      : null;
  }

  field(name: string): unknown {
    const b = this.body;
    return typeof b === 'object' && b !== null ? (b as Record<string, unknown>)[name] : undefined;
  }

  static describe(body: unknown): string {
    if (typeof body === 'object' && body !== null) {
      const m = (body as { message?: unknown }).message;
      if (typeof m === 'string') return m;
    }
    return JSON.stringify(body);
  }
}

/** The network is unreachable (fetch rejected): nothing was learned about the server. */
export class NetworkError extends Error {}

/** Refusals of one message for good: the server refuses the whole request and names the
 * message by its index in that request's `messages`. */
export const REFUSAL_CODES: ReadonlySet<string> = new Set(['forbidden_write', 'email_taken']);

/** The server refused `message` for good (see REFUSAL_CODES); the rest of its request was
 * not stored and goes again without it. */
export class RefusedEdit extends Error {
  constructor(
    readonly refused: Message,
    readonly code: string,
    readonly reason: string,
  ) {
    super(`${code}: ${reason}`);
  }
}

/** The message of `sent` that `exc` refuses, if it is a refusal naming one by index. */
export function refusedIn(exc: unknown, sent: readonly Message[]): RefusedEdit | null {
  if (!(exc instanceof HttpError) || exc.code === null || !REFUSAL_CODES.has(exc.code)) return null;
  const index = exc.field('index');
  const m = typeof index === 'number' && Number.isInteger(index) ? sent[index] : undefined;
  if (m === undefined) return null;
  return new RefusedEdit(m, exc.code, HttpError.describe(exc.body));
}

export interface Transport {
  post(path: string, body: unknown): Promise<unknown>;
  get(path: string): Promise<unknown>;
}

/** The sync protocol version this client speaks (sync_server/protocol.py PROTOCOL_VERSIONS);
 * a server that does not speak it answers 400 `unsupported_protocol`. */
export const PROTOCOL_VERSION = '2';

export function fetchTransport(baseUrl: string, token: () => string | null): Transport {
  const call = async (method: string, path: string, body?: unknown): Promise<unknown> => {
    const headers: Record<string, string> = { 'Recap-Protocol': PROTOCOL_VERSION };
    const t = token();
    if (t) headers.Authorization = `Bearer ${t}`;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    let resp: Response;
    try {
      resp = await fetch(baseUrl + path, {
        method,
        headers,
        cache: 'no-store',
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
    } catch (exc) {
      throw new NetworkError(exc instanceof Error ? exc.message : String(exc));
    }
    const text = await resp.text();
    let parsed: unknown = null;
    if (text) {
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = { code: 'bad_response', message: text.slice(0, 200) };
      }
    }
    if (!resp.ok) throw new HttpError(resp.status, parsed);
    return parsed;
  };
  return { post: (path, body) => call('POST', path, body), get: (path) => call('GET', path) };
}

export interface SyncResponse {
  server_time: number;
  inserted: number;
  push?: string[];
  descend?: string[];
  send?: string[];
  messages?: RemoteMessage[];
  cursor?: string | null;
  root: [number, number];
  conflicts?: ServerConflict[];
  /** Where the next request's conflicts_after may start (servers before it omit it). */
  conflicts_watermark?: number;
  /** The tenant's latest message sequence, in the snapshot `root` was read in. */
  head?: number;
  /** Answering `pull_after`: the sequence the next pull continues after (`head` when
   * everything after the watermark came). */
  pulled_through?: number;
}

/** Snapshot rows stored per transaction. A batch reads and rewrites every group its rows
 * fall in, so storing a dataset in k batches rewrites its early rows up to k times: one
 * batch per dataset, up to this many rows (about 1 KB of memory each while it is held). */
export const SNAPSHOT_BATCH_ROWS = 200_000;

interface SnapshotRows {
  done: false;
  dataset: string;
  columns: string[];
  rows: unknown[][];
  cursor: string;
  total_rows?: number;
  /** This page is its dataset's last (servers before it was added omit it). */
  dataset_done?: boolean;
}

/** A page of the messages that arrived since the first page, when there are more than one
 * response holds: they come before the closing page, which carries the rest. */
interface SnapshotLate {
  done: false;
  dataset?: undefined;
  cursor: string;
  messages: RemoteMessage[];
}

type SnapshotPage = SnapshotRows | SnapshotLate | SnapshotEnd;

interface SnapshotEnd {
  done: true;
  seq: number;
  /** The conflict feed's position at the snapshot: a new device starts there. */
  conflicts_after?: number;
  messages: RemoteMessage[];
  trie: [string, number, number][];
}

/** Where a bootstrap is: `rows` counts the snapshot's rows as they are stored; `index` is
 * the closing page (the trie and the messages since the first page); `catch-up` the first
 * ordinary sync. */
export interface BootstrapProgress {
  phase: 'rows' | 'index' | 'catch-up' | 'done';
  done: number;
  total: number;
}

export interface SyncReport {
  requests: number;
  rounds: number;
  pushed: number;
  received: number;
  conflicts: ServerConflict[];
  /** Messages the server lacks and this device cannot push: other nodes' (see rounds.ts),
   * and those it keeps only as register values (LocalReplica.settleRanges). */
  unrepaired: number;
  /** Edits the server refused for good, moved to the `refused` table. */
  refused: number;
  /** Messages the log no longer keeps, dropped after the sync (LocalReplica.prune). */
  pruned: number;
}

export interface SyncOptions {
  /** Physical clock (tests pin it). */
  now?: () => number;
  pushLimit?: number;
  /** Called with the conflicts of each response as they arrive. */
  onConflicts?: (c: ServerConflict[]) => void;
}

function approxSize(m: Message): number {
  return 160 + (typeof m.value === 'string' ? m.value.length : 16);
}

/** Split messages into request-sized chunks (count and bytes). */
export function chunk(messages: readonly Message[], limit: number, bytes = PUSH_BYTES): Message[][] {
  const out: Message[][] = [];
  let cur: Message[] = [];
  let size = 0;
  for (const m of messages) {
    const s = approxSize(m);
    if (cur.length && (cur.length >= limit || size + s > bytes)) {
      out.push(cur);
      cur = [];
      size = 0;
    }
    cur.push(m);
    size += s;
  }
  if (cur.length) out.push(cur);
  return out;
}

export class SyncClient {
  private readonly now: () => number;
  private readonly pushLimit: number;
  private readonly onConflicts: ((c: ServerConflict[]) => void) | undefined;

  constructor(
    readonly replica: LocalReplica,
    readonly transport: Transport,
    opts: SyncOptions = {},
  ) {
    this.now = opts.now ?? Date.now;
    this.pushLimit = opts.pushLimit ?? PUSH_LIMIT;
    this.onConflicts = opts.onConflicts;
  }

  /** Run rounds until this replica and the server hold the same messages. */
  async sync(): Promise<SyncReport> {
    const replica = this.replica;
    const report: SyncReport = {
      requests: 0,
      rounds: 0,
      pushed: 0,
      received: 0,
      conflicts: [],
      unrepaired: 0,
      pruned: 0,
      refused: 0,
    };
    // The usual sync is one request: the outbox and the watermark go up, everything after
    // the watermark comes back (in pages, after a long absence) with the server's root;
    // equal roots: done. Else the range reconciliation below repairs what is left.
    let pushed = await replica.outboxPage(this.pushLimit);
    report.rounds += 1;
    const first = await this.round(pushed, null, report);
    report.pushed += first.pushed.length;
    let pulled = first.body;
    await this.take(pulled, new Set(), report, true);
    while (pulled.head !== undefined && (pulled.pulled_through ?? pulled.head) < pulled.head) {
      pulled = (await this.post(
        {
          node: replica.node,
          pull_after: await replica.pulledThrough(),
          conflicts_after: await replica.conflictsAfter(),
        },
        report,
      )) as SyncResponse;
      await this.take(pulled, new Set(), report, true);
    }
    const [hash, count] = await replica.root();
    if ((await replica.outboxPage(1)).length === 0 && hash === pulled.root[0] && count === pulled.root[1]) {
      report.pruned = await replica.prune();
      return report;
    }
    let summary: Summary = await replica.frontierSummary();
    pushed = await replica.outboxPage(this.pushLimit);
    let lost = 0;
    for (;;) {
      report.rounds += 1;
      if (report.rounds > MAX_ROUNDS) throw new Error(`no convergence after ${MAX_ROUNDS} rounds`);
      const r = await this.round(pushed, summary, report);
      pushed = r.pushed;
      let body = r.body;
      report.pushed += pushed.length;
      const received = new Set<string>();
      await this.take(body, received, report);
      while (body.cursor) {
        const next = (await this.post(
          { node: replica.node, cursor: body.cursor, conflicts_after: await replica.conflictsAfter() },
          report,
        )) as SyncResponse;
        await this.take(next, received, report);
        body = { ...body, cursor: next.cursor ?? null };
      }
      // Every message the server holds in `send` came (but what this round pushed): the
      // trie counts those ranges as they now are, whatever was received twice. In `push`
      // ranges the server holds nothing: they count what this device can push there.
      const held = [...received, ...pushed.map((m) => m.timestamp)];
      await replica.settleRanges(body.send ?? [], held);
      const pushRanges = await replica.settleRanges(body.push ?? [], held);
      lost += Math.max(0, pushRanges.before - pushRanges.after);
      const answer: Answer = {
        send: body.send ?? [],
        push: body.push ?? [],
        descend: body.descend ?? [],
        root: body.root,
        held: new Set([...received, ...pushed.map((m) => m.timestamp)]),
      };
      const inRanges = async (paths: readonly string[]): Promise<Message[]> => {
        const out: Message[] = [];
        for (const path of paths) out.push(...(await replica.messagesIn(...keyRange(path))));
        return out;
      };
      const local: Local = {
        root: await replica.root(),
        inSend: await inRanges(answer.send),
        inPush: await inRanges(answer.push),
        outbox: await replica.outboxPage(this.pushLimit),
      };
      const following = nextRound(answer, local, replica.node);
      if ('done' in following) {
        report.unrepaired = following.unrepaired.length + lost;
        // Equal roots: this device holds every message up to the head they were read with.
        if (report.unrepaired === 0 && body.head !== undefined) await replica.advancePulledThrough(body.head);
        report.pruned = await replica.prune();
        return report;
      }
      pushed = following.push;
      summary = following.descend.length
        ? await replica.refineSummary(following.descend)
        : await replica.frontierSummary();
    }
  }

  private async post(payload: unknown, report: SyncReport): Promise<unknown> {
    report.requests += 1;
    return this.transport.post('/sync', payload);
  }

  /** One round: extra chunks beyond one request's budget go first as push-only requests.
   * A request refused for one of its messages (REFUSAL_CODES, with its index) moves that
   * message to the `refused` table and the round starts again without it, so a refused
   * edit never blocks the outbox; a clock refusal re-stamps the unsent edits once. */
  private async round(
    pushed: Message[],
    summary: Summary | null,
    report: SyncReport,
  ): Promise<{ body: SyncResponse; pushed: Message[] }> {
    const replica = this.replica;
    let restamped = false;
    const refused = new Set<string>();
    let push = pushed;
    let sum = summary;
    for (;;) {
      try {
        return await this.roundOnce(push, sum, report);
      } catch (exc) {
        if (exc instanceof RefusedEdit) {
          const ts = exc.refused.timestamp;
          // Each refusal takes a message out for good: the same one twice is a server fault.
          if (refused.has(ts)) throw new Error(`the server refused ${ts} again: ${exc.message}`, { cause: exc });
          refused.add(ts);
          await replica.refuse(exc.refused, exc.code, exc.reason);
          report.refused += 1;
        } else if (
          !restamped &&
          exc instanceof HttpError &&
          (exc.code === 'clock_drift' || exc.code === 'timestamp_reused')
        ) {
          // The server refused the request whole, so its edits are unseen: our clock is ahead
          // of the server's (learn the offset), or one of our stamps already names another
          // message (move the clock past it). Re-stamp them and retry once.
          restamped = true;
          let offset = await replica.offset();
          if (exc.code === 'clock_drift') {
            const serverTime = Number(exc.field('server_time'));
            offset = Number.isFinite(serverTime) ? serverTime - this.now() : 0;
          }
          const reused = exc.field('timestamp');
          await replica.restampOutbox(offset, typeof reused === 'string' ? reused : null);
        } else {
          throw exc;
        }
        // Start the round again from the frontier, with what is left to push (anything else
        // the server lacks is found again by the exchange).
        push = await replica.outboxPage(this.pushLimit);
        sum = sum === null ? null : await replica.frontierSummary();
      }
    }
  }

  /** POST a request that pushes `sent`; a refusal of one of them becomes RefusedEdit. */
  private async push(payload: Record<string, unknown>, sent: readonly Message[], report: SyncReport): Promise<unknown> {
    try {
      return await this.post(payload, report);
    } catch (exc) {
      throw refusedIn(exc, sent) ?? exc;
    }
  }

  /** One round's requests; with no summary, the last is the incremental pull. */
  private async roundOnce(
    pushed: Message[],
    summary: Summary | null,
    report: SyncReport,
  ): Promise<{ body: SyncResponse; pushed: Message[] }> {
    const replica = this.replica;
    const chunks = chunk(pushed, this.pushLimit);
    const last = chunks.pop() ?? [];
    for (const c of chunks) {
      await this.push(
        { node: replica.node, messages: c.map(messageToJson), conflicts_after: await replica.conflictsAfter() },
        c,
        report,
      );
      await replica.ack(c.map((m) => m.timestamp));
    }
    const body = (await this.push(
      {
        node: replica.node,
        messages: last.map(messageToJson),
        ...(summary === null
          ? { pull_after: await replica.pulledThrough() }
          : { summary: { scopes: summary.scopes, nodes: summary.nodes } }),
        conflicts_after: await replica.conflictsAfter(),
      },
      last,
      report,
    )) as SyncResponse;
    await replica.setMeta('offset', this.offsetFrom(body.server_time));
    await replica.ack(last.map((m) => m.timestamp));
    return { body, pushed };
  }

  /** Follow the server's clock when ours is off by more than a second. */
  private offsetFrom(serverTime: number): number {
    const drift = serverTime - this.now();
    return Math.abs(drift) > 1000 ? drift : 0;
  }

  /** A response's messages and conflicts. Pulled messages (after the watermark) are
   * counted into the trie as they come (`receiveRemote` skips those it holds); a round's
   * range pages are not: `settleRanges` counts their ranges once they are all in. */
  private async take(body: SyncResponse, received: Set<string>, report: SyncReport, pulled = false): Promise<void> {
    const items = body.messages ?? [];
    if (items.length) {
      if (pulled) await this.replica.receiveRemote(items);
      else await this.replica.receivePage(items);
      for (const m of items) received.add(m.timestamp);
      report.received += items.length;
    }
    if (pulled && body.pulled_through !== undefined) await this.replica.setPulledThrough(body.pulled_through);
    const conflicts = body.conflicts ?? [];
    await this.replica.addConflicts(conflicts, body.conflicts_watermark ?? 0);
    if (conflicts.length) {
      report.conflicts.push(...conflicts);
      this.onConflicts?.(conflicts);
    }
  }

  /** A new device: the snapshot instead of the history, then a normal sync. Progress is
   * reported per phase: the rows are counted; the closing page (the trie, which is most of
   * the bytes for a long history) and the first sync are not, so they get phases of their
   * own instead of a bar stuck at 100%. */
  async bootstrap(progress?: (p: BootstrapProgress) => void): Promise<SyncReport> {
    let body = (await this.transport.get('/snapshot')) as SnapshotPage;
    const total = body.done || body.dataset === undefined ? 0 : (body.total_rows ?? 0);
    let done = 0;
    progress?.({ phase: 'rows', done, total });
    // Pages of one dataset are stored together, up to SNAPSHOT_BATCH_ROWS: a batch writes
    // at most one record per row group however many rows it holds (rowgroups.ts). A batch
    // is stored while the next pages download: one batch in IndexedDB at a time, one being
    // filled, and the next page always asked for before the current one is handled. At 1M
    // messages the closing page (60 MB, the trie) downloads while the flows are stored.
    let batch: SnapshotRows | null = null;
    let storing: Promise<void> = Promise.resolve();
    const store = async (): Promise<void> => {
      if (batch === null) return;
      const { dataset, columns, rows } = batch;
      batch = null;
      if (rows.length === 0) return;
      await storing; // and a failed store stops the bootstrap here
      const started = this.replica.adoptSnapshotRows(dataset, columns, rows);
      started.catch(() => undefined); // awaited later: not an unhandled rejection meanwhile
      storing = started;
    };
    // Messages that arrived since the first page, when they fill pages of their own: applied
    // with the closing page's, once the trie (which counts them) is adopted.
    const late: RemoteMessage[] = [];
    while (!body.done) {
      if (body.dataset === undefined) {
        late.push(...body.messages);
        body = (await this.transport.get(`/snapshot?cursor=${encodeURIComponent(body.cursor)}`)) as SnapshotPage;
        continue;
      }
      const page: SnapshotRows = body;
      const following = this.transport.get(`/snapshot?cursor=${encodeURIComponent(page.cursor)}`);
      following.catch(() => undefined); // awaited below, after any store that failed first
      if (batch !== null && (batch.dataset !== page.dataset || batch.rows.length >= SNAPSHOT_BATCH_ROWS)) await store();
      if (batch === null) batch = { ...page, rows: [...page.rows] };
      else for (const row of page.rows) batch.rows.push(row);
      done += page.rows.length;
      progress?.({ phase: done >= total ? 'index' : 'rows', done, total });
      if (page.dataset_done === true) await store();
      try {
        body = (await following) as SnapshotPage;
      } catch (error) {
        await storing; // a failed store is the cause to report
        throw error;
      }
    }
    await store();
    await storing;
    progress?.({ phase: 'index', done, total });
    await this.replica.adoptSnapshotTrie(body.trie, body.seq);
    await this.replica.skipConflictsTo(body.conflicts_after ?? 0);
    await this.replica.receiveRemote([...late, ...body.messages]);
    // The late messages are every one after the snapshot's sequence, up to the last.
    await this.replica.advancePulledThrough(Math.max(body.seq, ...[...late, ...body.messages].map((m) => m.seq ?? 0)));
    progress?.({ phase: 'catch-up', done, total });
    const report = await this.sync();
    progress?.({ phase: 'done', done, total });
    return report;
  }
}
