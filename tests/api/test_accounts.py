"""Nobody locks themselves out for good: the last key stays, and a verified email gets a new
key back; recovery tells a stranger nothing about who has an account."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from pricealert.models import ApiKey, OneTimeToken
from tests.api.conftest import ApiUser, SignUp
from tests.api.outbox import Outbox, aws, outbox, smtp

__all__ = ["aws", "outbox", "smtp"]


async def _keys(client: httpx.AsyncClient, auth: dict[str, str]) -> list[dict[str, Any]]:
    """The caller's keys (a bare list, or a page's items once the listing is paginated)."""
    body = (await client.get("/v1/api-keys", headers=auth)).json()
    return list(body["items"] if isinstance(body, dict) else body)


async def _verified(client: httpx.AsyncClient, sign_up: SignUp, outbox: Outbox) -> ApiUser:
    ada = await sign_up("ada@example.com")
    await outbox.run()
    code = outbox.code_for("ada@example.com")
    response = await client.post("/v1/users/me/verify", json={"code": code}, headers=ada.auth)
    assert response.status_code == 200, response.text
    return ada


async def test_the_last_active_key_cannot_be_revoked(
    client: httpx.AsyncClient, alice: ApiUser
) -> None:
    [only] = await _keys(client, alice.auth)
    refused = await client.delete(f"/v1/api-keys/{only['id']}", headers=alice.auth)
    assert refused.status_code == 409
    problem = refused.json()
    assert problem["code"] == "last_active_key"
    assert "Create another key first (POST /v1/api-keys)" in problem["detail"]
    assert (await client.get("/v1/users/me", headers=alice.auth)).status_code == 200

    second = (await client.post("/v1/api-keys", json={}, headers=alice.auth)).json()
    assert (
        await client.delete(f"/v1/api-keys/{only['id']}", headers=alice.auth)
    ).status_code == 204
    with_second = {"Authorization": f"Bearer {second['api_key']}"}
    again = await client.delete(f"/v1/api-keys/{second['id']}", headers=with_second)
    assert again.json()["code"] == "last_active_key"


async def test_a_key_that_has_expired_does_not_count_as_a_way_back_in(
    client: httpx.AsyncClient, alice: ApiUser, db_session: AsyncSession
) -> None:
    [only] = await _keys(client, alice.auth)
    soon = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    second = (
        await client.post("/v1/api-keys", json={"expires_at": soon}, headers=alice.auth)
    ).json()
    await db_session.execute(
        update(ApiKey)
        .where(ApiKey.prefix == second["prefix"])
        .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
    )
    refused = await client.delete(f"/v1/api-keys/{only['id']}", headers=alice.auth)
    assert refused.status_code == 409
    # The expired one itself may go: it opens nothing.
    assert (
        await client.delete(f"/v1/api-keys/{second['id']}", headers=alice.auth)
    ).status_code == 204


async def test_a_verified_email_gets_a_new_key_by_a_token_that_works_once(
    client: httpx.AsyncClient, sign_up: SignUp, outbox: Outbox
) -> None:
    ada = await _verified(client, sign_up, outbox)
    asked = await client.post("/v1/users/recover", json={"email": "ADA@example.com"})
    assert asked.status_code == 202
    assert [a.outcome for a in await outbox.run()] == ["sent"]
    email = outbox.emails_to("ada@example.com")[-1]
    assert email["Subject"] == "Your PriceAlert key recovery token"
    token = outbox.token_for("ada@example.com")

    recovered = await client.post("/v1/users/recover/confirm", json={"token": token})

    assert recovered.status_code == 201, recovered.text
    new_key = recovered.json()["api_key"]
    me = await client.get("/v1/users/me", headers={"Authorization": f"Bearer {new_key}"})
    assert me.json()["id"] == ada.id
    keys = await _keys(client, ada.auth)
    assert len(keys) == 2  # the old key is left alone
    replay = await client.post("/v1/users/recover/confirm", json={"token": token})
    assert replay.status_code == 422
    assert replay.json()["code"] == "invalid_token"


async def test_recovery_answers_alike_whether_or_not_the_address_has_an_account(
    client: httpx.AsyncClient, sign_up: SignUp, outbox: Outbox
) -> None:
    await _verified(client, sign_up, outbox)
    await sign_up("unverified@example.com")
    await outbox.run()
    answers = []
    for email in ("ada@example.com", "unverified@example.com", "nobody@example.com"):
        response = await client.post("/v1/users/recover", json={"email": email})
        answers.append(
            (
                response.status_code,
                response.content,
                sorted(k for k in response.headers if k != "x-request-id"),
            )
        )
    assert answers[0] == answers[1] == answers[2]
    assert answers[0][0] == 202
    sent = await outbox.run()
    assert [a.outcome for a in sent] == ["sent", "sent"]  # a token to each address's owner
    assert len(outbox.emails_to("unverified@example.com")) == 2  # sign-up code, then token
    assert outbox.emails_to("nobody@example.com") == []


async def test_recovery_is_limited_per_email_address(
    client: httpx.AsyncClient, app: FastAPI, outbox: Outbox, sign_up: SignUp
) -> None:
    await _verified(client, sign_up, outbox)
    limit = app.state.settings.recovery_limit_per_email_per_hour
    for _ in range(limit):
        assert (
            await client.post("/v1/users/recover", json={"email": "ada@example.com"})
        ).status_code == 202
    other_address = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, client=("198.51.100.9", 4000)),
        base_url="http://testserver",
    )
    async with other_address:
        refused = await other_address.post("/v1/users/recover", json={"email": "ada@example.com"})
        unknown = await other_address.post("/v1/users/recover", json={"email": "x@example.com"})
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) > 0
    assert refused.headers["RateLimit-Remaining"] == "0"
    assert unknown.status_code == 202
    # Each request issued a token and retired the one before: only the newest is sent.
    outcomes = [a.outcome for a in await outbox.run()]
    assert outcomes == ["skipped"] * (limit - 1) + ["sent"]


async def test_recovery_is_limited_per_client_address(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    app.state.settings.recovery_limit_per_hour = 2
    statuses = [
        (await client.post("/v1/users/recover", json={"email": f"u{n}@example.com"})).status_code
        for n in range(3)
    ]
    assert statuses == [202, 202, 429]


@pytest.mark.parametrize(
    "token",
    ["", "pat_", "pat_" + "0" * 32 + "A" * 43, "not-a-token", "pat_" + "g" * 32 + "A" * 43],
)
async def test_an_unknown_or_malformed_token_is_refused_alike(
    client: httpx.AsyncClient, token: str
) -> None:
    response = await client.post("/v1/users/recover/confirm", json={"token": token})
    assert response.status_code == 422
    assert response.json()["code"] == "invalid_token"
    assert response.json()["detail"] == "the token is unknown, expired or already used"


async def test_an_expired_recovery_token_gives_no_key(
    client: httpx.AsyncClient, sign_up: SignUp, outbox: Outbox, db_session: AsyncSession
) -> None:
    await _verified(client, sign_up, outbox)
    await client.post("/v1/users/recover", json={"email": "ada@example.com"})
    await outbox.run()
    await db_session.execute(
        update(OneTimeToken)
        .where(OneTimeToken.purpose == "key_recovery")
        .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
    )
    response = await client.post(
        "/v1/users/recover/confirm", json={"token": outbox.token_for("ada@example.com")}
    )
    assert response.json()["code"] == "invalid_token"
    assert len(list(await db_session.scalars(select(ApiKey)))) == 1


async def test_the_owner_of_an_address_someone_signed_up_with_claims_the_account(
    client: httpx.AsyncClient, sign_up: SignUp, outbox: Outbox
) -> None:
    squatter = await sign_up("victim@example.com")  # never verified: not their mailbox
    await outbox.run()
    retried = await client.post("/v1/users", json={"email": "victim@example.com"})
    assert retried.status_code == 409  # the owner cannot simply sign up again...

    await client.post("/v1/users/recover", json={"email": "victim@example.com"})
    assert [a.outcome for a in await outbox.run()] == ["sent"]  # ...but gets a recovery link
    token = outbox.token_for("victim@example.com")
    claimed = await client.post("/v1/users/recover/confirm", json={"token": token})

    assert claimed.status_code == 201, claimed.text
    owner = {"Authorization": f"Bearer {claimed.json()['api_key']}"}
    me = (await client.get("/v1/users/me", headers=owner)).json()
    assert me["id"] == squatter.id
    assert me["email_verified_at"] is not None  # the token proved the address
    assert (await client.get("/v1/users/me", headers=squatter.auth)).status_code == 401
    assert [k["revoked_at"] is None for k in await _keys(client, owner)] == [False, True]


async def test_the_recovery_answer_is_given_before_any_account_is_looked_up(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    looked_up: list[str] = []

    def unreachable_database() -> object:
        looked_up.append("after the answer")
        raise ConnectionError("the database is away")

    app.state.sessionmaker = unreachable_database
    response = await client.post("/v1/users/recover", json={"email": "ada@example.com"})
    # The answer (and so its timing) cannot depend on the lookup: it was settled first.
    assert response.status_code == 202
    assert looked_up == ["after the answer"]
