"""Reading prices out of shop text: separators, currencies, and the words around a price."""

from __future__ import annotations

import unicodedata
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pricealert.extract.price_text import parse_price, to_decimal


@pytest.mark.parametrize(
    ("text", "price", "currency"),
    [
        ("1.234,56 €", "1234.56", "EUR"),
        ("1 234,56 zł", "1234.56", "PLN"),
        ("1\u202f234,56\u00a0zł", "1234.56", "PLN"),
        ("CHF 1'234.50", "1234.50", "CHF"),
        ("₹1,23,456", "123456", "INR"),
        ("Rs. 1,23,456.00", "123456.00", "INR"),
        ("R$ 1.299,90", "1299.90", "BRL"),
        ("$1,299.99", "1299.99", "USD"),
        ("£39.99", "39.99", "GBP"),
        ("USD 12.50", "12.50", "USD"),
        ("1,280円", "1280", "JPY"),
        ("￥１，２８０", "1280", "JPY"),
        ("¥1,280.00", "1280", "JPY"),
        ("12,50 €", "12.50", "EUR"),
        ("EUR 1.299", "1299", "EUR"),
        ("C$ 179.00", "179.00", "CAD"),
    ],
)
def test_locale_formats_read_as_the_same_decimal(text: str, price: str, currency: str) -> None:
    assert parse_price(text) == (Decimal(price), currency)


@pytest.mark.parametrize(
    ("text", "price"),
    [
        ("2,980円(税抜) 3,278円(税込)", "3278"),
        ("¥2,709 税抜 ¥2,980 税込", "2980"),
        ("価格：3,980円（税込4,378円）", "4378"),
        ("¥2,980 (税込) 送料無料 29ポイント", "2980"),
        ("送料 ¥500 商品価格 ¥2,980", "2980"),
        ("¥358,000 税込 (35,800ポイント還元) 分割払い 月々 ¥14,917 × 24回", "358000"),
        ("獲得ポイント 70pt ￥6,980", "6980"),
        ("定価 ¥8,800 → 販売価格 ¥7,480（15%OFF）", "7480"),
        ("参考価格: ￥9,680 ￥6,980", "6980"),
    ],
)
def test_japanese_price_text_prefers_tax_included_and_skips_points_and_shipping(
    text: str, price: str
) -> None:
    assert parse_price(text, japanese=True) == (Decimal(price), "JPY")


@pytest.mark.parametrize(
    ("text", "price", "currency"),
    [
        ("R$ 1.299,90 ou 10x de R$ 129,99 sem juros", "1299.90", "BRL"),
        ("Was $49.99 Now $39.99", "39.99", "USD"),
        ("$19.99 (was $24.99)", "19.99", "USD"),
        ("$19.99 + $5.99 shipping", "19.99", "USD"),
        ("UVP 1.499,00 € 1.234,56 € inkl. MwSt., zzgl. Versand 5,90 €", "1234.56", "EUR"),
        ("CHF 1'234.50 statt CHF 1'399.–", "1234.50", "CHF"),
        ("₹1,23,456 M.R.P.: ₹1,89,900 35% off EMI starts at ₹5,788/month", "123456", "INR"),
        ("128GB $999", "999", "USD"),
        ("$26.99 ($0.84/oz)", "26.99", "USD"),
    ],
)
def test_instalments_was_prices_shipping_and_units_are_never_the_price(
    text: str, price: str, currency: str
) -> None:
    assert parse_price(text) == (Decimal(price), currency)


def test_yen_sign_is_yuan_only_where_the_page_is_chinese() -> None:
    assert parse_price("¥199.00") == (Decimal("199"), "JPY")
    assert parse_price("¥199.00", default_currency="CNY") == (Decimal("199.00"), "CNY")
    assert parse_price("199元") == (Decimal("199"), "CNY")
    assert parse_price("199円", default_currency="CNY") == (Decimal("199"), "JPY")


def test_a_bare_number_takes_the_default_currency_and_japanese_pages_default_to_yen() -> None:
    assert parse_price("64.50", default_currency="USD") == (Decimal("64.50"), "USD")
    assert parse_price("1,280", japanese=True) == (Decimal("1280"), "JPY")
    assert parse_price("64.50") == (Decimal("64.50"), None)


@pytest.mark.parametrize("text", ["", "Sold out", "10% OFF", "29ポイント", "送料 ¥500", "12回"])
def test_text_without_a_price_gives_none(text: str) -> None:
    assert parse_price(text, japanese=True) == (None, None)


def test_structured_values_read_a_lone_point_as_decimal_mark() -> None:
    assert to_decimal("1.234", "EUR", structured=True) == Decimal("1.234")
    assert to_decimal("1.234", "EUR") == Decimal("1234")
    assert to_decimal("1,280", "JPY", structured=True) == Decimal("1280")
    assert to_decimal("12.34.56") is None


# --- formatting a Decimal the way a locale does and reading it back -----------


def _group(whole: int, separator: str, indian: bool = False) -> str:
    digits = str(whole)
    if not indian or len(digits) <= 3:
        groups: list[str] = []
        while digits:
            groups.insert(0, digits[-3:])
            digits = digits[:-3]
        return separator.join(groups)
    head, tail = digits[:-3], digits[-3:]
    pairs: list[str] = []
    while head:
        pairs.insert(0, head[-2:])
        head = head[:-2]
    return separator.join([*pairs, tail])


#: locale → (currency, grouping mark, decimal mark, before, after, Indian grouping)
LOCALES: dict[str, tuple[str, str, str, str, str, bool]] = {
    "de": ("EUR", ".", ",", "", " €", False),
    "fr": ("EUR", "\u202f", ",", "", "\u00a0€", False),
    "pl": ("PLN", " ", ",", "", " zł", False),
    "ch": ("CHF", "'", ".", "CHF ", "", False),
    "in": ("INR", ",", ".", "₹", "", True),
    "br": ("BRL", ".", ",", "R$ ", "", False),
    "us": ("USD", ",", ".", "$", "", False),
    "uk": ("GBP", ",", ".", "£", "", False),
}


def _render(amount: Decimal, locale: str) -> str:
    _, group, mark, before, after, indian = LOCALES[locale]
    whole, _, cents = f"{amount:.2f}".partition(".")
    return f"{before}{_group(int(whole), group, indian)}{mark}{cents}{after}"


amounts = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("99999999.99"), places=2)


@given(amount=amounts, locale=st.sampled_from(sorted(LOCALES)))
def test_any_amount_formatted_in_a_locale_reads_back_as_the_same_decimal(
    amount: Decimal, locale: str
) -> None:
    assert parse_price(_render(amount, locale)) == (amount, LOCALES[locale][0])


@given(yen=st.integers(min_value=1, max_value=99_999_999), full_width=st.booleans())
def test_any_yen_amount_reads_back_as_a_whole_number(yen: int, full_width: bool) -> None:
    text = f"{_group(yen, ',')}円(税込)"
    if full_width:  # the reverse of NFKC for digits and the comma
        text = "".join(chr(ord(c) + 0xFEE0) if c in "0123456789," else c for c in text)
        assert unicodedata.normalize("NFKC", text) != text
    price, currency = parse_price(text, japanese=True)
    assert (price, currency) == (Decimal(yen), "JPY")
    assert price is not None
    assert price.as_tuple().exponent == 0


@given(text=st.text(max_size=60))
def test_arbitrary_text_never_raises_and_never_gives_a_non_positive_or_float_price(
    text: str,
) -> None:
    price, currency = parse_price(text)
    assert price is None or (isinstance(price, Decimal) and price >= 0)
    assert currency is None or len(currency) == 3
