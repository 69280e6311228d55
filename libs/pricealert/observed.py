"""What a check establishes about a product's offer: price, currency and availability.

`ObservedState` is the one value the scraper compares (a check that sees the
stored state extends the current history row; any other state opens a new
row), the price history stores, and the evaluator's rules read. A change of
availability alone (InStock → LimitedAvailability, PreOrder → InStock) is a
change. `in_stock` is derived from `availability` (`pricealert.availability`),
as PostgreSQL derives its `in_stock` columns: there is one source of truth.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from pricealert.availability import Availability, in_stock_of


@dataclass(frozen=True, slots=True)
class ObservedState:
    """A product's observed price (Decimal, in `currency`, ISO 4217) and availability."""

    price: Decimal | None
    currency: str | None
    availability: Availability | None

    @property
    def in_stock(self) -> bool | None:
        """Whether a buyer can order it now and receive it without waiting (None: unknown)."""
        return in_stock_of(self.availability)

    @classmethod
    def stored(
        cls, price: Decimal | None, currency: str | None, availability: str | None
    ) -> ObservedState:
        """The state as PostgreSQL returns it (availability as its name)."""
        return cls(price, currency, None if availability is None else Availability(availability))


#: Nothing known yet: a product never checked.
UNKNOWN = ObservedState(None, None, None)
