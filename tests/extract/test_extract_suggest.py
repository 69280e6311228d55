"""Suggest, never guess: ranked selectors that each select exactly the element they name."""

from __future__ import annotations

from decimal import Decimal

from pricealert.availability import Availability
from pricealert.extract import Page, extract
from pricealert.extract.selector import price_by_selector, select_first
from pricealert.extract.suggest import suggest

URL = "https://shop.example.com/p/1"

PRODUCT = """<html lang="en"><head><title>Acme Kettle</title></head><body>
<header class="site-header"><div class="minicart">Cart $0.00</div></header>
<main id="main"><div class="product">
<h1 class="product-title">Acme Kettle 1.7 L</h1>
<div class="rating">4.5 stars (128 reviews)</div>
<div class="price-box"><del class="old">$49.99</del>
  <span class="price price--sale" style="font-size:28px">$39.99</span></div>
<p>Or 4 payments of $10.00 with Klarna</p>
<p class="savings">You save $10.00</p>
<div class="availability">In stock</div>
<button class="btn add-to-cart">Add to cart</button>
</div>
<section class="related-products"><h2>You may also like</h2>
<div class="card"><span class="price">$19.99</span></div></section>
</main>
<footer class="footer">Free shipping over $50</footer>
</body></html>"""


def _selects_the_price(body: bytes, selector: str) -> Decimal | None:
    page = Page(body, URL, None)
    return price_by_selector(page.tree, selector, default_currency="USD", japanese=False)[0]


def test_the_visible_price_ranks_first_with_its_reasons_and_a_robust_selector() -> None:
    body = PRODUCT.encode()
    best = suggest(body, URL).price[0]
    assert (best.price, best.currency, best.text) == (Decimal("39.99"), "USD", "$39.99")
    assert best.selector == ".price-box"  # a stable class, not an nth-child chain
    assert {
        "price-like text (a currency shown)",
        "near the title (after the <h1>)",
        "near the buy button",
        "font-size hints (inline size, big-type class, heading or strong)",
    } <= set(best.reasons)
    assert _selects_the_price(body, best.selector) == Decimal("39.99")


def test_crossed_out_savings_instalments_and_related_prices_are_never_first() -> None:
    candidates = suggest(PRODUCT.encode(), URL).price
    assert all(c.price != Decimal("49.99") for c in candidates)  # inside <del>
    shown = {c.price: c for c in candidates}
    if Decimal("19.99") in shown:
        assert "inside a carousel or related-products block" in shown[Decimal("19.99")].reasons
    assert candidates[0].price == Decimal("39.99")
    assert len(candidates) <= 5


def test_every_candidate_selects_its_own_element_first() -> None:
    body = PRODUCT.encode()
    page = Page(body, URL, None)
    for candidate in suggest(body, URL).price:
        node = select_first(page.tree, candidate.selector)
        assert node is not None
        assert candidate.text in " ".join(node.text(deep=True).split())
        assert _selects_the_price(body, candidate.selector) == candidate.price


def test_stock_words_are_suggested_with_their_availability() -> None:
    stock = suggest(PRODUCT.encode(), URL).stock
    assert (stock[0].selector, stock[0].availability) == (".availability", Availability.IN_STOCK)
    assert "'stock' or 'availability' in its class or id" in stock[0].reasons


def test_an_id_or_itemprop_is_preferred_over_classes() -> None:
    body = b"""<html><body><h1>Chair</h1>
      <div class="box"><span id="product-price" class="amount">EUR 129,00</span></div>
      <div class="box"><span itemprop="price" class="amount">EUR 12,00</span></div>
      <button>Add to cart</button></body></html>"""
    selectors = {c.price: c.selector for c in suggest(body, "https://shop.example.de/p").price}
    assert selectors[Decimal("129.00")] == "#product-price"
    assert selectors[Decimal("12.00")] == '[itemprop="price"]'


def test_generated_class_names_are_not_used_and_a_path_is_the_last_resort() -> None:
    body = b"""<html><body><h1>Lamp</h1><div id="buybox"><div>
      <span class="css-1x2y3z9 sc-a8b7c6d">$64.00</span></div></div>
      <button class="add-to-cart">Add to cart</button></body></html>"""
    best = suggest(body, URL).price[0]
    assert best.price == Decimal("64.00")
    assert "css-" not in best.selector
    assert best.selector.startswith("#buybox")
    assert _selects_the_price(body, best.selector) == Decimal("64.00")


def test_a_bare_number_with_a_currency_beside_it_is_a_candidate() -> None:
    body = """<html lang="zh-TW"><body><h1>鵝肉鬆</h1><table><tr>
      <td class="t13">一次付清特價 7 折 <span style="font:bold 27px Verdana">294</span> 元</td>
      </tr></table></body></html>""".encode()
    best = suggest(body, "https://www.example.com.tw/p").price[0]
    assert best.price == Decimal("294")
    assert "price-like text (a currency right beside it)" in best.reasons


def test_a_number_with_nothing_saying_price_is_not_a_candidate() -> None:
    body = b"<html><body><h1>Tent</h1><p>4.5</p><p>128</p><p>2 persons</p></body></html>"
    assert suggest(body, URL).price == ()


def test_suggest_never_changes_what_extract_reads() -> None:
    body = PRODUCT.encode()
    assert extract(body, URL).price is None  # no structured data: no price, suggestions only
    suggest(body, URL)
    assert extract(body, URL).price is None
