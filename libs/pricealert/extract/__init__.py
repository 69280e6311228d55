"""Extraction: from a fetched product page to its price, currency, stock and title.

`extract()` is a pure function over the response bytes, the page URL and the
product's optional selectors; it does no I/O. It decodes the bytes
(`encoding`), parses them once with selectolax's Lexbor backend (`page`), and
shares that tree between the strategies:

1. the product's configured CSS selector (`selector`) — when configured it is
   the only source of the price;
2. schema.org JSON-LD (`jsonld`);
3. schema.org microdata (`items`, `microdata`), then RDFa (`rdfa`) — skipped
   once an earlier one gave price, currency and stock;
4. OpenGraph / `product:price:*` meta tags (`meta`, `opengraph`), always read
   as a second opinion (it is cheap).

Type and property names are matched in any case and spelling (`vocab`); offers,
specifications and odd price shapes are read by `offers`. The price is then the
first strategy's, unless the page contradicts it (`agree`): a price the page
shows only crossed out is a was-price, and sources that disagree are settled by
the amount the page shows with its currency, or give no price. A wrong price is
worse than none. Pages without structured data get no guess: `suggest` ranks
candidate selectors for a person to choose.

Availability comes from the stock selector when one is configured, else from
the machine-readable availability of the strategy that gave the price, else of
the other strategies (also when the selector gave the price); free text is
never read as stock (see `stock`; `pricealert.availability` says what counts
as in stock). A block page (`block`)
is recorded as blocked and never yields a price. Several prices are chosen
between by the rules in `schema_org` and `price_text`; currency symbols become
ISO 4217 codes by the rules in `currency`.

Cost: on 130–310 KB shop pages the Lexbor parse is most of the CPU (about
2 µs per KB of ordinary markup; a Shift_JIS or EUC-JP page pays as much again
for Python's decoder), then the vendor-marker scan for block pages
(~0.17 ms), then the strategies (≤ 0.1 ms each) and the was-price look in
`agree` (~0.2 ms: one byte scan for the price's spellings). A worker calls
`keep_parser_memory()` once at startup (see `memory`): without it glibc gives
the parse tree's ~2 MB back to the kernel after every page and page-faults it
in again on the next, which nearly doubled the cost. Lexbor reads UTF-8 bytes
directly; other encodings are decoded to text first. A byte-level prescan that
would skip the parse for JSON-LD pages was tried and dropped: Python's regular
expressions walk markup about twice as slowly as Lexbor builds the tree.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from pricealert.availability import Availability
from pricealert.extract.agree import believe
from pricealert.extract.block import strong_block_reason, weak_block_reason
from pricealert.extract.currency import normalize_amount, to_iso
from pricealert.extract.items import MICRODATA, RDFA, extract_items
from pricealert.extract.jsonld import extract_jsonld
from pricealert.extract.memory import keep_parser_memory
from pricealert.extract.meta import extract_meta
from pricealert.extract.page import Page, clean
from pricealert.extract.price_text import parse_price
from pricealert.extract.result import Extraction, Found
from pricealert.extract.selector import (
    InvalidSelector,
    price_by_selector,
    stock_by_selector,
)

__all__ = [
    "Extraction",
    "InvalidSelector",
    "Page",
    "extract",
    "extract_page",
    "keep_parser_memory",
    "parse_price",
]


def extract(
    body: bytes,
    url: str,
    *,
    selector: str | None = None,
    stock_selector: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> Extraction:
    """Read price, currency, stock and title from a product page's bytes."""
    return extract_page(Page(body, url, headers), selector=selector, stock_selector=stock_selector)


def extract_page(
    page: Page, *, selector: str | None = None, stock_selector: str | None = None
) -> Extraction:
    """`extract` on a page already parsed (the preview shares it with `suggest`)."""
    reason = strong_block_reason(page.body, page.html_title, page.headers)
    if reason is not None:
        return Extraction(None, None, None, None, "none", blocked=True, block_reason=reason)

    stock = stock_by_selector(page.tree, stock_selector) if stock_selector else None
    winner: Found | None = None
    method = "none"
    seen: list[Found] = []
    had_product = False
    if selector:
        amount, currency = price_by_selector(
            page.tree, selector, default_currency=page.expected_currency, japanese=page.japanese
        )
        if amount is not None:
            method = "selector"
            winner = Found(amount, currency, None, None)
    priced: list[tuple[str, Found]] = []
    for name, step in _strategies(page):
        if name != "opengraph" and priced and _settled(priced[0][1], stock, seen):
            continue  # OpenGraph is always read: it is cheap, and a second opinion
        found, had = step()
        had_product = had_product or had
        if found is None:
            continue
        seen.append(found)
        if found.price is not None:
            priced.append((name, found))
    if not selector:
        believed = believe(page, priced)
        if believed is not None:
            method, winner = believed

    if winner is None and not had_product and not page.meta:
        body_node = page.tree.body
        reason = weak_block_reason(body_node.text(separator=" ") if body_node else "")
        if reason is not None:
            return Extraction(None, None, None, None, "none", blocked=True, block_reason=reason)

    if stock is None:
        ordered = [winner, *seen] if winner is not None else seen
        stock = next((f.availability for f in ordered if f.availability is not None), None)
    currency = winner.currency if winner is not None else None
    if winner is not None and currency is None:
        currency = _fallback_currency(page, seen)
    price = normalize_amount(winner.price, currency) if winner and winner.price else None
    title = next((f.title for f in [winner, *seen] if f is not None and f.title), None)
    title = title or clean(page.meta.get("og:title")) or page.html_title
    return Extraction(price, currency if price is not None else None, stock, title, method)


def _strategies(page: Page) -> tuple[tuple[str, Callable[[], tuple[Found | None, bool]]], ...]:
    """The strategies in order, each computed only when called."""
    return (
        ("jsonld", lambda: extract_jsonld(page.tree, page.url, page.expected_currency)),
        (
            "microdata",
            lambda: extract_items(page.tree, MICRODATA, page.url, page.expected_currency),
        ),
        ("rdfa", lambda: extract_items(page.tree, RDFA, page.url, page.expected_currency)),
        ("opengraph", lambda: _meta_step(page)),
    )


def _meta_step(page: Page) -> tuple[Found | None, bool]:
    found = extract_meta(page.meta, page.expected_currency)
    return found, found is not None and found.price is not None


def _settled(winner: Found, stock: Availability | None, seen: list[Found]) -> bool:
    """Whether later schema.org strategies can add nothing: price, currency and stock known."""
    has_stock = stock is not None or any(f.availability is not None for f in [winner, *seen])
    return has_stock and winner.currency is not None


def _fallback_currency(page: Page, seen: list[Found]) -> str | None:
    """A currency for a price that showed none: structured data's, then the page's."""
    for found in seen:
        if found.currency is not None:
            return found.currency
    for key in ("product:price:currency", "og:price:currency"):
        if page.meta.get(key):
            return to_iso(page.meta[key], default=page.expected_currency)
    return page.expected_currency
