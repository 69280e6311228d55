"""OpenGraph and product meta tags: `product:price:amount`, `og:price:amount`, ...

The last strategy, and the weakest: meta tags describe the page as a whole.
Shops emit price tags only on product pages, so a price tag present is read as
the page's product's price. `product:sale_price:amount`,
when present, is the price being charged and wins over `product:price:amount`;
`product:original_price:*` is a was-price and is never read. A bare
`og:price` or `product:price` (no `:amount`) is read last, with the matching
`:currency` tag or a symbol in its own text.
"""

from __future__ import annotations

from selectolax.lexbor import LexborHTMLParser

from pricealert.extract.currency import normalize_amount, to_iso
from pricealert.extract.price_text import parse_price, to_decimal
from pricealert.extract.result import Found
from pricealert.extract.stock import read_availability

_PRICE_KEYS = (
    ("product:sale_price:amount", "product:sale_price:currency"),
    ("product:price:amount", "product:price:currency"),
    ("og:price:amount", "og:price:currency"),
    ("product:price", "product:price:currency"),
    ("og:price", "og:price:currency"),
)
_STOCK_KEYS = ("product:availability", "og:availability")


def meta_properties(tree: LexborHTMLParser) -> dict[str, str]:
    """`property`/`name` → `content` for the page's meta tags (first one wins)."""
    found: dict[str, str] = {}
    for node in tree.css("meta[property], meta[name]"):
        attributes = node.attributes
        key = (attributes.get("property") or attributes.get("name") or "").strip().lower()
        content = attributes.get("content")
        if key and content is not None and key not in found:
            found[key] = content.strip()
    return found


def extract_meta(meta: dict[str, str], expected_currency: str | None) -> Found | None:
    """Price, currency and stock from OpenGraph product tags, or None if they say nothing."""
    stock = next((read_availability(meta[k]) for k in _STOCK_KEYS if k in meta), None)
    for amount_key, currency_key in _PRICE_KEYS:
        raw = meta.get(amount_key)
        if not raw:
            continue
        currency = (
            to_iso(meta.get(currency_key, ""), default=expected_currency) or expected_currency
        )
        amount = to_decimal(raw, currency, structured=True)
        if amount is None:  # a formatted price such as "¥1,280" in the tag
            amount, currency = parse_price(raw, default_currency=currency)
        if amount is not None and amount > 0:
            return Found(normalize_amount(amount, currency), currency, stock, None)
    if stock is not None:
        return Found(None, None, stock, None)
    return None
