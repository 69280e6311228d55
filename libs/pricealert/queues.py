"""Queue contracts: the only way services meet.

Each queue has one job function name and one pydantic payload. Payloads travel
as JSON (see `serializer`/`deserializer`), never pickle. Job ids are
deterministic where duplicates must collapse: arq refuses a second job with the
id of one still queued or running.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Final

from pydantic import BaseModel, ConfigDict

SCRAPE_QUEUE: Final = "pricealert:scrape"
EVALUATE_QUEUE: Final = "pricealert:evaluate"
NOTIFY_QUEUE: Final = "pricealert:notify"
ALL_QUEUES: Final = (SCRAPE_QUEUE, EVALUATE_QUEUE, NOTIFY_QUEUE)

CHECK_PRODUCT: Final = "check_product"
EVALUATE_CHANGE: Final = "evaluate_change"
DELIVER_NOTIFICATION: Final = "deliver_notification"


class JobPayload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CheckProduct(JobPayload):
    """Fetch one product now. `lease_token` proves the claim the job acts on."""

    product_id: int
    lease_token: str | None = None
    requested_at: datetime | None = None


class EvaluateChange(JobPayload):
    """Evaluate the rules of a product against one recorded change (history row)."""

    product_id: int
    history_id: int


class DeliverNotification(JobPayload):
    """Deliver one notification through its channel."""

    notification_id: str


def check_product_job_id(product_id: int) -> str:
    """One queued check per product at a time."""
    return f"check:{product_id}"


def evaluate_change_job_id(history_id: int) -> str:
    return f"evaluate:{history_id}"


def deliver_notification_job_id(notification_id: str) -> str:
    return f"deliver:{notification_id}"


def serializer(obj: dict[str, Any]) -> bytes:
    """arq job serializer: JSON instead of pickle."""
    return json.dumps(obj, default=str, separators=(",", ":")).encode()


def deserializer(data: bytes) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(data)
    return result
