"""The product list, history and statistics reads (one statement each, JSON built from plain
rows): their edges, and their bytes being exactly what the declared response models make."""

from __future__ import annotations

import base64
import json
import random
import uuid
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
from pydantic import BaseModel
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from pricealert.availability import Availability
from pricealert.models import PriceHistory, Product
from pricealert.repositories.pagination import encode_cursor
from pricealert.repositories.prices import PriceRepository, watched_history, watched_stats
from services.api.products.schemas import (
    PriceHistoryOut,
    PricePointOut,
    PriceStatsOut,
    ProductOut,
)
from services.api.schemas import PageOut
from tests.api.conftest import ApiUser, OneConnectionApi


async def _watch(client: httpx.AsyncClient, user: ApiUser, url: str, **extra: object) -> str:
    response = await client.post("/v1/products", json={"url": url, **extra}, headers=user.auth)
    assert response.status_code in (200, 201), response.text
    return str(response.json()["id"])


async def _product_id(db_session: AsyncSession, url: str) -> int:
    product_id = await db_session.scalar(select(Product.id).where(Product.url == url))
    assert product_id is not None
    return product_id


def _same_as_model(response: httpx.Response, model: type[BaseModel]) -> dict[str, Any]:
    """The body is byte for byte what the route's response model serialises it to."""
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    assert model.model_validate_json(response.content).model_dump_json().encode() == (
        response.content
    )
    body: dict[str, Any] = response.json()
    return body


async def test_list_rows_are_the_models_bytes_and_the_last_page_has_no_cursor(
    client: httpx.AsyncClient, alice: ApiUser, db_session: AsyncSession
) -> None:
    first = await _watch(client, alice, "https://shop.example/a", selector=".price")
    await _watch(client, alice, "https://shop.example/b")
    await _watch(client, alice, "https://shop.example/c")
    now = datetime(2026, 3, 1, 12, 30, 15, 123456, tzinfo=UTC)
    await db_session.execute(
        update(Product)
        .where(Product.url == "https://shop.example/a")
        .values(
            price=Decimal("12.50"), currency="USD", title="Ä title", status="failing",
            availability=Availability.OUT_OF_STOCK, last_checked_at=now, last_changed_at=now,
            last_error="HTTP 503",
        )
    )  # fmt: skip
    await db_session.flush()

    page = _same_as_model(
        await client.get("/v1/products", params={"limit": 2}, headers=alice.auth),
        PageOut[ProductOut],
    )
    [a, b] = page["items"]
    assert a["id"] == first
    assert (a["selector"], a["stock_selector"], b["selector"]) == (".price", None, None)
    assert (a["price"], a["currency"], a["title"]) == ("12.50", "USD", "Ä title")
    assert (a["availability"], a["in_stock"], a["status"]) == ("OutOfStock", False, "failing")
    assert a["last_checked_at"] == "2026-03-01T12:30:15.123456Z"
    assert list(a) == list(ProductOut.model_fields)

    # The cursor of a full page leads to the last item, whose page has no next cursor...
    last = _same_as_model(
        await client.get(
            "/v1/products", params={"limit": 2, "cursor": page["next_cursor"]}, headers=alice.auth
        ),
        PageOut[ProductOut],
    )
    assert [i["url"] for i in last["items"]] == ["https://shop.example/c"]
    assert last["next_cursor"] is None
    # ... nor has a page exactly as long as what is left.
    exact = await client.get("/v1/products", params={"limit": 3}, headers=alice.auth)
    assert len(exact.json()["items"]) == 3
    assert exact.json()["next_cursor"] is None


async def test_a_cursor_past_the_end_gives_an_empty_last_page(
    client: httpx.AsyncClient, alice: ApiUser
) -> None:
    await _watch(client, alice, "https://shop.example/a")
    await _watch(client, alice, "https://shop.example/b")
    page = (await client.get("/v1/products", params={"limit": 1}, headers=alice.auth)).json()
    second = await client.get(
        "/v1/products", params={"limit": 1, "cursor": page["next_cursor"]}, headers=alice.auth
    )
    assert second.json()["next_cursor"] is None
    # Made the same way as a server cursor, pointing after the very last watch.
    last = second.json()["items"][0]
    past = encode_cursor(datetime.fromisoformat(last["created_at"]), uuid.UUID(last["id"]))
    empty = await client.get("/v1/products", params={"cursor": past}, headers=alice.auth)
    assert empty.status_code == 200
    assert empty.json() == {"items": [], "next_cursor": None}


async def test_a_list_shows_only_the_callers_products(
    client: httpx.AsyncClient, alice: ApiUser, bob: ApiUser
) -> None:
    await _watch(client, alice, "https://shop.example/a")
    await _watch(client, bob, "https://shop.example/b")
    page = (await client.get("/v1/products", headers=bob.auth)).json()
    assert [i["url"] for i in page["items"]] == ["https://shop.example/b"]


async def test_empty_history_and_stats_without_history(
    client: httpx.AsyncClient, alice: ApiUser, db_session: AsyncSession
) -> None:
    watch_id = await _watch(client, alice, "https://shop.example/a")
    history = _same_as_model(
        await client.get(f"/v1/products/{watch_id}/prices", headers=alice.auth), PriceHistoryOut
    )
    assert history == {"product_id": watch_id, "items": []}
    # A current price but no history row (yet): the current one, nothing else.
    await db_session.execute(update(Product).values(price=Decimal("9.90"), currency="EUR"))
    await db_session.flush()
    stats = _same_as_model(
        await client.get(f"/v1/products/{watch_id}/stats", headers=alice.auth), PriceStatsOut
    )
    assert stats == {
        "currency": "EUR", "current": "9.90", "lowest": None, "highest": None,
        "low_30d": None, "mean_30d": None, "low_90d": None, "mean_90d": None,
        "availability": None, "in_stock": None,
    }  # fmt: skip


async def test_history_window_bounds_are_inclusive_and_limit_keeps_the_newest(
    client: httpx.AsyncClient, alice: ApiUser, db_session: AsyncSession
) -> None:
    watch_id = await _watch(client, alice, "https://shop.example/a")
    product_id = await _product_id(db_session, "https://shop.example/a")
    since = datetime(2026, 1, 1, tzinfo=UTC)
    # Rows as (price, first seen, last seen): one ending a microsecond before `since`, one
    # ending exactly at it, two inside, one starting exactly at `until`, one after it.
    until = since + timedelta(days=90)
    spans = [
        ("1.00", since - timedelta(days=9), since - timedelta(microseconds=1)),
        ("2.00", since - timedelta(days=5), since),
        ("3.25", since + timedelta(days=1), since + timedelta(days=2)),
        ("4.10", since + timedelta(days=3), until - timedelta(days=1)),
        ("5.00", until, until + timedelta(days=1)),
        ("6.00", until + timedelta(microseconds=1), until + timedelta(days=2)),
    ]
    for price, first_seen, last_seen in spans:
        db_session.add(
            PriceHistory(
                product_id=product_id, price=Decimal(price), currency="USD",
                availability=Availability.IN_STOCK if price != "3.25" else None,
                first_seen_at=first_seen, last_seen_at=last_seen,
            )
        )  # fmt: skip
    await db_session.flush()
    path = f"/v1/products/{watch_id}/prices"

    async def prices(**params: str) -> list[str]:
        body = _same_as_model(
            await client.get(path, params=params, headers=alice.auth), PriceHistoryOut
        )
        return [item["price"] for item in body["items"]]

    window = {"since": since.isoformat(), "until": until.isoformat()}
    assert await prices() == ["1.00", "2.00", "3.25", "4.10", "5.00", "6.00"]
    assert await prices(since=window["since"]) == ["2.00", "3.25", "4.10", "5.00", "6.00"]
    assert await prices(until=window["until"]) == ["1.00", "2.00", "3.25", "4.10", "5.00"]
    assert await prices(**window) == ["2.00", "3.25", "4.10", "5.00"]
    assert await prices(**window, limit="2") == ["4.10", "5.00"]
    assert await prices(limit="1") == ["6.00"]
    body = (await client.get(path, params=window, headers=alice.auth)).json()
    assert body["items"][1] == {
        "price": "3.25", "currency": "USD", "availability": None, "in_stock": None,
        "first_seen_at": "2026-01-02T00:00:00Z", "last_seen_at": "2026-01-03T00:00:00Z",
    }  # fmt: skip


async def test_stats_are_the_models_bytes_and_keep_the_price_scale(
    client: httpx.AsyncClient, alice: ApiUser, db_session: AsyncSession
) -> None:
    watch_id = await _watch(client, alice, "https://shop.example/a")
    product_id = await _product_id(db_session, "https://shop.example/a")
    now = datetime.now(UTC)
    # 19.99 for 60 days, 10.00 in euros (left out) for 10, then 20.01 for the last 30.
    for price, currency, starts in [
        ("19.99", "USD", now - timedelta(days=100)),
        ("10.00", "EUR", now - timedelta(days=40)),
        ("20.01", "USD", now - timedelta(days=30)),
    ]:
        db_session.add(
            PriceHistory(
                product_id=product_id, price=Decimal(price), currency=currency,
                availability=Availability.IN_STOCK, first_seen_at=starts,
                last_seen_at=starts + timedelta(days=1),
            )
        )  # fmt: skip
    await db_session.execute(
        update(Product).values(
            price=Decimal("20.01"), currency="USD", availability=Availability.LIMITED_AVAILABILITY
        )
    )
    await db_session.flush()
    stats = _same_as_model(
        await client.get(f"/v1/products/{watch_id}/stats", headers=alice.auth), PriceStatsOut
    )
    assert list(stats) == list(PriceStatsOut.model_fields)
    assert (stats["current"], stats["lowest"], stats["highest"]) == ("20.01", "19.99", "20.01")
    assert (stats["low_30d"], stats["mean_30d"]) == ("20.01", "20.01")
    # 90 days: 50 at 19.99 (the euro span still ends it), 30 at 20.01, weighted over 80.
    assert stats["low_90d"] == "19.99"
    assert stats["mean_90d"] == "20.00"
    assert (stats["availability"], stats["in_stock"]) == ("LimitedAvailability", True)


async def test_another_users_product_is_a_404_problem_on_every_read(
    client: httpx.AsyncClient, alice: ApiUser, bob: ApiUser
) -> None:
    watch_id = await _watch(client, alice, "https://shop.example/a")
    for path in (f"/v1/products/{watch_id}/prices", f"/v1/products/{watch_id}/stats"):
        response = await client.get(path, headers=bob.auth)
        assert response.status_code == 404, path
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["status"] == 404
        assert (await client.get(path, headers=alice.auth)).status_code == 200


async def test_the_one_statement_reads_agree_with_the_repository_the_chart_uses(
    client: httpx.AsyncClient,
    alice: ApiUser,
    db_session: AsyncSession,
    db_connection: AsyncConnection,
) -> None:
    # The chart (and api_explain) still read through PriceRepository: the statistics and
    # history the API answers must stay the same figures, whatever the history's shape.
    rng = random.Random(17)
    now = datetime.now(UTC)
    cases = {
        "yen": ("JPY", "1280"),
        "cents": ("USD", "19.99"),
        "mills": ("BHD", "1.250"),
        "no currency": (None, None),
    }
    for name, (currency, price) in cases.items():
        url = f"https://shop.example/{name.replace(' ', '-')}"
        watch_id = uuid.UUID(await _watch(client, alice, url))
        product_id = await _product_id(db_session, url)
        starts = now - timedelta(days=200)
        for _ in range(40):
            starts += timedelta(hours=rng.choice([0, 1, 7, 50, 130]))  # 0: a tie
            db_session.add(
                PriceHistory(
                    product_id=product_id,
                    price=None if rng.random() < 0.1 else Decimal(rng.randint(100, 99999)) / 100,
                    currency=rng.choice([currency, currency, "EUR"]) if currency else None,
                    availability=rng.choice([Availability.IN_STOCK, Availability.SOLD_OUT, None]),
                    first_seen_at=starts,
                    last_seen_at=starts + timedelta(minutes=30),
                )
            )
        await db_session.execute(
            update(Product)
            .where(Product.id == product_id)
            .values(price=Decimal(price) if price else None, currency=currency)
        )
        await db_session.flush()
        product = await db_session.get(Product, product_id, populate_existing=True)
        assert product is not None
        user_id = uuid.UUID(alice.id)

        expected = asdict(await PriceRepository(db_session).stats(product, now))
        expected |= {"availability": product.availability, "in_stock": product.in_stock}
        assert await watched_stats(db_connection, user_id, watch_id, now) == expected, name

        for since, until, limit in [
            (None, None, 5000),
            (now - timedelta(days=90), None, 5000),
            (None, now - timedelta(days=60), 7),
            (now - timedelta(days=150), now - timedelta(days=20), 5000),
        ]:
            rows = await PriceRepository(db_session).history(product_id, since, until, limit)
            assert await watched_history(db_connection, user_id, watch_id, since, until, limit) == [
                PricePointOut.model_validate(row).model_dump() for row in rows
            ], name


async def test_a_window_bound_with_no_utc_time_is_a_422_not_a_500(
    client: httpx.AsyncClient, alice: ApiUser
) -> None:
    watch_id = await _watch(client, alice, "https://shop.example/a")
    path = f"/v1/products/{watch_id}/prices"
    for field, value in [
        ("since", "0001-01-01T00:00:00+05:00"),
        ("until", "9999-12-31T23:59:59-05:00"),
    ]:
        response = await client.get(path, params={field: value}, headers=alice.auth)
        assert response.status_code == 422, response.text
        assert (response.json()["field"], response.json()["errors"][0]["rule"]) == (
            field,
            "datetime_range",
        )
    # The extremes themselves, in UTC, are fine.
    for field, value in [("since", "0001-01-01T00:00:00Z"), ("until", "9999-12-31T23:59:59Z")]:
        response = await client.get(path, params={field: value}, headers=alice.auth)
        assert response.status_code == 200, response.text


async def test_a_forged_cursor_with_no_utc_time_is_a_422_not_a_500(
    client: httpx.AsyncClient, alice: ApiUser
) -> None:
    await _watch(client, alice, "https://shop.example/a")
    raw = json.dumps(["0001-01-01T00:00:00+05:00", str(uuid.uuid4())]).encode()
    cursor = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    response = await client.get("/v1/products", params={"cursor": cursor}, headers=alice.auth)
    assert response.status_code == 422, response.text
    assert response.json()["field"] == "cursor"


async def test_a_connection_lost_under_the_reads_is_a_503_to_retry_then_they_serve_again(
    one_connection_api: OneConnectionApi,
) -> None:
    client = one_connection_api.client
    created = await client.post("/v1/users", json={"email": "dora@example.com"})
    user = ApiUser(id="", email="", key=created.json()["api_key"])
    watch_id = await _watch(client, user, "https://shop.example/a")
    for path in (
        f"/v1/products/{watch_id}",
        f"/v1/products/{watch_id}/stats",
        f"/v1/products/{watch_id}/prices",
        "/v1/products",
    ):
        assert (await client.get(path, headers=user.auth)).status_code == 200
        await one_connection_api.drop_connection()
        lost = await client.get(path, headers=user.auth)
        assert lost.status_code == 503, path
        assert lost.headers["retry-after"] == "1"
        assert lost.json()["code"] == "database_unavailable"
        assert (await client.get(path, headers=user.auth)).status_code == 200, path
