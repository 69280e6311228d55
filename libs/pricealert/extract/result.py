"""The values extraction produces: the public `Extraction` and the internal `Offer`."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from pricealert.availability import Availability, in_stock_of


@dataclass(frozen=True, slots=True)
class Extraction:
    """What one product page says about price, currency, availability and title.

    `availability` is the schema.org ItemAvailability name (or None when the page
    says nothing machine-readable and no stock selector is configured); `in_stock`
    is derived from it (`pricealert.availability.in_stock_of`). `method` names the
    strategy that gave the price (`selector`, `jsonld`, `microdata`, `rdfa`,
    `opengraph`) or `none`. A recognised block page has
    `blocked=True`, a `block_reason`, and never a price.
    """

    price: Decimal | None
    currency: str | None
    availability: Availability | None
    title: str | None
    method: str
    blocked: bool = False
    block_reason: str | None = None

    @property
    def in_stock(self) -> bool | None:
        """Whether a buyer can order it now and receive it without waiting."""
        return in_stock_of(self.availability)


class ShownText(str):
    """A value read from an element's visible text (`26,00 €`), not from an attribute.

    Such a value is written for people, so it is read as price text (any
    grouping, a currency symbol before or after), not as a schema.org number.
    """

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class Offer:
    """One offer a page makes, as read from structured data (price may be missing)."""

    price: Decimal | None
    currency: str | None
    availability: Availability | None
    url: str | None = None


@dataclass(frozen=True, slots=True)
class Found:
    """What one strategy found: possibly a price, possibly only availability.

    `by_url` says the price is the offer whose URL is the page's among offers
    with different URLs: the page's own variant, the most specific a page says.
    """

    price: Decimal | None
    currency: str | None
    availability: Availability | None
    title: str | None
    by_url: bool = False
