"""The devtools receiver re-derives Standard Webhooks signatures on its own: it must agree
with the notifier's signer, and refuse a tampered body, a wrong secret or a stale timestamp.
"""

from __future__ import annotations

import base64
import time

from pricealert_ops.devtools.receiver import TOLERANCE_SECONDS, verify
from services.notifier.channels.signing import sign

SECRET = "whsec_" + base64.b64encode(b"chaos-test-key-32-bytes-long!!!!").decode()
BODY = b'{"type":"price.alert"}'


def headers(timestamp: int, body: bytes = BODY, secret: str = SECRET) -> dict[str, str]:
    return {
        "webhook-id": "n-1",
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, "n-1", timestamp, body),
    }


def test_what_the_notifier_signs_the_receiver_accepts() -> None:
    now = int(time.time())

    assert verify(SECRET, headers(now), BODY, now=now)


def test_a_tampered_body_a_wrong_secret_or_a_stale_timestamp_is_refused() -> None:
    now = int(time.time())
    other = "whsec_" + base64.b64encode(b"another-key").decode()

    assert not verify(SECRET, headers(now), BODY + b" ", now=now)
    assert not verify(SECRET, headers(now, secret=other), BODY, now=now)
    assert not verify(SECRET, headers(now - TOLERANCE_SECONDS - 1), BODY, now=now)
    assert not verify("whsec_not base64!", headers(now), BODY, now=now)
    assert not verify(SECRET, {}, BODY, now=now)
