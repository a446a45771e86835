/**
 * The company's people and devices over the REST API (sync_server/api/accounts.py), with the
 * session's token: users, invites and reset links (admins), devices (everyone: an admin sees
 * every device of the company, anyone else their own), and changing one's password. These
 * need the server: no local copy is kept.
 */
import type { Role } from './permissions';
import { service } from './service';

export interface Member {
  id: string;
  email: string;
  display_name: string;
  role: Role;
  active: boolean;
  created_at: string;
  last_sync: string | null;
}

export interface Link {
  id: string;
  kind: 'invite' | 'reset';
  email: string;
  role: Role | null;
  user_id: string | null;
  created_at: string;
  expires_at: string;
  link?: string | null;
}

export interface Device {
  node: string;
  user_id: string;
  user_name: string;
  first_sync: string;
  last_sync: string;
  user_agent: string | null;
  revoked_at: string | null;
}

export async function listUsers(): Promise<Member[]> {
  return (await service.api<{ items: Member[] }>('GET', '/api/v1/users')).items;
}

export function setRole(userId: string, role: Role): Promise<Member> {
  return service.api<Member>('POST', `/api/v1/users/${userId}/role`, { role });
}

export function setActive(userId: string, active: boolean): Promise<Member> {
  return service.api<Member>('POST', `/api/v1/users/${userId}/${active ? 'reactivate' : 'deactivate'}`);
}

export function resetLink(userId: string): Promise<Link> {
  return service.api<Link>('POST', `/api/v1/users/${userId}/reset-link`);
}

export async function listInvites(): Promise<Link[]> {
  return (await service.api<{ items: Link[] }>('GET', '/api/v1/invites')).items;
}

export function createInvite(email: string, role: Role): Promise<Link> {
  return service.api<Link>('POST', '/api/v1/invites', { email, role });
}

export async function withdrawInvite(id: string): Promise<void> {
  await service.api<null>('DELETE', `/api/v1/invites/${id}`);
}

export async function listDevices(): Promise<Device[]> {
  return (await service.api<{ items: Device[] }>('GET', '/api/v1/devices')).items;
}

export async function revokeDevice(node: string): Promise<void> {
  await service.api<null>('POST', `/api/v1/devices/${node}/revoke`);
}

export async function changePassword(current: string, next: string): Promise<void> {
  await service.api<null>('POST', '/auth/password', { current_password: current, new_password: next });
}

/** At least this many characters (the server's rule). */
export const MIN_PASSWORD = 8;

export function passwordError(password: string): string | null {
  return password.length < MIN_PASSWORD ? `At least ${MIN_PASSWORD} characters.` : null;
}
