"""The browser's session and its forms' CSRF tokens. Pure (no I/O).

**How the web holds the user's API credential.** Signing in redeems the emailed link at
the API (`POST /v1/sign-in/confirm`), which makes a *session key* for this browser: an API
key of kind `session`, expiring after `PRICEALERT_SESSION_KEY_TTL_HOURS` (14 days). The
web keeps nothing on the server: the key travels in the `pa_session` cookie, encrypted and
authenticated (AES-256-GCM, key derived from `PRICEALERT_SECRET_KEY` by HKDF), HttpOnly,
SameSite=Lax, Secure outside development, expiring with the key. So any web instance
serves any request, a restart signs nobody out, a cookie read off a disk is not an API
key, and a changed cookie is simply no session. Signing out revokes the key at the API
(always allowed for session keys: they never count as the user's last working key, since
a new link signs in again) and clears the cookie; the API's own expiry ends a session
nobody signed out of.

**CSRF.** Every form carries `csrf_token` = HMAC(secret, seed ‖ session id), where the
seed is a random value in the `pa_csrf` cookie (HttpOnly, SameSite=Lax). A cross-site
page can neither read the seed nor compute the HMAC; binding the session id means a
token obtained before signing in (or in another session) stops working after it.
Requests a browser marks `Sec-Fetch-Site: cross-site` are refused outright.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import secrets
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

SESSION_COOKIE: Final = "pa_session"
CSRF_COOKIE: Final = "pa_csrf"
LANG_COOKIE: Final = "pa_lang"
CSRF_FIELD: Final = "csrf_token"
_NONCE_BYTES: Final = 12


@dataclass(frozen=True, slots=True)
class Session:
    """A signed-in browser: its API key and what pages show without asking the API."""

    api_key: str
    key_id: str
    expires_at: float  # epoch seconds, the key's own expiry
    email: str
    time_zone: str
    locale: str | None

    def expired(self, now: datetime | None = None) -> bool:
        return (now or datetime.now(UTC)).timestamp() >= self.expires_at


def _derive(secret_key: str, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(
        secret_key.encode()
    )


class SessionCodec:
    """Seals sessions into cookie values and opens them; makes and checks CSRF tokens."""

    def __init__(self, secret_key: str) -> None:
        self._aead = AESGCM(_derive(secret_key, b"pricealert/web/session-cookie"))
        self._csrf_key = _derive(secret_key, b"pricealert/web/csrf")

    def seal(self, session: Session) -> str:
        nonce = os.urandom(_NONCE_BYTES)
        plain = json.dumps(asdict(session), separators=(",", ":")).encode()
        sealed = self._aead.encrypt(nonce, plain, SESSION_COOKIE.encode())
        return base64.urlsafe_b64encode(nonce + sealed).rstrip(b"=").decode()

    def open(self, value: str | None) -> Session | None:
        """The session in a cookie value; None when absent, tampered with, malformed or
        expired."""
        if not value or len(value) > 4096:
            return None
        try:
            raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
            plain = self._aead.decrypt(
                raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], SESSION_COOKIE.encode()
            )
            session = Session(**json.loads(plain))
        except (InvalidTag, ValueError, TypeError, binascii.Error):
            return None
        return None if session.expired() else session

    def csrf_token(self, seed: str, session: Session | None) -> str:
        message = f"{seed}|{session.key_id if session else ''}".encode()
        return hmac.new(self._csrf_key, message, hashlib.sha256).hexdigest()

    def csrf_ok(self, token: str | None, seed: str | None, session: Session | None) -> bool:
        if not token or not seed:
            return False
        return hmac.compare_digest(token, self.csrf_token(seed, session))

    def beacon_token(self, page: str, issued_at: int, nonce: str) -> str:
        """What a page's load-time beacon must bring back: this page, served at that time
        (`nonce` tells apart the pages served in the same second, so each counts once)."""
        message = f"beacon|{page}|{issued_at}|{nonce}".encode()
        return hmac.new(self._csrf_key, message, hashlib.sha256).hexdigest()[:32]


def new_seed() -> str:
    return secrets.token_urlsafe(24)
