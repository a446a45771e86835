/** The app's pages as hash routes (`#/recap/2026-11-24`, `#/accept-invite/<secret>`, ...). */
export type Route =
  /** `order`: open that pre-order in the editor (a link from a conflict notice). */
  | { page: 'recap'; date: string | null; order?: string }
  | { page: 'conflicts' }
  | { page: 'dashboard' }
  | { page: 'profile' }
  | { page: 'people' }
  | { page: 'refused' }
  /** This device's replica against the server's (merkle comparison, export). */
  | { page: 'diagnostics' }
  // Public pages (they work without a session): sign-up and the links admins send.
  | { page: 'signup' }
  | { page: 'accept-invite'; secret: string }
  | { page: 'reset-password'; secret: string };

export type PublicRoute = Extract<Route, { page: 'signup' | 'accept-invite' | 'reset-password' }>;

export function isPublic(route: Route): route is PublicRoute {
  return route.page === 'signup' || route.page === 'accept-invite' || route.page === 'reset-password';
}

const SIMPLE = new Set(['conflicts', 'profile', 'dashboard', 'people', 'refused', 'diagnostics', 'signup']);

export function parseHash(hash: string): Route {
  const parts = hash.replace(/^#\/?/, '').split('/');
  const first = parts[0] ?? '';
  if (SIMPLE.has(first)) return { page: first } as Route;
  if ((first === 'accept-invite' || first === 'reset-password') && parts[1]) {
    return { page: first, secret: decodeURIComponent(parts[1]) };
  }
  const date = first === 'recap' && /^\d{4}-\d{2}-\d{2}$/.test(parts[1] ?? '') ? (parts[1] ?? null) : null;
  const order = parts[2] ?? '';
  return date && /^[0-9a-f-]{36}$/.test(order) ? { page: 'recap', date, order } : { page: 'recap', date };
}

export function routeHash(route: Route): string {
  if (route.page === 'recap') {
    if (!route.date) return '#/recap';
    return route.order ? `#/recap/${route.date}/${route.order}` : `#/recap/${route.date}`;
  }
  if (route.page === 'accept-invite' || route.page === 'reset-password') {
    return `#/${route.page}/${encodeURIComponent(route.secret)}`;
  }
  return `#/${route.page}`;
}
