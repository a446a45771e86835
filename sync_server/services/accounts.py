"""Accounts: signing up a company, signing in (throttled), sessions, invites and password
resets, managing users and devices, and the profile document (DESIGN.md, "Accounts").

Passwords are hashed in a thread (scrypt is slow on purpose). A session ends at once when
its user signs out, changes or resets the password, has their role changed or is
deactivated, or when the device it syncs is revoked: every request reads its session.
A user's profile (name, email, avatar) is a row of the replicated `profiles` dataset, so
reps edit it offline like anything else; its email is the login email.
"""

from __future__ import annotations

import asyncio
import datetime
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import asyncpg

from crdt.merge import Register
from crdt.message import Scalar
from crdt.schema import EMAIL, login_email

from ..auth import (
    MIN_PASSWORD,
    Principal,
    Role,
    hash_password,
    issue_token,
    link_secret,
    secret_hash,
    verify_password,
)
from ..clock import Edit, ServerClock
from ..errors import (
    Conflict,
    EmailTaken,
    Forbidden,
    Invalid,
    NotFound,
    RateLimited,
    Unauthorized,
)
from ..events import Event
from ..settings import Settings
from ..storage import links, outbox, registers, sessions, throttle, users
from ..storage.apply import apply_messages
from ..storage.common import Conn, lock_tenant
from .permissions import check_fields
from .versions import check_if_match

INVITE_TTL = datetime.timedelta(days=7)
RESET_TTL = datetime.timedelta(days=1)
#: Failed sign-ins allowed per account and per client address within the window.
LOGIN_FAILURES = 10
LOGIN_WINDOW = datetime.timedelta(minutes=15)
SIGNUPS = 10
SIGNUP_WINDOW = datetime.timedelta(hours=1)
#: Checked against when the email is unknown, so both failures cost one scrypt.
_DUMMY_HASH = "scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
WRONG = "wrong email or password"


def check_email(email: str) -> None:
    if not EMAIL.check(login_email(email)):
        raise Invalid("email: not an email address")


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise Invalid(f"password: at least {MIN_PASSWORD} characters")


async def open_session(
    conn: Conn,
    secret: str,
    user_id: str,
    tenant_id: str,
    ttl_s: int,
    user_agent: str | None = None,
) -> str:
    """A new session of a user, and its bearer token (also for tools that seed users)."""
    session = await sessions.create(conn, tenant_id, user_id, ttl_s, user_agent)
    return issue_token(secret, session, user_id, tenant_id, ttl_s)


@dataclass
class Accounts:
    pool: asyncpg.Pool
    clock: ServerClock
    settings: Settings

    # -- sessions ------------------------------------------------------------------------
    async def _session(self, conn: Conn, user: Any, user_agent: str | None) -> dict[str, Any]:
        """A new session for `user`: the sign-in answer (token, its lifetime, the user)."""
        ttl = self.settings.token_ttl_s
        token = await open_session(
            conn, self.settings.token_secret, user["id"], user["tenant_id"], ttl, user_agent
        )
        shown = {
            k: user[k] for k in ("id", "tenant_id", "tenant_slug", "email", "display_name", "role")
        }
        return {"token": token, "expires_in": ttl, "user": shown}

    async def login(
        self, email: str, password: str, address: str, user_agent: str | None
    ) -> dict[str, Any]:
        """Sign in; after LOGIN_FAILURES failures within LOGIN_WINDOW for the account or the
        client address, 429 until the oldest of them leaves the window. An unknown email
        costs the same scrypt and gets the same answer as a wrong password."""
        email = login_email(email)
        keys = [f"account:{email}", f"address:{address}"]
        async with self.pool.acquire() as conn:
            wait = await throttle.blocked_for(conn, keys, LOGIN_FAILURES, LOGIN_WINDOW)
            if wait > 0:
                raise RateLimited("too many failed sign-ins", retry_after_s=wait)
            user = await users.by_email(conn, email)
        stored = user["password_hash"] if user else _DUMMY_HASH
        ok = await asyncio.to_thread(verify_password, password, stored)
        async with self.pool.acquire() as conn:
            if user is None or not ok:
                await throttle.record_failure(conn, keys)
                raise Unauthorized(WRONG, code="bad_credentials")
            if not user["active"]:
                raise Forbidden("this account was deactivated by an admin", code="account_disabled")
            await throttle.forget(conn, keys[0])
            return await self._session(conn, user, user_agent)

    async def logout(self, who: Principal) -> None:
        async with self.pool.acquire() as conn:
            await sessions.end(conn, who.session_id, "signed_out")

    def ticket(self, who: Principal, ttl_s: int = 60) -> dict[str, Any]:
        """A short-lived token for the WebSocket handshake (a browser cannot send headers)."""
        token = issue_token(
            self.settings.token_secret,
            who.session_id,
            who.user_id,
            who.tenant_id,
            ttl_s,
            kind="ticket",
        )
        return {"ticket": token, "expires_in": ttl_s}

    # -- creating users ------------------------------------------------------------------
    async def _new_user(
        self,
        conn: Conn,
        tenant_id: str,
        email: str,
        name: str,
        password: str,
        role: Role,
    ) -> dict[str, Any]:
        """A user and their profile row (which every device of the tenant receives)."""
        if await users.email_taken(conn, email):
            raise EmailTaken("an account with this email exists already")
        user_id = str(uuid.uuid4())
        hashed = await asyncio.to_thread(hash_password, password)
        await users.create_user(conn, user_id, tenant_id, email, name, hashed, role)
        profile: list[Edit] = [
            ("profiles", user_id, "name", name),
            ("profiles", user_id, "email", email),
            ("profiles", user_id, "tombstone", 0),
        ]
        await apply_messages(conn, tenant_id, user_id, self.clock.stamp({}, profile))
        found = await users.by_id(conn, tenant_id, user_id)
        assert found is not None
        return dict(found)

    async def signup(
        self,
        company: str,
        name: str,
        email: str,
        password: str,
        address: str,
        user_agent: str | None,
    ) -> dict[str, Any]:
        """A new company: its tenant and first admin, signed in. At most SIGNUPS per client
        address within SIGNUP_WINDOW."""
        check_password(password)
        check_email(email)
        tenant_id = str(uuid.uuid4())
        key = [f"signup:{address}"]
        async with self.pool.acquire() as conn, conn.transaction():
            wait = await throttle.blocked_for(conn, key, SIGNUPS, SIGNUP_WINDOW)
            if wait > 0:
                raise RateLimited("too many sign-ups from this address", retry_after_s=wait)
            await throttle.record_failure(conn, key)
            await users.create_tenant(conn, tenant_id, company.strip())
            user = await self._new_user(
                conn, tenant_id, login_email(email), name.strip(), password, "admin"
            )
            return await self._session(conn, user, user_agent)

    # -- invites and resets --------------------------------------------------------------
    async def invite(self, who: Principal, email: str, role: Role, base_url: str) -> dict[str, Any]:
        """A single-use invite (7 days) and its link, which the admin copies; a
        `user.invited` event in the outbox lets an integration send it."""
        check_email(email)
        email = login_email(email)
        plain, hashed = link_secret()
        async with self.pool.acquire() as conn, conn.transaction():
            if await users.email_taken(conn, email):
                raise EmailTaken("an account with this email exists already")
            link = await links.create(
                conn, who.tenant_id, "invite", email, role, None, hashed, who.user_id, INVITE_TTL
            )
            url = f"{base_url}/#/accept-invite/{plain}"
            event = Event(
                "user.invited",
                link["id"],
                {"invite_id": link["id"], "email": email, "role": role, "link": url,
                 "expires_at": link["expires_at"].isoformat(), "invited_by": who.user_id},
            )  # fmt: skip
            await outbox.insert_events(conn, who.tenant_id, [event])
        return {**_link(link), "link": url}

    async def invites(self, who: Principal) -> list[dict[str, Any]]:
        async with self.pool.acquire() as conn:
            return [_link(r) for r in await links.pending(conn, who.tenant_id, "invite")]

    async def revoke_invite(self, who: Principal, invite_id: str) -> None:
        async with self.pool.acquire() as conn:
            if not await links.revoke(conn, who.tenant_id, invite_id):
                raise NotFound("no such pending invite")

    async def accept_invite(
        self, secret: str, name: str, password: str, user_agent: str | None
    ) -> dict[str, Any]:
        check_password(password)
        async with self.pool.acquire() as conn, conn.transaction():
            link = await links.claim(conn, "invite", secret_hash(secret))
            if link is None:
                raise NotFound(
                    "this invite link is unknown, used, revoked or expired", code="link_invalid"
                )
            user = await self._new_user(
                conn, link["tenant_id"], link["email"], name.strip(), password, link["role"]
            )
            return await self._session(conn, user, user_agent)

    async def reset_link(self, who: Principal, user_id: str, base_url: str) -> dict[str, Any]:
        """A single-use link (1 day) for a user to set a new password; earlier ones stop."""
        plain, hashed = link_secret()
        async with self.pool.acquire() as conn, conn.transaction():
            user = await users.by_id(conn, who.tenant_id, user_id)
            if user is None:
                raise NotFound("no such user")
            await links.revoke_resets(conn, who.tenant_id, user_id)
            link = await links.create(
                conn, who.tenant_id, "reset", user["email"], None, user_id, hashed,
                who.user_id, RESET_TTL,
            )  # fmt: skip
        return {**_link(link), "link": f"{base_url}/#/reset-password/{plain}"}

    async def reset_password(self, secret: str, password: str) -> None:
        """A new password from a reset link; every session of the user ends."""
        check_password(password)
        hashed = await asyncio.to_thread(hash_password, password)
        async with self.pool.acquire() as conn, conn.transaction():
            link = await links.claim(conn, "reset", secret_hash(secret))
            if link is None:
                raise NotFound(
                    "this reset link is unknown, used, revoked or expired", code="link_invalid"
                )
            await users.set_password(conn, link["tenant_id"], link["user_id"], hashed)
            await sessions.end_for_user(
                conn, link["tenant_id"], link["user_id"], "password_changed"
            )

    async def change_password(self, who: Principal, current: str, new: str) -> None:
        """The caller's own password; their other sessions end, this one goes on."""
        check_password(new)
        async with self.pool.acquire() as conn:
            user = await users.by_id(conn, who.tenant_id, who.user_id)
        assert user is not None
        if not await asyncio.to_thread(verify_password, current, user["password_hash"]):
            raise Forbidden("the current password is wrong", code="bad_credentials")
        hashed = await asyncio.to_thread(hash_password, new)
        async with self.pool.acquire() as conn, conn.transaction():
            await users.set_password(conn, who.tenant_id, who.user_id, hashed)
            await sessions.end_for_user(
                conn, who.tenant_id, who.user_id, "password_changed", keep=who.session_id
            )

    # -- users ---------------------------------------------------------------------------
    async def users(self, who: Principal) -> list[dict[str, Any]]:
        async with self.pool.acquire() as conn:
            return [_user(r) for r in await users.in_tenant(conn, who.tenant_id)]

    async def _change(
        self, who: Principal, user_id: str, role: Role | None, active: bool | None
    ) -> dict[str, Any]:
        """A new role or standing for a user; their sessions end. The tenant keeps at least
        one active admin."""
        async with self.pool.acquire() as conn, conn.transaction():
            user = await users.lock_user(conn, who.tenant_id, user_id)
            if user is None:
                raise NotFound("no such user")
            admin_now = user["role"] == "admin" and user["active"]
            admin_after = (role or user["role"]) == "admin" and (
                user["active"] if active is None else active
            )
            if (
                admin_now
                and not admin_after
                and await users.active_admins(conn, who.tenant_id) <= 1
            ):
                raise Conflict(
                    "the company's last active admin cannot be removed", code="last_admin"
                )
            if role is not None and role != user["role"]:
                await users.set_role(conn, who.tenant_id, user_id, role)
                await sessions.end_for_user(conn, who.tenant_id, user_id, "role_changed")
            if active is not None and active != user["active"]:
                await users.set_active(conn, who.tenant_id, user_id, active)
                if not active:
                    await sessions.end_for_user(conn, who.tenant_id, user_id, "deactivated")
            found = await users.by_id(conn, who.tenant_id, user_id)
        assert found is not None
        return _user(found)

    async def set_role(self, who: Principal, user_id: str, role: Role) -> dict[str, Any]:
        return await self._change(who, user_id, role, None)

    async def set_active(self, who: Principal, user_id: str, active: bool) -> dict[str, Any]:
        return await self._change(who, user_id, None, active)

    # -- devices -------------------------------------------------------------------------
    async def devices(self, who: Principal) -> list[dict[str, Any]]:
        """Every device of the tenant for an admin; one's own for anyone else."""
        scope = None if who.role == "admin" else who.user_id
        async with self.pool.acquire() as conn:
            return [_device(r) for r in await users.devices(conn, who.tenant_id, scope)]

    async def revoke_device(self, who: Principal, node: str) -> None:
        """A lost or retired device: its node may no longer push or pull, and the sessions
        that synced it end (403 `device_revoked`)."""
        async with self.pool.acquire() as conn, conn.transaction():
            owner = await users.device_owner(conn, who.tenant_id, node)
            if owner is None or (who.role != "admin" and owner != who.user_id):
                raise NotFound("no such device")
            await users.revoke_device(conn, who.tenant_id, node, who.user_id)
            await sessions.end_for_node(conn, who.tenant_id, node)

    # -- the profile document ------------------------------------------------------------
    async def profile(self, who: Principal, user_id: str) -> dict[str, Any]:
        async with self.pool.acquire() as conn:
            return await _profile(conn, who.tenant_id, user_id)

    async def patch_profile(
        self, who: Principal, user_id: str, changes: dict[str, Scalar], if_match: str | None
    ) -> dict[str, Any]:
        """Change name, email or avatar, if the caller read the current version: a stale
        If-Match is 409, since someone else changed the profile meanwhile. The change is
        ordinary messages from the server's node, so every device of the tenant gets it."""
        if "email" in changes:
            check_email(str(changes["email"]))
            changes = {**changes, "email": login_email(str(changes["email"]))}
        edits: list[Edit] = [("profiles", user_id, c, v) for c, v in sorted(changes.items())]
        check_fields(who, edits)
        async with self.pool.acquire() as conn, conn.transaction():
            await lock_tenant(conn, who.tenant_id)
            current = await _profile(conn, who.tenant_id, user_id)
            check_if_match(if_match, current["version"])
            if "email" in changes and await users.email_taken(conn, str(changes["email"]), user_id):
                raise EmailTaken("another account signs in with this email", user_id=user_id)
            regs = await registers.read(conn, who.tenant_id, {("profiles", user_id)})
            stamped = self.clock.stamp(regs, [*edits, *_tombstone(regs, user_id)])
            await apply_messages(conn, who.tenant_id, who.user_id, stamped)
            return await _profile(conn, who.tenant_id, user_id)


def _tombstone(regs: Mapping[tuple[str, str], Mapping[str, Register]], user_id: str) -> list[Edit]:
    """A profile row written for the first time gets its tombstone 0 (a live row)."""
    return [] if regs else [("profiles", user_id, "tombstone", 0)]


async def _profile(conn: Conn, tenant_id: str, user_id: str) -> dict[str, Any]:
    user = await users.by_id(conn, tenant_id, user_id)
    if user is None:
        raise NotFound("no such user")
    row = await registers.with_version(conn, tenant_id, "profiles", user_id)
    values = {c: r.value for c, r in row[0].items()} if row else {}
    return {
        "id": user_id,
        "name": values.get("name") or user["display_name"],
        "email": user["email"],
        "avatar": values.get("avatar"),
        "role": user["role"],
        "version": row[1] if row else 0,
    }


def _link(r: Any) -> dict[str, Any]:  # an asyncpg Record
    return {
        "id": r["id"],
        "kind": r["kind"],
        "email": r["email"],
        "role": r["role"],
        "user_id": r["user_id"],
        "created_at": r["created_at"].isoformat(),
        "expires_at": r["expires_at"].isoformat(),
    }


def _user(r: Any) -> dict[str, Any]:  # an asyncpg Record
    return {
        "id": r["id"],
        "email": r["email"],
        "display_name": r["display_name"],
        "role": r["role"],
        "active": r["active"],
        "created_at": r["created_at"].isoformat(),
        "last_sync": r["last_sync"].isoformat() if r.get("last_sync") else None,
    }


def _device(r: Any) -> dict[str, Any]:  # an asyncpg Record
    return {
        "node": r["node"],
        "user_id": r["user_id"],
        "user_name": r["user_name"],
        "first_sync": r["first_seen"].isoformat(),
        "last_sync": r["last_seen"].isoformat(),
        "user_agent": r["user_agent"],
        "revoked_at": r["revoked_at"].isoformat() if r["revoked_at"] else None,
    }
