import { useLiveQuery } from 'dexie-react-hooks';
import { useCallback, useSyncExternalStore } from 'react';

import { isLive, type RowRecord, type Session, type SyncStatus } from '../engine/store';
import { service } from '../app/service';
import { datasetRows } from '../engine/rowgroups';
import { parseHash, routeHash, type Route } from '../app/routes';

export { isPublic, parseHash, routeHash, type PublicRoute, type Route } from '../app/routes';

function subscribeHash(cb: () => void): () => void {
  window.addEventListener('hashchange', cb);
  return () => window.removeEventListener('hashchange', cb);
}

export function useRoute(): [Route, (r: Route) => void] {
  const hash = useSyncExternalStore(subscribeHash, () => window.location.hash);
  const go = useCallback((r: Route) => {
    window.location.hash = routeHash(r);
  }, []);
  return [parseHash(hash), go];
}

function subscribeOnline(cb: () => void): () => void {
  window.addEventListener('online', cb);
  window.addEventListener('offline', cb);
  return () => {
    window.removeEventListener('online', cb);
    window.removeEventListener('offline', cb);
  };
}

export function useOnline(): boolean {
  return useSyncExternalStore(subscribeOnline, () => navigator.onLine);
}

/** The signed-in session (its user and role), live across tabs. */
export function useSession(): Session | undefined {
  return useLiveQuery(() => service.replica.getMeta<Session>('session'), []);
}

export function useSyncStatus(): SyncStatus | undefined {
  return useLiveQuery(() => service.replica.getMeta<SyncStatus>('status'), []);
}

/** Live rows of a dataset by id (partners, products: hundreds at most). */
export function useDataset(ds: string): Map<string, RowRecord> | undefined {
  return useLiveQuery(async () => {
    const rows = await datasetRows(service.db.rowGroups, ds);
    return new Map(rows.filter((r) => isLive(r)).map((r) => [r.id, r]));
  }, [ds]);
}

/** Rows with edits still in the outbox, as "dataset/row". */
export function usePendingRows(): Set<string> {
  const keys = useLiveQuery(async () => service.db.outbox.orderBy('[dataset+row]').uniqueKeys(), []);
  return new Set((keys ?? []).map((k) => (k as unknown as [string, string]).join('/')));
}

/** Edits waiting to sync, counted as the rep's actions: the distinct rows (dataset, row)
 * in the outbox (a quantity change writes a line's quantity and weight: one edit). */
export async function waitingEdits(): Promise<number> {
  return (await service.db.outbox.orderBy('[dataset+row]').uniqueKeys()).length;
}

export function useWaitingEdits(): number {
  return useLiveQuery(waitingEdits, []) ?? 0;
}

export function text(rec: RowRecord | undefined, column: string): string {
  const v = rec?.cols[column]?.value;
  return typeof v === 'string' ? v : '';
}

export function num(rec: RowRecord | undefined, column: string): number | null {
  const v = rec?.cols[column]?.value;
  return typeof v === 'number' ? v : null;
}
