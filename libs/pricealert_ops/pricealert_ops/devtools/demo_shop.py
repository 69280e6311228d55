"""The demo shop: two shops (US in dollars, JP in yen) whose prices and stock move.

`make demo` moves them itself: the first moves are scripted so every rule kind
fires within the first 20 seconds; after that prices wander at random (within
±8 %, so the scraper's suspicious-jump confirmation never holds an alert back).

`pricealert demo shop` (the README walk-through) serves the same catalogue on
fixed ports and moves a product only when told, by a POST to its page:

    curl -X POST http://127.0.0.1:8180/p/lamp -d price=84.90      # or -d in_stock=false
"""

from __future__ import annotations

import random
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from urllib.parse import parse_qs

from pricealert_ops.devtools.shop import Page, RecordedRequest, Shop

US, JP = 0, 1  # which listener of the shop (two loopback addresses, two "domains")


@dataclass
class Item:
    slug: str
    name: str
    shop: int
    currency: str
    price: Decimal
    in_stock: bool
    rule: str  # the rule kind the demo watches it with
    threshold: str | None = None
    #: time.time() of each state change, newest last (the clock alerts are timed against).
    changed_at: list[float] = field(default_factory=list)

    @property
    def path(self) -> str:
        return f"/p/{self.slug}"

    def page(self, _request: RecordedRequest) -> Page:
        """The product page as the shop serves it now (JSON-LD, as most shops have)."""
        return self.html()

    def html(self) -> Page:
        """The product page (JSON-LD, as most shops have)."""
        availability = "InStock" if self.in_stock else "OutOfStock"
        return Page.html(
            f"<!doctype html><html><head><meta charset='utf-8'><title>{self.name}</title>"
            '<script type="application/ld+json">'
            f'{{"@context":"https://schema.org","@type":"Product","name":"{self.name}",'
            f'"offers":{{"@type":"Offer","price":"{self.price}",'
            f'"priceCurrency":"{self.currency}",'
            f'"availability":"https://schema.org/{availability}"}}}}'
            f"</script></head><body><h1>{self.name}</h1></body></html>"
        )

    def move(self, price: Decimal | None = None, in_stock: bool | None = None) -> None:
        """Change what the shop shows, and remember when."""
        if price is not None:
            self.price = price
        if in_stock is not None:
            self.in_stock = in_stock
        self.changed_at.append(time.time())


def catalogue() -> list[Item]:
    """Five products, one per rule kind."""
    return [
        Item("lamp", "Walnut desk lamp", US, "USD", Decimal("100.00"), True, "below", "90.00"),
        Item("shoes", "Trail running shoes", US, "USD", Decimal("129.99"), True,
             "drop_percent", "10"),
        Item("grinder", "Espresso grinder", US, "USD", Decimal("249.00"), True, "change"),
        Item("kettle", "電気ケトル 1.0L", JP, "JPY", Decimal("3980"), False, "back_in_stock"),
        Item("headphones", "ノイズキャンセリングヘッドホン", JP, "JPY", Decimal("39800"), True,
             "lowest_ever"),
    ]  # fmt: skip


#: A wandering price becomes this percentage of itself (never 100: a move is a change).
MOVES_PERCENT = [*range(92, 100), *range(101, 107)]

#: (seconds after the start, product, new price or None, new stock or None)
SCRIPT: list[tuple[float, str, str | None, bool | None]] = [
    (2.0, "lamp", "84.90", None),
    (5.0, "kettle", None, True),
    (8.0, "shoes", "109.99", None),
    (11.0, "grinder", "239.00", None),
    (14.0, "headphones", "34800", None),
]


class DemoShop:
    """The catalogue served on two loopback addresses, moved by `step`."""

    def __init__(self, rng: random.Random | None = None) -> None:
        self.items = {item.slug: item for item in catalogue()}
        self.shop = Shop(record=False)
        self.rng = rng or random.Random()
        self._script = list(SCRIPT)
        #: Called after a POST moved an item (the shop command prints it).
        self.on_move: Callable[[Item], None] | None = None

    async def start(self, port: int = 0, *, editable: bool = False) -> list[str]:
        """Listen on 127.0.0.1 (US) and 127.0.0.2 (JP), on `port` (0: any free one); returns
        their `host:port`s. `editable`: a POST to a product's page changes it."""
        await self.shop.listen("127.0.0.1", port=port)
        await self.shop.listen("127.0.0.2", port=port)
        for item in self.items.values():
            self.shop.handle(item.path, self._editable(item) if editable else item.page)
        return [self.shop.netloc(US), self.shop.netloc(JP)]

    def _editable(self, item: Item) -> Callable[[RecordedRequest], Page]:
        def handle(request: RecordedRequest) -> Page:
            if request.method != "POST":
                return item.html()
            try:
                price, in_stock = parse_change(request.body)
            except ValueError as exc:
                return Page(status=400, body=f"{exc}\n".encode(), content_type="text/plain")
            item.move(price, in_stock)
            if self.on_move is not None:
                self.on_move(item)
            stock = "in stock" if item.in_stock else "out of stock"
            text = f"{item.name}: now {item.price} {item.currency}, {stock}\n"
            return Page(body=text.encode(), content_type="text/plain; charset=utf-8")

        return handle

    def url(self, item: Item) -> str:
        return self.shop.url(item.path, item.shop)

    def by_url(self, url: str) -> Item | None:
        return next((i for i in self.items.values() if self.url(i) == url), None)

    @property
    def script_done(self) -> bool:
        return not self._script

    def scripted(self, elapsed: float) -> Item | None:
        """The next scripted move, once its time has come."""
        if not self._script or elapsed < self._script[0][0]:
            return None
        _at, slug, price, in_stock = self._script.pop(0)
        item = self.items[slug]
        item.move(Decimal(price) if price else None, in_stock)
        return item

    def wander(self) -> Item:
        """A random move: a price a few percent up or down, or the kettle's stock flipping."""
        item = self.rng.choice(list(self.items.values()))
        if item.rule == "back_in_stock":
            item.move(in_stock=not item.in_stock)
            return item
        factor = Decimal(self.rng.choice(MOVES_PERCENT)) / 100
        if item.currency == "JPY":  # yen has no minor unit; shops price in tens
            price = (item.price * factor / 10).quantize(Decimal(1)) * 10
        else:
            price = (item.price * factor).quantize(Decimal("0.01"))
        item.move(price=price)
        return item

    async def close(self) -> None:
        await self.shop.close()


def parse_change(body: bytes) -> tuple[Decimal | None, bool | None]:
    """`price=84.90` and/or `in_stock=true|false` from a form body; ValueError when wrong."""
    form = {k: v[-1] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
    price = in_stock = None
    if "price" in form:
        try:
            price = Decimal(form["price"])
        except InvalidOperation:
            raise ValueError(f"price={form['price']!r} is not a number") from None
        if not price.is_finite() or price <= 0:
            raise ValueError("price must be a positive number")
    if "in_stock" in form:
        if form["in_stock"].lower() not in {"true", "false"}:
            raise ValueError("in_stock must be true or false")
        in_stock = form["in_stock"].lower() == "true"
    if price is None and in_stock is None:
        raise ValueError("say price=NUMBER and/or in_stock=true|false")
    return price, in_stock


SYMBOLS = {"USD": "$", "JPY": "¥"}


def money(amount: Decimal | str | None, currency: str | None) -> str:
    """`$84.90`, `¥3,980` (yen has no minor unit)."""
    if amount is None or currency is None:
        return "?"
    value = Decimal(amount)
    text = f"{value:,.0f}" if currency == "JPY" else f"{value:,.2f}"
    return f"{SYMBOLS.get(currency, currency + ' ')}{text}"


def padded(text: str, width: int) -> str:
    """`text` padded to `width` terminal columns (CJK characters take two)."""
    columns = sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)
    return text + " " * max(width - columns, 0)
