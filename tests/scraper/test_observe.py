"""The check's pure decisions: what needs a second fetch before it is believed."""

from __future__ import annotations

from decimal import Decimal

from pricealert.availability import Availability
from pricealert.observed import ObservedState
from services.scraper.observe import implausible

RATIO = Decimal(3)


def state(price: str, currency: str = "JPY", availability: str = "InStock") -> ObservedState:
    return ObservedState(Decimal(price), currency, Availability(availability))


def test_no_change_is_never_implausible_not_even_a_zero_price() -> None:
    assert implausible(state("0"), state("0"), RATIO) is None
    assert implausible(state("1280"), state("1280.00"), RATIO) is None


def test_a_change_of_availability_alone_is_believed_at_once() -> None:
    assert implausible(state("1280", availability="PreOrder"), state("1280"), RATIO) is None


def test_a_jump_a_currency_change_or_a_zero_price_needs_confirming() -> None:
    assert implausible(state("1280"), state("12800"), RATIO) == "price moved from 1280 to 12800"
    assert implausible(state("1280"), state("1280", "USD"), RATIO) == (
        "currency changed from JPY to USD"
    )
    assert implausible(state("1280"), state("0"), RATIO) == "a zero or negative price"
    assert implausible(state("1280"), state("1000"), RATIO) is None
