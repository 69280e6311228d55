"""Webhooks: a signed JSON POST. This docstring is the public webhook contract.

Request::

    POST <your endpoint>
    content-type: application/json
    webhook-id: 0b6c...               the notification id; the same on every retry
    webhook-timestamp: 1764364800     unix seconds of this attempt
    webhook-signature: v1,<base64>    Standard Webhooks HMAC-SHA256 (see `signing`)

Body (UTF-8 JSON; amounts are decimal strings, each beside its ISO 4217
currency; times are ISO 8601 UTC)::

    {
      "type": "price.alert",
      "timestamp": "2026-11-28T21:00:00Z",          when the change was detected
      "data": {
        "notification_id": "0b6c...",               equals webhook-id
        "alert": {"id": "…", "kind": "below",       below | drop_percent | change |
                  "threshold": "90.00",             back_in_stock | lowest_ever
                  "reason": "price 89.50 USD is at or below 90.00"},
        "product": {"id": "…",                      the product's id in the API (/v1/products/{id})
                    "url": "https://shop.example/p/1", "title": "Walnut desk lamp"},
        "price": {"old": {"amount": "100.00", "currency": "USD"},   null when unknown
                  "new": {"amount": "89.50", "currency": "USD"}},
        "in_stock": {"old": true, "new": true},     null when unknown
        "availability": {"old": "InStock",          schema.org ItemAvailability name, or
                         "new": "LimitedAvailability"},   null when unknown
        "detected_at": "2026-11-28T21:00:00Z"
      }
    }

`threshold` is a price for `below`, a percentage for `drop_percent`, null
otherwise. `availability` is one of InStock, LimitedAvailability, InStoreOnly,
OnlineOnly (these are `in_stock: true`: orderable now), OutOfStock, SoldOut,
Discontinued, PreOrder, PreSale, BackOrder (`in_stock: false`), or null;
`in_stock` is derived from it and kept for compatibility. Fields are only
ever added to this body, never removed or renamed: ignore those you do not
know (notifications stored before a field existed are sent without it).

A test notification (`POST /v1/channels/{id}/test`) has `"type":
"channel.test"` and `data` = `{"notification_id": …, "message": …}`.

Delivery: answer any 2xx within 10 seconds. 408, 429 and 5xx (and timeouts or
refused connections) are retried with exponential backoff and jitter for up
to 24 hours — the same `webhook-id` each time, so deduplicate on it; 3xx is
not followed and fails the notification; 410 Gone disables the channel; any
other 4xx fails the notification. Verify the signature over the raw body and
refuse timestamps more than 5 minutes away from your clock.
"""

from __future__ import annotations

import json
import time
from typing import Any

from pricealert.http import GuardedClient
from services.notifier.channels import Delivery, PermanentFailure
from services.notifier.channels.http import post
from services.notifier.channels.signing import InvalidSecret, sign
from services.notifier.settings import NotifierSettings


def webhook_body(delivery: Delivery) -> dict[str, Any]:
    """The contract's body for a stored payload (test payloads get the same envelope)."""
    payload = delivery.payload
    if "data" in payload:
        return payload
    data = {"notification_id": str(delivery.notification_id)}
    data.update({key: value for key, value in payload.items() if key != "type"})
    timestamp = delivery.detected_at.isoformat().replace("+00:00", "Z")
    return {"type": payload.get("type", "channel.test"), "timestamp": timestamp, "data": data}


class WebhookSender:
    def __init__(self, http: GuardedClient, settings: NotifierSettings) -> None:
        self.http = http
        self.settings = settings

    async def send(self, delivery: Delivery) -> None:
        """Sign and POST the body."""
        if not delivery.secret:
            raise PermanentFailure("the webhook channel has no signing secret")
        body = json.dumps(webhook_body(delivery), separators=(",", ":"), ensure_ascii=False)
        raw = body.encode()
        message_id = str(delivery.notification_id)
        timestamp = int(time.time())
        try:
            signature = sign(delivery.secret, message_id, timestamp, raw)
        except InvalidSecret as exc:
            raise PermanentFailure(str(exc)) from exc
        headers = {
            "webhook-id": message_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": signature,
        }
        await post(
            self.http,
            delivery.target,
            raw,
            headers,
            total_seconds=self.settings.http_timeout_seconds,
        )
