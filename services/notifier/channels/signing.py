"""Standard Webhooks signatures (https://www.standardwebhooks.com/).

    webhook-id:        the notification id (the same on every retry: receivers dedupe on it)
    webhook-timestamp: unix seconds of this attempt
    webhook-signature: "v1," + base64(HMAC-SHA256(key, f"{id}.{timestamp}.{body}"))

where `key` is the base64-decoded secret after its `whsec_` prefix. A receiver
checks the signature over the exact body bytes and refuses timestamps more
than five minutes off (replays). `verify` is that receiver side, for tests and
the demo.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping

SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix, not a secret
TOLERANCE_SECONDS = 300


class InvalidSecret(ValueError):
    """The signing secret is not `whsec_` + base64."""


def _key(secret: str) -> bytes:
    try:
        return base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidSecret("the signing secret is not whsec_ followed by base64") from exc


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` header value for one attempt."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def verify(secret: str, headers: Mapping[str, str], body: bytes, *, now: float) -> bool:
    """Whether `headers` (lower-case names) carry a valid, fresh signature of `body`."""
    try:
        message_id = headers["webhook-id"]
        timestamp = int(headers["webhook-timestamp"])
        offered = headers["webhook-signature"].split(" ")
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > TOLERANCE_SECONDS:
        return False
    expected = sign(secret, message_id, timestamp, body)
    return any(hmac.compare_digest(expected, candidate) for candidate in offered)
