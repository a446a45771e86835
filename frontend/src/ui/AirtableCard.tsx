/**
 * The dashboard's Airtable card (admins only; the dashboard does not mount it for reps, so
 * they never call the admin endpoints): the connected base and table, the state with the last
 * error, when and how the last run went, and "Sync now".
 *
 * The status is `GET /api/v1/connectors/airtable`, read again with the dashboard (Refresh,
 * after each sync of this device) and after "Sync now". Offline — the dashboard's own notion,
 * or this card's read failing to reach the server — it only says the status is unavailable.
 */
import { useEffect, useRef, useState, type ReactNode } from 'react';

import { formatDateTime } from '../app/dates';
import { HttpError } from '../engine/sync';
import {
  lastRunAt,
  plural,
  problemsView,
  relativeTime,
  scheduleText,
  stateOf,
  STATE_LABEL,
  syncFailure,
  withRun,
  writtenBack,
  type AirtableConnector,
  type AirtableRun,
  type SyncFailure,
} from '../dashboard/airtable';
import { fetchAirtable, isUnreachable, syncAirtable } from '../dashboard/data';

type View =
  | { kind: 'loading' }
  | { kind: 'ready'; connector: AirtableConnector }
  | { kind: 'offline'; reason: string }
  | { kind: 'failed'; reason: string }
  | { kind: 'forbidden' };

function reasonOf(e: unknown): string {
  if (isUnreachable(e)) return 'the server cannot be reached';
  if (e instanceof HttpError && e.status === 401) return 'your session has expired';
  return e instanceof Error ? e.message : String(e);
}

/** The clock, ticking every `ms` (relative times stay true while the page is open). */
function useNow(ms: number): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(timer);
  }, [ms]);
  return now;
}

export function AirtableCard(props: { offline: string | null; tick: number; lastSync: number | null }): ReactNode {
  const { offline, tick, lastSync } = props;
  const [view, setView] = useState<View>({ kind: 'loading' });
  const [busy, setBusy] = useState(false);
  const [failure, setFailure] = useState<SyncFailure | null>(null);
  const [reload, setReload] = useState(0);
  // Reads are numbered: only the latest may land, and a run's result outdates reads begun before it.
  const generation = useRef(0);
  // A 403 (the token's role is not admin after all) is final: the card is gone, asking again would only repeat it.
  const forbidden = useRef(false);
  const now = useNow(30_000);

  useEffect(() => {
    if (forbidden.current) return;
    const mine = ++generation.current;
    fetchAirtable().then(
      (connector) => {
        if (generation.current === mine) setView({ kind: 'ready', connector });
      },
      (e: unknown) => {
        if (generation.current !== mine) return;
        if (e instanceof HttpError && e.status === 403) {
          forbidden.current = true;
          setView({ kind: 'forbidden' });
        } else {
          setView(
            isUnreachable(e) ? { kind: 'offline', reason: reasonOf(e) } : { kind: 'failed', reason: reasonOf(e) },
          );
        }
      },
    );
  }, [tick, lastSync, reload]);

  const syncNow = async (): Promise<void> => {
    setBusy(true);
    setFailure(null);
    const landed = (run: AirtableRun): void => {
      generation.current++;
      setView((v) => (v.kind === 'ready' ? { kind: 'ready', connector: withRun(v.connector, run) } : v));
    };
    try {
      landed(await syncAirtable());
    } catch (e) {
      const f = syncFailure(e);
      if (f.run) landed(f.run);
      setFailure(f);
    } finally {
      setBusy(false);
      setReload((n) => n + 1);
    }
  };

  if (view.kind === 'forbidden') return null;

  let body: ReactNode;
  if (offline !== null || view.kind === 'offline') {
    body = (
      <p className="muted" data-testid="airtable-offline">
        Airtable status is unavailable offline ({offline ?? (view.kind === 'offline' ? view.reason : '')}).
      </p>
    );
  } else if (view.kind === 'loading') {
    body = (
      <p className="muted" data-testid="airtable-loading">
        Loading…
      </p>
    );
  } else if (view.kind === 'failed') {
    body = (
      <p className="error" data-testid="airtable-unavailable">
        Airtable status is unavailable: {view.reason}
      </p>
    );
  } else if (!view.connector.configured) {
    body = (
      <p className="muted" data-testid="airtable-not-connected">
        Airtable isn’t connected.
      </p>
    );
  } else {
    body = <Connected connector={view.connector} failure={failure} now={now} />;
  }

  const connected = offline === null && view.kind === 'ready' && view.connector.configured;
  const state = connected ? stateOf(view.connector) : null;
  return (
    <div className="card airtable-card" data-testid="airtable-card" data-state={state ?? ''} aria-busy={busy}>
      <div className="airtable-head">
        <h2>Airtable</h2>
        {state !== null ? (
          <span className={`at-state ${state}`} data-testid="airtable-state" data-state={state}>
            {STATE_LABEL[state]}
          </span>
        ) : null}
        {connected ? (
          <button
            type="button"
            className="btn small primary"
            data-testid="airtable-sync"
            disabled={busy}
            onClick={() => void syncNow()}
          >
            {busy ? 'Syncing…' : 'Sync now'}
          </button>
        ) : null}
      </div>
      {body}
    </div>
  );
}

function Connected(props: { connector: AirtableConnector; failure: SyncFailure | null; now: number }): ReactNode {
  const { connector: c, failure, now } = props;
  const run = c.last_run;
  const at = lastRunAt(c);
  const state = stateOf(c);
  return (
    <>
      <p className="muted at-target" data-testid="airtable-target">
        Base <code data-testid="airtable-base">{c.base_id}</code> · table{' '}
        <code data-testid="airtable-table">{c.table}</code> ·{' '}
        <span data-testid="airtable-mode" data-mode={c.mode ?? 'lines'}>
          {c.mode === 'orders' ? 'one record per order (Airtable leads)' : 'one record per line'}
        </span>{' '}
        · {scheduleText(c.schedule_s)}
      </p>
      {state === 'error' ? (
        <div className="at-error" role="alert" data-testid="airtable-error">
          <strong>The last run failed:</strong> {c.last_error ?? run?.error?.message ?? 'no reason was recorded'}
        </div>
      ) : null}
      {failure !== null && failure.run === null ? (
        <p className="error" role="alert" data-testid="airtable-sync-error">
          Sync now failed: {failure.message}
        </p>
      ) : null}
      {at === null ? (
        <p className="muted" data-testid="airtable-never-run">
          Not run yet.
        </p>
      ) : (
        <p
          className="at-last-run"
          data-testid="airtable-last-run"
          data-trigger={run?.trigger ?? ''}
          data-status={run?.status ?? ''}
        >
          Last run{' '}
          <time dateTime={at} title={formatDateTime(at)} data-testid="airtable-last-run-at">
            {relativeTime(at, now)}
          </time>
          {run ? (
            <span className="muted">
              {' '}
              · {run.trigger === 'schedule' ? 'scheduled' : run.trigger} · {run.seconds.toFixed(1)} s ·{' '}
              {plural(run.requests, 'request')}
              {run.rate_limited > 0 ? `, ${run.rate_limited} rate-limited` : ''}
              {run.retried > 0 ? `, ${run.retried} retried` : ''}
            </span>
          ) : null}
        </p>
      )}
      {run ? <RunFigures run={run} /> : null}
    </>
  );
}

function RunFigures(props: { run: AirtableRun }): ReactNode {
  const { run } = props;
  const problems = problemsView(run.problems);
  const list = (
    <ul className="at-problems-list">
      {run.problems.map((p, i) => (
        <li key={i} data-testid="airtable-problem">
          {p}
        </li>
      ))}
    </ul>
  );
  return (
    <>
      <div className="at-figures">
        <div className="at-figure">
          <span className="label">Records read</span>
          <strong data-testid="airtable-read" data-value={run.records_read}>
            {run.records_read}
          </strong>
        </div>
        <div className="at-figure">
          <span className="label">Imported</span>
          <strong data-testid="airtable-imported" data-value={run.records_imported}>
            {run.records_imported}
          </strong>
          <span className="muted">{plural(run.messages_written, 'change')}</span>
        </div>
        <div className="at-figure">
          <span className="label">Written back</span>
          <strong data-testid="airtable-written" data-value={writtenBack(run)}>
            {writtenBack(run)}
          </strong>
          <span className="muted">
            {run.records_created} new · {run.records_updated} updated · {run.records_deleted} deleted
          </span>
        </div>
        <div className="at-figure">
          <span className="label">Conflicts</span>
          <strong data-testid="airtable-conflicts" data-value={run.conflicts}>
            {run.conflicts}
          </strong>
        </div>
      </div>
      {run.problems.length === 0 ? null : problems.collapsed ? (
        <details className="at-problems" data-testid="airtable-problems" data-count={run.problems.length}>
          <summary>{problems.title}</summary>
          {list}
        </details>
      ) : (
        <div className="at-problems" data-testid="airtable-problems" data-count={run.problems.length}>
          <span className="label">{problems.title}</span>
          {list}
        </div>
      )}
    </>
  );
}
