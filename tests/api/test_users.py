from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from pricealert.models import ApiKey, User
from tests.api.conftest import ApiUser


async def test_sign_up_returns_the_key_once_and_stores_only_its_hash(
    client: httpx.AsyncClient, db_session: AsyncSession
) -> None:
    response = await client.post("/v1/users", json={"email": "Carol@Example.com"})
    assert response.status_code == 201
    body = response.json()
    assert body["email"] == "carol@example.com"
    assert body["api_key"].startswith("pa_")
    stored = list(await db_session.scalars(select(ApiKey)))
    assert len(stored) == 1
    assert body["api_key"] not in {stored[0].key_hash, stored[0].prefix}
    assert body["api_key"].startswith(stored[0].prefix)
    listed = await client.get(
        "/v1/api-keys", headers={"Authorization": f"Bearer {body['api_key']}"}
    )
    assert listed.status_code == 200
    assert "api_key" not in listed.json()["items"][0]
    assert listed.json()["items"][0]["prefix"] == stored[0].prefix


async def test_signing_up_twice_with_one_email_is_a_conflict(
    client: httpx.AsyncClient, alice: ApiUser
) -> None:
    response = await client.post("/v1/users", json={"email": "ALICE@example.com"})
    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "conflict"


@pytest.mark.parametrize(
    "body",
    [{"email": "not-an-email"}, {}, {"email": "a@example.com", "admin": True}, {"email": 5}],
)
async def test_sign_up_rejects_bad_bodies_with_a_problem(
    client: httpx.AsyncClient, body: dict[str, object]
) -> None:
    response = await client.post("/v1/users", json=body)
    assert response.status_code == 422
    problem = response.json()
    assert problem["status"] == 422
    assert problem["type"].endswith("/invalid_input")
    assert problem["errors"]


async def test_malformed_json_is_a_400_problem(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/users", content=b'{"email": ', headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["code"] == "malformed_json"


async def test_an_oversize_body_is_refused_with_413(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/users", json={"email": "a@example.com", "x": "y" * 100_000})
    assert response.status_code == 413
    assert response.json()["code"] == "body_too_large"


@pytest.mark.parametrize(
    "header",
    [None, "Bearer pa_unknown", "Basic dXNlcjpwYXNz", "Bearer "],
)
async def test_calls_without_a_valid_key_get_401(
    client: httpx.AsyncClient, header: str | None
) -> None:
    headers = {"Authorization": header} if header else {}
    response = await client.get("/v1/products", headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["code"] == "unauthorized"


async def test_a_second_key_works_and_a_revoked_key_stops_at_once(
    client: httpx.AsyncClient, alice: ApiUser
) -> None:
    created = await client.post("/v1/api-keys", json={"name": "ci"}, headers=alice.auth)
    assert created.status_code == 201
    second = created.json()["api_key"]
    second_auth = {"Authorization": f"Bearer {second}"}
    assert (await client.get("/v1/users/me", headers=second_auth)).json()["id"] == alice.id

    revoked = await client.delete(f"/v1/api-keys/{created.json()['id']}", headers=alice.auth)
    assert revoked.status_code == 204
    assert (await client.get("/v1/users/me", headers=second_auth)).status_code == 401
    assert (await client.get("/v1/users/me", headers=alice.auth)).status_code == 200
    keys = (await client.get("/v1/api-keys", headers=alice.auth)).json()["items"]
    assert [k["revoked_at"] is not None for k in keys] == [False, True]


async def test_an_expired_key_is_refused(
    app: FastAPI, client: httpx.AsyncClient, alice: ApiUser
) -> None:
    now = datetime.now(UTC)
    expires = (now + timedelta(hours=1)).isoformat()
    created = await client.post("/v1/api-keys", json={"expires_at": expires}, headers=alice.auth)
    assert created.status_code == 201
    auth = {"Authorization": f"Bearer {created.json()['api_key']}"}
    assert (await client.get("/v1/users/me", headers=auth)).status_code == 200

    # The hour passes on the API's clock (not waited for): the key, cached as a live one a
    # moment ago, is refused - expiry is judged on every use, cached or not.
    app.state.clock = lambda: now + timedelta(hours=1, seconds=1)

    assert (await client.get("/v1/users/me", headers=auth)).status_code == 401
    assert (await client.get("/v1/users/me", headers=alice.auth)).status_code == 200


async def test_a_key_cannot_expire_in_the_past(client: httpx.AsyncClient, alice: ApiUser) -> None:
    response = await client.post(
        "/v1/api-keys", json={"expires_at": "2020-01-01T00:00:00Z"}, headers=alice.auth
    )
    assert response.status_code == 422
    assert response.json()["field"] == "expires_at"


async def test_a_user_sets_their_daily_caps_and_sees_them(
    client: httpx.AsyncClient, alice: ApiUser, db_session: AsyncSession
) -> None:
    before = (await client.get("/v1/users/me", headers=alice.auth)).json()
    assert (before["daily_notification_cap"], before["daily_sms_cap"]) == (100, 10)

    response = await client.patch("/v1/users/me", json={"daily_sms_cap": 0}, headers=alice.auth)
    assert response.status_code == 200
    assert (response.json()["daily_notification_cap"], response.json()["daily_sms_cap"]) == (100, 0)
    response = await client.patch(
        "/v1/users/me", json={"daily_notification_cap": 20}, headers=alice.auth
    )
    assert (response.json()["daily_notification_cap"], response.json()["daily_sms_cap"]) == (20, 0)
    stored = await db_session.scalar(
        select(User).where(User.email == alice.email).execution_options(populate_existing=True)
    )
    assert stored is not None
    assert (stored.daily_notification_cap, stored.daily_sms_cap) == (20, 0)


@pytest.mark.parametrize(
    "body",
    [
        {"daily_notification_cap": 0},
        {"daily_notification_cap": 1001},
        {"daily_sms_cap": -1},
        {"daily_sms_cap": 101},
        {"daily_sms_cap": "ten"},
        {"email": "other@example.com"},
    ],
)
async def test_caps_out_of_range_or_other_fields_are_a_422_problem_and_change_nothing(
    client: httpx.AsyncClient, alice: ApiUser, body: dict[str, object]
) -> None:
    response = await client.patch("/v1/users/me", json=body, headers=alice.auth)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"]
    me = (await client.get("/v1/users/me", headers=alice.auth)).json()
    assert (me["email"], me["daily_notification_cap"], me["daily_sms_cap"]) == (
        alice.email,
        100,
        10,
    )


async def test_setting_caps_needs_a_key(client: httpx.AsyncClient) -> None:
    response = await client.patch("/v1/users/me", json={"daily_sms_cap": 1})
    assert response.status_code == 401


async def test_a_nul_character_in_text_is_a_422_problem_not_a_500(
    client: httpx.AsyncClient, alice: ApiUser
) -> None:
    response = await client.post("/v1/api-keys", json={"name": "ci\u0000"}, headers=alice.auth)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert "NUL" in str(response.json()["errors"])
