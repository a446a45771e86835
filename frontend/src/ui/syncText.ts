/** The sync bar's words (pure, so they are unit-tested). */

function sameDay(a: Date, b: Date): boolean {
  return a.getFullYear() === b.getFullYear() && a.getMonth() === b.getMonth() && a.getDate() === b.getDate();
}

/** "Synced 14:05" today, "Synced 2 Dec 14:05" another day of this year, "Synced 2 Dec 2025
 * 14:05" another year (in the browser's locale), "Not synced yet" before the first sync. */
export function lastSyncText(at: number | null, now: Date = new Date(), locale?: string): string {
  if (at === null) return 'Not synced yet';
  const when = new Date(at);
  const time = when.toLocaleTimeString(locale, { hour: '2-digit', minute: '2-digit' });
  if (sameDay(when, now)) return `Synced ${time}`;
  const date = when.toLocaleDateString(locale, {
    day: 'numeric',
    month: 'short',
    ...(when.getFullYear() === now.getFullYear() ? {} : { year: 'numeric' }),
  });
  return `Synced ${date} ${time}`;
}

/** "1 edit waiting", "3 edits waiting" (after the count, which is shown on its own). */
export function waitingWords(n: number): string {
  return n === 1 ? 'edit waiting' : 'edits waiting';
}

/** A "Sync now" tap's outcome, from the sync status written after the tap. */
export type SyncFeedback = 'syncing' | 'done' | 'offline' | 'error' | 'signed_out';

export function feedbackFor(
  askedAt: number,
  status: { phase: string; at: number } | undefined,
  online: boolean,
): SyncFeedback {
  if (status === undefined || status.at < askedAt || status.phase === 'syncing') {
    // The browser knows it has no network: nothing to wait for.
    return online ? 'syncing' : 'offline';
  }
  if (status.phase === 'idle') return 'done';
  if (status.phase === 'offline') return 'offline';
  if (status.phase === 'signed_out') return 'signed_out';
  return 'error';
}

export const FEEDBACK_TEXT: Record<SyncFeedback, string> = {
  syncing: 'Syncing…',
  done: 'Up to date',
  offline: 'Offline: will sync when the server is reachable',
  error: 'Sync failed: will try again',
  signed_out: 'Sign in again to sync',
};
