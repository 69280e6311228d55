"""The values extraction produces: the public `Extraction` and the internal `Offer`."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class Extraction:
    """What one product page says about price, currency, stock and title.

    `method` names the strategy that gave the price (`selector`, `jsonld`,
    `microdata`, `rdfa`, `opengraph`) or `none`. A recognised block page has
    `blocked=True`, a `block_reason`, and never a price.
    """

    price: Decimal | None
    currency: str | None
    in_stock: bool | None
    title: str | None
    method: str
    blocked: bool = False
    block_reason: str | None = None


@dataclass(frozen=True, slots=True)
class Offer:
    """One offer a page makes, as read from structured data (price may be missing)."""

    price: Decimal | None
    currency: str | None
    in_stock: bool | None
    url: str | None = None


@dataclass(frozen=True, slots=True)
class Found:
    """What one strategy found: possibly a price, possibly only stock."""

    price: Decimal | None
    currency: str | None
    in_stock: bool | None
    title: str | None
