/**
 * The Airtable connector as the dashboard shows it: the shapes of
 * `GET /api/v1/connectors/airtable` and of a run summary (sync_server/api/models.py,
 * AirtableConnectorOut and AirtableRun), and the pure rules of the card (who sees it, what a
 * failed "Sync now" means, how times, counts and problems read). No I/O here: the requests
 * are in ./data.
 */
import { HttpError, NetworkError } from '../engine/sync';

export type AirtableState = 'idle' | 'ok' | 'error';

export interface AirtableRun {
  run_id: number;
  trigger: string;
  status: string;
  started_at: string;
  finished_at: string | null;
  seconds: number;
  records_read: number;
  records_imported: number;
  messages_written: number;
  conflicts: number;
  records_created: number;
  records_updated: number;
  records_deleted: number;
  requests: number;
  rate_limited: number;
  retried: number;
  problems: string[];
  error: { code: string; message: string } | null;
}

export interface AirtableConnector {
  configured: boolean;
  base_id: string | null;
  table: string | null;
  schedule_s: number | null;
  /** 'lines': one record per order line, both ways; 'orders': one record per order, Airtable
   * the source of truth, only status and priority written back (seed 002). */
  mode?: 'lines' | 'orders' | null;
  has_api_key: boolean;
  state: AirtableState | null;
  last_error: string | null;
  last_run_at: string | null;
  last_run: AirtableRun | null;
}

/** Only admins see the card (and only they may call the connector's endpoints). */
export function canSeeAirtable(role: string | null | undefined): boolean {
  return role === 'admin';
}

/** Records Recap wrote back to Airtable in a run (created + updated + deleted). */
export function writtenBack(run: AirtableRun): number {
  return run.records_created + run.records_updated + run.records_deleted;
}

/** The card's state: the last run decides it once there is one; 'idle' before the first. */
export function stateOf(c: AirtableConnector): AirtableState {
  return c.state ?? 'idle';
}

export const STATE_LABEL: Record<AirtableState, string> = {
  idle: 'idle',
  ok: 'ok',
  error: 'error',
};

/** How often the connector runs by itself. */
export function scheduleText(scheduleS: number | null): string {
  if (!scheduleS) return 'runs only on demand';
  if (scheduleS % 3600 === 0) return `runs every ${scheduleS / 3600} h`;
  if (scheduleS % 60 === 0) return `runs every ${scheduleS / 60} min`;
  return `runs every ${scheduleS} s`;
}

const UNITS: [Intl.RelativeTimeFormatUnit, number][] = [
  ['day', 86_400_000],
  ['hour', 3_600_000],
  ['minute', 60_000],
];

/** "just now", "5 minutes ago", "yesterday", … in English like the rest of the app; a time
 * that cannot be parsed is returned as is. */
export function relativeTime(iso: string, now: number = Date.now()): string {
  const at = Date.parse(iso);
  if (Number.isNaN(at)) return iso;
  const ago = now - at;
  if (Math.abs(ago) < 45_000) return 'just now';
  const rtf = new Intl.RelativeTimeFormat('en', { numeric: 'auto' });
  for (const [unit, ms] of UNITS) {
    if (Math.abs(ago) >= ms || unit === 'minute') return rtf.format(-Math.round(ago / ms), unit);
  }
  return iso;
}

/** When the last run finished (or started, if it has no end), for the card. */
export function lastRunAt(c: AirtableConnector): string | null {
  return c.last_run?.finished_at ?? c.last_run?.started_at ?? c.last_run_at;
}

/** "1 request", "7 requests". */
export function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** The problems of a run: shown as a list when there are few, folded behind a summary line
 * when there are more than `open` of them. The server keeps at most `cap` per run. */
export function problemsView(problems: string[], open = 3, cap = 50): { collapsed: boolean; title: string } {
  const n = problems.length;
  const count = n >= cap ? `${n}+ problems` : plural(n, 'problem');
  return { collapsed: n > open, title: n >= cap ? `${count} (the first ${n} are listed)` : count };
}

/** A "Sync now" that did not succeed: the run's own failure (a 502 carrying the run, or a
 * 404 when nothing is connected) or the request's (network, session, rights). */
export interface SyncFailure {
  message: string;
  run: AirtableRun | null;
  /** the server could not be reached at all: nothing is known about the run */
  unreachable: boolean;
}

function isRun(x: unknown): x is AirtableRun {
  return typeof x === 'object' && x !== null && typeof (x as { run_id?: unknown }).run_id === 'number';
}

export function syncFailure(e: unknown): SyncFailure {
  if (e instanceof HttpError) {
    const run = e.field('run');
    const message = e.field('message');
    if (e.status === 502 && isRun(run)) {
      return {
        message: typeof message === 'string' ? message : (run.error?.message ?? 'the run failed'),
        run,
        unreachable: false,
      };
    }
    if (e.status === 401) return { message: 'your session has expired: sign in again', run: null, unreachable: false };
    if (e.status === 403)
      return { message: 'only admins can run the Airtable connector', run: null, unreachable: false };
    if (e.status === 502 || e.status === 503 || e.status === 504)
      return { message: 'the server cannot be reached', run: null, unreachable: true };
    return { message: typeof message === 'string' ? message : e.message, run: null, unreachable: false };
  }
  if (e instanceof NetworkError) return { message: 'the server cannot be reached', run: null, unreachable: true };
  return { message: e instanceof Error ? e.message : String(e), run: null, unreachable: false };
}

/** The connector as it stands right after a run (before the server is asked again). */
export function withRun(c: AirtableConnector, run: AirtableRun): AirtableConnector {
  const ok = run.status === 'ok';
  return {
    ...c,
    state: ok ? 'ok' : 'error',
    last_error: ok ? null : (run.error?.message ?? c.last_error),
    last_run_at: run.finished_at ?? run.started_at,
    last_run: run,
  };
}
