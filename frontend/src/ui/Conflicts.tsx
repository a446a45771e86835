import { useLiveQuery } from 'dexie-react-hooks';
import { useEffect, useMemo, type ReactNode } from 'react';
import { createPortal } from 'react-dom';

import {
  dismissAllConflicts,
  dismissConflict,
  flushConflictStates,
  markAllSeen,
  markSeen,
  reapply,
} from '../app/actions';
import { formatDateTime } from '../app/dates';
import { fieldLabel } from '../app/fields';
import { byRecord, groupNotices, mineOf, reapplyChanges, type Notice, type RowOf } from '../app/notices';
import { mayWrite } from '../app/permissions';
import { service } from '../app/service';
import type { Scalar } from '../engine/message';
import { rowsByKey } from '../engine/rowgroups';
import type { ConflictRecord, ConflictSide, RowRecord, Session } from '../engine/store';
import { text, useDataset, useRoute, useSyncStatus } from './hooks';
import { useToast } from './toast';
import './conflicts.css';

const DATASET_LABEL: Record<string, string> = {
  pre_orders: 'Pre-order',
  pre_order_flows: 'Product line',
  partners: 'Partner',
  products: 'Product',
  profiles: 'Profile',
};

export interface Lookup {
  partners: Map<string, RowRecord> | undefined;
  products: Map<string, RowRecord> | undefined;
  rows: Map<string, RowRecord>;
  me: string | null;
  role: string | null;
}

/** Who made the other edit ("you, on another device" when it was this rep elsewhere). */
export function who(side: ConflictSide, lookup: Lookup): string {
  if (side.user_id !== null && side.user_id === lookup.me) return 'You, on another device,';
  return side.user_name ?? 'Another rep';
}

/** Which rows name things (a flow's product and pre-order, a pre-order's partner) for these
 * edits, as sentences need them. */
export function useLookup(conflicts: readonly { dataset: string; row: string }[] | undefined): Lookup {
  const partners = useDataset('partners');
  const products = useDataset('products');
  const session = useLiveQuery(() => service.replica.getMeta<Session>('session'), []);
  const rows = useLiveQuery(async () => {
    const keys = [...new Set((conflicts ?? []).map((c) => `${c.dataset}\u0000${c.row}`))].map(
      (k) => k.split('\u0000') as [string, string],
    );
    const recs = await rowsByKey(service.db.rowGroups, keys);
    const orderIds = recs
      .filter((r) => r?.ds === 'pre_order_flows')
      .map((r) => ['pre_orders', r?.parent ?? ''] as [string, string]);
    const parents = await rowsByKey(service.db.rowGroups, orderIds);
    const map = new Map<string, RowRecord>();
    for (const r of [...recs, ...parents]) if (r) map.set(`${r.ds}/${r.id}`, r);
    return map;
  }, [conflicts]);
  return {
    partners,
    products,
    rows: rows ?? new Map<string, RowRecord>(),
    me: session?.user.id ?? null,
    role: session?.user.role ?? null,
  };
}

export function describeValue(column: string, value: Scalar, lookup: Lookup): string {
  if (value === null) return '(empty)';
  if (column === 'partner_id' && typeof value === 'string')
    return text(lookup.partners?.get(value), 'name') || 'another partner';
  if (column === 'product_id' && typeof value === 'string')
    return text(lookup.products?.get(value), 'name') || 'another product';
  if (column === 'tombstone') return value === 1 ? 'deleted' : 'kept';
  if (column === 'avatar') return '(picture)';
  if (column === 'status' && value === 'confirmed') return 'confirmed';
  return String(value);
}

export function describeRecord(c: { dataset: string; row: string }, lookup: Lookup): string {
  const label = DATASET_LABEL[c.dataset] ?? c.dataset;
  const row = lookup.rows.get(`${c.dataset}/${c.row}`);
  if (c.dataset === 'pre_orders') {
    const partner = text(lookup.partners?.get(text(row, 'partner_id')), 'name');
    return `${label} ${partner ? `for ${partner}` : ''} ${text(row, 'delivery_date')}`.replace(/\s+/g, ' ').trim();
  }
  if (c.dataset === 'pre_order_flows') {
    const product = text(lookup.products?.get(text(row, 'product_id')), 'name');
    const order = lookup.rows.get(`pre_orders/${row?.parent ?? ''}`);
    const partner = text(lookup.partners?.get(text(order, 'partner_id')), 'name');
    return `${product || label}${partner ? ` (${partner})` : ''}`;
  }
  if (c.dataset === 'partners' || c.dataset === 'products') return `${label} ${text(row, 'name')}`.trim();
  if (c.dataset === 'profiles')
    return c.row === lookup.me ? 'your profile' : `the profile of ${text(row, 'name') || 'a rep'}`;
  return label;
}

function fieldOf(c: ConflictRecord): string {
  return fieldLabel(c.column);
}

/** Rows of the lookup as notices.ts reads them. */
function rowsOf(lookup: Lookup): RowOf {
  return (dataset, id) => lookup.rows.get(`${dataset}/${id}`);
}

/** The fields an edit wrote, the one the rep typed first (a weight follows a quantity). */
const FIELD_ORDER = ['quantity', 'product_id', 'partner_id', 'delivery_date', 'status', 'name', 'email', 'weight'];
function primaryFirst(items: readonly ConflictRecord[]): ConflictRecord[] {
  const rank = (c: ConflictRecord): number => {
    const i = FIELD_ORDER.indexOf(c.column);
    return i < 0 ? FIELD_ORDER.length : i;
  };
  return [...items].sort((a, b) => rank(a) - rank(b) || a.id - b.id);
}

function andList(parts: readonly string[]): string {
  const unique = [...new Set(parts)];
  if (unique.length <= 1) return unique[0] ?? '';
  return `${unique.slice(0, -1).join(', ')} and ${unique[unique.length - 1] ?? ''}`;
}

/** What a delete hid, as the rep would say it: "Flour: quantity 7, weight 3.5; new line Sugar". */
export function lostEdits(items: readonly ConflictRecord[], lookup: Lookup): string {
  const byRow = new Map<string, ConflictRecord[]>();
  for (const c of items) byRow.set(`${c.dataset}/${c.row}`, [...(byRow.get(`${c.dataset}/${c.row}`) ?? []), c]);
  const parts: string[] = [];
  for (const list of byRow.values()) {
    const first = list[0];
    if (first === undefined) continue;
    // The edit a delete hid is its conflict's loser, whichever side this user was on.
    const fields = primaryFirst(list)
      .filter((c) => c.column !== 'tombstone' && c.column !== 'pre_order_id' && c.column !== 'created_at')
      .map((c) => `${fieldOf(c)} ${describeValue(c.column, c.loser.value, lookup)}`);
    if (first.dataset === 'pre_order_flows') {
      const row = lookup.rows.get(`pre_order_flows/${first.row}`);
      const product = text(lookup.products?.get(text(row, 'product_id')), 'name') || 'a product';
      const added = list.some((c) => c.column === 'pre_order_id');
      parts.push(added ? `new line ${product}` : `${product}: ${fields.join(', ')}`);
    } else if (fields.length) {
      parts.push(fields.join(', '));
    }
  }
  return parts.join('; ');
}

/** One sentence for a notice: who did what to which record, and what it did to your edit. */
export function noticeSentence(notice: Notice, lookup: Lookup): string {
  const items = primaryFirst(notice.items);
  const c = items[0];
  if (c === undefined) return '';
  const record = describeRecord(c.kind === 'deleted' || c.kind === 'reapplied' ? notice.record : c, lookup);
  const theirs = c.yours === 'loser' ? c.winner : c.loser;
  const other = who(theirs, lookup);
  const fields = andList(items.map(fieldOf));
  if (c.kind === 'deleted') {
    const lost = lostEdits(items, lookup);
    const what = lost ? ` What no longer shows: ${lost}.` : '';
    return c.yours === 'loser'
      ? `${other} deleted ${record} while you changed it.${what}`
      : `You deleted ${record} while ${other} changed it.${what}`;
  }
  if (c.kind === 'reapplied') {
    if (c.column === 'tombstone' && c.winner.value === 0) {
      return `${other} restored ${record}, which you had deleted.`;
    }
    const value = describeValue(c.column, c.winner.value, lookup);
    const mine = describeValue(c.column, c.loser.value, lookup);
    return c.yours === 'loser'
      ? `${other} re-applied their ${fields} on ${record}: "${value}" replaced your "${mine}".`
      : `You re-applied your ${fields} "${value}" on ${record}.`;
  }
  const mine = describeValue(c.column, mineOf(c).value, lookup);
  const value = describeValue(c.column, theirs.value, lookup);
  const by = theirs.user_id !== null && theirs.user_id === lookup.me ? 'your other device' : other;
  return c.yours === 'loser'
    ? `${other} changed the ${fields} of ${record} at the same time: "${value}" replaced your "${mine}".`
    : `Your ${fields} "${mine}" on ${record} replaced "${value}" (from ${by}).`;
}

/** The edit Re-apply would make, when this user may make it: their lost values whose
 * winner still stands (see notices.ts). */
function reapplyable(notice: Notice, lookup: Lookup): boolean {
  if (notice.settled) return false;
  const changes = reapplyChanges(notice.items, rowsOf(lookup));
  return (
    changes.length > 0 &&
    changes.every((ch) => mayWrite(lookup.role, lookup.me, ch.dataset, ch.row, ch.column, ch.value))
  );
}

/** Where "Open" goes: the pre-order in the recap page, or the profile. */
function openRoute(notice: Notice, lookup: Lookup): Parameters<ReturnType<typeof useRoute>[1]>[0] | null {
  if (notice.record.dataset === 'pre_orders') {
    const date = text(lookup.rows.get(`pre_orders/${notice.record.row}`), 'delivery_date');
    return date ? { page: 'recap', date, order: notice.record.row } : null;
  }
  if (notice.record.dataset === 'profiles' && notice.record.row === lookup.me) return { page: 'profile' };
  return null;
}

function isDelete(notice: Notice): boolean {
  return notice.items.some((c) => c.kind === 'deleted');
}

function NoticeActions(props: { notice: Notice; lookup: Lookup; inToast: boolean }): ReactNode {
  const { notice, lookup, inToast } = props;
  const [, go] = useRoute();
  const toast = useToast();
  const first = notice.items[0];
  if (first === undefined) return null;
  const target = openRoute(notice, lookup);
  const restore = isDelete(notice);
  return (
    <div className="row-actions">
      {target ? (
        <a
          className="btn ghost"
          data-testid={inToast ? 'toast-open' : 'conflict-open'}
          aria-label={`Open ${describeRecord(notice.record, lookup)}`}
          href={`#${target.page === 'recap' ? `/recap/${target.date ?? ''}/${target.order ?? ''}` : `/${target.page}`}`}
          onClick={(e) => {
            e.preventDefault();
            if (inToast) void markSeen(notice.items.map((c) => c.id));
            go(target);
          }}
        >
          Open
        </a>
      ) : null}
      {reapplyable(notice, lookup) ? (
        <button
          type="button"
          className="btn primary"
          data-testid={inToast ? 'toast-reapply' : 'conflict-reapply'}
          onClick={() => void reapply(first).catch((e: unknown) => toast.error(e))}
        >
          {restore ? 'Restore' : inToast ? 'Re-apply mine' : 'Re-apply my value'}
        </button>
      ) : null}
      {notice.settled ? null : (
        <button
          type="button"
          className="btn ghost"
          data-testid={inToast ? 'toast-dismiss' : 'conflict-dismiss'}
          onClick={() => void dismissConflict(first.id)}
        >
          Dismiss
        </button>
      )}
    </div>
  );
}

/** How long a conflict toast shows before it hides itself (the notice stays listed). */
export const TOAST_MS = 10_000;
/** At most this many toasts at once, stacked; the rest are counted. */
export const MAX_TOASTS = 3;

/** Toasts for notices not yet seen, in every tab: at most three, newest first, in the
 * sticky top frame under the sync bar (they push the page down rather than cover any of
 * its controls, and an open panel or dialog covers them), each hiding itself after
 * TOAST_MS. Also sends this device's says on notices to the server after each sync. */
export function ConflictToasts(): ReactNode {
  const fresh = useLiveQuery(() => service.db.conflicts.where('notified').equals(0).toArray(), []);
  const lookup = useLookup(fresh);
  const [, go] = useRoute();
  const status = useSyncStatus();
  useEffect(() => {
    void flushConflictStates().catch(() => undefined); // offline: again after the next sync
  }, [status?.lastSyncAt]);
  const notices = useMemo(() => groupNotices(fresh ?? [], rowsOf(lookup)).filter((n) => !n.settled), [fresh, lookup]);
  const shown = notices.slice(0, MAX_TOASTS);
  const shownKey = shown.map((n) => n.key).join('|');
  useEffect(() => {
    if (!notices.length) return;
    // Hiding takes the counted rest along: no second wave of the same news.
    const ids = notices.flatMap((n) => n.items.map((c) => c.id));
    const timer = setTimeout(() => void markSeen(ids), TOAST_MS);
    return () => clearTimeout(timer);
    // Restarted only when the set of shown notices changes.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [shownKey]);
  if (!shown.length) return null;
  const stack = (
    <div className="conflict-toasts" aria-live="polite" data-testid="conflict-toasts">
      {shown.map((n) => (
        <div
          key={n.key}
          className={`toast conflict ${n.items[0]?.yours ?? ''}`}
          data-testid="conflict-toast"
          data-conflict-id={n.items[0]?.id}
        >
          <span className="conflict-toast-text">{noticeSentence(n, lookup)}</span>
          <NoticeActions notice={n} lookup={lookup} inToast />
        </div>
      ))}
      {notices.length > MAX_TOASTS ? (
        <button
          type="button"
          className="btn ghost conflict-more"
          data-testid="conflict-toasts-more"
          onClick={() => go({ page: 'conflicts' })}
        >
          {notices.length - MAX_TOASTS} more in Conflicts
        </button>
      ) : null}
    </div>
  );
  // Shown only once the notices are read (after the first render), when the frame exists.
  const frame = document.querySelector('.chrome');
  return frame ? createPortal(stack, frame) : stack;
}

export function ConflictsPage(): ReactNode {
  const all = useLiveQuery(() => service.db.conflicts.toArray(), []);
  const lookup = useLookup(all);
  const toast = useToast();
  const notices = useMemo(() => groupNotices(all ?? [], rowsOf(lookup)), [all, lookup]);
  const records = byRecord(notices);
  const open = notices.filter((n) => !n.settled).length;
  const unseen = (all ?? []).some((c) => c.notified === 0);
  useEffect(() => {
    if (unseen) void markAllSeen();
  }, [unseen]);
  return (
    <section className="page conflicts-page">
      <div className="conflicts-head">
        <h1>Conflicts</h1>
        {open > 0 ? (
          <button
            type="button"
            className="btn ghost"
            data-testid="conflicts-dismiss-all"
            onClick={() => void dismissAllConflicts().catch((e: unknown) => toast.error(e))}
          >
            Dismiss all ({open})
          </button>
        ) : null}
      </div>
      <p className="muted">
        When you and another rep change the same thing at the same time, the later edit wins everywhere, and a delete
        hides the edits made meanwhile. Each case is listed here, by record; you can put your value back (or restore
        what was deleted) while the other value still stands. Dismissing or re-applying counts on all your devices.
      </p>
      {all?.length === 0 ? (
        <p className="empty" data-testid="no-conflicts">
          No conflicts. 🎉
        </p>
      ) : null}
      {records.map((group) => {
        const head = group.notices[0];
        if (head === undefined) return null;
        return (
          <section key={group.key} className="conflict-record" data-testid="conflict-record-group">
            <h2 data-testid="conflict-record">{describeRecord(head.record, lookup)}</h2>
            <ul className="conflict-list">
              {group.notices.map((n) => (
                <NoticeItem key={n.key} notice={n} lookup={lookup} />
              ))}
            </ul>
          </section>
        );
      })}
    </section>
  );
}

function NoticeItem(props: { notice: Notice; lookup: Lookup }): ReactNode {
  const { notice, lookup } = props;
  const items = primaryFirst(notice.items);
  const c = items[0];
  if (c === undefined) return null;
  const deleted = c.kind === 'deleted';
  const theirs = c.yours === 'loser' ? c.winner : c.loser;
  const lost = c.yours === 'loser' && c.kind !== 'reapplied';
  const state = notice.items.some((i) => i.state === 'resolved') ? 'resolved' : notice.settled ? 'dismissed' : 'open';
  return (
    <li
      className={`conflict-item ${c.yours} ${state}`}
      data-testid="conflict-item"
      data-kind={c.kind}
      data-yours={c.yours}
      data-state={state}
    >
      <p className="conflict-sentence" data-testid="conflict-sentence">
        {noticeSentence(notice, lookup)}
      </p>
      <dl>
        <dt>{deleted ? 'Lost' : 'Field'}</dt>
        <dd data-testid="conflict-field">
          {deleted ? lostEdits(items, lookup) || 'the record' : andList(items.map(fieldOf))}
        </dd>
        {deleted ? null : (
          <>
            <dt>Your value</dt>
            <dd data-testid="conflict-mine">{describeValue(c.column, mineOf(c).value, lookup)}</dd>
            <dt>Their value</dt>
            <dd data-testid="conflict-theirs">{describeValue(c.column, theirs.value, lookup)}</dd>
          </>
        )}
        <dt>Who</dt>
        <dd data-testid="conflict-who">{who(theirs, lookup).replace(/,$/, '')}</dd>
        <dt>When</dt>
        <dd>{formatDateTime(c.detected_at)}</dd>
      </dl>
      {state === 'resolved' ? (
        <span className="muted" data-testid="conflict-reapplied">
          {lost ? (deleted ? 'You restored it.' : 'Your value was re-applied.') : 'Settled.'}
        </span>
      ) : state === 'dismissed' ? (
        <span className="muted" data-testid="conflict-dismissed">
          Dismissed.
        </span>
      ) : null}
      <NoticeActions notice={notice} lookup={lookup} inToast={false} />
    </li>
  );
}
