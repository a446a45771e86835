/**
 * The app's one connection to its replica and to the server.
 *
 * Multi-tab: every tab opens the same IndexedDB replica (one node id, one clock: edits are
 * stamped inside readwrite transactions, which IndexedDB serializes across tabs). Exactly
 * one tab, the holder of the Web Lock `recap-sync`, runs the sync loop and the live
 * WebSocket; when it closes, the lock passes to another tab. Other tabs ask the leader to
 * sync over the BroadcastChannel `recap`; every tab re-renders from IndexedDB through
 * Dexie's live queries, which Dexie propagates across tabs.
 */
import {
  HttpError,
  NetworkError,
  PROTOCOL_VERSION,
  SyncClient,
  fetchTransport,
  type BootstrapProgress,
} from '../engine/sync';
import { ServerProbe, SyncScheduler, type SyncReason } from '../engine/scheduler';
import { LocalReplica, RecapDB, type Change, type Session, type SyncStatus, type User } from '../engine/store';
import type { Message } from '../engine/message';

type BusMessage = { type: 'sync'; reason: SyncReason } | { type: 'resume' } | { type: 'signed-out' };

export interface LoginResult {
  token: string;
  expires_in: number;
  user: User;
}

export class LoginError extends Error {}

/** Why this device may no longer sync (`meta.ended`): it was revoked, or its user was
 * deactivated. Only exporting its unsynced edits and signing out are left. */
export interface Ended {
  code: 'device_revoked' | 'account_disabled';
  message: string;
  at: number;
}

/** Answers that end this device's syncing for good (see Ended). */
export function endedBy(e: unknown): Ended['code'] | null {
  if (!(e instanceof HttpError) || e.status !== 403) return null;
  return e.code === 'device_revoked' || e.code === 'account_disabled' ? e.code : null;
}

/** A sign-in answer, or a LoginError with a sentence for the person (`messages` by code
 * and status, else the server's message). */
async function signInCall(path: string, body: unknown, messages: Record<string, string> = {}): Promise<LoginResult> {
  let resp: Response;
  try {
    resp = await fetch(path, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
      cache: 'no-store',
    });
  } catch {
    throw new LoginError('Cannot reach the server. This needs a connection (once per device).');
  }
  const answer = (await resp.json().catch(() => ({}))) as Partial<LoginResult> & { code?: string; message?: string };
  if (!resp.ok) {
    const known = messages[answer.code ?? ''] ?? messages[String(resp.status)];
    if (known) throw new LoginError(known);
    if (resp.status === 429) {
      const wait = Number(resp.headers.get('Retry-After') ?? 60);
      throw new LoginError(`Too many attempts: try again in ${Math.max(1, Math.ceil(wait / 60))} min.`);
    }
    throw new LoginError(answer.message ?? `The server answered ${resp.status}.`);
  }
  if (typeof answer.token !== 'string' || answer.user === undefined) {
    throw new LoginError(`Unexpected answer from the server (${resp.status}).`);
  }
  return answer as LoginResult;
}

/** A public call answered with no content (204), or a LoginError as signInCall. */
async function publicCall(path: string, body: unknown, messages: Record<string, string>): Promise<void> {
  let resp: Response;
  try {
    resp = await fetch(path, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
      cache: 'no-store',
    });
  } catch {
    throw new LoginError('Cannot reach the server. This needs a connection.');
  }
  if (resp.ok) return;
  const answer = (await resp.json().catch(() => ({}))) as { code?: string; message?: string };
  throw new LoginError(
    messages[answer.code ?? ''] ??
      messages[String(resp.status)] ??
      answer.message ??
      `The server answered ${resp.status}.`,
  );
}

const LINK_INVALID = 'This link is unknown, already used, withdrawn or expired. Ask your admin for a new one.';

export class AppService {
  readonly db = new RecapDB('recap');
  readonly replica = new LocalReplica(this.db);
  private readonly channel: BroadcastChannel | null =
    typeof BroadcastChannel === 'undefined' ? null : new BroadcastChannel('recap');
  private scheduler: SyncScheduler | null = null;
  private releaseLeadership: (() => void) | null = null;
  private leading = false;
  private ws: WebSocket | null = null;
  private wsConnecting = false;
  private wsRetry = 0;
  private wsTimer: ReturnType<typeof setTimeout> | null = null;
  private session: Session | null = null;
  private readonly baseUrl = '';
  /** The server did not answer lately (see markUnreachable). */
  private unreachable = false;
  private answeredProbes = 0;
  private readonly probe = new ServerProbe({
    check: () => this.serverAnswers(),
    onResult: (answered) => this.onProbe(answered),
    intervalMs: 3000,
  });

  async init(): Promise<void> {
    await this.replica.open();
    if (this.channel) this.channel.onmessage = (e: MessageEvent<BusMessage>) => this.onBus(e.data);
    // Ask the browser not to evict the replica under storage pressure.
    if ('storage' in navigator && 'persist' in navigator.storage) void navigator.storage.persist().catch(() => false);
    this.session = (await this.replica.getMeta<Session>('session')) ?? null;
    window.addEventListener('online', () => {
      this.requestSync('online');
      this.reconnectLive();
    });
    window.addEventListener('offline', () => void this.setStatus({ phase: 'offline' }));
  }

  async currentSession(): Promise<Session | null> {
    this.session = (await this.replica.getMeta<Session>('session')) ?? null;
    return this.session;
  }

  private onBus(msg: BusMessage): void {
    if (msg.type === 'sync') this.requestSync(msg.reason);
    else if (msg.type === 'resume') this.resumeSync();
    else window.location.reload();
  }

  // -- editing -----------------------------------------------------------------------
  /** Stamp and store edits locally (instant, offline), then ask for a sync. */
  async edit(changes: Change[]): Promise<Message[]> {
    const out = await this.replica.edit(changes);
    this.requestSync('edit');
    return out;
  }

  requestSync(reason: SyncReason): void {
    if (this.leading && this.scheduler) this.scheduler.request(reason);
    else this.channel?.postMessage({ type: 'sync', reason } satisfies BusMessage);
  }

  // -- status --------------------------------------------------------------------------
  private async setStatus(patch: Partial<SyncStatus>): Promise<void> {
    const db = this.db;
    await db.transaction('rw', db.meta, async () => {
      const old = (await db.meta.get('status'))?.value as SyncStatus | undefined;
      const next: SyncStatus = {
        phase: 'idle',
        lastSyncAt: null,
        error: null,
        ...old,
        ...patch,
        at: Date.now(),
      };
      await db.meta.put({ key: 'status', value: next });
    });
  }

  // -- sign-in, sign-up, links, bootstrap, sign-out ------------------------------------------
  async login(email: string, password: string): Promise<LoginResult> {
    return signInCall(
      `${this.baseUrl}/auth/login`,
      { email, password },
      {
        '401': 'Wrong email or password.',
        account_disabled: 'This account was deactivated by an admin of your company.',
      },
    );
  }

  /** A new company and its first admin, signed in (then saveSession, as after login). */
  async signup(company: string, name: string, email: string, password: string): Promise<LoginResult> {
    return signInCall(
      `${this.baseUrl}/auth/signup`,
      { company, name, email, password },
      { email_taken: 'An account with this email exists already: sign in instead.' },
    );
  }

  /** Accept an invite link: the new user, signed in. */
  async acceptInvite(secret: string, name: string, password: string): Promise<LoginResult> {
    return signInCall(
      `${this.baseUrl}/auth/accept-invite`,
      { token: secret, name, password },
      { link_invalid: LINK_INVALID, email_taken: 'An account with this email exists already: sign in instead.' },
    );
  }

  /** A new password from a reset link (every session of that user ends). */
  async resetPassword(secret: string, password: string): Promise<void> {
    await publicCall(
      `${this.baseUrl}/auth/reset-password`,
      { token: secret, password },
      { link_invalid: LINK_INVALID },
    );
  }

  /** A call to the server's API with the session's token. Network failures are
   * NetworkError, error answers HttpError; an answer that ends this device (revoked,
   * account deactivated) also shows the notice. */
  async api<T>(method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown): Promise<T> {
    const session = await this.currentSession();
    if (typeof navigator !== 'undefined' && !navigator.onLine) throw new NetworkError('the browser is offline');
    const headers: Record<string, string> = {};
    if (session) headers.Authorization = `Bearer ${session.token}`;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    let resp: Response;
    try {
      resp = await fetch(this.baseUrl + path, {
        method,
        headers,
        cache: 'no-store',
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
    } catch (e) {
      throw new NetworkError(e instanceof Error ? e.message : String(e));
    }
    const answer: unknown = resp.status === 204 ? null : await resp.json().catch(() => null);
    if (!resp.ok) {
      const error = new HttpError(resp.status, answer);
      this.noticeFailure(error);
      throw error;
    }
    return answer as T;
  }

  /** Any failed call: when it says this device is revoked or its account deactivated,
   * stop syncing and remember why (every tab then shows the notice). */
  noticeFailure(e: unknown): boolean {
    const code = endedBy(e);
    if (code === null) return false;
    this.stopSync();
    const message = e instanceof HttpError ? HttpError.describe(e.body) : String(e);
    void this.replica
      .getMeta<Ended>('ended')
      .then((old) => {
        if (old?.code !== code) return this.replica.setMeta('ended', { code, message, at: Date.now() } satisfies Ended);
        return undefined;
      })
      .catch(() => undefined); // the database is gone (signed out meanwhile)
    return true;
  }

  /** The unsynced edits as a JSON document (to keep them when this device cannot sync). */
  async exportUnsynced(): Promise<unknown> {
    const session = await this.currentSession();
    return {
      exported_at: new Date().toISOString(),
      user: session ? { id: session.user.id, email: session.user.email } : null,
      node: this.replica.node,
      messages: await this.replica.outboxMessages(),
      refused: await this.replica.refusedEdits(),
    };
  }

  async saveSession(result: LoginResult): Promise<Session> {
    const session: Session = {
      token: result.token,
      user: result.user,
      expires_at: Date.now() + result.expires_in * 1000,
    };
    await this.replica.setMeta('session', session);
    this.session = session;
    await this.setStatus({ phase: 'idle', error: null });
    return session;
  }

  async isBootstrapped(): Promise<boolean> {
    return (await this.replica.getMeta<boolean>('bootstrapped')) === true;
  }

  private client(): SyncClient {
    return new SyncClient(
      this.replica,
      fetchTransport(this.baseUrl, () => this.session?.token ?? null),
    );
  }

  /** A new device: adopt the server's snapshot (with progress), then sync. */
  async bootstrap(progress: (p: BootstrapProgress) => void): Promise<void> {
    try {
      await this.client().bootstrap(progress);
    } catch (e) {
      this.noticeFailure(e);
      throw e;
    }
    // Old notices the server had for this user are history, not news, on a new device.
    await this.db.conflicts.toCollection().modify({ notified: 1 });
    await this.replica.setMeta('bootstrapped', true);
    await this.setStatus({ phase: 'idle', lastSyncAt: Date.now(), error: null });
  }

  /** Become the sync leader when no other tab is (Web Locks), and run the loop there. */
  startSync(): void {
    if (this.releaseLeadership) return;
    const held = new Promise<void>((resolve) => (this.releaseLeadership = resolve));
    if (!('locks' in navigator)) {
      this.lead();
      return;
    }
    void navigator.locks.request('recap-sync', async () => {
      this.lead();
      await held;
    });
  }

  private lead(): void {
    this.leading = true;
    this.scheduler = new SyncScheduler({
      run: () => this.syncOnce(),
      onFailure: (e) => this.onSyncFailure(e),
      intervalMs: 30_000,
    });
    this.scheduler.start();
    this.connectLive();
  }

  stopSync(): void {
    this.scheduler?.stop();
    this.scheduler = null;
    this.leading = false;
    this.closeLive();
    this.releaseLeadership?.();
    this.releaseLeadership = null;
  }

  private async syncOnce(): Promise<void> {
    // Another tab may have signed in again since: always sync with the stored session.
    await this.currentSession();
    if (!this.session) throw new HttpError(401, { code: 'unauthorized' });
    const ended = await this.replica.getMeta<Ended>('ended');
    if (ended) throw new HttpError(403, { code: ended.code, message: ended.message });
    if (!navigator.onLine) throw new NetworkError('the browser is offline');
    await this.setStatus({ phase: 'syncing' });
    await this.client().sync();
    this.unreachable = false;
    await this.setStatus({ phase: 'idle', lastSyncAt: Date.now(), error: null });
    this.reconnectLive();
  }

  private onSyncFailure(e: unknown): { retryAfterMs?: number; stop?: boolean } {
    if (this.noticeFailure(e)) {
      const message = e instanceof Error ? e.message : String(e);
      void this.setStatus({ phase: 'error', error: message });
      return { stop: true };
    }
    if (e instanceof NetworkError) {
      void this.setStatus({ phase: 'offline', error: null });
      this.unreachable = true;
      this.startProbe();
      return {};
    }
    if (e instanceof HttpError && e.status === 401) {
      void this.setStatus({ phase: 'signed_out', error: 'Your session has expired: sign in again to sync.' });
      return { stop: true };
    }
    if (e instanceof HttpError && e.code === 'unsupported_protocol') {
      // Retrying cannot help: only a newer app speaks the server's protocol.
      void this.setStatus({
        phase: 'error',
        error: 'This app is older than the server: reload the page to update it (your edits stay on this device).',
      });
      return { stop: true };
    }
    const message = e instanceof Error ? e.message : String(e);
    void this.setStatus({ phase: 'error', error: message });
    if (e instanceof HttpError && e.status === 429) {
      return { retryAfterMs: Number(e.field('retry_after_s') ?? 5) * 1000 };
    }
    return {};
  }

  /** After signing in again on an expired session (same user), in whichever tab. */
  resumeSync(): void {
    if (!this.leading || !this.scheduler) {
      this.channel?.postMessage({ type: 'resume' } satisfies BusMessage);
      return;
    }
    this.scheduler.resume();
    this.closeLive();
    this.wsRetry = 0;
    this.connectLive();
  }

  // -- live updates --------------------------------------------------------------------
  /** The WebSocket carries no headers from a browser: it is opened with a short-lived
   * ticket asked for with the session's token (the token itself never goes in a URL). */
  private connectLive(): void {
    if (!this.leading || this.ws || this.wsConnecting || !this.session || this.session.expires_at < Date.now()) return;
    const token = this.session.token;
    this.wsConnecting = true;
    void (async () => {
      let ticket: string;
      try {
        const resp = await fetch(`${this.baseUrl}/auth/ticket`, {
          method: 'POST',
          headers: { Authorization: `Bearer ${token}` },
          cache: 'no-store',
        });
        if (!resp.ok) {
          const error = new HttpError(resp.status, await resp.json().catch(() => null));
          if (this.noticeFailure(error)) {
            this.wsConnecting = false;
            return;
          }
          throw error;
        }
        ticket = ((await resp.json()) as { ticket: string }).ticket;
      } catch (e) {
        this.wsConnecting = false;
        if (!(e instanceof HttpError)) this.markUnreachable();
        this.scheduleLive();
        return;
      }
      this.wsConnecting = false;
      this.openLive(ticket);
    })();
  }

  private openLive(ticket: string): void {
    if (!this.leading || this.ws) return;
    const proto = window.location.protocol === 'https:' ? 'wss:' : 'ws:';
    // The protocol version as a query: a browser cannot set a WebSocket handshake's headers.
    const url = `${proto}//${window.location.host}/live?ticket=${encodeURIComponent(ticket)}&protocol=${PROTOCOL_VERSION}`;
    let ws: WebSocket;
    try {
      ws = new WebSocket(url);
    } catch {
      this.scheduleLive();
      return;
    }
    this.ws = ws;
    ws.onmessage = (e: MessageEvent<string>) => {
      try {
        const data = JSON.parse(e.data) as { type?: string };
        // 'ended': this session was ended on the server (signed out elsewhere, the device
        // revoked, the account deactivated); the sync it prompts gets the answer that says why.
        if (data.type === 'changed' || data.type === 'ended') this.requestSync('live');
        if (data.type === 'hello') {
          this.wsRetry = 0;
          this.probe.stop();
          this.requestSync('live'); // anything missed while disconnected
        }
      } catch {
        /* not ours */
      }
    };
    ws.onclose = (e: CloseEvent) => {
      if (this.ws === ws) {
        this.ws = null;
        // Not closed by this tab: a server going away (1001) means "Offline" at once; any
        // other close (the connection dropped, 1006) is checked by a probe at once.
        if (e.code === 1001) this.markUnreachable();
        else this.startProbe();
      }
      this.scheduleLive();
    };
  }

  // -- is the server there? -------------------------------------------------------------
  /** The browser's `online` event does not fire when the server goes away: while the live
   * socket is down, GET /healthz every 3 s (see ServerProbe). */
  private async serverAnswers(): Promise<boolean> {
    if (!navigator.onLine) return false;
    const resp = await fetch(`${this.baseUrl}/healthz`, { cache: 'no-store', signal: AbortSignal.timeout(3000) });
    // A proxy's answer for a server behind it that is gone is no answer.
    return ![502, 503, 504].includes(resp.status);
  }

  private startProbe(): void {
    this.answeredProbes = 0;
    if (this.leading) this.probe.start();
  }

  /** The server did not answer (the live socket dropped, a ticket or a probe failed): say
   * "Offline" now (not over "Sign in to sync"), and probe until it answers. */
  private markUnreachable(): void {
    this.unreachable = true;
    this.startProbe();
    void this.replica
      .getMeta<SyncStatus>('status')
      .then((s) =>
        s?.phase === 'offline' || s?.phase === 'signed_out'
          ? undefined
          : this.setStatus({ phase: 'offline', error: null }),
      )
      .catch(() => undefined); // the database is gone (signed out meanwhile)
  }

  private onProbe(answered: boolean): void {
    if (!answered) {
      this.answeredProbes = 0;
      this.markUnreachable();
      return;
    }
    // Back: sync and reconnect now rather than at the end of their backoffs.
    if (this.unreachable) {
      this.unreachable = false;
      this.requestSync('online');
      this.reconnectLive();
    }
    // The server answers but the socket stays down (e.g. a session to renew): its own
    // backoff reconnects; stop asking after 15 s of answers.
    this.answeredProbes += 1;
    if (this.answeredProbes >= 5) this.probe.stop();
  }

  /** Back online: reconnect now rather than at the end of the backoff. */
  private reconnectLive(): void {
    if (!this.leading || this.ws) return;
    if (this.wsTimer !== null) clearTimeout(this.wsTimer);
    this.wsTimer = null;
    this.wsRetry = 0;
    this.connectLive();
  }

  private scheduleLive(): void {
    if (!this.leading || this.wsTimer !== null) return;
    this.wsRetry += 1;
    const delay = Math.min(30_000, 500 * 2 ** Math.min(this.wsRetry, 6));
    this.wsTimer = setTimeout(() => {
      this.wsTimer = null;
      this.connectLive();
    }, delay);
  }

  private closeLive(): void {
    this.probe.stop();
    if (this.wsTimer !== null) clearTimeout(this.wsTimer);
    this.wsTimer = null;
    const ws = this.ws;
    this.ws = null;
    ws?.close();
  }

  /** End the session on the server (best effort: offline, or if the server does not answer
   * within a few seconds, the device signs out all the same), then clear every local table
   * (the database itself) and tell the other tabs. */
  async signOut(): Promise<void> {
    this.stopSync();
    const session = await this.currentSession();
    if (session && navigator.onLine) {
      const abort = new AbortController();
      const timer = setTimeout(() => abort.abort(), 3000);
      try {
        await fetch(`${this.baseUrl}/auth/logout`, {
          method: 'POST',
          headers: { Authorization: `Bearer ${session.token}` },
          cache: 'no-store',
          signal: abort.signal,
        });
      } catch {
        /* offline or slow: the session ends when it expires */
      } finally {
        clearTimeout(timer);
      }
    }
    await this.db.delete();
    this.channel?.postMessage({ type: 'signed-out' } satisfies BusMessage);
    window.location.reload();
  }
}

export const service = new AppService();
