import { useLiveQuery } from 'dexie-react-hooks';
import { lazy, Suspense, useEffect, useState, type ReactNode } from 'react';

import { noticeKey } from '../app/notices';
import { service, type Ended } from '../app/service';
import type { RowRecord, Session } from '../engine/store';
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
import { Icon } from './widgets';

// The dashboard and its chart library load on first use (a separate chunk, still precached).
const DashboardPage = lazy(() => import('./Dashboard'));
const DiagnosticsPage = lazy(() => import('./Diagnostics'));

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
  // Unseen notices, and edits of mine that lost and are not re-applied yet: counted as
  // notices (one per action, notices.ts), not per field.
  const attention =
    useLiveQuery(async () => {
      const open = await service.db.conflicts
        .filter((c) => c.notified === 0 || (c.yours === 'loser' && c.resolved === 0))
        .toArray();
      const lines = new Map<string, RowRecord | undefined>();
      for (const c of open) {
        if (c.dataset === 'pre_order_flows' && !lines.has(c.row))
          lines.set(c.row, await service.replica.row(c.dataset, c.row));
      }
      const rowOf = (dataset: string, id: string): RowRecord | undefined =>
        dataset === 'pre_order_flows' ? lines.get(id) : undefined;
      return new Set(open.map((c) => noticeKey(c, rowOf))).size;
    }, []) ?? 0;

  useEffect(() => {
    service.startSync();
    return () => service.stopSync();
  }, []);

  return (
    <div className="app">
      {/* The top bar and the sync bar stay on screen together. On a phone the top bar is a
          row of icons with short labels (each a 44 px+ target); see styles.css. */}
      <div className="chrome">
        <header className="topbar">
          <a className="brand" href="#/recap" aria-label="Recap: pre-orders">
            <img src="/icon.svg" alt="" width="28" height="28" />
            <span aria-hidden="true">Recap</span>
          </a>
          <nav aria-label="Main">
            <button
              type="button"
              className={route.page === 'recap' ? 'nav active' : 'nav'}
              aria-current={route.page === 'recap' ? 'page' : undefined}
              data-testid="nav-recap"
              onClick={() => go({ page: 'recap', date: null })}
            >
              <NavIcon name="recap" />
              <span className="nav-label">Pre-orders</span>
            </button>
            <button
              type="button"
              className={route.page === 'dashboard' ? 'nav active' : 'nav'}
              aria-current={route.page === 'dashboard' ? 'page' : undefined}
              data-testid="nav-dashboard"
              onClick={() => go({ page: 'dashboard' })}
            >
              <NavIcon name="dashboard" />
              <span className="nav-label">Dashboard</span>
            </button>
            {props.session.user.role === 'admin' ? (
              <button
                type="button"
                className={route.page === 'people' ? 'nav active' : 'nav'}
                aria-current={route.page === 'people' ? 'page' : undefined}
                data-testid="nav-people"
                onClick={() => go({ page: 'people' })}
              >
                <NavIcon name="people" />
                <span className="nav-label">People</span>
              </button>
            ) : null}
            <button
              type="button"
              className={route.page === 'conflicts' ? 'nav active' : 'nav'}
              aria-current={route.page === 'conflicts' ? 'page' : undefined}
              data-testid="nav-conflicts"
              onClick={() => go({ page: 'conflicts' })}
            >
              <NavIcon name="conflicts" />
              <span className="nav-label">Conflicts</span>
              {attention > 0 ? (
                <span className="badge" data-testid="conflict-badge">
                  {attention}
                </span>
              ) : null}
            </button>
            <button
              type="button"
              className={route.page === 'profile' ? 'nav active me' : 'nav me'}
              aria-current={route.page === 'profile' ? 'page' : undefined}
              title="Your profile"
              data-testid="nav-profile"
              onClick={() => go({ page: 'profile' })}
            >
              {profile.avatar ? (
                <img className="avatar" src={profile.avatar} alt="" />
              ) : (
                <span className="avatar placeholder" aria-hidden="true">
                  {profile.name.slice(0, 1).toUpperCase()}
                </span>
              )}
              <span className="sr-only">Profile: </span>
              <span className="me-name nav-label" data-testid="me-name">
                {profile.name}
              </span>
            </button>
          </nav>
        </header>
        <StatusBar onReauth={() => setReauth(true)} />
        {/* Conflict notices sit under the sync bar, in the flow (never over the page). */}
        <ConflictToasts />
      </div>
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
        {route.page === 'diagnostics' ? (
          <Suspense fallback={<p className="muted">Loading…</p>}>
            <DiagnosticsPage />
          </Suspense>
        ) : null}
      </main>
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

const ICONS: Record<'recap' | 'dashboard' | 'people' | 'conflicts', string> = {
  // a clipboard with lines
  recap: 'M9 4h6v2H9zM7 5H5v16h14V5h-2M8 10h8M8 14h8M8 18h5',
  // bars
  dashboard: 'M4 20h16M6 20v-7M11 20V6M16 20v-10',
  // two people
  people:
    'M9 11a3 3 0 1 0 0-6 3 3 0 0 0 0 6zM3 20c0-3.3 2.7-6 6-6s6 2.7 6 6M16 5.2a3 3 0 0 1 0 5.6M18 14.3c1.8.9 3 2.8 3 5.7',
  // a warning sign
  conflicts: 'M12 3 2 20h20zM12 10v4M12 17v.5',
};

/** The top bar's icons (decorative: each button has its words). */
function NavIcon(props: { name: keyof typeof ICONS }): ReactNode {
  return <Icon className="nav-icon" size={22} path={ICONS[props.name]} />;
}
