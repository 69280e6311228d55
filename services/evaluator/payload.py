"""The payload stored on each notification: the event, as channels and the API show it.

Its shape is the public webhook contract, documented in
`services/notifier/channels/webhook.py` (the notifier signs and sends it as is).
Amounts are decimal strings, each beside its ISO 4217 currency; availability is
the schema.org ItemAvailability name, beside the `in_stock` derived from it.
Fields are only ever added to it, never removed or renamed.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pricealert.repositories.evaluation import HistoryRow, ProductRef, RuleRow

ALERT_EVENT = "price.alert"


def _amount(row: HistoryRow | None) -> dict[str, str] | None:
    if row is None or row.state.price is None:
        return None
    return {"amount": str(row.state.price), "currency": row.state.currency or ""}


def _availability(row: HistoryRow | None) -> str | None:
    if row is None or row.state.availability is None:
        return None
    return str(row.state.availability)  # a StrEnum: its value, without `.value`'s calls


def alert_payload(
    *,
    notification_id: uuid.UUID,
    rule: RuleRow,
    product: ProductRef,
    row: HistoryRow,
    previous: HistoryRow | None,
    last_priced: HistoryRow | None,
    reason: str,
) -> dict[str, Any]:
    """The event of `rule` firing (or being withheld) on history row `row`."""
    detected_at = _iso(row.first_seen_at)
    return {
        "type": ALERT_EVENT,
        "timestamp": detected_at,
        "data": {
            "notification_id": str(notification_id),
            "alert": {
                "id": str(rule.id),
                "kind": rule.kind,
                "threshold": None if rule.threshold is None else str(rule.threshold),
                "reason": reason,
            },
            "product": {"id": str(rule.watch_id), "url": product.url, "title": product.title},
            "price": {"old": _amount(last_priced), "new": _amount(row)},
            "in_stock": {
                "old": None if previous is None else previous.state.in_stock,
                "new": row.state.in_stock,
            },
            "availability": {"old": _availability(previous), "new": _availability(row)},
            "detected_at": detected_at,
        },
    }


def _iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")
