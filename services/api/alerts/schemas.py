from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Final

from pydantic import Field

from pricealert.kinds import RuleKind
from services.api.schemas import PlainDecimal, RequestModel, ResponseModel

#: What each rule kind fires on, as the API reference says it.
RULE_KIND_DOCS: Final[dict[RuleKind, str]] = {
    RuleKind.BELOW: "the price enters the zone at or under `threshold` (once, until it has "
    "left the zone again by 1 % or one minor unit)",
    RuleKind.DROP_PERCENT: "the price fell by at least `threshold` % below the highest price "
    "seen since the alert was made or last fired",
    RuleKind.CHANGE: "the price differs from the last known price",
    RuleKind.BACK_IN_STOCK: "the product can be ordered now (`in_stock` turned true) after it "
    "could not",
    RuleKind.LOWEST_EVER: "the price is lower than every earlier price of the product",
}
_KIND_DOC = (
    "When the alert fires. "
    + "; ".join(f"`{kind}`: {doc}" for kind, doc in RULE_KIND_DOCS.items())
    + ". Prices are compared within one currency only."
)

ChannelIds = list[uuid.UUID]

_THRESHOLD_DOC = (
    "below: the price (in the product's currency) at or under which to alert: more than 0, "
    "at most 12 digits before the point and no more after it than the currency has minor "
    "units (none for JPY, 2 for USD and EUR); "
    "drop_percent: the drop in percent, more than 0 and less than 100, at most 2 decimals; "
    'other kinds take none. A decimal string (`"1280"`) or a JSON number, never with an '
    "exponent."
)


class AlertCreate(RequestModel):
    product_id: uuid.UUID = Field(description="The id of one of your watched products.")
    kind: RuleKind = Field(description=_KIND_DOC, examples=["below"])
    threshold: PlainDecimal | None = Field(default=None, description=_THRESHOLD_DOC)
    channel_ids: ChannelIds = Field(min_length=1, max_length=10)
    cooldown_seconds: int = Field(default=0, ge=0, le=30 * 24 * 3600)


class AlertUpdate(RequestModel):
    threshold: PlainDecimal | None = Field(default=None, description=_THRESHOLD_DOC)
    channel_ids: ChannelIds | None = Field(default=None, min_length=1, max_length=10)
    cooldown_seconds: int | None = Field(default=None, ge=0, le=30 * 24 * 3600)
    enabled: bool | None = None


class AlertOut(ResponseModel):
    id: uuid.UUID
    product_id: uuid.UUID
    kind: RuleKind = Field(description=_KIND_DOC)
    threshold: Decimal | None
    channel_ids: ChannelIds
    cooldown_seconds: int
    enabled: bool
    last_fired_at: datetime | None
    created_at: datetime
