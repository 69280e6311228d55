"""The benchmark's shop, run as a process of its own so its CPU is not the pipeline's.

    python -m scripts.bench.pipeline_shop --products 500 --change-every 10

Serves `/p/0` … `/p/{N-1}` as JSON-LD product pages. Product i's price changes
every `change_every` seconds, the products' changes spread evenly over that
period (`phase`), so change times are known to anyone holding the clock:
`last_change(i, t)`. Prices move a few percent (never enough to look
suspicious). `/stats` answers the number of product pages served. Prints its
origin on the first line of stdout, then runs until SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import signal
import sys
import time
from collections.abc import Callable
from decimal import Decimal

from pricealert_ops.devtools.shop import Page, RecordedRequest, Shop


class PriceClock:
    """Which price product i shows at time t, and when it last changed."""

    def __init__(self, products: int, change_every: float) -> None:
        self.products = products
        self.change_every = change_every

    def phase(self, index: int) -> float:
        return self.change_every * index / self.products

    def version(self, index: int, at: float) -> int:
        return math.floor((at + self.phase(index)) / self.change_every)

    def last_change(self, index: int, at: float) -> float:
        """time.time() of product `index`'s latest change at or before `at`."""
        return self.version(index, at) * self.change_every - self.phase(index)

    def price(self, index: int, at: float) -> Decimal:
        base = Decimal(1000 + 37 * index) / 10  # 100.0, 103.7, ... USD
        percent = 100 - (self.version(index, at) % 7)  # 94 % .. 100 %, a cycle of 7
        return (base * percent / 100).quantize(Decimal("0.01"))


def product_page(index: int, price: Decimal) -> Page:
    return Page.html(
        f"<html><head><title>Bench item {index}</title>"
        '<script type="application/ld+json">'
        f'{{"@context":"https://schema.org","@type":"Product","name":"Bench item {index}",'
        f'"offers":{{"@type":"Offer","price":"{price}","priceCurrency":"USD",'
        '"availability":"https://schema.org/InStock"}}'
        f"</script></head><body><h1>Bench item {index}</h1></body></html>"
    )


async def serve(products: int, change_every: float) -> None:
    clock = PriceClock(products, change_every)
    served = 0

    def page_of(index: int) -> Callable[[RecordedRequest], Page]:
        def answer(_request: RecordedRequest) -> Page:
            nonlocal served
            served += 1
            return product_page(index, clock.price(index, time.time()))

        return answer

    async with Shop(record=False) as shop:
        origin = await shop.listen("127.0.0.1")
        for index in range(products):
            shop.handle(f"/p/{index}", page_of(index))
        shop.handle("/stats", lambda _r: Page(body=json.dumps({"served": served}).encode()))
        print(origin, flush=True)
        stopped = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stopped.set)
        await stopped.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--products", type=int, required=True)
    parser.add_argument("--change-every", type=float, required=True)
    args = parser.parse_args()
    asyncio.run(serve(args.products, args.change_every))
    return 0


if __name__ == "__main__":
    sys.exit(main())
