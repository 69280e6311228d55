from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pricealert.kinds import NotificationStatus
from services.api.schemas import ResponseModel


class NotificationOut(ResponseModel):
    id: uuid.UUID
    alert_id: uuid.UUID | None
    channel_id: uuid.UUID | None
    channel_kind: str
    rule_kind: str
    status: NotificationStatus
    attempts: int
    last_error: str | None
    payload: dict[str, Any]
    detected_at: datetime
    created_at: datetime
    sent_at: datetime | None
