"""End-to-end fixtures: the four services as real processes, a shop, a signed-webhook receiver.

Redis database 6 belongs to these tests; each test gets a fresh PostgreSQL
database and its own stack, and leaves no process behind.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest
import redis as sync_redis

from pricealert_ops.devtools.receiver import Receiver
from pricealert_ops.devtools.shop import Page, Shop
from pricealert_ops.devtools.stack import Api, Stack
from tests.conftest import REDIS_BASE

E2E_REDIS_URL = f"{REDIS_BASE}/6"
#: Every wait in these tests ends with a clear failure after this long.
DEADLINE_SECONDS = 60.0

T = TypeVar("T")


def product_page(name: str, price: str, currency: str = "USD", in_stock: bool = True) -> Page:
    """A shop page stating one offer in JSON-LD, as most shops do."""
    availability = "InStock" if in_stock else "OutOfStock"
    return Page.html(
        f"<html><head><title>{name}</title>"
        '<script type="application/ld+json">'
        f'{{"@context":"https://schema.org","@type":"Product","name":"{name}",'
        f'"offers":{{"@type":"Offer","price":"{price}","priceCurrency":"{currency}",'
        f'"availability":"https://schema.org/{availability}"}}}}'
        f"</script></head><body><h1>{name}</h1></body></html>"
    )


async def eventually(
    probe: Callable[[], Awaitable[T | None]], what: str, within: float = DEADLINE_SECONDS
) -> T:
    """Poll `probe` until it returns something truthy; fail naming `what` after `within` seconds."""
    deadline = time.monotonic() + within
    while True:
        result = await probe()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {within:.0f} s waiting for {what}")
        await asyncio.sleep(0.1)


@pytest.fixture
def e2e_redis() -> Iterator[sync_redis.Redis]:
    client = sync_redis.Redis.from_url(E2E_REDIS_URL)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


@pytest.fixture
async def shop() -> AsyncIterator[Shop]:
    async with Shop(record=False) as running:
        await running.listen("127.0.0.1")
        yield running


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with Receiver() as hook:
        await hook.start()
        yield hook


@pytest.fixture
async def stack(
    fresh_database_url: str,
    e2e_redis: sync_redis.Redis,
    shop: Shop,
    receiver: Receiver,
    tmp_path: Path,
) -> AsyncIterator[Stack]:
    async with Stack(
        fresh_database_url,
        E2E_REDIS_URL,
        allowed_hosts=[shop.netloc(), receiver.netloc],
        log_dir=tmp_path,
    ) as running:
        yield running
    assert running.processes() == [], "the stack left processes behind"


@pytest.fixture
async def api(stack: Stack) -> AsyncIterator[Api]:
    async with Api(stack.api_url) as client:
        yield client
