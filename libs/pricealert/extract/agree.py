"""Which structured price to believe when the page itself casts doubt on it.

A wrong price is worse than none, so the strategies' prices are checked
against what else the page says before one is taken:

- A was-price is not the price. A structured price that the page shows only
  crossed out (inside `<del>`, `<s>`, `<strike>`, a `line-through` style or a
  class naming an old / was / original / struck price), or that meta tags
  declare as the standard or original price beside a different sale price
  (`og:price:standard_amount`), is believed only if the page also shows that
  amount, with its currency, not crossed out (a shop that forgot to update its
  JSON-LD when the sale began gives no price rather than the old one).
- When the sources that remain disagree (JSON-LD says one amount, OpenGraph
  another: a price without VAT, an auction's starting price beside its current
  bid, the seller's own currency), an offer chosen by the page's own variant
  URL wins; else the one whose amount the page shows with its currency, if
  exactly one does; otherwise there is no price.

How the page is read: the raw bytes are searched for the amount's spellings
(`24990`, `24.990`, `24 990`, `7,95`), skipping numbers inside JSON and
attributes. An occurrence is crossed out when the nearest crossed-out marker
before it opened an element not closed yet; its currency is the symbol or
code written right before or after it, tags in between ignored (`€ <span>17,10
</span>`). One scan of the bytes (~0.1–0.2 ms on a 300 KB page) and no walk
over the elements, so every page can afford it; a page whose price is written
in full-width digits is not checked.
"""

from __future__ import annotations

import html
import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache

from pricealert.extract.currency import to_iso
from pricealert.extract.page import Page
from pricealert.extract.price_text import CURRENCY, to_decimal
from pricealert.extract.result import Found

_NOT_SHOWN_BEFORE = frozenset(b"0123456789.,\":='")
_QUOTES = frozenset({b'"', b"'"})
_TAG_NAME = re.compile(rb"<([A-Za-z][A-Za-z0-9]*)")
_TAGS = re.compile(rb"<[^<>]*>")
_CROSSED_BYTES = re.compile(
    rb"<(?:del|s|strike)[\s>]|line-through"
    rb"|class=[\"'](?:[^\"'>]*?[\s_-])?(?:[Oo]ld|[Ww]as|[Oo]riginal|[Ss]trike\w*|[Bb]arred"
    rb"|[Cc]rossed|[Bb]efore|[Rr][Rr][Pp]|[Mm][Ss][Rr][Pp]|[Uu][Vv][Pp])(?=[\s\"'_-]|[Pp]rice)",
)
_META_WAS = re.compile(r"(?:standard|original|list|regular|was)[_:]?(?:price[_:])?amount")
_META_PRICE = ("product:price:amount", "og:price:amount", "product:sale_price:amount")
_CURRENCY_BEFORE = re.compile(rf"({CURRENCY})\s*$")
_CURRENCY_AFTER = re.compile(rf"\s*({CURRENCY})")
_WINDOW = 400  # bytes before an amount searched for crossed-out markup
_BESIDE = 96  # bytes either side searched for its currency (tags skipped)
_MAX_SEEN = 100


@dataclass(frozen=True, slots=True)
class _Seen:
    """One place the page writes an amount."""

    crossed: bool  # inside an element drawn crossed out
    currency: str | None  # the currency written beside it, if any


def believe(page: Page, found: list[tuple[str, Found]]) -> tuple[str, Found] | None:
    """The strategy and finding to take from those with a price, or None when unsure."""
    if not found:
        return None
    seen: dict[Decimal, list[_Seen]] = {}

    def places(amount: Decimal) -> list[_Seen]:
        if amount not in seen:
            seen[amount] = _occurrences(page, amount)
        return seen[amount]

    meta_was = _meta_was_amounts(page)
    usable: list[tuple[str, Found]] = []
    for name, finding in found:
        assert finding.price is not None  # only findings with a price are weighed
        where = places(finding.price)
        was = finding.price in meta_was or any(p.crossed and p.currency for p in where)
        if was and not _shown(finding, where):
            continue  # shown only as a was-price: it is not what a buyer pays
        usable.append((name, finding))
    if len({(f.price, f.currency) for _, f in usable}) <= 1:
        return usable[0] if usable else None
    specific = [(name, f) for name, f in usable if f.by_url]
    if specific:
        return specific[0]  # the page's own variant, named by its URL, over page-wide tags
    visible = [(n, f) for n, f in usable if f.price is not None and _shown(f, places(f.price))]
    if len({(f.price, f.currency) for _, f in visible}) == 1:
        return visible[0]
    return None


def _shown(finding: Found, where: list[_Seen]) -> bool:
    """Whether the page writes the amount, with the finding's currency, not crossed out."""
    return any(
        not p.crossed and p.currency is not None and p.currency == (finding.currency or p.currency)
        for p in where
    )


def _meta_was_amounts(page: Page) -> frozenset[Decimal]:
    """Amounts meta tags call the standard or original price, beside a different sale price."""
    meta = page.meta
    sale = {meta[k] for k in _META_PRICE if meta.get(k)}
    amounts: set[Decimal] = set()
    for key, value in meta.items():
        if _META_WAS.search(key) and value not in sale:
            amount = to_decimal(value, None, structured=True)
            if amount is not None:
                amounts.add(amount)
    return frozenset(amounts)


def _occurrences(page: Page, amount: Decimal) -> list[_Seen]:
    """Where the page's markup writes the amount (not in JSON or attributes), at most 100."""
    body = page.body
    found: list[_Seen] = []
    for match in _spellings(amount).finditer(body, max(0, body.find(b"<body"))):
        start, end = match.span()
        if (start and body[start - 1] in _NOT_SHOWN_BEFORE) or body[end : end + 1] in _QUOTES:
            continue  # the tail of a longer number, or a value in JSON or an attribute
        markers = list(_CROSSED_BYTES.finditer(body, max(0, start - _WINDOW), start))
        crossed = bool(markers) and _still_open(body, markers[-1].start(), start)
        found.append(_Seen(crossed, _currency_beside(page, start, end)))
        if len(found) >= _MAX_SEEN:
            break
    return found


def _still_open(body: bytes, marker: int, at: int) -> bool:
    """Whether the element whose opening tag holds `marker` is still open at `at`."""
    opening = body.rfind(b"<", max(0, marker - _WINDOW), marker + 1)
    name = _TAG_NAME.match(body, opening) if opening >= 0 else None
    if name is None:
        return True  # cannot tell: count it as crossed out (the cautious side)
    return body.find(b"</" + name.group(1), marker, at) < 0


def _currency_beside(page: Page, start: int, end: int) -> str | None:
    """The currency written right before or after the amount, tags in between skipped."""
    body = page.body
    before = _TAGS.sub(b" ", body[max(0, start - _BESIDE) : start])
    before = before[before.rfind(b">") + 1 :]  # a tag cut in half at the window's edge
    after = _TAGS.sub(b" ", body[end : end + _BESIDE])
    cut = after.find(b"<")
    after = after[:cut] if cut >= 0 else after
    token = _CURRENCY_BEFORE.search(_text(before, page)) or _CURRENCY_AFTER.match(
        _text(after, page)
    )
    if token is None:
        return None
    return to_iso(token.group(1), default=page.expected_currency, in_text=True)


def _text(raw: bytes, page: Page) -> str:
    return unicodedata.normalize("NFKC", html.unescape(raw.decode(page.codec, "replace")))


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
