from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from pydantic import Field, field_validator
from selectolax.lexbor import LexborHTMLParser, SelectolaxError

from pricealert.availability import Availability
from pricealert.kinds import ExtractionMethod, ProductStatus
from services.api.schemas import RequestModel, ResponseModel

MAX_INTERVAL_SECONDS = 7 * 24 * 3600
_AVAILABILITY = (
    "The schema.org ItemAvailability name; null when the page says nothing machine-readable "
    "and no stock selector is set."
)
_IN_STOCK = (
    "Orderable now and received without waiting, derived from `availability`: true for "
    "InStock, LimitedAvailability, InStoreOnly, OnlineOnly; false for OutOfStock, SoldOut, "
    "Discontinued, PreOrder, PreSale, BackOrder; null when availability is."
)
_PROBE = LexborHTMLParser("<p></p>")


def _valid_selector(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        _PROBE.css_first(value)
    except SelectolaxError as exc:
        raise ValueError("not a valid CSS selector") from exc
    return value


class _PageRequest(RequestModel):
    """A product page, and where on it the price and the stock words are, when needed."""

    url: str = Field(max_length=4096, description="The product page (http or https).")
    selector: str | None = None
    stock_selector: str | None = None

    _selectors = field_validator("selector", "stock_selector")(_valid_selector)


class ProductCreate(_PageRequest):
    selector: str | None = Field(
        default=None, max_length=500, description="CSS selector of the price, when needed."
    )
    stock_selector: str | None = Field(
        default=None, max_length=500, description="CSS selector of the stock text, when needed."
    )
    check_interval_seconds: int | None = Field(default=None, le=MAX_INTERVAL_SECONDS)


class ProductUpdate(RequestModel):
    check_interval_seconds: int = Field(le=MAX_INTERVAL_SECONDS)


class ProductOut(ResponseModel):
    id: uuid.UUID = Field(description="Your watch of this product.")
    url: str
    selector: str | None
    stock_selector: str | None
    check_interval_seconds: int
    title: str | None
    price: Decimal | None = Field(description="Decimal string, in `currency`.")
    currency: str | None = Field(description="ISO 4217.")
    availability: Availability | None = Field(description=_AVAILABILITY)
    in_stock: bool | None = Field(description=_IN_STOCK)
    status: ProductStatus = Field(
        description="`active`: checked on schedule; `failing`: the last checks failed (see "
        "`last_error`), retried with back-off; `paused`: no longer checked."
    )
    last_checked_at: datetime | None
    last_changed_at: datetime | None
    last_error: str | None
    created_at: datetime


class PricePointOut(ResponseModel):
    price: Decimal | None
    currency: str | None
    availability: Availability | None = Field(description=_AVAILABILITY)
    in_stock: bool | None = Field(description=_IN_STOCK)
    first_seen_at: datetime
    last_seen_at: datetime


class PriceHistoryOut(ResponseModel):
    product_id: uuid.UUID
    items: list[PricePointOut]


class PriceStatsOut(ResponseModel):
    currency: str | None
    current: Decimal | None
    lowest: Decimal | None
    highest: Decimal | None
    low_30d: Decimal | None
    mean_30d: Decimal | None = Field(description="Time-weighted mean over 30 days.")
    low_90d: Decimal | None
    mean_90d: Decimal | None = Field(description="Time-weighted mean over 90 days.")
    availability: Availability | None = Field(description="The current one. " + _AVAILABILITY)
    in_stock: bool | None = Field(description="The current one. " + _IN_STOCK)


class CheckQueued(ResponseModel):
    status: str = "queued"


# --- preview (POST /v1/products/preview): read a page before watching it ---


class PreviewRequest(_PageRequest):
    selector: str | None = Field(
        default=None, max_length=500, description="A CSS selector of the price to try."
    )
    stock_selector: str | None = Field(
        default=None, max_length=500, description="A CSS selector of the stock words to try."
    )


class CandidateOut(ResponseModel):
    selector: str = Field(description="Selects exactly this element first (robust form).")
    text: str = Field(description="What the element shows today.")
    score: float
    reasons: list[str] = Field(description="Why it ranked where it did.")
    price: Decimal | None = Field(default=None, description="Price candidates: decimal string.")
    currency: str | None = None
    availability: str | None = Field(
        default=None, description="Stock candidates: the schema.org availability the words mean."
    )


class SuggestionsOut(ResponseModel):
    price: list[CandidateOut]
    stock: list[CandidateOut]


class PreviewOut(ResponseModel):
    url: str = Field(description="The URL as it would be watched (normalised).")
    final_url: str = Field(description="Where the page was read, after redirects.")
    status: int
    price: Decimal | None = Field(description="Decimal string, in `currency`; null if none.")
    currency: str | None
    availability: str | None = Field(description="schema.org ItemAvailability name, or null.")
    in_stock: bool | None
    title: str | None
    method: ExtractionMethod = Field(
        description="Where the price was read: your selector, JSON-LD, microdata, RDFa, "
        "OpenGraph meta tags, or none."
    )
    blocked: bool = Field(description="The shop served a captcha or bot wall.")
    block_reason: str | None
    suggestions: SuggestionsOut = Field(description="Ranked selectors; never applied by itself.")
