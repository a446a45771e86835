import { useLiveQuery } from 'dexie-react-hooks';
import { useState, type ReactNode } from 'react';

import { saveProfile } from '../app/actions';
import { service } from '../app/service';
import { MAX_AVATAR, isEmail } from '../engine/schema';
import type { Session } from '../engine/store';
import { DeviceList, PasswordForm } from './Account';
import { text, usePendingRows, useWaitingEdits } from './hooks';
import { useToast } from './toast';
import { Confirm } from './widgets';

const AVATAR_PX = 128;

/** Resize an image file to a small square (centre crop) data URL, WebP when the browser can. */
export async function resizeAvatar(file: Blob): Promise<string> {
  const bitmap = await createImageBitmap(file);
  const canvas = document.createElement('canvas');
  canvas.width = AVATAR_PX;
  canvas.height = AVATAR_PX;
  const ctx = canvas.getContext('2d');
  if (!ctx) throw new Error('This browser cannot resize images.');
  const side = Math.min(bitmap.width, bitmap.height);
  ctx.drawImage(bitmap, (bitmap.width - side) / 2, (bitmap.height - side) / 2, side, side, 0, 0, AVATAR_PX, AVATAR_PX);
  bitmap.close();
  let url = canvas.toDataURL('image/webp', 0.85);
  if (!url.startsWith('data:image/webp')) url = canvas.toDataURL('image/jpeg', 0.85);
  if (url.length > MAX_AVATAR) url = canvas.toDataURL('image/jpeg', 0.6);
  if (url.length > MAX_AVATAR) throw new Error('That picture is too large even when resized.');
  return url;
}

export function useProfile(session: Session): { name: string; email: string; avatar: string } {
  const row = useLiveQuery(() => service.replica.row('profiles', session.user.id), [session.user.id]);
  return {
    name: text(row, 'name') || session.user.display_name,
    email: text(row, 'email') || session.user.email,
    avatar: text(row, 'avatar'),
  };
}

export function ProfilePage(props: { session: Session }): ReactNode {
  const { session } = props;
  const profile = useProfile(session);
  const pending = usePendingRows();
  const unsynced = useWaitingEdits();
  const [name, setName] = useState<string | null>(null);
  const [email, setEmail] = useState<string | null>(null);
  const [avatar, setAvatar] = useState<string | null>(null);
  const [confirmOut, setConfirmOut] = useState(false);
  const toast = useToast();

  const shownName = name ?? profile.name;
  const shownEmail = email ?? profile.email;
  const shownAvatar = avatar ?? profile.avatar;
  const nameError = shownName.trim() === '' ? 'Enter your name.' : shownName.length > 500 ? 'Too long.' : null;
  const emailError = isEmail(shownEmail.trim()) ? null : 'Enter a valid email address, like name@example.com.';
  const dirty =
    (name !== null && name !== profile.name) ||
    (email !== null && email !== profile.email) ||
    (avatar !== null && avatar !== profile.avatar);

  const save = async (): Promise<void> => {
    const fields: Partial<Record<'name' | 'email' | 'avatar', string>> = {};
    if (name !== null && name.trim() !== profile.name) fields.name = name.trim();
    // The login email, as the server keeps it (lower case): one typed with capitals would
    // otherwise become a login email no sign-in matches (sign-in lower-cases what is typed).
    const typed = email?.trim().toLowerCase() ?? null;
    if (typed !== null && typed !== profile.email) fields.email = typed;
    if (avatar !== null && avatar !== profile.avatar) fields.avatar = avatar;
    await saveProfile(session.user.id, fields);
    setName(null);
    setEmail(null);
    setAvatar(null);
    toast.info('Profile saved.');
  };

  return (
    <section className="page profile-page">
      <h1>
        Your profile
        {pending.has(`profiles/${session.user.id}`) ? (
          <span className="unsynced" data-testid="profile-unsynced">
            ● not synced
          </span>
        ) : null}
      </h1>
      <div className="card profile-card">
        <div className="avatar-edit">
          {shownAvatar ? (
            <img className="avatar big" src={shownAvatar} alt="Your picture" data-testid="profile-avatar-img" />
          ) : (
            <div className="avatar big placeholder">{shownName.slice(0, 1).toUpperCase()}</div>
          )}
          <label className="btn ghost">
            Change picture
            <input
              type="file"
              accept="image/*"
              className="sr-only"
              data-testid="profile-avatar-input"
              onChange={(e) => {
                const file = e.target.files?.[0];
                if (file) void resizeAvatar(file).then(setAvatar, (err: unknown) => toast.error(err));
              }}
            />
          </label>
        </div>
        <label className="field">
          <span className="label">Name</span>
          <input
            data-testid="profile-name"
            value={shownName}
            onChange={(e) => setName(e.target.value)}
            aria-invalid={nameError !== null}
          />
          {nameError ? (
            <span className="error" data-testid="profile-name-error">
              {nameError}
            </span>
          ) : null}
        </label>
        <label className="field">
          <span className="label">Email</span>
          <input
            type="email"
            data-testid="profile-email"
            value={shownEmail}
            onChange={(e) => setEmail(e.target.value)}
            aria-invalid={emailError !== null}
          />
          {emailError ? (
            <span className="error" role="alert" data-testid="profile-email-error">
              {emailError}
            </span>
          ) : null}
        </label>
        <button
          type="button"
          className="btn primary wide"
          data-testid="profile-save"
          disabled={!dirty || nameError !== null || emailError !== null}
          onClick={() => void save().catch((e: unknown) => toast.error(e))}
        >
          Save
        </button>
      </div>
      <div className="card wide">
        <h2>My devices</h2>
        <p className="muted">Where you use Recap. Revoke a lost or retired device: it stops syncing at once.</p>
        <DeviceList session={session} all={false} />
      </div>
      <div className="card">
        <h2>Password</h2>
        <PasswordForm />
      </div>
      <div className="card">
        <p className="muted">
          Signed in as {session.user.email} ({session.user.role}). This device keeps your data so Recap works offline.
        </p>
        <button type="button" className="btn danger" data-testid="sign-out" onClick={() => setConfirmOut(true)}>
          Sign out
        </button>
      </div>
      {confirmOut ? (
        <Confirm
          danger
          confirm={unsynced ? 'Sign out and lose them' : 'Sign out'}
          message={
            unsynced
              ? `You have ${unsynced} edit${unsynced === 1 ? '' : 's'} not synced yet. Signing out deletes them from this device. Connect and sync first to keep them.`
              : 'Sign out? Local data is removed from this device.'
          }
          onCancel={() => setConfirmOut(false)}
          onConfirm={() => void service.signOut()}
        />
      ) : null}
    </section>
  );
}
