"""Connector credentials at rest: Fernet (AES-128-CBC + HMAC-SHA256, from `cryptography`).

The key is `RECAP_CONNECTOR_KEY` (a Fernet key) in production. Without it, a key derived from
the token secret is used, so a developer's machine needs no extra setup; rotating either
makes stored credentials unreadable, which the connector reports as an error asking for the
API key again (never as a crash)."""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken

from ..errors import ServiceError


class UnreadableSecret(ServiceError):
    """The stored credential was encrypted under another key."""

    code = "credentials_unreadable"


class SecretsBox:
    def __init__(self, connector_key: str, token_secret: str) -> None:
        key = (
            connector_key.encode()
            if connector_key
            else base64.urlsafe_b64encode(
                hashlib.sha256(b"recap-connector-key\x00" + token_secret.encode()).digest()
            )
        )
        self._fernet = Fernet(key)

    def seal(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def open(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken:
            raise UnreadableSecret(
                "the stored API key cannot be decrypted; enter it again"
            ) from None
