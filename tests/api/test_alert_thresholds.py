"""Thresholds are amounts of the product's currency; the same alert is made once."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import text, update
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from pricealert.models import Product
from tests.api.conftest import ApiUser


async def _setup(
    client: httpx.AsyncClient, db_session: AsyncSession, user: ApiUser, currency: str | None
) -> tuple[str, list[str]]:
    product = await client.post(
        "/v1/products", json={"url": "https://shop.example/p/1"}, headers=user.auth
    )
    assert product.status_code == 201
    if currency is not None:
        await db_session.execute(update(Product).values(currency=currency))
        await db_session.flush()
    channels = []
    for n in range(2):
        channel = await client.post(
            "/v1/channels",
            json={"kind": "webhook", "target": f"https://hooks.example/{n}"},
            headers=user.auth,
        )
        assert channel.status_code == 201
        channels.append(channel.json()["id"])
    return product.json()["id"], channels


async def _below(
    client: httpx.AsyncClient,
    user: ApiUser,
    product: str,
    threshold: Any,
    channels: list[str],
    *,
    raw: bytes | None = None,
) -> httpx.Response:
    if raw is not None:
        return await client.post(
            "/v1/alerts",
            content=raw,
            headers={**user.auth, "Content-Type": "application/json"},
        )
    body = {"product_id": product, "kind": "below", "threshold": threshold, "channel_ids": channels}
    return await client.post("/v1/alerts", json=body, headers=user.auth)


def _refusal(response: httpx.Response) -> tuple[str, str]:
    assert response.status_code == 422, response.text
    [error] = response.json()["errors"]
    assert (error["in"], error["name"], error["pointer"]) == ("body", "threshold", "#/threshold")
    return error["rule"], error["reason"]


@pytest.mark.parametrize(
    ("currency", "threshold", "rule", "reason"),
    [
        ("JPY", "12.5", "currency_minor_units", "JPY has no minor unit"),
        ("USD", "12.505", "currency_minor_units", "USD has 2 minor units"),
        ("KWD", "1.2345", "currency_minor_units", "KWD has 3 minor units"),
        ("USD", "1e-400", "no_exponent", "without an exponent"),
        ("USD", "1E3", "no_exponent", "without an exponent"),
        ("JPY", "1e400", "no_exponent", "without an exponent"),
        ("JPY", "1000000000000", "max_integer_digits", "at most 12 digits before the point"),
        ("USD", "0", "greater_than", "greater than 0"),
        ("USD", "-5", "greater_than", "greater than 0"),
        (None, "0.00001", "max_decimal_places", "at most 4 digits after the point"),
        ("USD", "NaN", "finite_number", "finite"),
    ],
)
async def test_a_threshold_beyond_its_currency_is_refused_naming_the_rule(
    client: httpx.AsyncClient,
    db_session: AsyncSession,
    alice: ApiUser,
    currency: str | None,
    threshold: str,
    rule: str,
    reason: str,
) -> None:
    product, channels = await _setup(client, db_session, alice, currency)
    refused_rule, refused_reason = _refusal(
        await _below(client, alice, product, threshold, channels)
    )
    assert refused_rule == rule
    assert reason in refused_reason


@pytest.mark.parametrize(
    ("number", "rule"),
    [
        (b"1e-400", "no_exponent"),
        (b"1e400", "no_exponent"),
        (b"1.5e3", "no_exponent"),
        (b"12.5", "currency_minor_units"),
    ],
)
async def test_json_numbers_are_judged_as_written_not_as_floats(
    client: httpx.AsyncClient,
    db_session: AsyncSession,
    alice: ApiUser,
    number: bytes,
    rule: str,
) -> None:
    # As a float, 1e-400 would be 0.0 ("must be positive") and 1e400 infinity.
    product, channels = await _setup(client, db_session, alice, "JPY")
    raw = b'{"product_id": "%s", "kind": "below", "threshold": %s, "channel_ids": ["%s"]}' % (
        product.encode(),
        number,
        channels[0].encode(),
    )
    assert _refusal(await _below(client, alice, product, None, channels, raw=raw))[0] == rule


async def test_nan_is_not_json(
    client: httpx.AsyncClient, db_session: AsyncSession, alice: ApiUser
) -> None:
    product, channels = await _setup(client, db_session, alice, "USD")
    raw = b'{"product_id": "%s", "kind": "below", "threshold": NaN, "channel_ids": []}' % (
        product.encode()
    )
    response = await _below(client, alice, product, None, channels, raw=raw)
    assert response.status_code == 400
    assert response.json()["code"] == "malformed_json"


@pytest.mark.parametrize(
    ("currency", "given", "stored"),
    [
        ("JPY", "1280", "1280"),
        ("JPY", "1280.00", "1280"),
        ("USD", 0.1, "0.1"),
        ("USD", "1299.99", "1299.99"),
        ("KWD", "1.234", "1.234"),
        (None, "999999999999.9999", "999999999999.9999"),
    ],
)
async def test_a_threshold_within_its_currency_is_kept_exactly(
    client: httpx.AsyncClient,
    db_session: AsyncSession,
    alice: ApiUser,
    currency: str | None,
    given: Any,
    stored: str,
) -> None:
    product, channels = await _setup(client, db_session, alice, currency)
    created = await _below(client, alice, product, given, channels)
    assert created.status_code == 201, created.text
    assert created.json()["threshold"] == stored


async def test_a_patched_threshold_is_checked_against_the_currency_too(
    client: httpx.AsyncClient, db_session: AsyncSession, alice: ApiUser
) -> None:
    product, channels = await _setup(client, db_session, alice, "JPY")
    created = await _below(client, alice, product, "1280", channels)
    patched = await client.patch(
        f"/v1/alerts/{created.json()['id']}", json={"threshold": "999.5"}, headers=alice.auth
    )
    assert _refusal(patched)[0] == "currency_minor_units"


async def test_the_column_holds_what_the_api_accepts_and_nothing_else(
    client: httpx.AsyncClient, db_session: AsyncSession, alice: ApiUser
) -> None:
    precision, scale = (
        await db_session.execute(
            text(
                "SELECT numeric_precision, numeric_scale FROM information_schema.columns "
                "WHERE table_name = 'alert_rule' AND column_name = 'threshold'"
            )
        )
    ).one()
    assert (precision, scale) == (16, 4)
    product, channels = await _setup(client, db_session, alice, "USD")
    assert (await _below(client, alice, product, "10", channels)).status_code == 201
    with pytest.raises(IntegrityError, match="ck_alert_rule_threshold_positive"):
        async with db_session.begin_nested():
            await db_session.execute(text("UPDATE alert_rule SET threshold = -1"))
    with pytest.raises(DBAPIError, match="numeric field overflow"):
        async with db_session.begin_nested():
            await db_session.execute(text("UPDATE alert_rule SET threshold = 1e12"))


async def test_the_same_alert_twice_is_a_409_pointing_at_the_first(
    client: httpx.AsyncClient, db_session: AsyncSession, alice: ApiUser
) -> None:
    product, channels = await _setup(client, db_session, alice, "JPY")
    first = await _below(client, alice, product, "1280", channels)
    assert first.status_code == 201
    # The same threshold written differently, the channels in another order.
    again = await _below(client, alice, product, "1280.00", list(reversed(channels)))
    assert again.status_code == 409, again.text
    problem = again.json()
    assert problem["code"] == "conflict"
    assert problem["type"].endswith("/problems/conflict")
    assert problem["existing_id"] == first.json()["id"]
    existing = await client.get(problem["existing_url"], headers=alice.auth)
    assert existing.status_code == 200
    assert existing.json() == first.json()
    listed = (await client.get("/v1/alerts", headers=alice.auth)).json()["items"]
    assert len(listed) == 1


async def test_alerts_that_differ_in_anything_that_matters_are_all_made(
    client: httpx.AsyncClient, db_session: AsyncSession, alice: ApiUser, bob: ApiUser
) -> None:
    product, channels = await _setup(client, db_session, alice, "JPY")
    assert (await _below(client, alice, product, "1280", channels)).status_code == 201
    assert (await _below(client, alice, product, "1200", channels)).status_code == 201
    assert (await _below(client, alice, product, "1280", channels[:1])).status_code == 201
    other_kind = await client.post(
        "/v1/alerts",
        json={"product_id": product, "kind": "change", "channel_ids": channels},
        headers=alice.auth,
    )
    assert other_kind.status_code == 201
    same_kind_again = await client.post(
        "/v1/alerts",
        json={"product_id": product, "kind": "change", "channel_ids": channels},
        headers=alice.auth,
    )
    assert same_kind_again.status_code == 409
    # Bob's identical-looking alert on his own watch of the same page is his own.
    bobs_product, bobs_channels = await _setup(client, db_session, bob, None)
    assert (await _below(client, bob, bobs_product, "1280", bobs_channels)).status_code == 201


async def test_patching_an_alert_into_a_copy_of_another_is_a_409(
    client: httpx.AsyncClient, db_session: AsyncSession, alice: ApiUser
) -> None:
    product, channels = await _setup(client, db_session, alice, "USD")
    first = (await _below(client, alice, product, "10", channels)).json()
    second = (await _below(client, alice, product, "12", channels)).json()
    patched = await client.patch(
        f"/v1/alerts/{second['id']}", json={"threshold": "10.00"}, headers=alice.auth
    )
    assert patched.status_code == 409
    assert patched.json()["existing_id"] == first["id"]
    unchanged = await client.patch(
        f"/v1/alerts/{first['id']}", json={"threshold": "10", "enabled": False}, headers=alice.auth
    )
    assert unchanged.status_code == 200, "a rule is not a copy of itself"
