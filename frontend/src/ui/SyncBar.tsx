import { useLiveQuery } from 'dexie-react-hooks';
import type { ReactNode } from 'react';

import { formatTime } from '../app/dates';
import { service } from '../app/service';
import { useOnline, useRoute, useSyncStatus } from './hooks';

/** Always visible: online/offline, unsynced edits, last successful sync. */
export function StatusBar(props: { onReauth: () => void }): ReactNode {
  const online = useOnline();
  const status = useSyncStatus();
  const unsynced = useLiveQuery(() => service.db.outbox.count(), []) ?? 0;
  const refused = useLiveQuery(() => service.db.refused.count(), []) ?? 0;
  const [, go] = useRoute();
  const offline = !online || status?.phase === 'offline';
  const phase = status?.phase ?? 'idle';
  return (
    <div className={`status-bar ${offline ? 'offline' : 'online'}`} data-testid="sync-status" data-phase={phase}>
      <span className="net" data-testid="net-state">
        <span className="dot" aria-hidden="true" />
        {offline ? 'Offline' : 'Online'}
      </span>
      <span className={unsynced ? 'unsynced-count has' : 'unsynced-count'}>
        <span data-testid="unsynced-count">{unsynced}</span> unsynced
      </span>
      <span className="last-sync" data-testid="last-sync">
        {phase === 'syncing' ? 'Syncing… · ' : ''}
        {status?.lastSyncAt ? `Synced ${formatTime(status.lastSyncAt)}` : 'Not synced yet'}
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
        className="btn small ghost"
        data-testid="sync-now"
        onClick={() => service.requestSync('manual')}
      >
        Sync now
      </button>
    </div>
  );
}
