"""Every availability, end to end: a shop page says it → the scraper records it (history
row and product) → the API shows it → `back_in_stock` fires or not → the webhook says it.

The real pieces: a loopback shop serving JSON-LD, the scraper's check, PostgreSQL,
Redis, the evaluator's job, the API app, the notifier and a signed-webhook receiver.
The table is spelled out here (the issue's words), not read from the code under test.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
from arq.connections import ArqRedis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from pricealert.availability import Availability
from pricealert.models import AlertRule, Notification, PriceHistory, Product, User
from pricealert.queues import EVALUATE_QUEUE, EvaluateChange
from pricealert_ops.devtools.receiver import Receiver
from pricealert_ops.devtools.shop import Page, Shop
from services.evaluator.settings import EvaluatorSettings
from services.evaluator.tasks import evaluate_change
from services.scraper.check import ProductCheck
from tests import factories as make
from tests.api.conftest import api_settings, app, client
from tests.notifier.conftest import make_notifier, notifier_settings
from tests.scraper.conftest import add_product

__all__ = ["api_settings", "app", "client"]

#: in_stock, as the issue says it: "a buyer can order it now and receive it without waiting".
IN_STOCK = {
    "InStock": True, "LimitedAvailability": True, "InStoreOnly": True, "OnlineOnly": True,
    "OutOfStock": False, "SoldOut": False, "Discontinued": False, "PreOrder": False,
    "PreSale": False, "BackOrder": False, None: None,
}  # fmt: skip


def page(price: str, availability: str | None) -> Page:
    """A product page whose JSON-LD offer states the price and, unless None, availability."""
    stock = "" if availability is None else f',"availability":"https://schema.org/{availability}"'
    return Page.html(
        '<html><head><title>Lamp</title><script type="application/ld+json">'
        '{"@context":"https://schema.org","@type":"Product","name":"Walnut desk lamp",'
        f'"offers":{{"@type":"Offer","price":"{price}","priceCurrency":"EUR"{stock}}}}}'
        "</script></head><body><h1>Walnut desk lamp</h1></body></html>"
    )


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with Receiver() as hook:
        await hook.start()
        yield hook


class Watcher:
    """A user of the API who watches one shop page with a back_in_stock alert to a webhook."""

    def __init__(self, client: httpx.AsyncClient, key: str, watch_id: uuid.UUID) -> None:
        self.client, self.key, self.watch_id = client, key, watch_id

    async def get(self, path: str = "") -> Any:
        response = await self.client.get(
            f"/v1/products/{self.watch_id}{path}", headers={"Authorization": f"Bearer {self.key}"}
        )
        assert response.status_code == 200, response.text
        return response.json()


async def watch_with_alert(
    client: httpx.AsyncClient, session: AsyncSession, url: str, receiver: Receiver
) -> tuple[Product, Watcher]:
    signed_up = await client.post("/v1/users", json={"email": f"{uuid.uuid4().hex}@example.com"})
    assert signed_up.status_code == 201, signed_up.text
    owner = await session.get(User, uuid.UUID(signed_up.json()["id"]))
    assert owner is not None
    product = await add_product(session, url)
    watched = await make.watch(session, owner, product)
    hook = await make.channel(session, owner, "webhook", receiver.url)
    receiver.secret = hook.secret
    await make.rule(session, owner, product, "back_in_stock", None, [hook])
    return product, Watcher(client, signed_up.json()["api_key"], watched.id)


async def evaluate_latest(
    sessionmaker: async_sessionmaker[AsyncSession], queue: ArqRedis, product: Product
) -> PriceHistory:
    """Run the evaluation the scraper queued for the product's newest row."""
    async with sessionmaker() as session:
        row = await session.scalar(
            select(PriceHistory)
            .where(PriceHistory.product_id == product.id)
            .order_by(PriceHistory.first_seen_at.desc(), PriceHistory.id.desc())
            .limit(1)
        )
    assert row is not None
    assert await queue.zscore(EVALUATE_QUEUE, f"evaluate:{row.id}") is not None
    ctx = {"sessionmaker": sessionmaker, "redis": queue, "settings": EvaluatorSettings()}
    await evaluate_change(ctx, EvaluateChange(product_id=product.id, history_id=row.id))
    return row


async def back_in_stock_notifications(
    sessionmaker: async_sessionmaker[AsyncSession], product: Product
) -> list[Notification]:
    async with sessionmaker() as session:
        rows = await session.scalars(
            select(Notification)
            .join(AlertRule, AlertRule.id == Notification.rule_id)
            .where(Notification.product_id == product.id, AlertRule.kind == "back_in_stock")
        )
        return list(rows)


@pytest.mark.parametrize("availability", [*IN_STOCK])
async def test_each_availability_is_recorded_shown_and_alerted_from_out_of_stock_per_the_table(
    availability: str | None,
    product_check: ProductCheck,
    shop: Shop,
    db_session: AsyncSession,
    sessionmaker: async_sessionmaker[AsyncSession],
    queue: ArqRedis,
    client: httpx.AsyncClient,
    receiver: Receiver,
) -> None:
    shop.serve("/lamp", page("100.00", "OutOfStock"), page("89.50", availability))
    product, watcher = await watch_with_alert(client, db_session, shop.url("/lamp"), receiver)

    # First check: out of stock (a first observation alerts nothing).
    assert await product_check.run(product.id) == "changed"
    await evaluate_latest(sessionmaker, queue, product)
    # Second check: the page now says `availability`.
    assert await product_check.run(product.id) == "changed"
    row = await evaluate_latest(sessionmaker, queue, product)

    # The scraper recorded it: the history row and the product.
    assert (row.price, row.availability, row.in_stock) == (
        Decimal("89.50"), availability, IN_STOCK[availability],
    )  # fmt: skip
    stored = await db_session.get(Product, product.id, populate_existing=True)
    assert stored is not None
    assert (stored.availability, stored.in_stock) == (availability, IN_STOCK[availability])

    # The API shows it: the product, its history and its stats.
    shown = await watcher.get()
    assert (shown["availability"], shown["in_stock"]) == (availability, IN_STOCK[availability])
    history = (await watcher.get("/prices"))["items"]
    assert [(p["price"], p["availability"], p["in_stock"]) for p in history] == [
        ("100.00", "OutOfStock", False), ("89.50", availability, IN_STOCK[availability]),
    ]  # fmt: skip
    stats = await watcher.get("/stats")
    assert (stats["availability"], stats["in_stock"]) == (availability, IN_STOCK[availability])

    # back_in_stock fires exactly when the page became orderable now.
    fired = await back_in_stock_notifications(sessionmaker, product)
    if IN_STOCK[availability] is not True:
        assert fired == []
        return
    [notification] = fired
    assert notification.status == "pending"
    notifier, http = make_notifier(sessionmaker, notifier_settings())
    try:
        assert (await notifier.deliver(notification.id)).outcome == "sent"
    finally:
        await http.aclose()
    [delivered] = receiver.valid
    data = delivered.json["data"]
    assert data["alert"]["kind"] == "back_in_stock"
    assert data["availability"] == {"old": "OutOfStock", "new": availability}
    assert data["in_stock"] == {"old": False, "new": True}
    assert data["price"]["new"] == {"amount": "89.50", "currency": "EUR"}


async def test_a_change_of_availability_alone_opens_a_row_and_only_becoming_orderable_alerts(
    product_check: ProductCheck,
    shop: Shop,
    db_session: AsyncSession,
    sessionmaker: async_sessionmaker[AsyncSession],
    queue: ArqRedis,
    client: httpx.AsyncClient,
    receiver: Receiver,
) -> None:
    walk = [None, "InStock", "LimitedAvailability", "PreOrder", "OutOfStock", "BackOrder",
            "InStoreOnly", "InStoreOnly"]  # fmt: skip
    shop.serve("/lamp", *(page("100.00", a) for a in walk))
    product, watcher = await watch_with_alert(client, db_session, shop.url("/lamp"), receiver)
    token = "scheduler-claim"
    results = []
    for _ in walk:
        # The scheduler's path this time: a claim checked as a batch.
        stored = await db_session.get(Product, product.id, populate_existing=True)
        assert stored is not None
        stored.lease_token = token
        await db_session.flush()
        results.append(dict(await product_check.run_batch(token, [product.id])))
        if results[-1] == {"changed": 1}:
            await evaluate_latest(sessionmaker, queue, product)

    assert results == [{"changed": 1}] * 7 + [{"unchanged": 1}]
    history = (await watcher.get("/prices"))["items"]
    assert [p["availability"] for p in history] == walk[:-1]
    assert {p["price"] for p in history} == {"100.00"}
    # null → InStock is not "back"; InStock → LimitedAvailability is not either; nor are
    # OutOfStock → BackOrder or PreOrder → OutOfStock; BackOrder → InStoreOnly is.
    [fired] = await back_in_stock_notifications(sessionmaker, product)
    assert fired.payload["data"]["availability"] == {"old": "BackOrder", "new": "InStoreOnly"}
    assert fired.payload["data"]["alert"]["reason"] == "back in stock (BackOrder → InStoreOnly)"


def test_the_table_here_is_the_issues_ten_names_and_unknown() -> None:
    assert set(IN_STOCK) - {None} == {a.value for a in Availability}
