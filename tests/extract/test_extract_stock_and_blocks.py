"""Stock words and availability values, block pages, and configured selectors."""

from __future__ import annotations

from decimal import Decimal

import pytest

from pricealert.availability import Availability as A
from pricealert.availability import in_stock_of
from pricealert.extract import InvalidSelector, extract
from pricealert.extract.stock import read_availability, text_availability


@pytest.mark.parametrize(
    ("value", "availability"),
    [
        ("https://schema.org/InStock", A.IN_STOCK),
        ("http://schema.org/OutOfStock", A.OUT_OF_STOCK),
        ("schema:SoldOut", A.SOLD_OUT),
        ("PreOrder", A.PRE_ORDER),
        ("https://schema.org/PreSale", A.PRE_SALE),
        ("https://schema.org/BackOrder", A.BACK_ORDER),
        ("https://schema.org/MadeToOrder", A.BACK_ORDER),
        ("LimitedAvailability", A.LIMITED_AVAILABILITY),
        ("OnlineOnly", A.ONLINE_ONLY),
        ("InStoreOnly", A.IN_STORE_ONLY),
        ("Discontinued", A.DISCONTINUED),
        ("https://schema.org/Reserved", A.OUT_OF_STOCK),
        ("in stock", A.IN_STOCK),
        ("instock", A.IN_STOCK),
        ("out of stock", A.OUT_OF_STOCK),
        ("available for order", A.BACK_ORDER),
        ("oos", A.OUT_OF_STOCK),
        ("preorder", A.PRE_ORDER),
        ("pending", None),
        ("", None),
    ],
)
def test_machine_readable_availability_is_read_as_its_schema_org_name(
    value: str, availability: A | None
) -> None:
    assert read_availability(value) is availability


@pytest.mark.parametrize(
    ("text", "availability"),
    [
        ("在庫あり", A.IN_STOCK),
        ("在庫あり。", A.IN_STOCK),
        ("残りわずか", A.LIMITED_AVAILABILITY),
        ("予約受付中", A.PRE_ORDER),
        ("お取り寄せ", A.BACK_ORDER),
        ("在庫切れ", A.OUT_OF_STOCK),
        ("在庫なし", A.OUT_OF_STOCK),
        ("売り切れ", A.SOLD_OUT),
        ("品切れ中", A.OUT_OF_STOCK),
        ("入荷待ち", A.OUT_OF_STOCK),
        ("予約受付終了", A.OUT_OF_STOCK),
        ("販売終了しました", A.DISCONTINUED),
        ("Only 3 left in stock", A.LIMITED_AVAILABILITY),
        ("Currently unavailable.", A.OUT_OF_STOCK),
        ("Sold Out", A.SOLD_OUT),
        ("Ausverkauft", A.SOLD_OUT),
        ("Add to cart", A.IN_STOCK),
        ("Lieferzeit unbekannt", None),
    ],
)
def test_stock_words_where_a_stock_selector_points(text: str, availability: A | None) -> None:
    assert text_availability(text) is availability


@pytest.mark.parametrize(
    ("availability", "in_stock"),
    [
        (A.IN_STOCK, True),
        (A.LIMITED_AVAILABILITY, True),
        (A.IN_STORE_ONLY, True),
        (A.ONLINE_ONLY, True),
        (A.OUT_OF_STOCK, False),
        (A.SOLD_OUT, False),
        (A.DISCONTINUED, False),
        (A.PRE_ORDER, False),
        (A.PRE_SALE, False),
        (A.BACK_ORDER, False),
        (None, None),
    ],
)
def test_in_stock_means_orderable_now_and_received_without_waiting(
    availability: A | None, in_stock: bool | None
) -> None:
    assert in_stock_of(availability) is in_stock


def test_every_availability_has_a_row_in_the_in_stock_table() -> None:
    assert {in_stock_of(a) for a in A} == {True, False}


def _page(body: str, head: str = "") -> bytes:
    return f"<html><head>{head}</head><body>{body}</body></html>".encode()


def test_a_price_on_a_page_with_a_block_title_is_never_taken() -> None:
    page = _page('<span class="p">$10.00</span>', "<title>Attention Required! | Cloudflare</title>")
    result = extract(page, "https://shop.example.com/p", selector=".p")
    assert (result.price, result.blocked, result.block_reason) == (None, True, "cloudflare_block")


def test_a_long_page_mentioning_captcha_is_not_a_block_page() -> None:
    filler = "<p>Great product, works as described and arrived fast.</p>" * 200
    result = extract(_page(filler + "<p>captcha</p>"), "https://shop.example.com/p")
    assert (result.blocked, result.method) == (False, "none")


def test_an_invalid_selector_is_a_named_error() -> None:
    with pytest.raises(InvalidSelector) as error:
        extract(_page("<p>x</p>"), "https://shop.example.com/p", selector="div[[")
    assert error.value.code == "invalid_selector"


def test_a_struck_old_price_inside_the_selected_element_is_left_out() -> None:
    page = _page('<div class="p"><del>¥3,980</del> ¥2,980</div>', '<meta charset="utf-8">')
    result = extract(page, "https://shop.example.jp/item/1", selector=".p")
    assert (result.price, result.currency, result.method) == (Decimal(2980), "JPY", "selector")


def test_stock_comes_from_json_ld_when_the_selector_gave_the_price() -> None:
    jsonld = (
        '<script type="application/ld+json">{"@type":"Product","offers":'
        '{"price":"10.00","priceCurrency":"EUR","availability":"OutOfStock"}}</script>'
    )
    page = _page('<span class="p">9,50 €</span><p>In stock</p>', jsonld)
    result = extract(page, "https://shop.example.de/p", selector=".p")
    assert (result.price, result.currency, result.in_stock) == (
        Decimal("9.50"),
        "EUR",
        False,
    )
