/**
 * When to sync: on start, when the browser comes online, on an interval, on a live-update
 * notice, after a local edit. One sync at a time; a request during a sync runs one more
 * right after it. A failure backs off exponentially (with jitter, up to a minute, or the
 * server's `retry_after_s`); edits and the interval wait for the backoff, while coming
 * online, a live notice or a manual "sync now" try at once.
 */
export type SyncReason = 'start' | 'online' | 'interval' | 'live' | 'edit' | 'manual';

export interface FailurePolicy {
  /** Wait at least this long before the next try (e.g. a 429's retry_after_s). */
  retryAfterMs?: number;
  /** Do not retry until `resume()` (e.g. the session expired). */
  stop?: boolean;
}

export interface SchedulerOptions {
  run: () => Promise<void>;
  onFailure?: (error: unknown, failures: number) => FailurePolicy;
  intervalMs?: number;
  minBackoffMs?: number;
  maxBackoffMs?: number;
  random?: () => number;
}

const URGENT: ReadonlySet<SyncReason> = new Set(['start', 'online', 'live', 'manual']);

export class SyncScheduler {
  private running = false;
  private again = false;
  private stopped = true;
  private halted = false;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private intervalTimer: ReturnType<typeof setInterval> | null = null;
  failures = 0;
  runs = 0;

  constructor(private readonly opts: SchedulerOptions) {}

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.intervalTimer = setInterval(() => this.request('interval'), this.opts.intervalMs ?? 30_000);
    this.request('start');
  }

  stop(): void {
    this.stopped = true;
    if (this.intervalTimer !== null) clearInterval(this.intervalTimer);
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    this.intervalTimer = null;
    this.retryTimer = null;
  }

  /** After `stop: true` from the failure policy (e.g. signed in again). */
  resume(): void {
    this.halted = false;
    this.request('manual');
  }

  get backingOff(): boolean {
    return this.retryTimer !== null;
  }

  request(reason: SyncReason): void {
    if (this.stopped || this.halted) return;
    if (this.running) {
      this.again = true;
      return;
    }
    if (this.retryTimer !== null) {
      if (!URGENT.has(reason)) return;
      clearTimeout(this.retryTimer);
      this.retryTimer = null;
    }
    void this.loop();
  }

  backoffMs(failures: number): number {
    const min = this.opts.minBackoffMs ?? 1000;
    const max = this.opts.maxBackoffMs ?? 60_000;
    const base = Math.min(max, min * 2 ** Math.max(0, failures - 1));
    const jitter = 0.75 + 0.5 * (this.opts.random ?? Math.random)();
    return Math.round(base * jitter);
  }

  private shouldRepeat(): boolean {
    return this.again && !this.stopped;
  }

  private async loop(): Promise<void> {
    this.running = true;
    try {
      do {
        this.again = false;
        this.runs += 1;
        try {
          await this.opts.run();
          this.failures = 0;
        } catch (error) {
          this.failures += 1;
          const policy = this.opts.onFailure?.(error, this.failures) ?? {};
          this.again = false;
          if (policy.stop) {
            this.halted = true;
            return;
          }
          const delay = Math.max(this.backoffMs(this.failures), policy.retryAfterMs ?? 0);
          if (!this.stopped) {
            this.retryTimer = setTimeout(() => {
              this.retryTimer = null;
              this.request('manual');
            }, delay);
          }
          return;
        }
      } while (this.shouldRepeat());
    } finally {
      this.running = false;
    }
  }
}

export interface ProbeOptions {
  /** A cheap request: does the server answer? (false or a rejection: it does not) */
  check: () => Promise<boolean>;
  /** What each probe found. */
  onResult: (answered: boolean) => void;
  intervalMs?: number;
}

/**
 * Is the server there? The browser's `online` event says nothing when the server goes away
 * (a restart, a dead proxy, Wi-Fi without internet), so while the live socket is down the
 * app asks a cheap question every few seconds: at once on `start()`, then every
 * `intervalMs` until `stop()`. One probe at a time; nothing is reported after `stop()`.
 */
export class ServerProbe {
  private timer: ReturnType<typeof setInterval> | null = null;
  private inFlight = false;
  probes = 0;

  constructor(private readonly opts: ProbeOptions) {}

  get running(): boolean {
    return this.timer !== null;
  }

  start(): void {
    if (this.timer !== null) return;
    this.timer = setInterval(() => void this.probe(), this.opts.intervalMs ?? 3000);
    void this.probe();
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  private async probe(): Promise<void> {
    if (this.inFlight) return;
    this.inFlight = true;
    this.probes += 1;
    let answered = false;
    try {
      answered = await this.opts.check();
    } catch {
      /* no answer */
    } finally {
      this.inFlight = false;
    }
    if (this.timer !== null) this.opts.onResult(answered);
  }
}
