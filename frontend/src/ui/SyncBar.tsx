import { useLiveQuery } from 'dexie-react-hooks';
import { useEffect, useState, type ReactNode } from 'react';

import { service } from '../app/service';
import type { SyncPhase } from '../engine/store';
import { useOnline, useRoute, useSyncStatus, useWaitingEdits } from './hooks';
import { Icon } from './widgets';
import { FEEDBACK_TEXT, feedbackFor, lastSyncText, waitingWords, type SyncFeedback } from './syncText';
import './diagnostics.css';

/** How long a "Sync now" outcome stays, and how long to wait for one at most. */
const FEEDBACK_MS = 4000;
const FEEDBACK_GIVE_UP_MS = 20_000;

/** Re-render at least every minute (the last sync's "today" changes at midnight). */
function useMinute(): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), 60_000);
    return () => clearInterval(timer);
  }, []);
  return now;
}

/** Always visible: online/offline, the edits waiting to sync, the last successful sync,
 * "Sync now" with its outcome. */
export function StatusBar(props: { onReauth: () => void }): ReactNode {
  const online = useOnline();
  const status = useSyncStatus();
  const waiting = useWaitingEdits();
  const messages = useLiveQuery(() => service.db.outbox.count(), []) ?? 0;
  const refused = useLiveQuery(() => service.db.refused.count(), []) ?? 0;
  const [route, go] = useRoute();
  const now = useMinute();
  const phase = status?.phase ?? 'idle';
  // A sync that starts while the server is unreachable does not make it reachable: until it
  // ends, show what the last finished attempt found.
  const [settled, setSettled] = useState<SyncPhase>(phase);
  if (phase !== 'syncing' && phase !== settled) setSettled(phase);
  const offline = !online || phase === 'offline' || (phase === 'syncing' && settled === 'offline');

  // "Sync now": Syncing… until the sync status written after the tap, then its first
  // outcome, kept for a few seconds whatever the retries after it do.
  const [askedAt, setAskedAt] = useState<number | null>(null);
  const [outcome, setOutcome] = useState<SyncFeedback | null>(null);
  const live = askedAt === null || outcome !== null ? null : feedbackFor(askedAt, status, online);
  if (live !== null && live !== 'syncing') setOutcome(live);
  const feedback = outcome ?? live;
  useEffect(() => {
    if (askedAt === null) return;
    const timer = setTimeout(
      () => {
        setAskedAt(null);
        setOutcome(null);
      },
      outcome === null ? FEEDBACK_GIVE_UP_MS : FEEDBACK_MS,
    );
    return () => clearTimeout(timer);
  }, [askedAt, outcome]);

  return (
    <div
      className={`status-bar ${offline ? 'offline' : 'online'}`}
      role="region"
      aria-label="Sync status"
      data-testid="sync-status"
      data-phase={phase}
    >
      <span className="net" data-testid="net-state">
        <span className="dot" aria-hidden="true" />
        {offline ? 'Offline' : 'Online'}
      </span>
      <span className={waiting ? 'unsynced-count has' : 'unsynced-count'}>
        <span data-testid="unsynced-count" data-messages={messages}>
          {waiting}
        </span>{' '}
        {waitingWords(waiting)}
      </span>
      <span
        className="last-sync"
        data-testid="last-sync"
        title={status?.lastSyncAt ? new Date(status.lastSyncAt).toLocaleString() : undefined}
      >
        {phase === 'syncing' ? 'Syncing… · ' : ''}
        {lastSyncText(status?.lastSyncAt ?? null, new Date(now))}
      </span>
      {refused > 0 ? (
        // Edits the server refused for good (a role that may not make them): the list.
        <button
          type="button"
          className="btn small warn"
          data-testid="refused-count"
          data-count={refused}
          onClick={() => go({ page: 'refused' })}
        >
          {refused} edit{refused === 1 ? '' : 's'} refused
        </button>
      ) : null}
      {phase === 'signed_out' ? (
        <button type="button" className="btn small warn" data-testid="reauth" onClick={props.onReauth}>
          Sign in to sync
        </button>
      ) : null}
      {phase === 'error' && status?.error ? (
        <span className="sync-error" title={status.error}>
          Sync problem: {status.error.slice(0, 80)}
        </span>
      ) : null}
      <button
        type="button"
        className="btn small ghost sync-now"
        data-testid="sync-now"
        aria-busy={feedback === 'syncing'}
        onClick={() => {
          setAskedAt(Date.now());
          setOutcome(null);
          service.requestSync('manual');
        }}
      >
        <Icon className="sync-icon" path="M20 12a8 8 0 1 1-2.3-5.7M20 4v5h-5" />
        <span className="sync-now-label">Sync now</span>
      </button>
      {/* This device against the server (Diagnostics.tsx), for every user. */}
      <a
        className="btn small ghost diag-link"
        href="#/diagnostics"
        title="Diagnostics"
        data-testid="nav-diagnostics"
        aria-current={route.page === 'diagnostics' ? 'page' : undefined}
      >
        <Icon className="diag-icon" path="M3 12h4l3-7 4 14 3-7h4" />
        <span className="diag-link-label">Diagnostics</span>
      </a>
      <span
        className={feedback ? `sync-feedback ${feedback}` : 'sync-feedback'}
        role="status"
        data-testid="sync-feedback"
        data-state={feedback ?? ''}
      >
        {feedback ? FEEDBACK_TEXT[feedback] : ''}
      </span>
    </div>
  );
}
