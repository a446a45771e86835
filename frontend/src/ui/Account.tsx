/**
 * Account pieces shared by the Profile and People pages: the devices list (with Revoke), a
 * link shown to copy (invites, password resets), the change-password form, and loading
 * server data that has no local copy.
 */
import { useCallback, useEffect, useState, type ReactNode, type SyntheticEvent } from 'react';

import { changePassword, listDevices, passwordError, revokeDevice, type Device } from '../app/accounts';
import { formatDateTime } from '../app/dates';
import { service } from '../app/service';
import type { Session } from '../engine/store';
import { HttpError, NetworkError } from '../engine/sync';
import { useToast } from './toast';
import { Confirm } from './widgets';

/** A sentence for a failed account call. */
export function failure(e: unknown): string {
  if (e instanceof NetworkError) return 'This needs a connection to the server.';
  if (e instanceof HttpError) return HttpError.describe(e.body);
  return e instanceof Error ? e.message : String(e);
}

/** Server data with no local copy: loaded on mount and on `reload()`. */
export function useRemote<T>(load: () => Promise<T>): {
  data: T | undefined;
  error: string | null;
  reload: () => void;
} {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<string | null>(null);
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    load().then(
      (d) => {
        if (!live) return;
        setData(d);
        setError(null);
      },
      (e: unknown) => {
        if (live) setError(failure(e));
      },
    );
    return () => {
      live = false;
    };
    // `load` is a module function or stable callback; `tick` asks again.
  }, [load, tick]);
  const reload = useCallback(() => setTick((n) => n + 1), []);
  return { data, error, reload };
}

/** "Chrome on Android" from a user agent (the whole string is the title). */
export function describeAgent(agent: string | null): string {
  if (!agent) return 'Unknown device';
  const browser = /Edg\//.test(agent)
    ? 'Edge'
    : /Firefox\//.test(agent)
      ? 'Firefox'
      : /Chrom(e|ium)\//.test(agent)
        ? 'Chrome'
        : /Safari\//.test(agent)
          ? 'Safari'
          : /python|aiohttp/i.test(agent)
            ? 'Script'
            : 'Browser';
  const os = /Android/.test(agent)
    ? 'Android'
    : /iPhone|iPad/.test(agent)
      ? 'iOS'
      : /Windows/.test(agent)
        ? 'Windows'
        : /Mac OS X/.test(agent)
          ? 'macOS'
          : /Linux/.test(agent)
            ? 'Linux'
            : '';
  return os ? `${browser} on ${os}` : browser;
}

/** A link to hand to someone: shown whole, selectable, with Copy. */
export function LinkBox(props: { link: string; testId: string; label: string }): ReactNode {
  const toast = useToast();
  const copy = async (): Promise<void> => {
    try {
      await navigator.clipboard.writeText(props.link);
      toast.info('Link copied.');
    } catch {
      toast.info('Select the link and copy it.');
    }
  };
  return (
    <div className="link-box">
      <span className="label">{props.label}</span>
      <div className="link-row">
        <input readOnly value={props.link} data-testid={props.testId} onFocus={(e) => e.target.select()} />
        <button type="button" className="btn small primary" data-testid="copy-link" onClick={() => void copy()}>
          Copy
        </button>
      </div>
    </div>
  );
}

/** Devices: every device of the company (admins, `all`) or the user's own. */
export function DeviceList(props: { session: Session; all: boolean }): ReactNode {
  const { session } = props;
  const { data, error, reload } = useRemote(listDevices);
  const [revoking, setRevoking] = useState<Device | null>(null);
  const toast = useToast();
  const here = service.replica.node;
  const devices = (data ?? [])
    .filter((d) => props.all || d.user_id === session.user.id)
    .sort((a, b) =>
      (a.revoked_at === null) === (b.revoked_at === null)
        ? b.last_sync.localeCompare(a.last_sync)
        : a.revoked_at === null
          ? -1
          : 1,
    );
  const revoke = async (d: Device): Promise<void> => {
    await revokeDevice(d.node);
    toast.info(`${describeAgent(d.user_agent)} (${d.user_name}) can no longer sync.`);
    reload();
  };
  return (
    <div className="device-list" data-testid={props.all ? 'all-devices' : 'my-devices'}>
      {error ? (
        <p className="error" role="alert">
          {error}
        </p>
      ) : null}
      {data === undefined && !error ? <p className="muted">Loading…</p> : null}
      {data !== undefined && devices.length === 0 ? <p className="muted">No device has synced yet.</p> : null}
      {devices.length ? (
        <table className="people-table">
          <thead>
            <tr>
              {props.all ? <th>User</th> : null}
              <th>Device</th>
              <th>First sync</th>
              <th>Last sync</th>
              <th>State</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {devices.map((d) => (
              <tr key={d.node} data-testid="device-row" data-node={d.node} data-user-id={d.user_id}>
                {props.all ? <td data-testid="device-user">{d.user_name}</td> : null}
                <td title={d.user_agent ?? ''} data-testid="device-agent">
                  {describeAgent(d.user_agent)}
                  {d.node === here ? (
                    <span className="badge this" data-testid="device-this">
                      this device
                    </span>
                  ) : null}
                </td>
                <td className="when" data-label="First sync">
                  {formatDateTime(d.first_sync)}
                </td>
                <td className="when" data-label="Last sync">
                  {formatDateTime(d.last_sync)}
                </td>
                <td data-testid="device-state">
                  {d.revoked_at ? `revoked ${formatDateTime(d.revoked_at)}` : 'active'}
                </td>
                <td className="num">
                  {d.revoked_at ? null : (
                    <button
                      type="button"
                      className="btn small ghost danger-text"
                      data-testid="device-revoke"
                      onClick={() => setRevoking(d)}
                    >
                      Revoke
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
      {revoking ? (
        <Confirm
          danger
          confirm="Revoke"
          message={
            revoking.node === here
              ? 'Revoke this device, the one you are using? It stops syncing at once; edits not synced yet stay only here.'
              : `Revoke ${describeAgent(revoking.user_agent)} of ${revoking.user_name} (last sync ${formatDateTime(revoking.last_sync)})? It can no longer sync; edits it has not synced stay on it.`
          }
          onCancel={() => setRevoking(null)}
          onConfirm={() => {
            const d = revoking;
            setRevoking(null);
            void revoke(d).catch((e: unknown) => toast.error(new Error(failure(e))));
          }}
        />
      ) : null}
    </div>
  );
}

/** Change one's own password: this session goes on, the user's other sessions end. */
export function PasswordForm(): ReactNode {
  const [current, setCurrent] = useState('');
  const [next, setNext] = useState('');
  const [again, setAgain] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const toast = useToast();
  const submit = async (e: SyntheticEvent): Promise<void> => {
    e.preventDefault();
    const problem = passwordError(next) ?? (again !== next ? 'The two new passwords differ.' : null);
    if (problem) {
      setError(problem);
      return;
    }
    setBusy(true);
    setError(null);
    try {
      await changePassword(current, next);
      setCurrent('');
      setNext('');
      setAgain('');
      toast.info('Password changed. Your other devices will ask for the new one.');
    } catch (exc) {
      setError(
        exc instanceof HttpError && exc.status === 403 && exc.code === 'bad_credentials'
          ? 'The current password is wrong.'
          : failure(exc),
      );
    } finally {
      setBusy(false);
    }
  };
  return (
    <form className="password-form" data-testid="password-form" onSubmit={(e) => void submit(e)}>
      <label className="field">
        <span className="label">Current password</span>
        <input
          type="password"
          autoComplete="current-password"
          required
          data-testid="password-current"
          value={current}
          onChange={(e) => setCurrent(e.target.value)}
        />
      </label>
      <label className="field">
        <span className="label">New password</span>
        <input
          type="password"
          autoComplete="new-password"
          required
          data-testid="password-new"
          value={next}
          onChange={(e) => setNext(e.target.value)}
        />
        <span className="hint">At least 8 characters.</span>
      </label>
      <label className="field">
        <span className="label">New password again</span>
        <input
          type="password"
          autoComplete="new-password"
          required
          data-testid="password-again"
          value={again}
          onChange={(e) => setAgain(e.target.value)}
        />
      </label>
      {error ? (
        <p className="error" role="alert" data-testid="password-error">
          {error}
        </p>
      ) : null}
      <button type="submit" className="btn primary" data-testid="password-save" disabled={busy}>
        {busy ? 'Changing…' : 'Change password'}
      </button>
    </form>
  );
}
