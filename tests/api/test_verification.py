"""Addresses prove they want our messages: codes sent by the notifier (read back out of the
real email or SMS), entered through the API; deliveries held until then."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from pricealert.models import Channel, Notification, OneTimeToken
from pricealert.queues import NOTIFY_QUEUE
from pricealert.tokens import hash_secret
from tests.api.conftest import ApiUser, SignUp
from tests.api.outbox import Outbox, aws, committing_app, committing_client, outbox, smtp, text_of
from tests.support.smtp import SmtpServer

__all__ = ["aws", "committing_app", "committing_client", "outbox", "smtp"]


async def _channel(client: httpx.AsyncClient, user: ApiUser, kind: str, target: str) -> Any:
    response = await client.post(
        "/v1/channels", json={"kind": kind, "target": target}, headers=user.auth
    )
    assert response.status_code == 201, response.text
    return response.json()


async def test_sign_up_mails_a_code_and_entering_it_verifies_the_email(
    client: httpx.AsyncClient, sign_up: SignUp, outbox: Outbox
) -> None:
    ada = await sign_up("ada@example.com")
    me = (await client.get("/v1/users/me", headers=ada.auth)).json()
    assert me["email_verified_at"] is None
    assert [a.outcome for a in await outbox.run()] == ["sent"]
    [email] = outbox.emails_to("ada@example.com")
    assert email["Subject"].startswith("Your PriceAlert code: ")
    code = outbox.code_for("ada@example.com")

    verified = await client.post("/v1/users/me/verify", json={"code": code}, headers=ada.auth)

    assert verified.status_code == 200, verified.text
    assert verified.json()["email_verified_at"] is not None
    again = await client.post("/v1/users/me/resend", headers=ada.auth)
    assert again.status_code == 409
    assert again.json()["code"] == "already_verified"


async def test_the_code_is_stored_only_as_a_hash(
    client: httpx.AsyncClient, sign_up: SignUp, outbox: Outbox, db_session: AsyncSession
) -> None:
    await sign_up("ada@example.com")
    [token_id] = await outbox.queued()
    before = await db_session.get(OneTimeToken, token_id)
    assert before is not None
    assert before.secret_hash is None
    await outbox.run()
    code = outbox.code_for("ada@example.com")
    db_session.expire_all()
    row = await db_session.get(OneTimeToken, token_id)
    assert row is not None
    assert row.secret_hash == hash_secret(row.id, code)
    assert code not in str({c.name: getattr(row, c.name) for c in OneTimeToken.__table__.c})


async def test_five_wrong_codes_retire_the_code_and_a_new_one_is_needed(
    committing_app: FastAPI, committing_client: httpx.AsyncClient, smtp: SmtpServer, aws: None
) -> None:
    client = committing_client
    signed_up = await client.post("/v1/users", json={"email": "ada@example.com"})
    ada = ApiUser(signed_up.json()["id"], "ada@example.com", signed_up.json()["api_key"])
    outbox = Outbox(committing_app, smtp)
    await outbox.run()
    code = outbox.code_for("ada@example.com")
    wrong = "000000" if code != "000000" else "111111"
    for left in (4, 3, 2, 1):
        response = await client.post("/v1/users/me/verify", json={"code": wrong}, headers=ada.auth)
        assert response.status_code == 422
        assert (response.json()["code"], response.json()["attempts_left"]) == ("wrong_code", left)
    fifth = await client.post("/v1/users/me/verify", json={"code": wrong}, headers=ada.auth)
    assert fifth.status_code == 409
    assert fifth.json()["code"] == "code_exhausted"
    assert "POST /v1/users/me/resend" in fifth.json()["detail"]
    right_too_late = await client.post("/v1/users/me/verify", json={"code": code}, headers=ada.auth)
    assert right_too_late.json()["code"] == "code_exhausted"

    resent = await client.post("/v1/users/me/resend", headers=ada.auth)
    assert resent.status_code == 202, resent.text
    await outbox.run()
    fresh = outbox.code_for("ada@example.com")
    ok = await client.post("/v1/users/me/verify", json={"code": fresh}, headers=ada.auth)
    assert ok.status_code == 200
    await outbox.aclose()


async def test_a_new_code_retires_the_old_and_codes_cannot_be_asked_for_in_a_burst(
    client: httpx.AsyncClient, sign_up: SignUp, outbox: Outbox
) -> None:
    ada = await sign_up("ada@example.com")
    await outbox.run()
    old = outbox.code_for("ada@example.com")
    assert (await client.post("/v1/users/me/resend", headers=ada.auth)).status_code == 202
    burst = await client.post("/v1/users/me/resend", headers=ada.auth)
    assert burst.status_code == 429
    assert 1 <= int(burst.headers["Retry-After"]) <= 60
    await outbox.run()
    new = outbox.code_for("ada@example.com")
    if old != new:  # one in a million they are the same
        stale = await client.post("/v1/users/me/verify", json={"code": old}, headers=ada.auth)
        assert stale.json()["code"] == "wrong_code"
    assert (
        await client.post("/v1/users/me/verify", json={"code": new}, headers=ada.auth)
    ).status_code == 200


async def test_an_expired_code_says_so_and_what_to_do(
    client: httpx.AsyncClient, sign_up: SignUp, outbox: Outbox, db_session: AsyncSession
) -> None:
    ada = await sign_up("ada@example.com")
    await outbox.run()
    await db_session.execute(
        update(OneTimeToken).values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
    )
    response = await client.post(
        "/v1/users/me/verify",
        json={"code": outbox.code_for("ada@example.com")},
        headers=ada.auth,
    )
    assert response.status_code == 409
    assert response.json()["code"] == "code_expired"
    assert "resend" in response.json()["detail"]


@pytest.mark.parametrize("code", ["12345", "1234567", "abcdef", " 12345"])
async def test_a_code_is_six_digits(client: httpx.AsyncClient, alice: ApiUser, code: str) -> None:
    response = await client.post("/v1/users/me/verify", json={"code": code}, headers=alice.auth)
    assert response.status_code == 422
    assert response.json()["code"] == "invalid_input"


async def test_an_email_channel_waits_for_the_code_sent_to_it(
    client: httpx.AsyncClient, alice: ApiUser, outbox: Outbox
) -> None:
    await outbox.run()  # alice's own sign-up code
    channel = await _channel(client, alice, "email", "Alerts@Example.com")
    assert (channel["status"], channel["verified_at"]) == ("pending_verification", None)
    tested = await client.post(f"/v1/channels/{channel['id']}/test", headers=alice.auth)
    assert tested.status_code == 409
    assert tested.json()["code"] == "channel_unverified"
    await outbox.run()
    [email] = outbox.emails_to("alerts@example.com")
    assert "asked PriceAlert to send price alerts here" in text_of(email)

    verified = await client.post(
        f"/v1/channels/{channel['id']}/verify",
        json={"code": outbox.code_for("alerts@example.com")},
        headers=alice.auth,
    )

    assert verified.status_code == 200, verified.text
    assert verified.json()["status"] == "active"
    assert (verified.json()["released"], verified.json()["expired"]) == (0, 0)
    listed = (await client.get("/v1/channels", headers=alice.auth)).json()["items"]
    assert [c["status"] for c in listed] == ["active"]
    assert (
        await client.post(f"/v1/channels/{channel['id']}/test", headers=alice.auth)
    ).status_code == 202


async def test_an_sms_channel_is_verified_by_a_six_digit_code_sent_by_sms(
    client: httpx.AsyncClient, alice: ApiUser, outbox: Outbox
) -> None:
    channel = await _channel(client, alice, "sms", "+819012345678")
    assert channel["status"] == "pending_verification"
    await outbox.run()
    [(number, text)] = outbox.sms()
    assert number == "+819012345678"
    assert len(text) <= 160
    assert "Not you? Ignore this message." in text
    code = outbox.code_for("+819012345678")

    verified = await client.post(
        f"/v1/channels/{channel['id']}/verify", json={"code": code}, headers=alice.auth
    )

    assert verified.json()["status"] == "active"


async def test_a_channel_code_is_checked_against_that_channel_only(
    client: httpx.AsyncClient, alice: ApiUser, outbox: Outbox
) -> None:
    first = await _channel(client, alice, "sms", "+819012345678")
    second = await _channel(client, alice, "sms", "+819087654321")
    await outbox.run()
    code = outbox.code_for("+819012345678")
    other = await client.post(
        f"/v1/channels/{second['id']}/verify", json={"code": code}, headers=alice.auth
    )
    if code != outbox.code_for("+819087654321"):
        assert other.json()["code"] == "wrong_code"
    own = await client.post(
        f"/v1/channels/{first['id']}/verify", json={"code": code}, headers=alice.auth
    )
    assert own.json()["status"] == "active"


async def test_verifying_an_address_verifies_it_for_the_user_everywhere(
    client: httpx.AsyncClient, sign_up: SignUp, outbox: Outbox
) -> None:
    ada = await sign_up("ada@example.com")
    channel = await _channel(client, ada, "email", "ada@example.com")
    assert channel["status"] == "pending_verification"
    await outbox.run()
    assert len(outbox.emails_to("ada@example.com")) == 2  # sign-up's and the channel's
    signup_code = outbox.code_for("ada@example.com")
    # The channel's code came last; enter the channel's, and the user's email is proven too.
    response = await client.post(
        f"/v1/channels/{channel['id']}/verify", json={"code": signup_code}, headers=ada.auth
    )
    assert response.json()["status"] == "active"
    me = (await client.get("/v1/users/me", headers=ada.auth)).json()
    assert me["email_verified_at"] is not None


async def test_an_address_already_proven_is_active_at_once_and_sent_nothing(
    client: httpx.AsyncClient, sign_up: SignUp, outbox: Outbox
) -> None:
    ada = await sign_up("ada@example.com")
    await outbox.run()
    code = outbox.code_for("ada@example.com")
    await client.post("/v1/users/me/verify", json={"code": code}, headers=ada.auth)

    channel = await _channel(client, ada, "email", "ada@example.com")

    assert channel["status"] == "active"
    assert await outbox.queued() == []


async def test_webhook_and_slack_channels_need_no_verification(
    client: httpx.AsyncClient, alice: ApiUser
) -> None:
    hook = await _channel(client, alice, "webhook", "https://hooks.example.com/in")
    assert hook["status"] == "active"
    assert hook["verified_at"] is not None
    for action, body in (("verify", {"code": "123456"}), ("resend", None)):
        response = await client.post(
            f"/v1/channels/{hook['id']}/{action}", json=body, headers=alice.auth
        )
        assert response.status_code == 409
        assert response.json()["code"] == "no_verification_needed"


async def test_a_user_may_have_only_a_few_channels_waiting_for_their_code(
    app: FastAPI, client: httpx.AsyncClient, alice: ApiUser
) -> None:
    app.state.settings.max_unverified_channels = 2
    await _channel(client, alice, "email", "one@example.com")
    await _channel(client, alice, "sms", "+819012345678")
    third = await client.post(
        "/v1/channels", json={"kind": "email", "target": "three@example.com"}, headers=alice.auth
    )
    assert third.status_code == 409
    assert third.json()["code"] == "too_many_unverified_channels"
    assert (await _channel(client, alice, "webhook", "https://hooks.example.com/x"))["status"]


async def test_verification_messages_are_limited_per_user(
    app: FastAPI, client: httpx.AsyncClient, alice: ApiUser, db_session: AsyncSession
) -> None:
    app.state.settings.verification_messages_per_hour = 2
    await _channel(client, alice, "email", "one@example.com")
    await _channel(client, alice, "sms", "+819012345678")
    refused = await client.post(
        "/v1/channels", json={"kind": "email", "target": "two@example.com"}, headers=alice.auth
    )
    assert refused.status_code == 429
    assert refused.headers["RateLimit-Limit"] == "2"
    assert refused.headers["RateLimit-Remaining"] == "0"
    assert int(refused.headers["Retry-After"]) > 60
    targets = await db_session.scalars(select(Channel.target))
    # Nothing was created without its code.
    assert sorted(targets) == ["+819012345678", "one@example.com"]


async def _held(session: AsyncSession, channel_id: str, detected_ago: timedelta) -> uuid.UUID:
    channel = await session.get(Channel, uuid.UUID(channel_id))
    assert channel is not None
    now = datetime.now(UTC)
    row = Notification(
        user_id=channel.user_id, channel_id=channel.id, channel_kind=channel.kind,
        rule_kind="below", status="held", payload={"type": "channel.test"},
        detected_at=now - detected_ago,
    )  # fmt: skip
    session.add(row)
    await session.flush()
    return row.id


async def test_verifying_a_channel_releases_its_held_deliveries_and_expires_stale_ones(
    app: FastAPI,
    client: httpx.AsyncClient,
    alice: ApiUser,
    outbox: Outbox,
    db_session: AsyncSession,
) -> None:
    channel = await _channel(client, alice, "email", "alerts@example.com")
    recent = await _held(db_session, channel["id"], timedelta(hours=2))
    stale = await _held(db_session, channel["id"], timedelta(hours=25))
    await outbox.run()

    verified = await client.post(
        f"/v1/channels/{channel['id']}/verify",
        json={"code": outbox.code_for("alerts@example.com")},
        headers=alice.auth,
    )

    assert (verified.json()["released"], verified.json()["expired"]) == (1, 1)
    db_session.expire_all()
    released = await db_session.get(Notification, recent)
    expired = await db_session.get(Notification, stale)
    assert released is not None
    assert expired is not None
    assert released.status == "pending"
    assert (expired.status, expired.last_error) == (
        "expired",
        "expired: held more than 24 h waiting for the channel to be verified",
    )
    assert await app.state.redis.zscore(NOTIFY_QUEUE, f"deliver:{recent}") is not None
    log = await client.get("/v1/notifications", params={"status": "expired"}, headers=alice.auth)
    assert [n["id"] for n in log.json()["items"]] == [str(stale)]


async def test_sms_codes_are_limited_per_user_per_day(
    app: FastAPI, client: httpx.AsyncClient, alice: ApiUser
) -> None:
    app.state.settings.verification_sms_per_day = 1
    await _channel(client, alice, "sms", "+819012345678")
    refused = await client.post(
        "/v1/channels", json={"kind": "sms", "target": "+819087654321"}, headers=alice.auth
    )
    assert refused.status_code == 429
    assert refused.headers["RateLimit-Policy"] == "1;w=86400"
    assert (await _channel(client, alice, "email", "desk@example.com"))["status"]
