import { useEffect, useState, type ReactNode, type SyntheticEvent } from 'react';

import { LoginError, service } from '../app/service';
import type { Session } from '../engine/store';
import type { BootstrapProgress } from '../engine/sync';

/** First sign-in on this device, or signing in again when the session expired (same user). */
export function SignIn(props: { expired?: Session; onDone: () => void; onCancel?: () => void }): ReactNode {
  const [email, setEmail] = useState(props.expired?.user.email ?? '');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (e: SyntheticEvent): Promise<void> => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const result = await service.login(email.trim(), password);
      if (props.expired && result.user.id !== props.expired.user.id) {
        throw new LoginError(`This device belongs to ${props.expired.user.email}. Sign out first to switch user.`);
      }
      await service.saveSession(result);
      props.onDone();
    } catch (exc) {
      setError(exc instanceof Error ? exc.message : String(exc));
    } finally {
      setBusy(false);
    }
  };

  // The page's main landmark; signing in again is a dialog over the app (which has its own).
  const Outer = props.expired ? 'div' : 'main';
  return (
    <Outer className={props.expired ? 'modal-backdrop' : 'signin-page'}>
      <form className="signin card" onSubmit={(e) => void submit(e)} data-testid="signin-form">
        <div className="brand">
          <img src="/icon.svg" alt="" width="40" height="40" />
          <span>Recap</span>
        </div>
        <h1>{props.expired ? 'Sign in again to sync' : 'Sign in'}</h1>
        {props.expired ? (
          <p className="muted">Your edits are safe on this device; they sync as soon as you sign in.</p>
        ) : (
          <p className="muted">Once signed in, Recap works offline on this device.</p>
        )}
        <label className="field">
          <span className="label">Email</span>
          <input
            type="email"
            autoComplete="username"
            required
            data-testid="signin-email"
            value={email}
            readOnly={props.expired !== undefined}
            onChange={(e) => setEmail(e.target.value)}
          />
        </label>
        <label className="field">
          <span className="label">Password</span>
          <input
            type="password"
            autoComplete="current-password"
            required
            data-testid="signin-password"
            value={password}
            onChange={(e) => setPassword(e.target.value)}
          />
        </label>
        {error ? (
          <p className="error" role="alert" data-testid="signin-error">
            {error}
          </p>
        ) : null}
        <button type="submit" className="btn primary wide" data-testid="signin-submit" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
        {props.onCancel ? (
          <button type="button" className="btn ghost wide" onClick={props.onCancel}>
            Not now
          </button>
        ) : null}
        {props.expired ? null : (
          <a className="btn ghost wide" href="#/signup" data-testid="signup-link">
            Create a company account
          </a>
        )}
      </form>
    </Outer>
  );
}

const PHASE_TEXT: Record<BootstrapProgress['phase'], string> = {
  rows: 'Downloading pre-orders, partners and products…',
  index: 'Saving the data and the sync index…',
  'catch-up': 'Catching up with the latest changes…',
  done: 'Ready.',
};

/** A new device downloads the current state (not the history), with a progress bar. */
export function Bootstrap(): ReactNode {
  const [progress, setProgress] = useState<BootstrapProgress>({ phase: 'rows', done: 0, total: 0 });
  const [error, setError] = useState<string | null>(null);
  const [attempt, setAttempt] = useState(0);
  useEffect(() => {
    let cancelled = false;
    service
      .bootstrap((p) => {
        if (!cancelled) setProgress(p);
      })
      .catch((e: unknown) => {
        if (!cancelled) setError(e instanceof Error ? e.message : String(e));
      });
    return () => {
      cancelled = true;
    };
  }, [attempt]);
  const { phase, done, total } = progress;
  const max = Math.max(total, 1);
  return (
    <main className="signin-page">
      <div className="card bootstrap" data-testid="bootstrap">
        <h1>Setting up this device</h1>
        <p className="muted" data-testid="bootstrap-phase" data-phase={phase}>
          {PHASE_TEXT[phase]}
        </p>
        {phase === 'rows' ? (
          <progress data-testid="bootstrap-progress" aria-label="Download" max={max} value={Math.min(done, max)} />
        ) : (
          // The closing steps have no count to show: an indeterminate bar, not a full one.
          <progress data-testid="bootstrap-progress" aria-label="Download" />
        )}
        <p className="muted" data-testid="bootstrap-count">
          {total ? `${done.toLocaleString()} of ${total.toLocaleString()} records` : 'Starting…'}
        </p>
        {error ? (
          <>
            <p className="error" role="alert">
              Download interrupted: {error}
            </p>
            <button
              type="button"
              className="btn primary"
              data-testid="bootstrap-retry"
              onClick={() => {
                setError(null);
                setAttempt((n) => n + 1);
              }}
            >
              Try again
            </button>
          </>
        ) : null}
      </div>
    </main>
  );
}
