"""Scraper fixtures: a real shop on loopback, the product check wired to the test database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from arq.connections import ArqRedis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from pricealert.availability import Availability
from pricealert.http import GuardedClient
from pricealert.models import Product
from pricealert_ops.devtools.shop import Page, Shop
from services.scraper.check import ProductCheck
from services.scraper.fetch import ShopFetcher
from services.scraper.settings import ScraperSettings


def product_page(price: str, currency: str = "JPY", availability: str = "InStock") -> Page:
    """A shop page whose JSON-LD states one offer."""
    return Page.html(
        "<html><head><title>Kettle</title>"
        '<script type="application/ld+json">'
        '{"@context":"https://schema.org","@type":"Product","name":"Electric kettle",'
        f'"offers":{{"@type":"Offer","price":"{price}","priceCurrency":"{currency}",'
        f'"availability":"https://schema.org/{availability}"}}}}'
        "</script></head><body><h1>Electric kettle</h1></body></html>"
    )


@pytest.fixture
async def shop() -> AsyncIterator[Shop]:
    async with Shop() as running:
        await running.listen("127.0.0.1")
        yield running


@pytest.fixture
def scraper_settings(database_url: str, redis_url: str) -> ScraperSettings:
    return ScraperSettings(
        environment="test",
        database_url=database_url,
        redis_url=redis_url,
        fetch_allowed_hosts=["127.0.0.1"],
        per_domain_delay_seconds=0.0,
        respect_robots=False,
    )


@pytest.fixture
def queue(redis: ArqRedis) -> ArqRedis:
    """The root conftest's `redis` client, named for what the scraper puts there."""
    return redis


@pytest.fixture
async def product_check(
    sessionmaker: async_sessionmaker[AsyncSession],
    queue: ArqRedis,
    scraper_settings: ScraperSettings,
) -> AsyncIterator[ProductCheck]:
    async with GuardedClient.from_settings(scraper_settings) as client:
        fetcher = ShopFetcher(client, scraper_settings.fetch_policy())
        yield ProductCheck(sessionmaker, queue, fetcher, scraper_settings)


async def add_product(
    session: AsyncSession,
    url: str,
    *,
    interval: int = 3600,
    due_in: float = 0.0,
    status: str = "active",
    price: Decimal | None = None,
    currency: str | None = None,
    availability: Availability | None = None,
) -> Product:
    product = Product(
        url=url,
        domain="shop",
        check_interval_seconds=interval,
        status=status,
        next_check_at=datetime.now(UTC) + timedelta(seconds=due_in),
        price=price,
        currency=currency,
        availability=availability,
    )
    session.add(product)
    await session.flush()
    return product
