"""Delivery channels: one module each, one `send(delivery)` each.

A sender returns when the provider accepted the message, or raises:

    DeliveryFailed              base (a `PriceAlertError`); `reason` is what the log shows
    ├── TransientFailure        try again later (timeouts, 5xx, 408, 429, connection errors);
    │                           `retry_after` when the provider said how long to wait
    └── PermanentFailure        never again (4xx, 3xx for webhooks, invalid target);
                                `disable_channel` when the endpoint is gone (410)

`build_senders(settings, http)` wires every channel; Slack and webhooks speak
through the shared guarded HTTP client.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from pricealert.errors import PriceAlertError
from pricealert.kinds import ChannelKind

if TYPE_CHECKING:
    from pricealert.http import GuardedClient
    from services.notifier.settings import NotifierSettings


class DeliveryFailed(PriceAlertError, status=502, code="delivery_failed", title="Delivery failed"):
    """A channel's provider (mail server, SMS gateway, Slack, a webhook receiver) did not
    take the message. The notification records the reason; a refusal that means the
    address is gone (HTTP 410) also disables the channel."""

    transient = False

    def __init__(
        self, reason: str, *, retry_after: float | None = None, disable_channel: bool = False
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after
        self.disable_channel = disable_channel


class TransientFailure(DeliveryFailed, code="delivery_transient"):
    """The provider could not take the message now (a timeout, a 5xx, a 429): it is tried
    again after a backoff (or the provider's `Retry-After`) until the retry window ends."""

    transient = True


class PermanentFailure(DeliveryFailed, code="delivery_permanent"):
    """The provider refused the message for good (a rejected address, a 4xx, a redirect): it is not
    tried again, and the notification is recorded `failed` with the reason."""


@dataclass(frozen=True, slots=True)
class Delivery:
    """One notification on its way through one channel."""

    notification_id: uuid.UUID
    channel_kind: str
    target: str
    secret: str | None
    payload: dict[str, Any]
    detected_at: datetime
    attempt: int
    #: The product's price history drawn as PNG (email only; None when there is none).
    chart_png: bytes | None = None


class Sender(Protocol):
    async def send(self, delivery: Delivery) -> None: ...


def build_senders(settings: NotifierSettings, http: GuardedClient) -> dict[str, Sender]:
    """A sender per channel kind."""
    from services.notifier.channels.email import EmailSender
    from services.notifier.channels.slack import SlackSender
    from services.notifier.channels.sms import SmsSender
    from services.notifier.channels.webhook import WebhookSender

    return {
        ChannelKind.EMAIL: EmailSender(settings),
        ChannelKind.SMS: SmsSender(settings),
        ChannelKind.SLACK: SlackSender(http, settings),
        ChannelKind.WEBHOOK: WebhookSender(http, settings),
    }
