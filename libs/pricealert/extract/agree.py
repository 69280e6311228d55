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

Both checks read the page's elements only when a doubt arises: first the raw
bytes are searched for the price's spellings (`24990`, `24.990`, `24 990`)
and crossed-out markup just before them; most pages show none, and pay
microseconds instead of a walk over every element.
"""

from __future__ import annotations

import re
import unicodedata
from decimal import Decimal
from functools import lru_cache

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
_DIGIT_OR_MARK = frozenset(b"0123456789.,")
_NOT_SHOWN_BEFORE = frozenset(b"0123456789.,\":='")
_QUOTES = frozenset({b'"', b"'"})
_TAG_NAME = re.compile(rb"<([A-Za-z][A-Za-z0-9]*)")
_CROSSED_BYTES = re.compile(
    rb"<(?:del|s|strike)[\s>]|line-through"
    rb"|class=[\"'][^\"'>]*(?:old|was|original|strike|barred|crossed|before|rrp|msrp|uvp)",
    re.I,
)
_META_WAS = re.compile(r"(?:standard|original|list|regular|was)[_:]?(?:price[_:])?amount")
_META_PRICE = ("product:price:amount", "og:price:amount", "product:sale_price:amount")
_SHORT = 48
_HIDDEN_CSS = "script, style, noscript, template"
_CURRENCY_BEFORE = re.compile(rf"({CURRENCY})\s*$")
_CURRENCY_AFTER = re.compile(rf"\s*({CURRENCY})")


def believe(page: Page, found: list[tuple[str, Found]]) -> tuple[str, Found] | None:
    """The strategy and finding to take from those with a price, or None when unsure."""
    if not found:
        return None
    doubt = _Doubt(page)
    doubtful = any(_near_crossed_markup(page, f.price) for _, f in found if f.price is not None)
    crossed = doubt.was_amounts() if doubtful or _meta_was(page) else frozenset()
    usable: list[tuple[str, Found]] = []
    for name, finding in found:
        if finding.price in crossed and not doubt.shown(finding):
            continue  # shown only as a was-price: it is not what a buyer pays
        usable.append((name, finding))
    if len({(f.price, f.currency) for _, f in usable}) <= 1:
        return usable[0] if usable else None
    specific = [(name, f) for name, f in usable if f.by_url]
    if specific:
        return specific[0]  # the page's own variant, named by its URL, over page-wide tags
    visible = [(name, f) for name, f in usable if doubt.shown(f)]
    if len({(f.price, f.currency) for _, f in visible}) == 1:
        return visible[0]
    return None


class _Doubt:
    """What the page shows, read only as far as a doubt needs (each part at most once)."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self._crossed: list[LexborNode] | None = None
        self._text: str | None = None
        self._hidden: str | None = None

    def crossed(self) -> list[LexborNode]:
        """The outermost crossed-out elements."""
        if self._crossed is None:
            nodes = [n for n in self.page.tree.css(_CROSSED_CSS) if _crossed(n)]
            ids = {n.mem_id for n in nodes}
            self._crossed = [n for n in nodes if not _has_ancestor(n, ids)]
        return self._crossed

    def was_amounts(self) -> frozenset[Decimal]:
        """The amounts meta tags call a standard price and the page shows crossed out."""
        amounts: set[Decimal] = set()
        meta = self.page.meta
        sale = {meta[k] for k in _META_PRICE if meta.get(k)}
        for key, value in meta.items():
            if _META_WAS.search(key) and value not in sale:
                amounts.update(_numbers(value, self.page))
        for node in self.crossed():
            text = node.text(deep=True)
            if len(text) <= _SHORT:
                amounts.update(_numbers(text, self.page))
        return frozenset(amounts)

    def shown(self, finding: Found) -> bool:
        """Whether the page's text shows the amount with its currency, not crossed out."""
        if self._text is None:
            body = self.page.tree.body
            self._text = unicodedata.normalize("NFKC", body.text(separator=" ")) if body else ""
            hidden = [n.text(separator=" ") for n in self.page.tree.css(_HIDDEN_CSS)]
            hidden += [n.text(separator=" ") for n in self.crossed()]
            self._hidden = unicodedata.normalize("NFKC", " ".join(hidden))
        assert self._hidden is not None
        return self._count(finding, self._text) > self._count(finding, self._hidden)

    def _count(self, finding: Found, text: str) -> int:
        assert finding.price is not None
        number = re.compile(_spellings(finding.price).pattern.decode())
        count = 0
        for match in number.finditer(text):
            start, end = match.span()
            if start and text[start - 1] in "0123456789.,":
                continue  # the tail of a longer number
            token = _CURRENCY_BEFORE.search(text, max(0, start - 12), start)
            token = token or _CURRENCY_AFTER.match(text, end, end + 12)
            if token is None:
                continue
            currency = to_iso(token.group(1), default=self.page.expected_currency, in_text=True)
            count += currency == finding.currency or finding.currency is None
        return count


def _has_ancestor(node: LexborNode, ids: set[int]) -> bool:
    parent = node.parent
    while parent is not None:
        if parent.mem_id in ids:
            return True
        parent = parent.parent
    return False


def _meta_was(page: Page) -> bool:
    meta = page.meta
    sale = {meta[k] for k in _META_PRICE if meta.get(k)}
    return any(_META_WAS.search(key) and value not in sale for key, value in meta.items())


def _near_crossed_markup(page: Page, amount: Decimal) -> bool:
    """A cheap first look: is the amount written anywhere inside crossed-out markup?

    The raw bytes are searched for the amount's spellings; an occurrence counts
    when the nearest crossed-out marker before it (`<del>`, `<s>`, `<strike>`,
    `line-through`, an old/was/original class) opened an element that has not
    been closed yet. Only then does the page pay for reading its elements.
    """
    body = page.body
    seen = 0
    for match in _spellings(amount).finditer(body, max(0, body.find(b"<body"))):
        start, end = match.span()
        if (start and body[start - 1] in _NOT_SHOWN_BEFORE) or body[end : end + 1] in _QUOTES:
            continue  # the tail of a longer number, or a value in JSON or an attribute
        seen += 1
        if seen > 100:
            return True  # a number written everywhere: look properly
        markers = list(_CROSSED_BYTES.finditer(body, max(0, start - 400), start))
        if markers and _still_open(body, markers[-1].start(), start):
            return True
    return False


def _still_open(body: bytes, marker: int, at: int) -> bool:
    """Whether the element whose opening tag holds `marker` is still open at `at`."""
    opening = body.rfind(b"<", max(0, marker - 400), marker + 1)
    name = _TAG_NAME.match(body, opening) if opening >= 0 else None
    if name is None:
        return True  # cannot tell: look properly
    return body.find(b"</" + name.group(1), marker, at) < 0


@lru_cache(maxsize=1024)  # a worker sees the same prices check after check
def _spellings(amount: Decimal) -> re.Pattern[bytes]:
    """`24990` → 24990, 24.990, 24,990, 24 990; `7.95` → 7.95, 7,95 (a bytes pattern)."""
    text = format(amount.normalize(), "f")
    whole, _, fraction = text.partition(".")
    head = len(whole) % 3 or 3
    groups = [whole[:head]] + [whole[i : i + 3] for i in range(head, len(whole), 3)]
    grouped = r"(?:[.,'\s]|\xc2\xa0|&nbsp;|&#160;)?".join(groups)
    tail = rf"[.,]{fraction}0*" if fraction else r"(?:[.,]0{1,2})?"
    return re.compile(rf"{grouped}{tail}(?![\d])".encode())


def _crossed(node: LexborNode) -> bool:
    if node.tag in STRUCK_TAGS:
        return True
    attributes = node.attributes
    if _LINE_THROUGH.search(attributes.get("style") or ""):
        return True
    classes = attributes.get("class") or ""
    return bool(_CROSSED_CLASS.search(classes) or _CROSSED_CAMEL.search(classes))


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
