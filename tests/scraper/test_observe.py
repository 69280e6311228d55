"""The check's pure decisions: what needs a second fetch before it is believed."""

from __future__ import annotations

from decimal import Decimal

from pricealert.availability import Availability
from pricealert.observed import ObservedState
from services.scraper.fetch import FetchOutcome
from services.scraper.observe import extract_fetched, implausible

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


def test_a_fetched_page_is_read_with_its_selectors_and_the_charset_its_headers_name() -> None:
    html = '<title>卓上ランプ</title><p class="p">価格：1,280円</p><p class="s">在庫あり</p>'

    def fetched(charset: str) -> FetchOutcome:
        return FetchOutcome(
            url="https://shop.example/go",
            final_url="https://shop.example/p/1",
            status=200,
            body=html.encode("shift_jis"),
            headers={"content-type": f"text/html; charset={charset}"},
        )

    read = extract_fetched(fetched("shift_jis"), ".p", ".s")
    assert (read.price, read.currency, read.availability) == (
        Decimal(1280),
        "JPY",
        Availability.IN_STOCK,
    )
    assert read.title == "卓上ランプ"
    assert read.method == "selector"
    assert extract_fetched(fetched("utf-8"), ".p", ".s").title != "卓上ランプ"
