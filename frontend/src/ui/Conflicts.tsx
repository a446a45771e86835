import { useLiveQuery } from 'dexie-react-hooks';
import { useEffect, type ReactNode } from 'react';

import { dismissConflict, markAllSeen, reapply } from '../app/actions';
import { formatDateTime } from '../app/dates';
import { mayWrite } from '../app/permissions';
import { service } from '../app/service';
import type { Scalar } from '../engine/message';
import { rowsByKey } from '../engine/rowgroups';
import type { ConflictRecord, ConflictSide, RowRecord, Session } from '../engine/store';
import { text, useDataset, useRoute } from './hooks';
import { useToast } from './toast';

const DATASET_LABEL: Record<string, string> = {
  pre_orders: 'Pre-order',
  pre_order_flows: 'Product line',
  partners: 'Partner',
  products: 'Product',
  profiles: 'Profile',
};

export const FIELD_LABEL: Record<string, string> = {
  partner_id: 'partner',
  delivery_date: 'delivery date',
  status: 'status',
  created_at: 'created',
  product_id: 'product',
  quantity: 'quantity',
  weight: 'weight',
  tombstone: 'deleted',
  name: 'name',
  short_name: 'short name',
  sku: 'SKU',
  unit_weight: 'unit weight',
  email: 'email',
  avatar: 'picture',
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

/** May this user put their losing value back (a manager may not restore a deleted row)? */
export function canReapply(c: ConflictRecord, lookup: Lookup): boolean {
  if (c.yours !== 'loser' || c.resolved !== 0) return false;
  const may = (column: string, value: Scalar): boolean =>
    mayWrite(lookup.role, lookup.me, c.dataset, c.row, column, value);
  return may(c.column, c.loser.value) && (c.kind !== 'deleted' || may('tombstone', 0));
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

function fieldLabel(c: ConflictRecord): string {
  return FIELD_LABEL[c.column] ?? c.column;
}

export function conflictSentence(c: ConflictRecord, lookup: Lookup): string {
  const record = describeRecord(c, lookup);
  const field = fieldLabel(c);
  const theirs = c.yours === 'loser' ? c.winner : c.loser;
  const other = who(theirs, lookup);
  if (c.kind === 'deleted') {
    return c.yours === 'loser'
      ? `${other} deleted ${record} while you changed its ${field}: your change is hidden.`
      : `You deleted ${record} while ${other} changed its ${field}.`;
  }
  const mine = describeValue(c.column, (c.yours === 'loser' ? c.loser : c.winner).value, lookup);
  const value = describeValue(c.column, theirs.value, lookup);
  return c.yours === 'loser'
    ? `${other} changed the ${field} of ${record} at the same time: "${value}" replaced your "${mine}".`
    : `Your ${field} "${mine}" on ${record} replaced "${value}" (from ${theirs.user_id !== null && theirs.user_id === lookup.me ? 'your other device' : other}).`;
}

/** Notifications for conflicts not yet seen (in every tab, until dismissed). */
export function ConflictToasts(): ReactNode {
  const fresh = useLiveQuery(() => service.db.conflicts.where('notified').equals(0).sortBy('id'), []);
  const lookup = useLookup(fresh);
  const [, go] = useRoute();
  const toast = useToast();
  if (!fresh?.length) return null;
  return (
    <div className="conflict-toasts" aria-live="assertive">
      {fresh.slice(-3).map((c) => (
        <div key={c.id} className={`toast conflict ${c.yours}`} data-testid="conflict-toast" data-conflict-id={c.id}>
          <strong>Edit conflict</strong>
          <span>{conflictSentence(c, lookup)}</span>
          <div className="row-actions">
            {canReapply(c, lookup) ? (
              <button
                type="button"
                className="btn primary"
                data-testid="toast-reapply"
                onClick={() => void reapply(c).catch((e: unknown) => toast.error(e))}
              >
                Re-apply mine
              </button>
            ) : null}
            <button
              type="button"
              className="btn ghost"
              onClick={() => {
                void dismissConflict(c.id);
                go({ page: 'conflicts' });
              }}
            >
              View all
            </button>
            <button
              type="button"
              className="btn ghost"
              data-testid="toast-dismiss"
              onClick={() => void dismissConflict(c.id)}
            >
              Dismiss
            </button>
          </div>
        </div>
      ))}
      {fresh.length > 3 ? <div className="toast info">{fresh.length - 3} more in Conflicts</div> : null}
    </div>
  );
}

export function ConflictsPage(): ReactNode {
  const all = useLiveQuery(() => service.db.conflicts.reverse().sortBy('id'), []);
  const lookup = useLookup(all);
  const toast = useToast();
  const unseen = (all ?? []).some((c) => c.notified === 0);
  useEffect(() => {
    if (unseen) void markAllSeen();
  }, [unseen]);
  return (
    <section className="page conflicts-page">
      <h1>Conflicts</h1>
      <p className="muted">
        When you and another rep change the same thing at the same time, the later edit wins everywhere. Each such case
        is listed here; you can put your value back with one tap.
      </p>
      {all?.length === 0 ? (
        <p className="empty" data-testid="no-conflicts">
          No conflicts. 🎉
        </p>
      ) : null}
      <ul className="conflict-list">
        {(all ?? []).map((c) => {
          const mine = c.yours === 'loser' ? c.loser : c.winner;
          const theirs = c.yours === 'loser' ? c.winner : c.loser;
          return (
            <li
              key={c.id}
              className={`conflict-item ${c.yours}`}
              data-testid="conflict-item"
              data-kind={c.kind}
              data-yours={c.yours}
            >
              <div className="conflict-head">
                <strong data-testid="conflict-record">{describeRecord(c, lookup)}</strong>
                <span className={`badge ${c.yours}`}>{c.yours === 'loser' ? 'your edit lost' : 'your edit won'}</span>
              </div>
              <dl>
                <dt>Field</dt>
                <dd data-testid="conflict-field">{fieldLabel(c)}</dd>
                <dt>Your value</dt>
                <dd data-testid="conflict-mine">
                  {c.kind === 'deleted' && c.yours === 'winner'
                    ? 'deleted'
                    : describeValue(c.column, mine.value, lookup)}
                </dd>
                <dt>Their value</dt>
                <dd data-testid="conflict-theirs">
                  {c.kind === 'deleted' && c.yours === 'loser'
                    ? 'deleted'
                    : describeValue(c.column, theirs.value, lookup)}
                </dd>
                <dt>Who</dt>
                <dd data-testid="conflict-who">{who(theirs, lookup).replace(/,$/, '')}</dd>
                <dt>When</dt>
                <dd>{formatDateTime(c.detected_at)}</dd>
              </dl>
              {c.yours === 'loser' ? (
                c.resolved ? (
                  <span className="muted" data-testid="conflict-reapplied">
                    Your value was re-applied.
                  </span>
                ) : canReapply(c, lookup) ? (
                  <button
                    type="button"
                    className="btn primary"
                    data-testid="conflict-reapply"
                    onClick={() => void reapply(c).catch((e: unknown) => toast.error(e))}
                  >
                    {c.kind === 'deleted' ? 'Restore it with my value' : 'Re-apply my value'}
                  </button>
                ) : null
              ) : null}
            </li>
          );
        })}
      </ul>
    </section>
  );
}
