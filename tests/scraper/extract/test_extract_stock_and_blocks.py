"""Stock words and availability values, block pages, and configured selectors."""

from __future__ import annotations

from decimal import Decimal

import pytest

from services.scraper.extract import InvalidSelector, extract
from services.scraper.extract.stock import availability_to_stock, text_to_stock


@pytest.mark.parametrize(
    ("value", "in_stock"),
    [
        ("https://schema.org/InStock", True),
        ("http://schema.org/OutOfStock", False),
        ("schema:SoldOut", False),
        ("PreOrder", True),
        ("https://schema.org/BackOrder", True),
        ("LimitedAvailability", True),
        ("OnlineOnly", True),
        ("InStoreOnly", False),
        ("Discontinued", False),
        ("in stock", True),
        ("instock", True),
        ("out of stock", False),
        ("oos", False),
        ("preorder", True),
        ("pending", None),
        ("", None),
    ],
)
def test_availability_values_say_whether_the_product_can_be_ordered(
    value: str, in_stock: bool | None
) -> None:
    assert availability_to_stock(value) is in_stock


@pytest.mark.parametrize(
    ("text", "in_stock"),
    [
        ("在庫あり", True),
        ("在庫あり。", True),
        ("残りわずか", True),
        ("予約受付中", True),
        ("お取り寄せ", True),
        ("在庫切れ", False),
        ("在庫なし", False),
        ("売り切れ", False),
        ("品切れ中", False),
        ("入荷待ち", False),
        ("予約受付終了", False),
        ("販売終了しました", False),
        ("Only 3 left in stock", True),
        ("Currently unavailable.", False),
        ("Sold Out", False),
        ("Ausverkauft", False),
        ("Lieferzeit unbekannt", None),
    ],
)
def test_stock_words_where_a_stock_selector_points(text: str, in_stock: bool | None) -> None:
    assert text_to_stock(text) is in_stock


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
