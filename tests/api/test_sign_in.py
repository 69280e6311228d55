"""Signing in with an email link: a session key for one browser, the address proven by the
link, and sessions that never stand in the way of the last-key rule nor of signing out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from pricealert.models import Channel, User
from tests.api.conftest import ApiUser, SignUp
from tests.api.outbox import Outbox, aws, outbox, smtp, text_of

__all__ = ["aws", "outbox", "smtp"]


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def _signed_in(client: httpx.AsyncClient, outbox: Outbox, email: str, **extra: Any) -> Any:
    asked = await client.post("/v1/sign-in", json={"email": email, **extra})
    assert asked.status_code == 202, asked.text
    await outbox.run()
    confirmed = await client.post(
        "/v1/sign-in/confirm", json={"token": outbox.token_for(email), "name": "Firefox"}
    )
    assert confirmed.status_code == 201, confirmed.text
    return confirmed.json()


async def test_a_new_address_gets_an_account_and_a_session_by_the_emailed_link(
    client: httpx.AsyncClient, outbox: Outbox
) -> None:
    asked = await client.post(
        "/v1/sign-in",
        json={"email": "Grace@Example.com", "locale": "ja", "time_zone": "Asia/Tokyo"},
    )
    assert asked.status_code == 202
    assert [a.outcome for a in await outbox.run()] == ["sent"]
    email = outbox.emails_to("grace@example.com")[-1]
    assert email["Subject"] == "PriceAlert へのサインイン"  # the language the account chose
    link = next(line for line in text_of(email).splitlines() if "/sign-in/confirm?token=" in line)
    assert link.startswith("http://127.0.0.1:8080/sign-in/confirm?token=pat_")

    session = await _signed_in_with(client, outbox.token_for("grace@example.com"))

    assert session["kind"] == "session"
    assert session["name"] == "Firefox"
    expires = datetime.fromisoformat(session["expires_at"])
    assert timedelta(days=13) < expires - datetime.now(UTC) <= timedelta(days=14)
    user = session["user"]
    assert (user["email"], user["locale"], user["time_zone"]) == (
        "grace@example.com", "ja", "Asia/Tokyo",
    )  # fmt: skip
    assert user["email_verified_at"] is not None  # the link proved the address
    me = await client.get("/v1/users/me", headers=_bearer(session["api_key"]))
    assert me.json()["id"] == user["id"]


async def _signed_in_with(client: httpx.AsyncClient, token: str) -> Any:
    confirmed = await client.post("/v1/sign-in/confirm", json={"token": token, "name": "Firefox"})
    assert confirmed.status_code == 201, confirmed.text
    return confirmed.json()


async def test_a_link_works_once(client: httpx.AsyncClient, outbox: Outbox) -> None:
    await client.post("/v1/sign-in", json={"email": "ada@example.com"})
    await outbox.run()
    token = outbox.token_for("ada@example.com")
    await _signed_in_with(client, token)
    replay = await client.post("/v1/sign-in/confirm", json={"token": token})
    assert replay.status_code == 422
    assert replay.json()["code"] == "invalid_token"
    assert "ask for a new one" in replay.json()["detail"]


async def _verified_alice(client: httpx.AsyncClient, sign_up: SignUp, outbox: Outbox) -> ApiUser:
    alice = await sign_up("alice@example.com")
    await outbox.run()
    code = outbox.code_for("alice@example.com")
    verified = await client.post("/v1/users/me/verify", json={"code": code}, headers=alice.auth)
    assert verified.status_code == 200, verified.text
    return alice


async def test_an_existing_account_keeps_its_settings_and_gets_an_english_link(
    client: httpx.AsyncClient, sign_up: SignUp, outbox: Outbox
) -> None:
    alice = await _verified_alice(client, sign_up, outbox)
    session = await _signed_in(
        client, outbox, "alice@example.com", locale="ja", time_zone="Asia/Tokyo"
    )
    assert session["user"]["id"] == alice.id
    assert (session["user"]["locale"], session["user"]["time_zone"]) == (None, "UTC")
    assert outbox.emails_to("alice@example.com")[-1]["Subject"] == "Sign in to PriceAlert"


async def test_an_unverified_account_is_claimed_by_the_links_reader(
    client: httpx.AsyncClient, alice: ApiUser, outbox: Outbox
) -> None:
    """Someone signed up with Alice's address: her sign-in link proves the mailbox is
    hers, and the keys made before it stop working."""
    session = await _signed_in(client, outbox, "alice@example.com")
    assert session["user"]["id"] == alice.id
    assert (await client.get("/v1/users/me", headers=alice.auth)).status_code == 401
    me = await client.get("/v1/users/me", headers=_bearer(session["api_key"]))
    assert me.json()["email_verified_at"] is not None


async def test_the_link_verifies_the_address_and_releases_what_email_channels_held(
    client: httpx.AsyncClient, alice: ApiUser, outbox: Outbox, db_session: AsyncSession
) -> None:
    channel = await client.post(
        "/v1/channels", json={"kind": "email", "target": "alice@example.com"}, headers=alice.auth
    )
    assert channel.json()["status"] == "pending_verification"
    await _signed_in(client, outbox, "alice@example.com")
    verified = await db_session.scalar(
        select(Channel.verified_at).where(Channel.id == channel.json()["id"])
    )
    assert verified is not None
    user = await db_session.scalar(select(User).where(User.email == "alice@example.com"))
    assert user is not None
    assert user.email_verified_at is not None


async def test_sessions_are_listed_apart_and_never_count_as_the_last_working_key(
    client: httpx.AsyncClient, sign_up: SignUp, outbox: Outbox
) -> None:
    alice = await _verified_alice(client, sign_up, outbox)
    session = await _signed_in(client, outbox, "alice@example.com")
    keys = (await client.get("/v1/api-keys", headers=alice.auth)).json()["items"]
    assert sorted(k["kind"] for k in keys) == ["api", "session"]
    [api_key] = [k for k in keys if k["kind"] == "api"]
    # The session is not a way back in for good: the API key stays the last one.
    refused = await client.delete(
        f"/v1/api-keys/{api_key['id']}", headers=_bearer(session["api_key"])
    )
    assert refused.status_code == 409
    assert refused.json()["code"] == "last_active_key"


async def test_signing_out_revokes_the_session_even_when_it_is_the_only_key(
    client: httpx.AsyncClient, outbox: Outbox
) -> None:
    session = await _signed_in(client, outbox, "web-only@example.com")
    auth = _bearer(session["api_key"])
    keys = (await client.get("/v1/api-keys", headers=auth)).json()["items"]
    assert [k["kind"] for k in keys] == ["session"]
    assert (await client.delete(f"/v1/api-keys/{session['id']}", headers=auth)).status_code == 204
    assert (await client.get("/v1/users/me", headers=auth)).status_code == 401


async def test_sign_in_answers_alike_and_is_limited_per_address(
    client: httpx.AsyncClient, app: FastAPI, alice: ApiUser, outbox: Outbox
) -> None:
    known = await client.post("/v1/sign-in", json={"email": "alice@example.com"})
    unknown = await client.post("/v1/sign-in", json={"email": "nobody@example.com"})
    assert (known.status_code, known.json()) == (unknown.status_code, unknown.json())
    limit = app.state.settings.sign_in_limit_per_email_per_hour
    answers = [
        (await client.post("/v1/sign-in", json={"email": "alice@example.com"})).status_code
        for _ in range(limit)
    ]
    assert answers[-1] == 429
    assert answers.count(202) == limit - 1


async def test_bad_preferences_are_refused_with_the_field_named(
    client: httpx.AsyncClient, alice: ApiUser
) -> None:
    bad_zone = await client.patch(
        "/v1/users/me", json={"time_zone": "Mars/Olympus"}, headers=alice.auth
    )
    assert bad_zone.status_code == 422
    assert bad_zone.json()["field"] == "time_zone"
    assert "IANA time zone" in bad_zone.json()["errors"][0]["reason"]
    bad_locale = await client.patch("/v1/users/me", json={"locale": "fr"}, headers=alice.auth)
    assert (bad_locale.status_code, bad_locale.json()["field"]) == (422, "locale")
    good = await client.patch(
        "/v1/users/me", json={"time_zone": "Europe/Paris", "locale": "ja"}, headers=alice.auth
    )
    assert (good.json()["time_zone"], good.json()["locale"]) == ("Europe/Paris", "ja")
    assert (
        await client.post("/v1/sign-in", json={"email": "x@example.com", "time_zone": "X"})
    ).status_code == 422
