"""Suggest, never guess: ranked CSS selectors for a page's price and stock words.

A page without structured data needs the user to say where its price is. This
module finds the elements that could be it and ranks them; the user (or the
frontend) picks one and creates the product with it. Nothing here is ever
recorded as a price: a suggestion is only a selector and what it shows today.

Price candidates are the smallest elements whose visible text reads as one
price (`price_text`; points, shipping, instalments and was-prices never do),
with a currency shown or `price` in their markup. Each is scored by what
shoppers' eyes and shops' templates have in common, and every reason that
scored is named:

- price-like text: a currency shown, and little else in the element;
- markup that says price (`price` in its class, id or `itemprop`; `sale`,
  `current`, `now`, `final`), or a was-price (`old`, `was`, `list`: never
  suggested when crossed out with `<del>`/`<s>`);
- near the title (the first `<h1>`) and near the buy button, in document order;
- font-size hints: an inline `font-size`, big-type classes, headings, `<strong>`;
- not inside a carousel, related-products, recommendation, header, footer or
  navigation block (heavily penalised there);
- the same amount shown again elsewhere on the page (the sticky buy bar).

Stock candidates are elements whose short text is stock words (`在庫あり`,
`Sold out`), ranked by `stock`/`availability` in their markup and nearness to
the buy button.

Every selector is robust where the page allows it (`robust_selector`: an id,
an `itemprop`, a stable class, anchored at a stable ancestor; an
`:nth-of-type` path only as a last resort) and is checked to select exactly
that element first, as `price_by_selector` reads it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from selectolax.lexbor import LexborNode

from pricealert.availability import Availability
from pricealert.extract.page import Page
from pricealert.extract.price_text import CURRENCY, parse_price
from pricealert.extract.price_text import TAX_EXCLUDED as _TAX_EXCLUDED
from pricealert.extract.robust_selector import robust_selector
from pricealert.extract.stock import text_availability
from pricealert.extract.text import ASIDE_CLASS, STRUCK_TAGS, visible_text

_SKIP_TAGS = frozenset({"script", "style", "noscript", "template", "svg", "head", "title"})
_MAX_PRICE_TEXT = 48
_MAX_STOCK_TEXT = 60
_NEAR = 120  # elements, in document order
_PRICE_WORDS = re.compile(r"(?i)price|preis|prix|precio|preco|prezzo|kakaku|cena|amount|money")
_NOW_WORDS = re.compile(r"(?i)sale|current|now|final|special|offer|deal|actual|selling")
_WAS_WORDS = re.compile(r"(?i)(?:^|[\s_-])(?:old|was|list|regular|compare|before|rrp|msrp|uvp)")
_CHROME = re.compile(r"(?i)(?:^|[\s_-])(?:header|footer|nav|navbar|menu|breadcrumbs?|minicart)")
_CHROME_TAGS = frozenset({"header", "footer", "nav", "aside"})
_BIG_CLASS = re.compile(r"(?i)(?:^|[\s_:-])(?:big|large|lg|xl|[2-9]xl|xxl|huge|h1|h2|hero|main)")
_FONT_SIZE = re.compile(r"(?i)font(?:-size)?\s*:[^;]*?([\d.]+)\s*(px|em|rem|pt)")
_CURRENCY_END = re.compile(rf"(?:{CURRENCY})\s*$")
_CURRENCY_START = re.compile(rf"\s*(?:{CURRENCY})")
_SAVING = re.compile(
    r"(?i)\bsave\b|you save|\bsaving|現省|節省|省下|\boff\b|économisez|sparen|sie sparen|ahorra"
    r"|risparmi|oszczędzasz|お得|割引額|値引"
)
_PER_UNIT = re.compile(
    r"(?i)/\s*(?:罐|個|件|本|枚|kg|g|l|ml|oz|lb|each|ea|unit|pc|pcs|st|stk)\b|\bper\s+\w+|每\S|起"
    r"|\bfrom\b|\bab\b|à partir de|\bdesde\b|\bod\b"
)
_LABELS = re.compile(
    r"(?i)price|prix|preis|precio|preço|prezzo|cena|hinta|pris|特價|售價|价格|価格|販売価格|税込|売価"
)
_BUY = re.compile(
    r"(?i)add to (?:cart|bag|basket)|buy now|in den warenkorb|ajouter au panier|añadir al carrito"
    r"|adicionar ao carrinho|do koszyka|カートに入れる|購入手続き|今すぐ購入|カートへ"
    r"|加入购物车|立即购买"
)
_BUY_CLASS = re.compile(r"(?i)add-?to-?cart|addtocart|buy-?button|btn-?cart|cart-?button")
_STOCK_WORDS = re.compile(r"(?i)stock|avail|inventory|zaiko|lager|dispon|estoque|stan")
_LINE_THROUGH = re.compile(r"(?i)line-through")
_DIGITS = re.compile(r"\d+")
_LABEL = 12  # characters an ancestor may add to a price's text ("Price:", "税込")


@dataclass(frozen=True, slots=True)
class Candidate:
    """One suggested selector, what it shows today, and why it ranked where it did."""

    selector: str
    text: str
    score: float
    reasons: tuple[str, ...]
    price: Decimal | None = None
    currency: str | None = None
    availability: Availability | None = None


@dataclass(frozen=True, slots=True)
class Suggestions:
    """Ranked candidates for the price and for the stock words (best first)."""

    price: tuple[Candidate, ...] = ()
    stock: tuple[Candidate, ...] = ()


@dataclass(slots=True)
class _Spot:
    node: LexborNode
    chain: list[LexborNode]  # the node and the ancestors that show the same thing
    text: str
    position: int
    reasons: list[str] = field(default_factory=list)
    score: float = 0.0

    def add(self, points: float, reason: str) -> None:
        """Score a signal and name it among the candidate's reasons."""
        self.score += points
        self.reasons.append(reason)


def suggest(
    body: bytes, url: str, *, headers: Mapping[str, str] | None = None, limit: int = 5
) -> Suggestions:
    """Up to `limit` ranked price and stock selector candidates for a page's bytes."""
    return suggest_page(Page(body, url, headers), limit=limit)


def suggest_page(page: Page, *, limit: int = 5) -> Suggestions:
    """`suggest` on a page already parsed."""
    body = page.tree.body
    if body is None:
        return Suggestions()
    walk = _walk(body)
    price_spots = _price_spots(page, walk)
    stock_spots = _stock_spots(walk)
    return Suggestions(
        price=tuple(_ranked(page, price_spots, limit, kind="price")),
        stock=tuple(_ranked(page, stock_spots, limit, kind="stock")),
    )


@dataclass(slots=True)
class _Walk:
    positions: dict[int, int]
    texts: list[tuple[LexborNode, str]]  # (parent element, its text node's text)
    title: int | None
    buttons: list[int]
    total: int


def _walk(body: LexborNode) -> _Walk:
    positions: dict[int, int] = {}
    texts: list[tuple[LexborNode, str]] = []
    title: int | None = None
    buttons: list[int] = []
    skipped: set[int] = set()
    count = 0
    for node in body.traverse(include_text=True):
        parent = node.parent
        if parent is not None and parent.mem_id in skipped:
            if node.is_element_node:
                skipped.add(node.mem_id)
            continue
        if node.is_text_node:
            raw = node.text_content or ""
            if parent is not None and raw.strip():
                texts.append((parent, raw.strip()))
            continue
        if not node.is_element_node:
            continue
        tag = node.tag or ""
        if tag in _SKIP_TAGS:
            skipped.add(node.mem_id)
            continue
        positions[node.mem_id] = count
        if tag == "h1" and title is None:
            title = count
        if _is_buy_button(node, tag):
            buttons.append(count)
        count += 1
    return _Walk(positions, texts, title, buttons, count)


def _is_buy_button(node: LexborNode, tag: str) -> bool:
    if tag not in ("button", "input", "a"):
        return False
    attributes = node.attributes
    label = " ".join(
        v or "" for v in (attributes.get("value"), attributes.get("title"), node.text(deep=True))
    )
    marks = " ".join(attributes.get(a) or "" for a in ("class", "id", "name"))
    return bool(_BUY.search(label[:80]) or _BUY_CLASS.search(marks))


def _price_spots(page: Page, walk: _Walk) -> list[_Spot]:
    spots: dict[int, _Spot] = {}
    for parent, raw in walk.texts:
        if not any(ch.isdigit() for ch in raw) or len(raw) > 120:
            continue
        chain = _chain(parent, walk, _MAX_PRICE_TEXT)
        if not chain or chain[0].mem_id in spots:
            continue
        outer = chain[-1]
        text = visible_text(outer)
        amount = parse_price(text, default_currency=page.expected_currency, japanese=page.japanese)
        if amount[0] is None or amount[0] <= 0:
            continue
        around = visible_text(outer.parent) if outer.parent is not None else ""
        currency = "shown" if parse_price(text)[1] is not None else _beside(text, around)
        own = " ".join(_marks(n) for n in chain)
        marks = own + " " + (_marks(outer.parent) if outer.parent is not None else "")
        if currency is None and not _PRICE_WORDS.search(marks):
            continue  # a bare number with nothing saying it is a price ("4.5", "128")
        spot = _Spot(outer, chain, text, walk.positions[outer.mem_id])
        _score_price(spot, own, marks, currency, around, walk)
        for node in chain:
            spots[node.mem_id] = spot
    unique = list({id(s): s for s in spots.values()}.values())
    _score_repeats(unique, page)
    return unique


def _beside(text: str, around: str) -> str | None:
    """`beside` when the enclosing text shows a currency right next to this text ("294 元")."""
    compact = " ".join(text.split())
    where = around.find(compact) if compact else -1
    if where < 0:
        return None
    before, after = around[max(0, where - 4) : where], around[where + len(compact) :][:4]
    return "beside" if _CURRENCY_END.search(before) or _CURRENCY_START.match(after) else None


def _chain(parent: LexborNode, walk: _Walk, limit: int) -> list[LexborNode]:
    """The element holding a text, and the ancestors that show little more than it.

    An ancestor joins while its visible text stays short, shows the same numbers
    and adds at most a label's worth of words ("Price:", "税込"): a block that
    also holds the title or a second number is not this price's element.
    """
    if parent.mem_id not in walk.positions:
        return []
    chain: list[LexborNode] = []
    numbers: list[str] | None = None
    length = 0
    node: LexborNode | None = parent
    while node is not None and node.mem_id in walk.positions and node.tag != "body":
        if node.tag in STRUCK_TAGS or _LINE_THROUGH.search(node.attributes.get("style") or ""):
            return []  # a crossed-out price is never suggested
        text = " ".join(visible_text(node).split())
        if len(text) > limit:
            break
        shown = _DIGITS.findall(text)
        if numbers is not None and (shown != numbers or len(text) - length > _LABEL):
            break  # the parent shows another number or more words: a block, not this price
        numbers, length = shown, len(text)
        chain.append(node)
        node = node.parent
    if chain and _inside_struck(chain[-1]):
        return []
    return chain


def _inside_struck(node: LexborNode) -> bool:
    parent = node.parent
    depth = 0
    while parent is not None and parent.tag != "body" and depth < 4:
        if parent.tag in STRUCK_TAGS:
            return True
        parent = parent.parent
        depth += 1
    return False


def _marks(node: LexborNode) -> str:
    attributes = node.attributes
    return " ".join(
        attributes.get(a) or "" for a in ("class", "id", "itemprop", "data-testid", "name")
    )


def _score_price(
    spot: _Spot, own: str, marks: str, currency: str | None, around: str, walk: _Walk
) -> None:
    """Score a price spot; `own` is the spot's markup, `marks` adds its container's."""
    add = spot.add
    if currency == "shown":
        add(2.0, "price-like text (a currency shown)")
    elif currency == "beside":
        add(1.5, "price-like text (a currency right beside it)")
    if _LABELS.search(around):
        add(1.0, "labelled as a price where it stands")
    if _TAX_EXCLUDED.search(spot.text):
        add(-2.0, "marked as a price without tax")
    if len(spot.text) <= 20:
        add(1.0, "the element shows little but the price")
    elif len(spot.text) > 30:
        add(-1.0, "the element holds a sentence, not only a price")
    if any((n.attributes.get("itemprop") or "").lower() == "price" for n in spot.chain):
        add(2.0, 'itemprop="price"')
    elif _PRICE_WORDS.search(marks):
        add(2.0, "'price' in its class or id")
    if _NOW_WORDS.search(marks):
        add(1.0, "marked as the current/sale price")
    if _WAS_WORDS.search(own):
        add(-3.0, "marked as an old/list price")
    if _SAVING.search(spot.text):
        add(-3.0, "a saving or discount, not a price")
    if _PER_UNIT.search(spot.text):
        add(-1.5, "a per-unit or 'from' price")
    _score_place(spot, walk, add)
    size = _font_hint(spot.chain)
    if size:
        add(size, "font-size hints (inline size, big-type class, heading or strong)")
    context = _context(spot.node)
    if context == "aside":
        add(-5.0, "inside a carousel or related-products block")
    elif context == "chrome":
        add(-3.0, "inside the header, footer or navigation")


def _score_place(spot: _Spot, walk: _Walk, add: Callable[[float, str], None]) -> None:
    if walk.title is not None:
        distance = spot.position - walk.title
        if 0 < distance <= _NEAR:
            add(2.0 * (1 - distance / _NEAR) + 0.5, "near the title (after the <h1>)")
        elif -_NEAR // 4 <= distance < 0:
            add(0.5, "just before the title")
    if walk.buttons:
        distance = min(abs(spot.position - b) for b in walk.buttons)
        if distance <= _NEAR:
            add(2.0 * (1 - distance / _NEAR) + 0.5, "near the buy button")
    if walk.total and spot.position < walk.total * 0.4:
        add(0.5, "in the upper part of the page")


def _font_hint(chain: Iterable[LexborNode]) -> float:
    best = 0.0
    for node in chain:
        attributes = node.attributes
        match = _FONT_SIZE.search(attributes.get("style") or "")
        if match:
            value, unit = float(match.group(1)), match.group(2).lower()
            px = value * 16 if unit in ("em", "rem") else value * 4 / 3 if unit == "pt" else value
            best = max(best, min(2.0, (px - 14) / 8))
        if _BIG_CLASS.search(attributes.get("class") or ""):
            best = max(best, 1.0)
        if node.tag in ("h1", "h2", "h3", "strong", "b"):
            best = max(best, 0.5)
    return best


def _context(node: LexborNode) -> str | None:
    """`aside` inside a carousel/related block, `chrome` inside header/footer/nav."""
    parent: LexborNode | None = node
    found: str | None = None
    while parent is not None and parent.tag not in ("body", "html"):
        marks = (parent.attributes.get("class") or "") + " " + (parent.attributes.get("id") or "")
        if ASIDE_CLASS.search(marks):
            return "aside"
        if parent.tag in _CHROME_TAGS or _CHROME.search(marks):
            found = "chrome"
        parent = parent.parent
    return found


def _score_repeats(spots: list[_Spot], page: Page) -> None:
    amounts: dict[Decimal, int] = {}
    parsed: list[Decimal | None] = []
    for spot in spots:
        amount = parse_price(
            spot.text, default_currency=page.expected_currency, japanese=page.japanese
        )[0]
        parsed.append(amount)
        if amount is not None and spot.score > 0:
            amounts[amount] = amounts.get(amount, 0) + 1
    for spot, amount in zip(spots, parsed, strict=True):
        if amount is not None and amounts.get(amount, 0) > 1:
            spot.add(0.5, "the same amount is shown again on the page")


def _stock_spots(walk: _Walk) -> list[_Spot]:
    spots: dict[int, _Spot] = {}
    for parent, raw in walk.texts:
        if len(raw) > _MAX_STOCK_TEXT or parent.mem_id in spots:
            continue
        if text_availability(raw) is None:
            continue
        chain = _chain(parent, walk, _MAX_STOCK_TEXT)
        if not chain:
            continue
        outer = chain[-1]
        spot = _Spot(outer, chain, visible_text(outer), walk.positions[outer.mem_id])
        add = spot.add
        add(1.0, "stock words")
        marks = " ".join(_marks(n) for n in chain)
        if _STOCK_WORDS.search(marks):
            add(2.0, "'stock' or 'availability' in its class or id")
        if any(_is_buy_button(n, n.tag or "") for n in chain):
            add(-1.0, "the buy button's label (changes when sold out, but says little)")
        _score_place(spot, walk, add)
        if _context(outer) is not None:
            add(-4.0, "inside a carousel, related block, header or footer")
        for node in chain:
            spots[node.mem_id] = spot
    return list({id(s): s for s in spots.values()}.values())


def _ranked(page: Page, spots: list[_Spot], limit: int, *, kind: str) -> list[Candidate]:
    ordered = sorted(spots, key=lambda s: (-s.score, s.position))
    out: list[Candidate] = []
    seen: set[str] = set()
    for spot in ordered:
        if len(out) >= limit:
            break
        selector = robust_selector(page.tree, spot.chain)
        if selector is None or selector in seen:
            continue
        seen.add(selector)
        out.append(_candidate(page, spot, selector, kind))
    return out


def _candidate(page: Page, spot: _Spot, selector: str, kind: str) -> Candidate:
    text = " ".join(spot.text.split())[:120]
    reasons = tuple(dict.fromkeys(spot.reasons))
    score = round(spot.score, 2)
    if kind == "stock":
        return Candidate(selector, text, score, reasons, availability=text_availability(text))
    amount, currency = parse_price(
        text, default_currency=page.expected_currency, japanese=page.japanese
    )
    return Candidate(selector, text, score, reasons, price=amount, currency=currency)
