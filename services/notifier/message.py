"""What a notification says to a person: subject, text lines, links. Pure.

Built from the stored payload (the webhook contract, see `channels/webhook.py`),
so every channel tells the same story; test notifications (`channel.test`)
get a short fixed message, and one-time tokens (`one_time_token`: verification codes,
key recovery; built in memory by `tokens.py`, never stored) say what the secret is for
and what to do when it was not asked for.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from pricealert.kinds import RuleKind

TEST_EVENT = "channel.test"
TOKEN_EVENT = "one_time_token"  # noqa: S105 - an event name, not a secret
ALERT_FOOTER = "Sent by PriceAlert because you asked for this alert."


@dataclass(frozen=True, slots=True)
class Message:
    subject: str
    #: Facts, one per line: "Now: 80.00 USD".
    lines: tuple[str, ...]
    product_url: str | None
    history_url: str | None
    title: str
    #: The small print under an email.
    footer: str = ALERT_FOOTER
    #: The whole SMS text, when the message has its own short form.
    short: str | None = None

    @property
    def text(self) -> str:
        """The plain-text body."""
        parts = [self.subject, "", *self.lines]
        if self.product_url:
            parts += ["", f"Product: {self.product_url}"]
        if self.history_url:
            parts.append(f"Price history: {self.history_url}")
        return "\n".join(parts) + "\n"


def money(amount: dict[str, str] | None) -> str:
    """`80.00 USD`, or "unknown"."""
    if not amount:
        return "unknown"
    return f"{amount['amount']} {amount['currency']}".strip()


#: How each schema.org availability reads in a message.
_AVAILABILITY_WORDS = {
    "InStock": "in stock",
    "LimitedAvailability": "in stock, limited availability",
    "InStoreOnly": "in stock, in store only",
    "OnlineOnly": "in stock, online only",
    "OutOfStock": "out of stock",
    "SoldOut": "sold out",
    "Discontinued": "discontinued",
    "PreOrder": "pre-order",
    "PreSale": "pre-sale",
    "BackOrder": "back-order",
}


def _stock(data: dict[str, Any], which: str) -> str:
    """The `old` or `new` stock in words: the availability, else `in_stock` (payloads
    stored before availability was recorded carry only that)."""
    availability = (data.get("availability") or {}).get(which)
    if availability in _AVAILABILITY_WORDS:
        return _AVAILABILITY_WORDS[availability]
    in_stock = (data.get("in_stock") or {}).get(which)
    return "unknown" if in_stock is None else "in stock" if in_stock else "out of stock"


#: Each rule kind's subject line; a payload of an unknown kind reads as a `change`.
SUBJECTS: Final[dict[str, str]] = {
    RuleKind.BELOW: "{title} is now {new} (your target: {threshold} or less)",
    RuleKind.DROP_PERCENT: "{title} dropped {threshold} % or more: now {new}",
    RuleKind.CHANGE: "{title}: price changed from {old} to {new}",
    RuleKind.BACK_IN_STOCK: "{title} is back in stock ({new})",
    RuleKind.LOWEST_EVER: "{title} is at its lowest price ever: {new}",
}


def _subject(kind: str, title: str, old: str, new: str, threshold: str | None) -> str:
    template = SUBJECTS.get(kind, SUBJECTS[RuleKind.CHANGE])
    return template.format(title=title, old=old, new=new, threshold=threshold)


def render(payload: dict[str, Any], public_base_url: str) -> Message:
    """The human message for a stored notification payload."""
    if payload.get("type") == TOKEN_EVENT:
        return _token_message(payload, public_base_url)
    if payload.get("type") == TEST_EVENT or "data" not in payload:
        text = str(payload.get("message") or "PriceAlert test notification")
        return Message(
            subject="PriceAlert test notification",
            lines=(text, "If you can read this, this channel works."),
            product_url=None,
            history_url=None,
            title="PriceAlert",
        )
    data = payload["data"]
    product, alert = data.get("product", {}), data.get("alert", {})
    title = product.get("title") or product.get("url") or "Your product"
    old, new = money(data["price"].get("old")), money(data["price"].get("new"))
    was = _stock(data, "old")
    lines = (
        f"Now: {new} ({_stock(data, 'new')})",
        f"Before: {old}" if was == "unknown" else f"Before: {old} ({was})",
        f"Why: {alert.get('reason', '')}",
        f"Detected: {data.get('detected_at', '')}",
    )
    history = None
    if product.get("id"):
        history = f"{public_base_url.rstrip('/')}/v1/products/{product['id']}/prices"
    return Message(
        subject=_subject(alert.get("kind", ""), title, old, new, alert.get("threshold")),
        lines=lines,
        product_url=product.get("url"),
        history_url=history,
        title=title,
    )


def _token_message(payload: dict[str, Any], public_base_url: str) -> Message:
    """A verification code or a recovery token, with what to do with it (or without)."""
    base = public_base_url.rstrip("/")
    secret, minutes = str(payload["secret"]), int(payload["expires_minutes"])
    purpose = payload.get("purpose")
    not_you = "If you did not ask for this, ignore this message: nothing more will be sent here."
    if purpose == "sign_in":
        return _sign_in_message(payload, secret, minutes)
    if purpose == "key_recovery":
        body = '{"token":"' + secret + '"}'
        return Message(
            subject="Your PriceAlert key recovery token",
            lines=(
                "Someone asked for a new API key for the PriceAlert account of this address.",
                f"Recovery token (works once, for {minutes} minutes): {secret}",
                f"curl -X POST {base}/v1/users/recover/confirm "
                f"-H 'Content-Type: application/json' -d '{body}'",
                "If it was not you, ignore this message: your keys are unchanged.",
            ),
            product_url=None,
            history_url=None,
            title="PriceAlert",
            footer="Sent by PriceAlert because key recovery was asked for this address.",
        )
    if purpose == "channel_verification":
        why = "Someone asked PriceAlert to send price alerts here. To confirm it was you,"
        where = f"POST {base}/v1/channels/{payload.get('channel_id')}/verify"
    else:
        why = "Someone signed up to PriceAlert with this address. To confirm it was you,"
        where = f"POST {base}/v1/users/me/verify"
    return Message(
        subject=f"Your PriceAlert code: {secret}",
        lines=(
            f"{why} enter this code: {secret}",
            f"It works for {minutes} minutes: {where}",
            not_you,
        ),
        product_url=None,
        history_url=None,
        title="PriceAlert",
        footer="Sent by PriceAlert because this address was given to it.",
        short=f"PriceAlert code: {secret} (valid {minutes} min). Not you? Ignore this message.",
    )


def _sign_in_message(payload: dict[str, Any], secret: str, minutes: int) -> Message:
    """A sign-in link to the web UI, in the user's language (English unless they chose
    Japanese)."""
    web = str(payload.get("web_base_url") or "").rstrip("/")
    link = f"{web}/sign-in/confirm?token={secret}"
    if payload.get("locale") == "ja":
        return Message(
            subject="PriceAlert へのサインイン",
            lines=(
                "次のリンクを開いて PriceAlert にサインインしてください"
                f"（1 回限り、{minutes} 分間有効）。",
                link,
                "心当たりがない場合は、このメールを無視してください。"
                "このリンクがなければ誰もサインインできません。",
            ),
            product_url=None,
            history_url=None,
            title="PriceAlert",
            footer="このアドレスでのサインインが求められたため、PriceAlert が送信しました。",
        )
    return Message(
        subject="Sign in to PriceAlert",
        lines=(
            f"Open this link to sign in to PriceAlert (it works once, for {minutes} minutes):",
            link,
            "If you did not ask for this, ignore this message: nobody can sign in without "
            "this link.",
        ),
        product_url=None,
        history_url=None,
        title="PriceAlert",
        footer="Sent by PriceAlert because a sign-in was asked for this address.",
    )


def short_text(message: Message, limit: int = 160) -> str:
    """One SMS segment: the subject, and the product link when it fits."""
    if message.short is not None:
        return message.short[:limit]
    text = f"PriceAlert: {message.subject}"
    if len(text) > limit:
        text = text[: limit - 3] + "..."  # ASCII: "…" would force UCS-2 (70 chars a segment)
    if message.product_url and len(text) + 1 + len(message.product_url) <= limit:
        text += " " + message.product_url
    return text
