import { useLiveQuery } from 'dexie-react-hooks';
import { lazy, Suspense, useEffect, useState, type ReactNode } from 'react';

import { service, type Ended } from '../app/service';
import type { Session } from '../engine/store';
import { ConflictToasts, ConflictsPage } from './Conflicts';
import { EndedNotice } from './Ended';
import { isPublic, useRoute } from './hooks';
import { PeoplePage } from './People';
import { ProfilePage, useProfile } from './Profile';
import { PublicPage } from './Public';
import { RecapPage } from './Recap';
import { RefusedPage } from './Refused';
import { StatusBar } from './SyncBar';
import { Bootstrap, SignIn } from './SignIn';
import { ToastProvider } from './toast';

// The dashboard and its chart library load on first use (a separate chunk, still precached).
const DashboardPage = lazy(() => import('./Dashboard'));

export function App(): ReactNode {
  const [route] = useRoute();
  const state = useLiveQuery(async () => ({
    session: (await service.replica.getMeta<Session>('session')) ?? null,
    bootstrapped: (await service.replica.getMeta<boolean>('bootstrapped')) === true,
    ended: (await service.replica.getMeta<Ended>('ended')) ?? null,
  }));
  if (state === undefined) return <div className="splash">Recap</div>;
  // Sign-up and the links admins send work without a session (and say so with one).
  if (isPublic(route)) return <PublicPage route={route} session={state.session} />;
  if (state.session === null) return <SignIn onDone={() => undefined} />;
  // Revoked, or the account deactivated: nothing but exporting and signing out.
  if (state.ended) return <EndedNotice ended={state.ended} session={state.session} />;
  if (!state.bootstrapped) return <Bootstrap />;
  return (
    <ToastProvider>
      <Main session={state.session} />
    </ToastProvider>
  );
}

function Main(props: { session: Session }): ReactNode {
  const [route, go] = useRoute();
  const [reauth, setReauth] = useState(false);
  const profile = useProfile(props.session);
  // Unseen notices, and edits of mine that lost and are not re-applied yet.
  const attention =
    useLiveQuery(
      () => service.db.conflicts.filter((c) => c.notified === 0 || (c.yours === 'loser' && c.resolved === 0)).count(),
      [],
    ) ?? 0;

  useEffect(() => {
    service.startSync();
    return () => service.stopSync();
  }, []);

  return (
    <div className="app">
      <header className="topbar">
        <a className="brand" href="#/recap">
          <img src="/icon.svg" alt="" width="28" height="28" />
          <span>Recap</span>
        </a>
        <nav>
          <button
            type="button"
            className={route.page === 'recap' ? 'nav active' : 'nav'}
            data-testid="nav-recap"
            onClick={() => go({ page: 'recap', date: null })}
          >
            Pre-orders
          </button>
          <button
            type="button"
            className={route.page === 'dashboard' ? 'nav active' : 'nav'}
            data-testid="nav-dashboard"
            onClick={() => go({ page: 'dashboard' })}
          >
            Dashboard
          </button>
          {props.session.user.role === 'admin' ? (
            <button
              type="button"
              className={route.page === 'people' ? 'nav active' : 'nav'}
              data-testid="nav-people"
              onClick={() => go({ page: 'people' })}
            >
              People
            </button>
          ) : null}
          <button
            type="button"
            className={route.page === 'conflicts' ? 'nav active' : 'nav'}
            data-testid="nav-conflicts"
            onClick={() => go({ page: 'conflicts' })}
          >
            Conflicts
            {attention > 0 ? (
              <span className="badge" data-testid="conflict-badge">
                {attention}
              </span>
            ) : null}
          </button>
          <button
            type="button"
            className={route.page === 'profile' ? 'nav active me' : 'nav me'}
            data-testid="nav-profile"
            onClick={() => go({ page: 'profile' })}
          >
            {profile.avatar ? (
              <img className="avatar" src={profile.avatar} alt="" />
            ) : (
              <span className="avatar placeholder">{profile.name.slice(0, 1).toUpperCase()}</span>
            )}
            <span className="me-name" data-testid="me-name">
              {profile.name}
            </span>
          </button>
        </nav>
      </header>
      <StatusBar onReauth={() => setReauth(true)} />
      <main>
        {route.page === 'recap' ? <RecapPage role={props.session.user.role} /> : null}
        {route.page === 'dashboard' ? (
          <Suspense fallback={<p className="muted">Loading…</p>}>
            <DashboardPage />
          </Suspense>
        ) : null}
        {route.page === 'conflicts' ? <ConflictsPage /> : null}
        {route.page === 'profile' ? <ProfilePage session={props.session} /> : null}
        {route.page === 'people' ? (
          props.session.user.role === 'admin' ? (
            <PeoplePage session={props.session} />
          ) : (
            <p className="empty">Only admins manage the company’s people.</p>
          )
        ) : null}
        {route.page === 'refused' ? <RefusedPage /> : null}
      </main>
      <ConflictToasts />
      {reauth ? (
        <SignIn
          expired={props.session}
          onCancel={() => setReauth(false)}
          onDone={() => {
            setReauth(false);
            service.resumeSync();
          }}
        />
      ) : null}
    </div>
  );
}
