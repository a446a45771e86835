"""Passwords (scrypt, a standard KDF), signed bearer tokens (HMAC-SHA256), sealed values a
client carries back (snapshot cursors), and the secrets of invite and reset links.

A token is `base64url(json claims) "." base64url(hmac)`. Claims: the session it belongs to,
its user and tenant, its kind (`session`, or `ticket`: a short-lived one for the WebSocket
handshake, which a browser cannot give headers) and expiry. The signature proves the server
issued it; the session, kept on the server, says whether it still holds (signed out,
password or role changed, user deactivated, device revoked) and the user's role now.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Literal

import orjson

Role = Literal["rep", "manager", "admin"]
ROLES: tuple[Role, ...] = ("rep", "manager", "admin")
TokenKind = Literal["session", "ticket"]
MIN_PASSWORD = 8
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, dklen=32, **_SCRYPT)
    return f"scrypt${_SCRYPT['n']}${_SCRYPT['r']}${_SCRYPT['p']}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        actual = hashlib.scrypt(
            password.encode(), salt=_unb64(salt), n=int(n), r=int(r), p=int(p), dklen=32
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, _unb64(digest))


@dataclass(frozen=True, slots=True)
class Claims:
    """What a valid token says (its session may since have ended: the server checks)."""

    session_id: str
    user_id: str
    tenant_id: str
    expires_at: int
    kind: TokenKind


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller of a request: its user, tenant and role now, and its session."""

    user_id: str
    tenant_id: str
    role: Role
    session_id: str


def issue_token(
    secret: str,
    session_id: str,
    user_id: str,
    tenant_id: str,
    ttl_s: int,
    kind: TokenKind = "session",
    now: float | None = None,
) -> str:
    claims = {
        "s": session_id,
        "u": user_id,
        "t": tenant_id,
        "k": kind,
        "e": int(time.time() if now is None else now) + ttl_s,
    }
    body = _b64(orjson.dumps(claims))
    return f"{body}.{_sign(secret, body)}"


def read_token(
    secret: str, token: str, kind: TokenKind = "session", now: float | None = None
) -> Claims | None:
    """The token's claims, or None if it is malformed, forged, expired or of another kind."""
    if not token.isascii():  # compare_digest refuses non-ASCII str; no valid token has any
        return None
    body, _, sig = token.partition(".")
    if not body or not sig or not hmac.compare_digest(sig, _sign(secret, body)):
        return None
    try:
        c = orjson.loads(_unb64(body))
        claims = Claims(str(c["s"]), str(c["u"]), str(c["t"]), int(c["e"]), c["k"])
    except (ValueError, KeyError, TypeError, orjson.JSONDecodeError):
        return None
    if claims.kind != kind:
        return None
    if claims.expires_at <= (time.time() if now is None else now):
        return None
    return claims


def seal(secret: str, purpose: str, payload: dict[str, object]) -> str:
    """`payload` as text a client carries and cannot change: base64url JSON and an HMAC over
    it and `purpose` (so a value sealed for one use is never accepted for another, nor as
    a token)."""
    body = _b64(orjson.dumps(payload))
    return f"{body}.{_sign(secret, f'{purpose}:{body}')}"


def unseal(secret: str, purpose: str, text: str) -> dict[str, object] | None:
    """What `seal` sealed for `purpose`, or None if the text is malformed or was altered."""
    if not text.isascii():
        return None
    body, _, sig = text.partition(".")
    if not body or not sig or not hmac.compare_digest(sig, _sign(secret, f"{purpose}:{body}")):
        return None
    try:
        payload = orjson.loads(_unb64(body))
    except (ValueError, orjson.JSONDecodeError):
        return None
    return payload if isinstance(payload, dict) else None


def link_secret() -> tuple[str, str]:
    """A new secret for an invite or reset link, and the hash the server keeps of it."""
    plain = secrets.token_urlsafe(32)
    return plain, secret_hash(plain)


def secret_hash(plain: str) -> str:
    return hashlib.sha256(plain.encode()).hexdigest()


def _sign(secret: str, body: str) -> str:
    return _b64(hmac.new(secret.encode(), body.encode(), hashlib.sha256).digest())


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
