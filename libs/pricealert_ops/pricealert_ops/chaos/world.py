"""The world around the stack: a shop whose prices move on a schedule, and a receiver.

`PriceSchedule` decides, before the run starts, every price each product will
show and when; the shop serves the price of the moment, so the experiment knows
every change it made. Each price holds for `hold_seconds`, longer than a check
may be late by the invariants (interval + lease + slack), so a system that keeps
its check invariant sees every price and its `change` rule owes one alert per
change. Scheduled prices end in an even cent; fault pages carry decoy prices
ending in 7 cents, so a decoy can never be mistaken for a scheduled price.

`FaultyShop` serves the schedule with optional faults (captcha walls, truncated
bodies, 5xx bursts, 429 with Retry-After, timeouts); `FaultyReceiver` answers
webhooks with optional faults (500s, timeouts, slow answers) and turns what it
received into `Delivery` records.
"""

from __future__ import annotations

import itertools
import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from pricealert_ops.chaos.records import Delivery, PriceChange
from pricealert_ops.devtools.receiver import Receiver
from pricealert_ops.devtools.shop import Page, RecordedRequest, Shop

CENT = Decimal("0.01")
#: A move is a few percent up or down: never 100 % (no change), never an implausible jump.
MOVES_PERCENT = (92, 94, 95, 96, 97, 98, 102, 103, 104, 105, 106, 108)


@dataclass
class PriceSchedule:
    """Every product's prices and the times they change (seconds after `begin`)."""

    products: int
    hold_seconds: float
    duration_seconds: float
    seed: int = 7
    base: list[Decimal] = field(default_factory=list)
    #: Per product: [(offset seconds, price)], offsets increasing, the first at 0.
    steps: list[list[tuple[float, Decimal]]] = field(default_factory=list)
    started: float | None = None

    def __post_init__(self) -> None:
        rng = random.Random(self.seed)
        for index in range(self.products):
            price = Decimal(20 + 10 * index) + Decimal("0.90")
            seen = {price}
            steps = [(0.0, price)]
            # Staggered, so changes (and the work they cause) spread over the run.
            at = self.hold_seconds * (0.15 + 0.7 * index / max(self.products, 1))
            while at <= self.duration_seconds:
                price = _next_price(price, rng, seen)
                seen.add(price)
                steps.append((at, price))
                at += self.hold_seconds
            self.base.append(steps[0][1])
            self.steps.append(steps)

    def begin(self, now: float | None = None) -> None:
        """Start the clock: changes happen from now on."""
        self.started = time.time() if now is None else now

    def price(self, product: int, now: float | None = None) -> Decimal:
        """The price `product` shows at `now`."""
        if self.started is None:
            return self.base[product]
        offset = (time.time() if now is None else now) - self.started
        shown = self.base[product]
        for at, price in self.steps[product]:
            if at > offset + 1e-6:  # float time: a change is shown from its own instant
                break
            shown = price
        return shown

    def changes(self, until: float) -> list[PriceChange]:
        """The changes made up to `until` (unix time), with their exact times."""
        if self.started is None:
            return []
        made = []
        for product, steps in enumerate(self.steps):
            for (_, old), (at, new) in itertools.pairwise(steps):
                if self.started + at <= until:
                    made.append(PriceChange(product, self.started + at, old, new))
        return sorted(made, key=lambda c: c.at)

    def served_prices(self, until: float) -> dict[int, set[Decimal]]:
        """Every price each product has shown up to `until`."""
        offset = until - (self.started or until)
        return {
            product: {price for at, price in steps if at <= offset}
            for product, steps in enumerate(self.steps)
        }


def _next_price(price: Decimal, rng: random.Random, seen: set[Decimal]) -> Decimal:
    for _ in range(100):
        moved = price * Decimal(rng.choice(MOVES_PERCENT)) / 100
        candidate = (moved / 2).quantize(CENT) * 2  # an even cent: decoys are odd
        if candidate not in seen and candidate > 0:
            return candidate
    raise RuntimeError("no fresh price found")  # unreachable for sane inputs


def decoy_price(price: Decimal) -> Decimal:
    """A plausible price near `price` that the schedule can never hold (it ends in 7 cents)."""
    return (price * Decimal("0.97")).quantize(Decimal("0.1")) + Decimal("0.07")


def product_page(name: str, price: Decimal, marker: str = "") -> bytes:
    """A product page with its offer in JSON-LD, as most shops have."""
    return (
        f"<!doctype html><html><head><title>{name}</title>"
        '<script type="application/ld+json">'
        f'{{"@context":"https://schema.org","@type":"Product","name":"{name}",'
        f'"offers":{{"@type":"Offer","price":"{price}","priceCurrency":"USD",'
        f'"availability":"https://schema.org/InStock"}}}}'
        f"</script></head><body>{marker}<h1>{name}</h1><p>{'x' * 2000}</p></body></html>"
    ).encode()


#: A fault hook: given the product and the request, a fault page or None (serve normally).
ShopFault = Callable[[int, RecordedRequest], Page | None]


class FaultyShop:
    """The schedule served on loopback, through an optional fault hook."""

    def __init__(self, schedule: PriceSchedule) -> None:
        self.schedule = schedule
        self.shop = Shop(record=False)
        self.fault: ShopFault | None = None
        self.decoys: set[Decimal] = set()
        self.requests = 0
        self.faults_served = 0

    async def start(self) -> str:
        """Listen on 127.0.0.1; returns `host:port` for `fetch_allowed_hosts`."""
        await self.shop.listen("127.0.0.1")
        for index in range(self.schedule.products):
            self.shop.handle(self.path(index), self._page_of(index))
        return self.shop.netloc()

    def path(self, product: int) -> str:
        return f"/p/{product}"

    def url(self, product: int) -> str:
        """The absolute URL of product `product`."""
        return self.shop.url(self.path(product))

    def product_of(self, url: str) -> int | None:
        """The index of the product at `url`, or None."""
        prefix = self.shop.url("/p/")
        tail = url.removeprefix(prefix)
        return int(tail) if url.startswith(prefix) and tail.isdigit() else None

    def _page_of(self, product: int) -> Callable[[RecordedRequest], Page]:
        def page(request: RecordedRequest) -> Page:
            self.requests += 1
            if self.fault is not None and (faulty := self.fault(product, request)) is not None:
                self.faults_served += 1
                return faulty
            return Page(body=product_page(f"Product {product}", self.schedule.price(product)))

        return page

    async def close(self) -> None:
        await self.shop.close()


#: A receiver fault hook: given the webhook id and its attempt number (1, 2, ...), a page.
ReceiverFault = Callable[[str, int], Page | None]


class FaultyReceiver:
    """A signature-verifying webhook receiver, through an optional fault hook."""

    def __init__(self) -> None:
        self.receiver = Receiver()
        self.fault: ReceiverFault | None = None
        self.attempts: dict[str, int] = {}

    async def start(self) -> str:
        """Listen on 127.0.0.1; returns the endpoint URL."""
        url = await self.receiver.start()
        self.receiver.respond(self._answer)
        return url

    def _answer(self, request: RecordedRequest) -> Page:
        webhook_id = request.headers.get("webhook-id", "")
        attempt = self.attempts[webhook_id] = self.attempts.get(webhook_id, 0) + 1
        if self.fault is not None and (faulty := self.fault(webhook_id, attempt)) is not None:
            return faulty
        return Page(status=204)

    def deliveries(self, product_of: Callable[[str], int | None]) -> list[Delivery]:
        """What arrived, as records (price alerts only; a channel test is not one)."""
        found = []
        for received in self.receiver.received:
            product, old, new = None, None, None
            try:
                data = json.loads(received.body)["data"]
                product = product_of(str(data["product"]["url"]))
                old = Decimal(data["price"]["old"]["amount"])
                new = Decimal(data["price"]["new"]["amount"])
            except (ValueError, KeyError, TypeError, ArithmeticError):
                pass  # recorded with what could be read; the verdict names it
            found.append(
                Delivery(
                    webhook_id=received.headers.get("webhook-id", ""),
                    at=received.at,
                    signature_valid=bool(received.signature_valid),
                    product=product,
                    old=old,
                    new=new,
                )
            )
        return found

    async def close(self) -> None:
        await self.receiver.close()
