/**
 * Edits the server refused for good (engine/store.ts `refused`): a role that may not make
 * them, an email another account uses. They are out of the outbox, so everything else
 * syncs; each is listed in human terms with Discard (put the field back as the server has
 * it) and Export (a JSON file, to redo it some other way).
 */
import { useLiveQuery } from 'dexie-react-hooks';
import { useState, type ReactNode } from 'react';

import { formatDateTime } from '../app/dates';
import { service } from '../app/service';
import type { RefusedRecord } from '../engine/store';
import { fieldLabel } from '../app/fields';
import { describeRecord, describeValue, useLookup } from './Conflicts';
import { downloadJson, stampedName } from './download';
import { useSession } from './hooks';
import { useToast } from './toast';
import { Confirm } from './widgets';

export function useRefused(): RefusedRecord[] | undefined {
  return useLiveQuery(() => service.replica.refusedEdits(), []);
}

function reasonText(r: RefusedRecord, role: string | undefined): string {
  if (r.code === 'email_taken') return 'Another account signs in with this email.';
  if (r.code === 'forbidden_write') {
    return role ? `Your role (${role}) does not allow this change.` : 'Your role does not allow this change.';
  }
  return r.reason;
}

function exportRefused(list: readonly RefusedRecord[]): void {
  downloadJson(stampedName('recap-refused-edits'), {
    exported_at: new Date().toISOString(),
    node: service.replica.node,
    refused: list,
  });
}

export function RefusedPage(): ReactNode {
  const all = useRefused();
  const lookup = useLookup(all);
  const session = useSession();
  const toast = useToast();
  const [confirmAll, setConfirmAll] = useState(false);
  const discard = (stamps: string[]): void => {
    void service.replica.discardRefused(stamps).then(
      () => toast.info(stamps.length === 1 ? 'Edit discarded.' : `${stamps.length} edits discarded.`),
      (e: unknown) => toast.error(e),
    );
  };
  return (
    <section className="page refused-page">
      <h1>Refused edits</h1>
      <p className="muted">
        The server did not accept these edits from this device, so they exist only here. Everything else synced as
        usual. Discard an edit to see the value everyone else sees again, or export it to keep a copy.
      </p>
      {all?.length === 0 ? (
        <p className="empty" data-testid="no-refused">
          No refused edits.
        </p>
      ) : null}
      {all?.length ? (
        <div className="row-actions page-actions">
          <button
            type="button"
            className="btn ghost"
            data-testid="refused-export-all"
            onClick={() => exportRefused(all)}
          >
            Export all
          </button>
          <button
            type="button"
            className="btn danger"
            data-testid="refused-discard-all"
            onClick={() => setConfirmAll(true)}
          >
            Discard all
          </button>
        </div>
      ) : null}
      <ul className="conflict-list" data-testid="refused-list">
        {(all ?? []).map((r) => {
          const field = fieldLabel(r.column);
          return (
            <li
              key={r.timestamp}
              className="conflict-item loser"
              data-testid="refused-item"
              data-timestamp={r.timestamp}
            >
              <div className="conflict-head">
                <strong data-testid="refused-record">{describeRecord(r, lookup)}</strong>
                <span className="badge loser">refused</span>
              </div>
              <dl>
                <dt>Change</dt>
                <dd data-testid="refused-change">
                  {r.column === 'tombstone'
                    ? r.value === 1
                      ? 'delete it'
                      : 'restore it'
                    : `${field}: ${describeValue(r.column, r.value, lookup)}`}
                </dd>
                <dt>Was</dt>
                <dd data-testid="refused-was">
                  {r.was === undefined ? '(nothing)' : describeValue(r.column, r.was.value, lookup)}
                </dd>
                <dt>Why</dt>
                <dd data-testid="refused-reason" title={r.reason}>
                  {reasonText(r, session?.user.role)}
                </dd>
                <dt>Refused</dt>
                <dd>{formatDateTime(new Date(r.at).toISOString())}</dd>
              </dl>
              <div className="row-actions">
                <button
                  type="button"
                  className="btn ghost"
                  data-testid="refused-export"
                  onClick={() => exportRefused([r])}
                >
                  Export
                </button>
                <button
                  type="button"
                  className="btn primary"
                  data-testid="refused-discard"
                  onClick={() => discard([r.timestamp])}
                >
                  Discard
                </button>
              </div>
            </li>
          );
        })}
      </ul>
      {confirmAll && all ? (
        <Confirm
          danger
          confirm="Discard all"
          message={`Discard ${all.length} refused edit${all.length === 1 ? '' : 's'} on this device?`}
          onCancel={() => setConfirmAll(false)}
          onConfirm={() => {
            setConfirmAll(false);
            discard(all.map((r) => r.timestamp));
          }}
        />
      ) : null}
    </section>
  );
}
