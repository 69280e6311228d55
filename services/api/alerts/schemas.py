from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Literal

from pydantic import Field

from services.api.schemas import RequestModel, ResponseModel

RuleKind = Literal["below", "drop_percent", "change", "back_in_stock", "lowest_ever"]
ChannelIds = list[uuid.UUID]

_THRESHOLD_DOC = (
    "below: the price (in the product's currency) at or under which to alert; "
    "drop_percent: the drop in percent (0-100, exclusive); other kinds take none."
)


class AlertCreate(RequestModel):
    product_id: uuid.UUID = Field(description="The id of one of your watched products.")
    kind: RuleKind
    threshold: Decimal | None = Field(default=None, description=_THRESHOLD_DOC)
    channel_ids: ChannelIds = Field(min_length=1, max_length=10)
    cooldown_seconds: int = Field(default=0, ge=0, le=30 * 24 * 3600)


class AlertUpdate(RequestModel):
    threshold: Decimal | None = Field(default=None, description=_THRESHOLD_DOC)
    channel_ids: ChannelIds | None = Field(default=None, min_length=1, max_length=10)
    cooldown_seconds: int | None = Field(default=None, ge=0, le=30 * 24 * 3600)
    enabled: bool | None = None


class AlertOut(ResponseModel):
    id: uuid.UUID
    product_id: uuid.UUID
    kind: str
    threshold: Decimal | None
    channel_ids: ChannelIds
    cooldown_seconds: int
    enabled: bool
    last_fired_at: datetime | None
    created_at: datetime
