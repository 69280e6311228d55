"""Slack: an incoming-webhook message — a readable line, the facts, and links.

Uses Slack's `text` (notifications and fallbacks) plus `blocks` (what people
see). Slack answers 200 "ok"; 400 `invalid_payload`, 403 `invalid_token`, 404
`no_service` are permanent, 410 `channel_is_archived` disables the channel.
"""

from __future__ import annotations

import json
from typing import Any

from pricealert.http import GuardedClient
from services.notifier.channels import Delivery
from services.notifier.channels.http import post
from services.notifier.message import Message, render
from services.notifier.settings import NotifierSettings


def _escape(text: str) -> str:
    """Slack mrkdwn needs &, < and > escaped."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_body(message: Message) -> dict[str, Any]:
    """The incoming-webhook JSON for a message."""
    headline = _escape(message.subject)
    if message.product_url:
        headline = f"<{message.product_url}|{headline}>"
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": f"*{headline}*"}},
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": "\n".join(_escape(x) for x in message.lines)},
        },
    ]
    if message.history_url:
        blocks.append(
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": f"<{message.history_url}|Price history>"}],
            }
        )
    return {"text": message.subject, "blocks": blocks, "unfurl_links": False}


class SlackSender:
    def __init__(self, http: GuardedClient, settings: NotifierSettings) -> None:
        self.http = http
        self.settings = settings

    async def send(self, delivery: Delivery) -> None:
        """POST the message to the incoming-webhook URL."""
        body = slack_body(render(delivery.payload, self.settings.public_base_url))
        await post(
            self.http,
            delivery.target,
            json.dumps(body, ensure_ascii=False).encode(),
            {},
            total_seconds=self.settings.http_timeout_seconds,
        )
