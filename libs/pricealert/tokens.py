"""One-time secrets: verification codes and recovery (later: sign-in) tokens. Pure.

A token is a row (`models.OneTimeToken`: purpose, address, expiry, hash, use) and a
secret derived from its id with the service secret (`PRICEALERT_SECRET_KEY`):

    secret = HMAC-SHA256(secret_key, id)  →  6 digits (codes) or 43 base64url chars (links)

so the secret is never stored anywhere: the notifier derives it when it sends it (and,
should the job run twice, sends the very same secret again: sending is idempotent), and
stores `sha256(id:secret)`, which is all the API compares against. Reading the database
alone yields no usable secret. Rotating the secret key invalidates the tokens in flight
(users ask for a new code).

Codes are short (typed from an SMS) and so are only ever checked against one token
(`POST /v1/channels/{id}/verify`), with a handful of attempts; tokens that must be found
without any other context (key recovery) are long and carry their id:
`pat_<32 hex id><43 secret chars>`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import uuid
from datetime import timedelta
from typing import Final

#: How long a secret may be redeemed after it was issued.
TOKEN_TTL: Final = timedelta(minutes=30)
#: Wrong codes a token takes before it is retired (a new code must be requested).
MAX_FAILED_ATTEMPTS: Final = 5
#: Purposes whose secret is a 6-digit code; the others are long tokens.
CODE_PURPOSES: Final = frozenset({"email_verification", "channel_verification"})
TOKEN_PREFIX: Final = "pat_"  # noqa: S105 - a prefix, not a secret

_TOKEN_RE: Final = re.compile(r"^pat_([0-9a-f]{32})([A-Za-z0-9_-]{43})$")


def derive_secret(secret_key: str, token_id: uuid.UUID, purpose: str) -> str:
    """The secret of a token: a 6-digit code or a long url-safe string, by purpose."""
    digest = hmac.new(
        secret_key.encode(), b"pricealert/one-time-token/" + token_id.bytes, hashlib.sha256
    ).digest()
    if purpose in CODE_PURPOSES:
        # 64 bits reduced mod 10^6: the bias (< 1e-13) is immaterial.
        return f"{int.from_bytes(digest[:8], 'big') % 1_000_000:06d}"
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def hash_secret(token_id: uuid.UUID, secret: str) -> str:
    """The stored form of a token's secret (salted by its id)."""
    return hashlib.sha256(f"{token_id}:{secret}".encode()).hexdigest()


def secret_matches(token_id: uuid.UUID, secret: str, stored_hash: str | None) -> bool:
    """Whether `secret` is the token's (constant time); never when nothing was sent yet."""
    if stored_hash is None:
        return False
    return hmac.compare_digest(hash_secret(token_id, secret.strip()), stored_hash)


def present(token_id: uuid.UUID, purpose: str, secret: str) -> str:
    """What the user receives: the code itself, or `pat_<id><secret>` for long tokens."""
    if purpose in CODE_PURPOSES:
        return secret
    return f"{TOKEN_PREFIX}{token_id.hex}{secret}"


def parse_token(text: str) -> tuple[uuid.UUID, str] | None:
    """The id and secret of a long token as `present` spelled it, or None."""
    match = _TOKEN_RE.match(text.strip())
    if match is None:
        return None
    return uuid.UUID(hex=match.group(1)), match.group(2)
