import { describe, expect, it } from 'vitest';

import { mayWrite, editsOrders } from '../src/app/permissions';
import { isPublic, parseHash, routeHash, type Route } from '../src/app/routes';

const ME = '0190c0de-0000-7000-8000-000000000001';
const OTHER = '0190c0de-0000-7000-8000-000000000002';
const ROW = '0190c0de-0000-7000-8000-0000000000aa';

describe('who may write what (mirrors sync_server/services/permissions.py)', () => {
  // [role, dataset, row, column, value, allowed]
  const cases: [string, string, string, string, string | number, boolean][] = [
    ['rep', 'pre_orders', ROW, 'status', 'confirmed', true],
    ['rep', 'pre_orders', ROW, 'tombstone', 1, true],
    ['rep', 'pre_order_flows', ROW, 'quantity', 3, true],
    ['rep', 'partners', ROW, 'name', 'Cedar', true],
    ['rep', 'partners', ROW, 'tombstone', 0, true],
    ['rep', 'partners', ROW, 'tombstone', 1, false],
    ['rep', 'products', ROW, 'tombstone', 1, false],
    ['rep', 'profiles', ME, 'email', 'me@example.com', true],
    ['rep', 'profiles', ME, 'tombstone', 0, false],
    ['rep', 'profiles', OTHER, 'name', 'Someone', false],
    ['manager', 'pre_orders', ROW, 'status', 'confirmed', true],
    ['manager', 'pre_orders', ROW, 'delivery_date', '2026-11-24', false],
    ['manager', 'pre_orders', ROW, 'tombstone', 1, false],
    ['manager', 'pre_order_flows', ROW, 'quantity', 3, false],
    ['manager', 'partners', ROW, 'name', 'Cedar', false],
    ['manager', 'profiles', ME, 'avatar', 'data:image/png;base64,AA', true],
    ['manager', 'profiles', OTHER, 'name', 'Someone', false],
    ['admin', 'partners', ROW, 'tombstone', 1, true],
    ['admin', 'profiles', OTHER, 'name', 'Someone', true],
    ['guest', 'pre_orders', ROW, 'status', 'confirmed', false],
  ];
  it.each(cases)('%s writes %s (%s) %s = %s: %s', (role, dataset, row, column, value, allowed) => {
    expect(mayWrite(role, ME, dataset, row, column, value)).toBe(allowed);
  });

  it('only reps and admins change pre-orders beyond their status', () => {
    expect(['rep', 'manager', 'admin', null].map(editsOrders)).toEqual([true, false, true, false]);
  });
});

describe('hash routes', () => {
  it('reads and writes every page', () => {
    const routes: Route[] = [
      { page: 'recap', date: null },
      { page: 'recap', date: '2026-11-24' },
      { page: 'conflicts' },
      { page: 'dashboard' },
      { page: 'profile' },
      { page: 'people' },
      { page: 'refused' },
      { page: 'signup' },
      { page: 'accept-invite', secret: 'AbC_def-0123456789xyz' },
      { page: 'reset-password', secret: 'QQQQQQQQQQQQQQQQ-_' },
    ];
    for (const r of routes) expect(parseHash(routeHash(r))).toEqual(r);
    expect(routes.filter(isPublic).map((r) => r.page)).toEqual(['signup', 'accept-invite', 'reset-password']);
  });

  it('falls back to the recap page', () => {
    expect(parseHash('')).toEqual({ page: 'recap', date: null });
    expect(parseHash('#/nowhere')).toEqual({ page: 'recap', date: null });
    expect(parseHash('#/accept-invite/')).toEqual({ page: 'recap', date: null });
    expect(parseHash('#/recap/not-a-date')).toEqual({ page: 'recap', date: null });
  });
});
