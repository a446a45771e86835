/**
 * Who may write what (mirrors sync_server/services/permissions.py), so the app never offers
 * an edit the server would refuse (a refused edit is set aside, see engine/store.ts):
 *
 *     rep      pre-orders and their lines, every field; partners and products, but not
 *              deleting them; their own profile (name, email, avatar)
 *     manager  reads everything; writes a pre-order's status and priority, and their own profile
 *     admin    everything
 */
import type { Scalar } from '../engine/message';

export type Role = 'rep' | 'manager' | 'admin';

export const ROLES: readonly Role[] = ['rep', 'manager', 'admin'];

const PROFILE_FIELDS = new Set(['name', 'email', 'avatar']);

export function mayWrite(
  role: string | null | undefined,
  userId: string | null | undefined,
  dataset: string,
  row: string,
  column: string,
  value: Scalar,
): boolean {
  if (role === 'admin') return true;
  if (dataset === 'profiles') return row === userId && PROFILE_FIELDS.has(column);
  if (role === 'manager') return dataset === 'pre_orders' && (column === 'status' || column === 'priority');
  if (role !== 'rep') return false;
  if (dataset === 'pre_orders' || dataset === 'pre_order_flows') return true;
  if (dataset === 'partners' || dataset === 'products') return !(column === 'tombstone' && value === 1);
  return false;
}

/** May this role change pre-orders beyond their status (create, edit lines, move, delete)? */
export function editsOrders(role: string | null | undefined): boolean {
  return role === 'rep' || role === 'admin';
}
