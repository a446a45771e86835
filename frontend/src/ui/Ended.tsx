import { useLiveQuery } from 'dexie-react-hooks';
import { useState, type ReactNode } from 'react';

import { service, type Ended } from '../app/service';
import type { Session } from '../engine/store';
import { downloadJson, stampedName } from './download';
import { SignIn } from './SignIn';
import { Confirm } from './widgets';

const TEXT: Record<Ended['code'], { title: string; body: string }> = {
  device_revoked: {
    title: 'This device was removed from your account',
    body: 'It can no longer sync. Edits made here that had not synced yet stay only on this device: export them to keep them, then sign out.',
  },
  account_disabled: {
    title: 'Your account was deactivated',
    body: 'An admin of your company deactivated your account, so this device can no longer sync. Edits made here that had not synced yet stay only on this device: export them to keep them, then sign out.',
  },
};

/** Full screen, in every tab: this device may not sync any more (revoked, or its user
 * deactivated). The data stays readable nowhere else, so: export the unsynced edits as a
 * JSON file, and sign out (which deletes the local database). */
export function EndedNotice(props: { ended: Ended; session: Session }): ReactNode {
  const text = TEXT[props.ended.code];
  const unsynced = useLiveQuery(() => service.db.outbox.count(), []) ?? 0;
  const refused = useLiveQuery(() => service.db.refused.count(), []) ?? 0;
  const [confirmOut, setConfirmOut] = useState(false);
  const [exported, setExported] = useState(false);
  const [again, setAgain] = useState(false);
  const exportEdits = async (): Promise<void> => {
    downloadJson(stampedName('recap-unsynced-edits'), await service.exportUnsynced());
    setExported(true);
  };
  return (
    <main className="signin-page">
      <div
        className="card ended"
        role="alertdialog"
        aria-label={text.title}
        data-testid={props.ended.code === 'device_revoked' ? 'device-revoked' : 'account-disabled'}
      >
        <div className="brand">
          <img src="/icon.svg" alt="" width="40" height="40" />
          <span>Recap</span>
        </div>
        <h1>{text.title}</h1>
        <p>{text.body}</p>
        <p className="muted" data-testid="ended-unsynced">
          {unsynced === 0 && refused === 0
            ? 'Nothing on this device is waiting to sync.'
            : `${unsynced} edit${unsynced === 1 ? '' : 's'} not synced${refused ? `, ${refused} refused by the server` : ''}.`}
        </p>
        <button
          type="button"
          className="btn primary wide"
          data-testid="export-unsynced"
          onClick={() => void exportEdits()}
        >
          Export unsynced edits
        </button>
        {props.ended.code === 'account_disabled' ? (
          // Reactivated since: a new session (the old ones ended), and the device syncs on.
          <button type="button" className="btn ghost wide" data-testid="ended-sign-in" onClick={() => setAgain(true)}>
            I was reactivated: sign in again
          </button>
        ) : null}
        <button
          type="button"
          className="btn danger wide"
          data-testid="ended-sign-out"
          onClick={() => setConfirmOut(true)}
        >
          Sign out
        </button>
      </div>
      {again ? (
        <SignIn
          expired={props.session}
          onCancel={() => setAgain(false)}
          onDone={() => void service.db.meta.delete('ended')}
        />
      ) : null}
      {confirmOut ? (
        <Confirm
          danger
          confirm="Sign out"
          message={
            unsynced + refused > 0 && !exported
              ? 'Signing out deletes the unsynced edits from this device. Export them first to keep them.'
              : 'Sign out? Local data is removed from this device.'
          }
          onCancel={() => setConfirmOut(false)}
          onConfirm={() => void service.signOut()}
        />
      ) : null}
    </main>
  );
}
