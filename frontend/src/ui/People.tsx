/**
 * The company's people (admins only; the nav shows it only to them and the server refuses
 * anyone else): users with their role and standing and a password reset link, invites with
 * their links, and every device of the company. Everything here is the server's: it needs
 * a connection, and nothing of it is kept on the device.
 */
import { useState, type ReactNode, type SyntheticEvent } from 'react';

import {
  createInvite,
  listInvites,
  listUsers,
  resetLink,
  setActive,
  setRole,
  withdrawInvite,
  type Link,
  type Member,
} from '../app/accounts';
import { formatDateTime } from '../app/dates';
import { ROLES, type Role } from '../app/permissions';
import type { Session } from '../engine/store';
import { DeviceList, LinkBox, failure, useRemote } from './Account';
import { useToast } from './toast';
import { Confirm } from './widgets';

const ROLE_TEXT: Record<Role, string> = {
  rep: 'Rep: pre-orders, partners and products',
  manager: 'Manager: reads everything, confirms pre-orders',
  admin: 'Admin: everything, and the company’s people',
};

type Pending =
  | { kind: 'role'; user: Member; role: Role }
  | { kind: 'deactivate'; user: Member }
  | { kind: 'withdraw'; invite: Link };

export function PeoplePage(props: { session: Session }): ReactNode {
  const users = useRemote(listUsers);
  const invites = useRemote(listInvites);
  const [pending, setPending] = useState<Pending | null>(null);
  const [reset, setReset] = useState<{ userId: string; link: string } | null>(null);
  const toast = useToast();
  const fail = (e: unknown): void => toast.error(new Error(failure(e)));
  const me = props.session.user.id;

  const run = async (p: Pending): Promise<void> => {
    if (p.kind === 'role') {
      await setRole(p.user.id, p.role);
      toast.info(`${p.user.display_name} is now ${p.role === 'admin' ? 'an' : 'a'} ${p.role}.`);
      users.reload();
    } else if (p.kind === 'deactivate') {
      await setActive(p.user.id, false);
      toast.info(`${p.user.display_name} was deactivated.`);
      users.reload();
    } else {
      await withdrawInvite(p.invite.id);
      toast.info(`The invite for ${p.invite.email} was withdrawn.`);
      invites.reload();
    }
  };

  return (
    <section className="page people-page" data-testid="people-page">
      <h1>People</h1>

      <div className="card">
        <h2>Users</h2>
        {users.error ? (
          <p className="error" role="alert">
            {users.error}
          </p>
        ) : null}
        {users.data === undefined && !users.error ? <p className="muted">Loading…</p> : null}
        {users.data ? (
          <table className="people-table">
            <thead>
              <tr>
                <th>Name</th>
                <th>Email</th>
                <th>Role</th>
                <th>Last sync</th>
                <th>
                  <span className="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {users.data.map((u) => (
                <tr
                  key={u.id}
                  className={u.active ? '' : 'inactive'}
                  data-testid="user-row"
                  data-user-id={u.id}
                  data-email={u.email}
                  data-active={u.active ? 'true' : 'false'}
                >
                  <td>
                    {u.display_name}
                    {u.id === me ? <span className="muted"> (you)</span> : null}
                    {u.active ? null : (
                      <span className="badge loser" data-testid="user-inactive">
                        deactivated
                      </span>
                    )}
                  </td>
                  <td>{u.email}</td>
                  <td>
                    <select
                      aria-label={`Role of ${u.display_name}`}
                      data-testid="user-role"
                      value={u.role}
                      onChange={(e) => setPending({ kind: 'role', user: u, role: e.target.value as Role })}
                    >
                      {ROLES.map((r) => (
                        <option key={r} value={r}>
                          {r}
                        </option>
                      ))}
                    </select>
                  </td>
                  <td data-label="Last sync">{u.last_sync ? formatDateTime(u.last_sync) : 'never'}</td>
                  <td>
                    <div className="actions">
                      <button
                        type="button"
                        className="btn small ghost"
                        data-testid="user-reset-link"
                        onClick={() =>
                          void resetLink(u.id).then((l) => setReset({ userId: u.id, link: l.link ?? '' }), fail)
                        }
                      >
                        Reset link
                      </button>
                      {u.active ? (
                        <button
                          type="button"
                          className="btn small ghost danger-text"
                          data-testid="user-deactivate"
                          onClick={() => setPending({ kind: 'deactivate', user: u })}
                        >
                          Deactivate
                        </button>
                      ) : (
                        <button
                          type="button"
                          className="btn small ghost"
                          data-testid="user-reactivate"
                          onClick={() =>
                            void setActive(u.id, true).then(() => {
                              toast.info(`${u.display_name} can sign in again.`);
                              users.reload();
                            }, fail)
                          }
                        >
                          Reactivate
                        </button>
                      )}
                    </div>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        ) : null}
        {reset ? (
          <div data-testid="reset-link-box" data-user-id={reset.userId}>
            <LinkBox
              link={reset.link}
              testId="reset-link"
              label={`Password reset link for ${users.data?.find((u) => u.id === reset.userId)?.email ?? 'the user'} (valid 1 day, once): send it to them.`}
            />
          </div>
        ) : null}
      </div>

      <div className="card">
        <h2>Invite someone</h2>
        <InviteForm onInvited={invites.reload} />
        <h3>Pending invites</h3>
        {invites.error ? (
          <p className="error" role="alert">
            {invites.error}
          </p>
        ) : null}
        {invites.data?.length === 0 ? (
          <p className="muted" data-testid="no-invites">
            No pending invites.
          </p>
        ) : null}
        {invites.data?.length ? (
          <table className="people-table">
            <thead>
              <tr>
                <th>Email</th>
                <th>Role</th>
                <th>Expires</th>
                <th>
                  <span className="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {invites.data.map((i) => (
                <tr key={i.id} data-testid="invite-row" data-email={i.email}>
                  <td>{i.email}</td>
                  <td>{i.role}</td>
                  <td data-label="Expires">{formatDateTime(i.expires_at)}</td>
                  <td className="num">
                    <button
                      type="button"
                      className="btn small ghost danger-text"
                      data-testid="invite-withdraw"
                      onClick={() => setPending({ kind: 'withdraw', invite: i })}
                    >
                      Withdraw
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        ) : null}
      </div>

      <div className="card">
        <h2>Devices</h2>
        <p className="muted">Every device that synced for your company. Revoke a lost or retired one.</p>
        <DeviceList session={props.session} all />
      </div>

      {pending ? (
        <Confirm
          danger={pending.kind !== 'role'}
          confirm={pending.kind === 'role' ? 'Change role' : pending.kind === 'deactivate' ? 'Deactivate' : 'Withdraw'}
          message={
            pending.kind === 'role'
              ? `Make ${pending.user.display_name} ${pending.role === 'admin' ? 'an' : 'a'} ${pending.role}? They are signed out everywhere and sign in again with the new role.`
              : pending.kind === 'deactivate'
                ? `Deactivate ${pending.user.display_name}? They are signed out everywhere and can no longer sign in; their devices stop syncing.`
                : `Withdraw the invite for ${pending.invite.email}? Its link stops working.`
          }
          onCancel={() => {
            setPending(null);
            if (pending.kind === 'role') users.reload(); // the select shows the role again
          }}
          onConfirm={() => {
            const p = pending;
            setPending(null);
            void run(p).catch((e: unknown) => {
              fail(e);
              users.reload();
            });
          }}
        />
      ) : null}
    </section>
  );
}

function InviteForm(props: { onInvited: () => void }): ReactNode {
  const [email, setEmail] = useState('');
  const [role, setRoleValue] = useState<Role>('rep');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [made, setMade] = useState<Link | null>(null);
  const submit = async (e: SyntheticEvent): Promise<void> => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const link = await createInvite(email.trim(), role);
      setMade(link);
      setEmail('');
      props.onInvited();
    } catch (exc) {
      setError(failure(exc));
    } finally {
      setBusy(false);
    }
  };
  return (
    <>
      <form className="invite-form" data-testid="invite-form" onSubmit={(e) => void submit(e)}>
        <label className="field">
          <span className="label">Email</span>
          <input
            type="email"
            required
            data-testid="invite-email"
            value={email}
            onChange={(e) => setEmail(e.target.value)}
          />
        </label>
        <label className="field">
          <span className="label">Role</span>
          <select data-testid="invite-role" value={role} onChange={(e) => setRoleValue(e.target.value as Role)}>
            {ROLES.map((r) => (
              <option key={r} value={r}>
                {ROLE_TEXT[r]}
              </option>
            ))}
          </select>
        </label>
        <button type="submit" className="btn primary" data-testid="invite-submit" disabled={busy}>
          {busy ? 'Inviting…' : 'Invite'}
        </button>
      </form>
      {error ? (
        <p className="error" role="alert" data-testid="invite-error">
          {error}
        </p>
      ) : null}
      {made?.link ? (
        <LinkBox
          link={made.link}
          testId="invite-link"
          label={`Invite link for ${made.email} (${made.role ?? 'rep'}, valid 7 days, once): send it to them.`}
        />
      ) : null}
    </>
  );
}
