/**
 * Pages that work without a session: a company signs up, a person accepts an invite or sets
 * a new password from a reset link (the links an admin copies from the People page). Signing
 * up or accepting signs in exactly as the sign-in form does: the session is saved, then the
 * device bootstraps.
 */
import { useState, type ReactNode, type SyntheticEvent } from 'react';

import { passwordError } from '../app/accounts';
import { service, type LoginResult } from '../app/service';
import type { Session } from '../engine/store';
import type { PublicRoute } from './hooks';

/** Save the session as the sign-in form does, landing on the recap page (the App then
 * bootstraps this device). The hash changes first, without a hashchange, so the page never
 * shows the public page with the new session in between. */
async function signedIn(result: LoginResult): Promise<void> {
  window.history.replaceState(null, '', '#/recap');
  await service.saveSession(result);
}

function Frame(props: {
  title: string;
  testId: string;
  children: ReactNode;
  onSubmit?: () => Promise<void>;
  submit?: string;
  footer?: ReactNode;
}): ReactNode {
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: SyntheticEvent): Promise<void> => {
    e.preventDefault();
    if (!props.onSubmit) return;
    setBusy(true);
    setError(null);
    try {
      await props.onSubmit();
    } catch (exc) {
      setError(exc instanceof Error ? exc.message : String(exc));
    } finally {
      setBusy(false);
    }
  };
  return (
    <main className="signin-page">
      <form className="signin card" data-testid={props.testId} onSubmit={(e) => void submit(e)}>
        <div className="brand">
          <img src="/icon.svg" alt="" width="40" height="40" />
          <span>Recap</span>
        </div>
        <h1>{props.title}</h1>
        {props.children}
        {error ? (
          <p className="error" role="alert" data-testid="form-error">
            {error}
          </p>
        ) : null}
        {props.onSubmit ? (
          <button type="submit" className="btn primary wide" data-testid="form-submit" disabled={busy}>
            {busy ? 'Please wait…' : (props.submit ?? 'Continue')}
          </button>
        ) : null}
        {props.footer}
      </form>
    </main>
  );
}

function Field(props: {
  label: string;
  testId: string;
  value: string;
  onChange: (v: string) => void;
  type?: string;
  autoComplete?: string;
  error?: string | null;
  hint?: string;
}): ReactNode {
  return (
    <label className="field">
      <span className="label">{props.label}</span>
      <input
        type={props.type ?? 'text'}
        required
        autoComplete={props.autoComplete}
        data-testid={props.testId}
        value={props.value}
        aria-invalid={props.error ? true : undefined}
        onChange={(e) => props.onChange(e.target.value)}
      />
      {props.error ? <span className="error">{props.error}</span> : null}
      {props.hint && !props.error ? <span className="hint">{props.hint}</span> : null}
    </label>
  );
}

/** The new password twice; the second must match. */
function usePasswordPair(): {
  fields: ReactNode;
  check: () => string;
} {
  const [password, setPassword] = useState('');
  const [again, setAgain] = useState('');
  const [touched, setTouched] = useState(false);
  const tooShort = password ? passwordError(password) : null;
  const mismatch = touched && again !== password ? 'The two passwords differ.' : null;
  const fields = (
    <>
      <Field
        label="Password"
        type="password"
        autoComplete="new-password"
        testId="new-password"
        value={password}
        onChange={setPassword}
        error={tooShort}
        hint="At least 8 characters."
      />
      <Field
        label="Password again"
        type="password"
        autoComplete="new-password"
        testId="new-password-again"
        value={again}
        onChange={(v) => {
          setAgain(v);
          setTouched(true);
        }}
        error={mismatch}
      />
    </>
  );
  const check = (): string => {
    setTouched(true);
    const problem = passwordError(password) ?? (again !== password ? 'The two passwords differ.' : null);
    if (problem) throw new Error(problem);
    return password;
  };
  return { fields, check };
}

export function SignUpPage(): ReactNode {
  const [company, setCompany] = useState('');
  const [name, setName] = useState('');
  const [email, setEmail] = useState('');
  const pair = usePasswordPair();
  return (
    <Frame
      title="Create a company account"
      testId="signup-form"
      submit="Create the account"
      footer={
        <a className="btn ghost wide" href="#/" data-testid="signin-link">
          I have an account: sign in
        </a>
      }
      onSubmit={async () => {
        const password = pair.check();
        await signedIn(await service.signup(company.trim(), name.trim(), email.trim(), password));
      }}
    >
      <p className="muted">You become its admin: you invite your reps and managers next.</p>
      <Field
        label="Company"
        testId="signup-company"
        value={company}
        onChange={setCompany}
        autoComplete="organization"
      />
      <Field label="Your name" testId="signup-name" value={name} onChange={setName} autoComplete="name" />
      <Field
        label="Email"
        type="email"
        testId="signup-email"
        value={email}
        onChange={setEmail}
        autoComplete="username"
      />
      {pair.fields}
    </Frame>
  );
}

export function AcceptInvitePage(props: { secret: string }): ReactNode {
  const [name, setName] = useState('');
  const pair = usePasswordPair();
  return (
    <Frame
      title="Join your team on Recap"
      testId="accept-form"
      submit="Join"
      onSubmit={async () => {
        const password = pair.check();
        await signedIn(await service.acceptInvite(props.secret, name.trim(), password));
      }}
    >
      <p className="muted">You were invited by an admin of your company. Choose your name and a password.</p>
      <Field label="Your name" testId="accept-name" value={name} onChange={setName} autoComplete="name" />
      {pair.fields}
    </Frame>
  );
}

export function ResetPasswordPage(props: { secret: string; session: Session | null }): ReactNode {
  const pair = usePasswordPair();
  const [done, setDone] = useState(false);
  if (done) {
    return (
      <Frame title="Your password is set" testId="reset-done">
        <p className="muted">
          {props.session
            ? 'Sign in again on this device with the new password to go on syncing.'
            : 'Sign in with your email and the new password.'}
        </p>
        <a className="btn primary wide" href="#/recap" data-testid="reset-continue">
          {props.session ? 'Back to Recap' : 'Sign in'}
        </a>
      </Frame>
    );
  }
  return (
    <Frame
      title="Set a new password"
      testId="reset-form"
      submit="Set the password"
      onSubmit={async () => {
        await service.resetPassword(props.secret, pair.check());
        setDone(true);
      }}
    >
      <p className="muted">Every device signed in to your account will ask for the new password.</p>
      {pair.fields}
    </Frame>
  );
}

/** Sign-up or an invite link opened on a device someone is signed in on: one user per
 * device, so they sign out first (or use another browser). */
function SignedInAlready(props: { session: Session; what: string }): ReactNode {
  return (
    <Frame title={`Signed in as ${props.session.user.email}`} testId="signed-in-already">
      <p className="muted">
        This device is signed in to Recap already. To {props.what}, sign out first (Profile → Sign out), or open the
        link in another browser.
      </p>
      <a className="btn primary wide" href="#/recap">
        Back to Recap
      </a>
    </Frame>
  );
}

export function PublicPage(props: { route: PublicRoute; session: Session | null }): ReactNode {
  const { route, session } = props;
  if (route.page === 'reset-password') return <ResetPasswordPage secret={route.secret} session={session} />;
  if (session) {
    return (
      <SignedInAlready
        session={session}
        what={route.page === 'signup' ? 'create another company' : 'accept this invite'}
      />
    );
  }
  if (route.page === 'signup') return <SignUpPage />;
  return <AcceptInvitePage secret={route.secret} />;
}
