"""Which structured price to believe when the page itself casts doubt on it.

A wrong price is worse than none, so the strategies' prices are checked
against what else the page says before one is taken:

- A was-price is not the price. The amounts the page shows crossed out
  (`<del>`, `<s>`, `line-through`, or a class naming an old / original /
  struck price) and the amounts meta tags declare as a standard or original
  price different from their sale price (`og:price:standard_amount`) are the
  page's was-prices. A structured price equal to one of them is believed
  only if the page also shows that amount not crossed out (a shop that
  forgot to update its JSON-LD when the sale began).
- When the sources that remain disagree (JSON-LD says one amount, OpenGraph
  another: a price without VAT, an auction's starting price beside its current
  bid, the seller's own currency), an offer chosen by the page's own variant
  URL wins; else the one whose amount the page shows as text, if exactly one
  does; otherwise there is no price.

Both checks read the page's text only when a doubt arises: most pages have
one structured price and no crossed-out copy of it, and pay one CSS query.
"""

from __future__ import annotations

import re
import unicodedata
from decimal import Decimal

from selectolax.lexbor import LexborNode

from pricealert.extract.currency import to_iso
from pricealert.extract.page import Page
from pricealert.extract.price_text import CURRENCY, NUMBER, to_decimal
from pricealert.extract.result import Found
from pricealert.extract.text import STRUCK_TAGS

_CROSSED_CSS = (
    'del, s, strike, [style*="line-through" i], [class*="old" i], [class*="was" i],'
    ' [class*="original" i], [class*="strike" i], [class*="barred" i], [class*="crossed" i],'
    ' [class*="before" i], [class*="rrp" i], [class*="msrp" i], [class*="uvp" i]'
)
_CROSSED_CLASS = re.compile(
    r"(?:^|[\s_-])(?:old|was|original|strike\w*|barred|crossed|before|rrp|msrp|uvp)(?:$|[\s_-])",
    re.I,
)
_CROSSED_CAMEL = re.compile(r"(?:old|was|original|strike)Price")
_LINE_THROUGH = re.compile(r"line-through", re.I)
_META_WAS = re.compile(r"(?:standard|original|list|regular|was)[_:]?(?:price[_:])?amount")
_META_PRICE = ("product:price:amount", "og:price:amount", "product:sale_price:amount")
_SKIP = frozenset({"script", "style", "noscript", "template"})
_SHORT = 48
_BEFORE = re.compile(rf"({CURRENCY})\s*({NUMBER.pattern})")
_AFTER = re.compile(rf"({NUMBER.pattern})\s*({CURRENCY})")


def believe(page: Page, found: list[tuple[str, Found]]) -> tuple[str, Found] | None:
    """The strategy and finding to take from those with a price, or None when unsure."""
    if not found:
        return None
    crossed = _was_amounts(page)
    shown: frozenset[tuple[Decimal, str | None]] | None = None
    usable: list[tuple[str, Found]] = []
    for name, finding in found:
        assert finding.price is not None  # only findings with a price are weighed
        if finding.price in crossed:
            shown = _shown_amounts(page) if shown is None else shown
            if (finding.price, finding.currency) not in shown:
                continue  # shown only as a was-price: it is not what a buyer pays
        usable.append((name, finding))
    if len({(f.price, f.currency) for _, f in usable}) <= 1:
        return usable[0] if usable else None
    specific = [(name, f) for name, f in usable if f.by_url]
    if specific:
        return specific[0]  # the page's own variant, named by its URL, over page-wide tags
    shown = _shown_amounts(page) if shown is None else shown
    visible = [(name, f) for name, f in usable if (f.price, f.currency) in shown]
    if len({(f.price, f.currency) for _, f in visible}) == 1:
        return visible[0]
    return None


def _was_amounts(page: Page) -> frozenset[Decimal]:
    amounts: set[Decimal] = set()
    meta = page.meta
    sale = {meta[k] for k in _META_PRICE if meta.get(k)}
    for key, value in meta.items():
        if _META_WAS.search(key) and value not in sale:
            amounts.update(_numbers(value, page))
    for node in page.tree.css(_CROSSED_CSS):
        if not _crossed(node):
            continue
        text = node.text(deep=True)
        if len(text) <= _SHORT:
            amounts.update(_numbers(text, page))
    return frozenset(amounts)


def _crossed(node: LexborNode) -> bool:
    if node.tag in STRUCK_TAGS:
        return True
    attributes = node.attributes
    if _LINE_THROUGH.search(attributes.get("style") or ""):
        return True
    classes = attributes.get("class") or ""
    return bool(_CROSSED_CLASS.search(classes) or _CROSSED_CAMEL.search(classes))


def _shown_amounts(page: Page) -> frozenset[tuple[Decimal, str | None]]:
    """Every amount the page's text shows with a currency, outside crossed-out elements."""
    body = page.tree.body
    if body is None:
        return frozenset()
    parts: list[str] = []
    stack: list[LexborNode] = [body]
    while stack:  # depth first, in page order
        node = stack.pop()
        if node.is_text_node:
            parts.append(node.text_content or "")
            continue
        parts.append(" ")
        child = node.last_child
        while child is not None:
            if child.is_text_node or (
                child.is_element_node and child.tag not in _SKIP and not _crossed(child)
            ):
                stack.append(child)
            child = child.prev
    text = unicodedata.normalize("NFKC", "".join(parts))
    shown: set[tuple[Decimal, str | None]] = set()
    claimed: set[int] = set()  # "4 $24.990": the "$" belongs to the number after it
    for match in _BEFORE.finditer(text):
        claimed.add(match.start())
        _add(shown, match.group(1), match.group(2), page)
    for match in _AFTER.finditer(text):
        if match.start(2) not in claimed:
            _add(shown, match.group(2), match.group(1), page)
    return frozenset(shown)


def _add(shown: set[tuple[Decimal, str | None]], token: str, number: str, page: Page) -> None:
    currency = to_iso(token, default=page.expected_currency, in_text=True)
    value = to_decimal(number, currency)
    if value is not None and value > 0:
        shown.add((value, currency))


def _numbers(text: str, page: Page) -> set[Decimal]:
    found: set[Decimal] = set()
    for match in NUMBER.finditer(text):
        value = to_decimal(match.group(0), page.expected_currency)
        if value is not None and value > 0:
            found.add(value)
            if "." in match.group(0) and "," not in match.group(0):
                structured = to_decimal(match.group(0), None, structured=True)
                if structured is not None:
                    found.add(structured)  # "1.299" is 1299 in text, 1.299 in a meta tag
    return found
