"""A webhook (and Slack) receiver for tests, the demo and chaos drills: records deliveries,
checks signatures.

Built on the programmable test shop, so it can also misbehave: answer 500 then
200, hang past the client's timeout, redirect, or say 410 Gone.

    async with Receiver(secret=channel.secret) as hook:
        url = await hook.start()                  # "http://127.0.0.1:41234/hook"
        hook.answer(Page(status=500), Page())     # in turn; the last repeats
        ...
        [d.json["type"] for d in hook.received]   # what arrived, signature checked
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pricealert_ops.devtools.closing import AsyncClosing
from pricealert_ops.devtools.shop import Page, RecordedRequest, Shop

#: A receiver refuses timestamps further than this from its clock (Standard Webhooks).
TOLERANCE_SECONDS = 300


def verify(secret: str, headers: Mapping[str, str], body: bytes, *, now: float) -> bool:
    """Whether `headers` (lower-case names) carry a valid, fresh Standard Webhooks signature.

    Written here from the specification rather than imported from the notifier: the
    library never imports the services, and a receiver that re-derives the signature
    independently is the better witness that the sender got it right.
    """
    try:
        message_id = headers["webhook-id"]
        timestamp = int(headers["webhook-timestamp"])
        offered = headers["webhook-signature"].split(" ")
        key = base64.b64decode(secret.removeprefix("whsec_"), validate=True)
    except (KeyError, ValueError, binascii.Error):
        return False
    if abs(now - timestamp) > TOLERANCE_SECONDS:
        return False
    digest = hmac.new(key, f"{message_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    expected = "v1," + base64.b64encode(digest).decode()
    return any(hmac.compare_digest(expected, candidate) for candidate in offered)


@dataclass(frozen=True)
class Received:
    headers: dict[str, str]
    body: bytes
    #: True/False when the receiver knows the secret; None when it does not.
    signature_valid: bool | None
    at: float  # time.time() when it arrived

    @property
    def json(self) -> Any:
        return json.loads(self.body)


class Receiver(AsyncClosing):
    def __init__(self, secret: str | None = None, path: str = "/hook") -> None:
        self.secret = secret
        #: Secrets of several channels pointed at this one receiver, by the request target
        #: each channel posts to (`/hook?user=3`); any other target is checked with `secret`.
        self.secrets_by_target: dict[str, str] = {}
        self.path = path
        self.received: list[Received] = []
        self._shop = Shop(record=False)
        self._answers: list[Page] = [Page(status=200, body=b"ok", content_type="text/plain")]
        self._responder: Callable[[RecordedRequest], Page] | None = None

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Listen (`port` 0: OS-assigned); returns the endpoint URL."""
        origin = await self._shop.listen(host, port=port)
        self._shop.handle(self.path, self._handle)
        return origin + self.path

    @property
    def url(self) -> str:
        """The endpoint URL (after `start`)."""
        return self._shop.url(self.path)

    @property
    def netloc(self) -> str:
        """`host:port`, as `fetch_allowed_hosts` wants it."""
        return self._shop.netloc()

    def answer(self, *pages: Page) -> None:
        """Answer the next requests with `pages` in turn; the last one repeats."""
        self._answers = list(pages)

    def respond(self, responder: Callable[[RecordedRequest], Page]) -> None:
        """Answer every request with what `responder` returns for it (after recording it)."""
        self._responder = responder

    async def close(self) -> None:
        await self._shop.close()

    @property
    def valid(self) -> list[Received]:
        """Deliveries whose signature checked out."""
        return [r for r in self.received if r.signature_valid]

    def _handle(self, request: RecordedRequest) -> Page:
        now = time.time()
        secret = self.secrets_by_target.get(request.target, self.secret)
        valid = None if secret is None else verify(secret, request.headers, request.body, now=now)
        self.received.append(Received(request.headers, request.body, valid, now))
        if self._responder is not None:
            return self._responder(request)
        return self._answers.pop(0) if len(self._answers) > 1 else self._answers[0]
