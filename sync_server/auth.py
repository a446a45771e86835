"""Passwords (scrypt, a standard KDF) and signed, expiring bearer tokens (HMAC-SHA256).

A token is `base64url(json claims) "." base64url(hmac)`: stateless, so every server process
can check it with the shared secret. Claims: user, tenant, role, expiry.
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

Role = Literal["rep", "admin"]
ROLES: tuple[Role, ...] = ("rep", "admin")
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
class Principal:
    user_id: str
    tenant_id: str
    role: Role
    expires_at: int


def issue_token(secret: str, user_id: str, tenant_id: str, role: Role, ttl_s: int) -> str:
    claims = {"u": user_id, "t": tenant_id, "r": role, "e": int(time.time()) + ttl_s}
    body = _b64(orjson.dumps(claims))
    return f"{body}.{_sign(secret, body)}"


def read_token(secret: str, token: str, now: float | None = None) -> Principal | None:
    """The token's principal, or None if it is malformed, forged or expired."""
    if not token.isascii():  # compare_digest refuses non-ASCII str; no valid token has any
        return None
    body, _, sig = token.partition(".")
    if not body or not sig or not hmac.compare_digest(sig, _sign(secret, body)):
        return None
    try:
        claims = orjson.loads(_unb64(body))
        principal = Principal(str(claims["u"]), str(claims["t"]), claims["r"], int(claims["e"]))
    except (ValueError, KeyError, TypeError, orjson.JSONDecodeError):
        return None
    if principal.role not in ROLES:
        return None
    if principal.expires_at <= (time.time() if now is None else now):
        return None
    return principal


def _sign(secret: str, body: str) -> str:
    return _b64(hmac.new(secret.encode(), body.encode(), hashlib.sha256).digest())


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
