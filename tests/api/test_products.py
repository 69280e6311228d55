from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from arq.connections import ArqRedis
from fastapi import FastAPI
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from pricealert.availability import Availability
from pricealert.models import PriceHistory, Product
from pricealert.queues import SCRAPE_QUEUE
from tests.api.conftest import ApiUser

PAGE = "https://shop.example.jp/item/123?utm_source=mail&b=2&a=1#reviews"


async def _watch(
    client: httpx.AsyncClient, user: ApiUser, url: str = PAGE, **extra: object
) -> dict[str, Any]:
    response = await client.post("/v1/products", json={"url": url, **extra}, headers=user.auth)
    assert response.status_code in (200, 201), response.text
    return response.json()  # type: ignore[no-any-return]


async def test_two_users_adding_one_page_share_one_product(
    client: httpx.AsyncClient, alice: ApiUser, bob: ApiUser, db_session: AsyncSession
) -> None:
    first = await _watch(client, alice)
    second = await _watch(client, bob, "HTTPS://Shop.Example.jp:443/item/123?a=1&b=2")
    assert first["url"] == "https://shop.example.jp/item/123?a=1&b=2"
    assert second["url"] == first["url"]
    assert first["id"] != second["id"]  # each user has their own watch
    products = list(await db_session.scalars(select(Product)))
    assert len(products) == 1


async def test_adding_a_product_queues_its_first_check_after_commit(
    client: httpx.AsyncClient, alice: ApiUser, app: FastAPI, db_session: AsyncSession
) -> None:
    await _watch(client, alice)
    redis: ArqRedis = app.state.redis
    product_id = await db_session.scalar(select(Product.id))
    assert await redis.zscore(SCRAPE_QUEUE, f"check:{product_id}") is not None


async def test_watching_again_returns_the_same_watch_with_200(
    client: httpx.AsyncClient, alice: ApiUser
) -> None:
    first = await _watch(client, alice)
    response = await client.post("/v1/products", json={"url": PAGE}, headers=alice.auth)
    assert response.status_code == 200
    assert response.json()["id"] == first["id"]


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://shop.example/item", "http or https"),
        ("javascript:alert(1)", "http or https"),
        ("https://user:pw@shop.example/item", "credentials"),
        ("https://", "no host"),
        ("https://shop.example/" + "a" * 3000, "longer than"),
        ("https://shop.example:99999/item", "malformed"),
        ("not a url", "whitespace"),
        ("shop.example/item", "http or https"),
    ],
)
async def test_bad_urls_are_refused_with_a_clear_reason(
    client: httpx.AsyncClient, alice: ApiUser, url: str, reason: str
) -> None:
    response = await client.post("/v1/products", json={"url": url}, headers=alice.auth)
    assert response.status_code == 422
    assert reason in response.json()["detail"]


async def test_an_invalid_selector_or_interval_is_refused(
    client: httpx.AsyncClient, alice: ApiUser
) -> None:
    bad_selector = await client.post(
        "/v1/products", json={"url": PAGE, "selector": "div[["}, headers=alice.auth
    )
    assert bad_selector.status_code == 422
    too_often = await client.post(
        "/v1/products", json={"url": PAGE, "check_interval_seconds": 5}, headers=alice.auth
    )
    assert too_often.status_code == 422
    assert too_often.json()["field"] == "check_interval_seconds"


async def test_list_pages_with_a_cursor(client: httpx.AsyncClient, alice: ApiUser) -> None:
    for n in range(5):
        await _watch(client, alice, f"https://shop.example/item/{n}")
    seen: list[str] = []
    cursor = None
    for _ in range(5):
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/v1/products", params=params, headers=alice.auth)).json()
        seen += [item["url"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [f"https://shop.example/item/{n}" for n in range(5)]


async def test_a_forged_cursor_is_a_422(client: httpx.AsyncClient, alice: ApiUser) -> None:
    response = await client.get("/v1/products", params={"cursor": "garbage!"}, headers=alice.auth)
    assert response.status_code == 422
    assert response.json()["field"] == "cursor"


async def test_patch_changes_the_interval_and_the_product_follows_the_most_eager_watcher(
    client: httpx.AsyncClient, alice: ApiUser, bob: ApiUser, db_session: AsyncSession
) -> None:
    mine = await _watch(client, alice, check_interval_seconds=3600)
    await _watch(client, bob, check_interval_seconds=1800)
    response = await client.patch(
        f"/v1/products/{mine['id']}", json={"check_interval_seconds": 600}, headers=alice.auth
    )
    assert response.status_code == 200
    assert response.json()["check_interval_seconds"] == 600
    assert await db_session.scalar(select(Product.check_interval_seconds)) == 600
    await client.delete(f"/v1/products/{mine['id']}", headers=alice.auth)
    db_session.expire_all()
    assert await db_session.scalar(select(Product.check_interval_seconds)) == 1800


async def test_unwatching_the_last_watch_pauses_the_product(
    client: httpx.AsyncClient, alice: ApiUser, db_session: AsyncSession
) -> None:
    mine = await _watch(client, alice)
    assert (
        await client.delete(f"/v1/products/{mine['id']}", headers=alice.auth)
    ).status_code == 204
    assert (await client.get(f"/v1/products/{mine['id']}", headers=alice.auth)).status_code == 404
    assert await db_session.scalar(select(Product.status)) == "paused"
    again = await _watch(client, alice)
    assert again["status"] == "active"


async def test_check_now_queues_a_scrape_with_202(
    client: httpx.AsyncClient, alice: ApiUser, app: FastAPI, db_session: AsyncSession
) -> None:
    mine = await _watch(client, alice)
    redis: ArqRedis = app.state.redis
    await redis.flushdb()
    response = await client.post(f"/v1/products/{mine['id']}/check", headers=alice.auth)
    assert response.status_code == 202
    product_id = await db_session.scalar(select(Product.id))
    assert await redis.zscore(SCRAPE_QUEUE, f"check:{product_id}") is not None


async def _history(
    db_session: AsyncSession, product_id: int, points: list[tuple[str, int]]
) -> None:
    """Points of (price, days ago) oldest first; the product's current price is the last."""
    now = datetime.now(UTC)
    for index, (price, days_ago) in enumerate(points):
        starts = now - timedelta(days=days_ago)
        ends = now - timedelta(days=points[index + 1][1]) if index + 1 < len(points) else now
        db_session.add(
            PriceHistory(
                product_id=product_id,
                price=Decimal(price),
                currency="JPY",
                availability=Availability.IN_STOCK,
                first_seen_at=starts,
                last_seen_at=ends - timedelta(seconds=1),
            )
        )
    await db_session.execute(
        update(Product).values(
            price=Decimal(points[-1][0]), currency="JPY", availability=Availability.IN_STOCK
        )
    )
    await db_session.flush()


async def test_history_stats_and_chart(
    client: httpx.AsyncClient, alice: ApiUser, db_session: AsyncSession
) -> None:
    mine = await _watch(client, alice)
    product_id = await db_session.scalar(select(Product.id))
    assert product_id is not None
    # 1500 yen for 100 days, 1000 yen for 20 days, then 1200 yen for the last 10 days.
    await _history(db_session, product_id, [("1500", 130), ("1000", 30), ("1200", 10)])

    history = (await client.get(f"/v1/products/{mine['id']}/prices", headers=alice.auth)).json()
    assert [p["price"] for p in history["items"]] == ["1500", "1000", "1200"]
    assert all(p["currency"] == "JPY" for p in history["items"])
    assert all((p["availability"], p["in_stock"]) == ("InStock", True) for p in history["items"])
    since = (datetime.now(UTC) - timedelta(days=20)).isoformat()
    recent = await client.get(
        f"/v1/products/{mine['id']}/prices", params={"since": since}, headers=alice.auth
    )
    assert [p["price"] for p in recent.json()["items"]] == ["1000", "1200"]

    stats = (await client.get(f"/v1/products/{mine['id']}/stats", headers=alice.auth)).json()
    assert stats["currency"] == "JPY"
    assert stats["current"] == "1200"
    assert stats["lowest"] == "1000"
    assert stats["highest"] == "1500"
    assert stats["low_30d"] == "1000"
    # Time-weighted: 20 days at 1000 and 10 days at 1200 over the last 30 days.
    assert stats["mean_30d"] == "1067"
    # 60 days at 1500, 20 at 1000, 10 at 1200 over 90 days.
    assert stats["mean_90d"] == "1356"
    assert (stats["availability"], stats["in_stock"]) == ("InStock", True)

    chart = await client.get(f"/v1/products/{mine['id']}/chart.svg", headers=alice.auth)
    assert chart.status_code == 200
    assert chart.headers["content-type"] == "image/svg+xml"
    assert chart.text.startswith("<svg")
    # The pixels are tested in test_chart.py; here: the prices as Japanese write them.
    assert "￥1,200" in chart.text  # the current price
    assert "Lowest ever ￥1,000" in chart.text


async def test_history_window_must_be_ordered_and_timezone_aware(
    client: httpx.AsyncClient, alice: ApiUser
) -> None:
    mine = await _watch(client, alice)
    path = f"/v1/products/{mine['id']}/prices"
    reversed_window = await client.get(
        path,
        params={"since": "2026-02-01T00:00:00Z", "until": "2026-01-01T00:00:00Z"},
        headers=alice.auth,
    )
    assert reversed_window.status_code == 422
    naive = await client.get(path, params={"since": "2026-02-01T00:00:00"}, headers=alice.auth)
    assert naive.status_code == 422
    garbage = await client.get(path, params={"since": "yesterday"}, headers=alice.auth)
    assert garbage.status_code == 422


async def test_a_product_without_a_price_has_empty_stats_and_a_placeholder_chart(
    client: httpx.AsyncClient, alice: ApiUser
) -> None:
    mine = await _watch(client, alice)
    stats = (await client.get(f"/v1/products/{mine['id']}/stats", headers=alice.auth)).json()
    assert stats["current"] is None
    assert stats["lowest"] is None
    chart = await client.get(f"/v1/products/{mine['id']}/chart.svg", headers=alice.auth)
    assert "No price yet" in chart.text


AVAILABILITY_NAMES = [
    "InStock", "LimitedAvailability", "InStoreOnly", "OnlineOnly", "OutOfStock", "SoldOut",
    "Discontinued", "PreOrder", "PreSale", "BackOrder",
]  # fmt: skip


@pytest.mark.parametrize("schema", ["ProductOut", "PricePointOut", "PriceStatsOut"])
async def test_openapi_documents_availability_as_the_ten_names_or_null_beside_in_stock(
    client: httpx.AsyncClient, schema: str
) -> None:
    document = (await client.get("/openapi.json")).json()
    properties = document["components"]["schemas"][schema]["properties"]
    variants = properties["availability"]["anyOf"]
    assert {"type": "null"} in variants
    [reference] = [v["$ref"] for v in variants if "$ref" in v]
    enum = document["components"]["schemas"][reference.rsplit("/", 1)[-1]]
    assert sorted(enum["enum"]) == sorted(AVAILABILITY_NAMES)
    assert "schema.org" in properties["availability"]["description"]
    assert {"type": "boolean"} in properties["in_stock"]["anyOf"]
    assert "PreOrder" in properties["in_stock"]["description"]


async def test_a_product_not_yet_checked_shows_availability_null(
    client: httpx.AsyncClient, alice: ApiUser
) -> None:
    mine = await _watch(client, alice)
    assert (mine["availability"], mine["in_stock"]) == (None, None)
    stats = (await client.get(f"/v1/products/{mine['id']}/stats", headers=alice.auth)).json()
    assert (stats["availability"], stats["in_stock"]) == (None, None)
