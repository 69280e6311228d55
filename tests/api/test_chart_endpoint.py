"""`GET /v1/products/{id}/chart.svg`: the reader's rules on the chart, sizes and ranges
as validated query parameters, amounts in the reader's or the currency's format."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest
from PIL import Image
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from pricealert.availability import Availability
from pricealert.charts import svg_to_png
from pricealert.models import PriceHistory, Product
from tests.api.conftest import ApiUser

PAGE = "https://shop.example.de/p/lamp"


async def _priced_product(
    client: httpx.AsyncClient, db_session: AsyncSession, user: ApiUser, currency: str
) -> str:
    watched = await client.post("/v1/products", json={"url": PAGE}, headers=user.auth)
    assert watched.status_code in (200, 201)
    product_id = await db_session.scalar(select(Product.id))
    assert product_id is not None
    now = datetime.now(UTC)
    if not await db_session.scalar(select(PriceHistory.id).limit(1)):
        for price, days_ago, availability in (
            ("24.90", 60, Availability.IN_STOCK),
            ("22.90", 20, Availability.OUT_OF_STOCK),
        ):
            db_session.add(
                PriceHistory(
                    product_id=product_id,
                    price=Decimal(price),
                    currency=currency,
                    availability=availability,
                    first_seen_at=now - timedelta(days=days_ago),
                    last_seen_at=now - timedelta(days=days_ago - 1),
                )
            )
        await db_session.execute(
            update(Product).values(
                price=Decimal("22.90"), currency=currency, availability=Availability.OUT_OF_STOCK
            )
        )
        await db_session.flush()
    return str(watched.json()["id"])


async def _alert(client: httpx.AsyncClient, user: ApiUser, product: str, threshold: str) -> None:
    channel = await client.post(
        "/v1/channels",
        json={"kind": "webhook", "target": f"https://hooks.example/{threshold}"},
        headers=user.auth,
    )
    created = await client.post(
        "/v1/alerts",
        json={
            "product_id": product,
            "kind": "below",
            "threshold": threshold,
            "channel_ids": [channel.json()["id"]],
        },
        headers=user.auth,
    )
    assert created.status_code == 201, created.text


async def test_the_chart_shows_my_below_alerts_not_anyone_else_s(
    client: httpx.AsyncClient, db_session: AsyncSession, alice: ApiUser, bob: ApiUser
) -> None:
    mine = await _priced_product(client, db_session, alice, "EUR")
    bobs = await _priced_product(client, db_session, bob, "EUR")
    await _alert(client, alice, mine, "21.50")
    await _alert(client, bob, bobs, "19.00")
    chart = await client.get(f"/v1/products/{mine}/chart.svg", headers=alice.auth)
    assert chart.status_code == 200
    assert chart.headers["content-type"] == "image/svg+xml"
    assert "Alert 21,50\xa0€" in chart.text  # EUR in its home format by default
    assert "19,00" not in chart.text
    assert "Lowest ever 22,90\xa0€" in chart.text
    assert 'class="out-of-stock"' in chart.text
    image = Image.open(io.BytesIO(svg_to_png(chart.text)))
    assert image.size == (640, 280)


async def test_the_size_range_and_locale_come_from_the_query_or_the_reader(
    client: httpx.AsyncClient, db_session: AsyncSession, alice: ApiUser
) -> None:
    mine = await _priced_product(client, db_session, alice, "EUR")
    path = f"/v1/products/{mine}/chart.svg"
    sized = await client.get(
        path, params={"width": 900, "height": 400, "days": 30}, headers=alice.auth
    )
    assert sized.text.startswith('<svg xmlns="http://www.w3.org/2000/svg" width="900" height="400"')
    assert "24,90" not in sized.text, "the 60-day-old price is outside 30 days"
    english = await client.get(path, headers={**alice.auth, "Accept-Language": "en-GB,de;q=0.5"})
    assert "€22.90" in english.text
    asked = await client.get(
        path, params={"locale": "fr-FR"}, headers={**alice.auth, "Accept-Language": "en"}
    )
    assert "22,90\u202f€" in asked.text or "22,90\xa0€" in asked.text


@pytest.mark.parametrize(
    ("params", "name", "rule"),
    [
        ({"days": 0}, "days", "greater_than_equal"),
        ({"days": 100000}, "days", "less_than_equal"),
        ({"width": 10}, "width", "greater_than_equal"),
        ({"height": 5000}, "height", "less_than_equal"),
        ({"width": "wide"}, "width", "int_parsing"),
        ({"locale": "xx-QQ"}, "locale", "locale"),
        ({"locale": "../../etc"}, "locale", "string_pattern_mismatch"),
        ({"tz": "Mars/Olympus"}, "tz", "time_zone"),
    ],
)
async def test_bad_chart_parameters_get_the_one_validation_problem(
    client: httpx.AsyncClient,
    db_session: AsyncSession,
    alice: ApiUser,
    params: dict[str, object],
    name: str,
    rule: str,
) -> None:
    mine = await _priced_product(client, db_session, alice, "USD")
    response = await client.get(
        f"/v1/products/{mine}/chart.svg",
        params=params,  # type: ignore[arg-type]
        headers=alice.auth,
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    [error] = response.json()["errors"]
    assert (error["in"], error["name"], error["rule"]) == ("query", name, rule)


async def test_the_time_axis_is_read_in_the_zone_asked_for(
    client: httpx.AsyncClient, db_session: AsyncSession, alice: ApiUser
) -> None:
    mine = await _priced_product(client, db_session, alice, "USD")
    path = f"/v1/products/{mine}/chart.svg"
    utc = await client.get(path, params={"days": 30}, headers=alice.auth)
    kolkata = await client.get(path, params={"days": 30, "tz": "Asia/Kolkata"}, headers=alice.auth)
    assert utc.status_code == kolkata.status_code == 200
    # Day ticks fall on each zone's own midnights, 5 h 30 apart: the axis moves.
    assert utc.text != kolkata.text


async def test_the_history_can_be_cut_to_its_newest_rows(
    client: httpx.AsyncClient, db_session: AsyncSession, alice: ApiUser
) -> None:
    mine = await _priced_product(client, db_session, alice, "EUR")
    path = f"/v1/products/{mine}/prices"
    every = (await client.get(path, headers=alice.auth)).json()["items"]
    newest = (await client.get(path, params={"limit": 1}, headers=alice.auth)).json()["items"]
    assert [r["price"] for r in every] == ["24.90", "22.90"]  # oldest first
    assert [r["price"] for r in newest] == ["22.90"]
    refused = await client.get(path, params={"limit": 0}, headers=alice.auth)
    assert (refused.status_code, refused.json()["field"]) == (422, "limit")
