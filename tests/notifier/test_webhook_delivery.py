"""Webhook delivery against a real local receiver: signatures, retries, faults, the record."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from arq import Retry
from arq.connections import ArqRedis
from prometheus_client import REGISTRY
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from pricealert.models import Channel, Notification
from pricealert.queues import NOTIFY_QUEUE, DeliverNotification
from pricealert_ops.devtools.receiver import Receiver
from pricealert_ops.devtools.shop import Page
from services.notifier.channels.signing import sign, verify
from services.notifier.delivery import Notifier
from services.notifier.tasks import deliver_notification, sweep_pending
from tests import factories as make
from tests.factories import pending
from tests.notifier.conftest import make_notifier, notifier_settings


async def load(sm: async_sessionmaker[AsyncSession], model: type, key: object) -> object:
    async with sm() as session:
        return await session.get(model, key)


async def notification(sm: async_sessionmaker[AsyncSession], key: uuid.UUID) -> Notification:
    row = await load(sm, Notification, key)
    assert isinstance(row, Notification)
    return row


def sample(name: str, labels: dict[str, str]) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_signatures_match_the_standard_webhooks_reference_vector() -> None:
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = b'{"test": 2432232314}'
    signature = sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body)
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    headers = {
        "webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
        "webhook-timestamp": "1614265330",
        "webhook-signature": f"v1,bm9wZQ== {signature}",
    }
    assert verify(secret, headers, body, now=1614265330 + 10)
    assert not verify(secret, headers, body + b" ", now=1614265330)
    assert not verify(secret, headers, body, now=1614265330 + 3600)  # a replay


async def test_a_webhook_arrives_signed_with_the_contract_body_and_is_recorded_sent(
    db_session: AsyncSession,
    sessionmaker: async_sessionmaker[AsyncSession],
    notifier: Notifier,
    receiver: Receiver,
) -> None:
    owner = await make.user(db_session)
    hook = await make.channel(db_session, owner, "webhook", receiver.url)
    receiver.secret = hook.secret
    detected = datetime.now(UTC) - timedelta(seconds=3)
    note = await pending(db_session, hook, owner, detected_at=detected)
    sent_before = sample(
        "pricealert_notifications_total", {"channel": "webhook", "outcome": "sent"}
    )
    delays_before = sample("pricealert_notification_delay_seconds_count", {"channel": "webhook"})

    assert (await notifier.deliver(note.id)).outcome == "sent"

    [got] = receiver.valid
    assert got.headers["webhook-id"] == str(note.id)
    assert abs(int(got.headers["webhook-timestamp"]) - time.time()) < 60
    assert got.json == {
        "type": "channel.test",
        "timestamp": detected.isoformat().replace("+00:00", "Z"),
        "data": {"notification_id": str(note.id), "message": "PriceAlert test notification"},
    }
    stored = await notification(sessionmaker, note.id)
    assert (stored.status, stored.attempts, stored.last_error) == ("sent", 1, None)
    assert stored.sent_at is not None
    assert stored.lease_expires_at is None
    assert (
        sample("pricealert_notifications_total", {"channel": "webhook", "outcome": "sent"})
        == sent_before + 1
    )
    assert (
        sample("pricealert_notification_delay_seconds_count", {"channel": "webhook"})
        == delays_before + 1
    )


async def test_a_500_then_200_is_delivered_once_after_two_attempts_with_one_webhook_id(
    db_session: AsyncSession,
    sessionmaker: async_sessionmaker[AsyncSession],
    notifier: Notifier,
    receiver: Receiver,
    redis: ArqRedis,
) -> None:
    owner = await make.user(db_session)
    hook = await make.channel(db_session, owner, "webhook", receiver.url)
    receiver.secret = hook.secret
    receiver.answer(Page(status=500, body=b"boom"), Page(status=200))
    note = await pending(db_session, hook, owner)
    ctx = {"notifier": notifier, "settings": notifier.settings, "job_try": 1, "redis": redis}

    with pytest.raises(Retry):
        await deliver_notification(ctx, DeliverNotification(notification_id=str(note.id)))
    retrying = await notification(sessionmaker, note.id)
    assert (retrying.status, retrying.attempts, retrying.last_error) == (
        "pending",
        1,
        "HTTP 500: boom",
    )
    assert retrying.next_attempt_at > retrying.created_at

    assert (
        await deliver_notification(
            ctx | {"job_try": 2}, DeliverNotification(notification_id=str(note.id))
        )
        == "sent"
    )
    assert (
        await deliver_notification(
            ctx | {"job_try": 3}, DeliverNotification(notification_id=str(note.id))
        )
        == "skipped"
    )

    assert len(receiver.valid) == 2
    assert {r.headers["webhook-id"] for r in receiver.received} == {str(note.id)}
    stored = await notification(sessionmaker, note.id)
    assert (stored.status, stored.attempts) == ("sent", 2)


async def test_a_receiver_that_times_out_is_retried(
    db_session: AsyncSession,
    sessionmaker: async_sessionmaker[AsyncSession],
    notifier: Notifier,
    receiver: Receiver,
) -> None:
    owner = await make.user(db_session)
    hook = await make.channel(db_session, owner, "webhook", receiver.url)
    receiver.answer(Page(delay=3.0), Page())  # the notifier gives up after 1 s
    note = await pending(db_session, hook, owner)

    first = await notifier.deliver(note.id)
    assert first.outcome == "retry"
    assert first.reason is not None
    assert first.reason.startswith("timeout")
    assert (await notifier.deliver(note.id)).outcome == "sent"
    assert (await notification(sessionmaker, note.id)).attempts == 2


async def test_410_disables_the_channel_and_fails_the_notification_with_the_reason(
    db_session: AsyncSession,
    sessionmaker: async_sessionmaker[AsyncSession],
    notifier: Notifier,
    receiver: Receiver,
) -> None:
    owner = await make.user(db_session)
    hook = await make.channel(db_session, owner, "webhook", receiver.url)
    receiver.answer(Page(status=410))
    note = await pending(db_session, hook, owner)

    assert (await notifier.deliver(note.id)).outcome == "failed"

    stored = await notification(sessionmaker, note.id)
    assert stored.status == "failed"
    assert stored.last_error is not None
    assert stored.last_error.startswith("HTTP 410")
    channel = await load(sessionmaker, Channel, hook.id)
    assert isinstance(channel, Channel)
    assert channel.enabled is False
    assert channel.disabled_reason == stored.last_error


async def test_a_redirect_fails_the_notification_and_is_not_followed(
    db_session: AsyncSession,
    sessionmaker: async_sessionmaker[AsyncSession],
    notifier: Notifier,
    receiver: Receiver,
) -> None:
    owner = await make.user(db_session)
    url = receiver.url
    hook = await make.channel(db_session, owner, "webhook", url)
    receiver.answer(Page.redirect(url + "?moved=1", status=307))
    note = await pending(db_session, hook, owner)

    assert (await notifier.deliver(note.id)).outcome == "failed"

    assert len(receiver.received) == 1
    stored = await notification(sessionmaker, note.id)
    assert stored.last_error is not None
    assert "redirects are not followed" in stored.last_error


async def test_a_4xx_fails_at_once_and_a_429_retries(
    db_session: AsyncSession,
    sessionmaker: async_sessionmaker[AsyncSession],
    notifier: Notifier,
    receiver: Receiver,
) -> None:
    owner = await make.user(db_session)
    hook = await make.channel(db_session, owner, "webhook", receiver.url)
    receiver.answer(Page.retry_after("1"), Page(status=400, body=b"bad"))
    note = await pending(db_session, hook, owner)

    limited = await notifier.deliver(note.id)
    assert limited.outcome == "retry"
    assert limited.retry_in >= 1.0  # Retry-After respected
    await db_session.execute(update(Notification).values(next_attempt_at=datetime.now(UTC)))
    assert (await notifier.deliver(note.id)).outcome == "failed"
    assert (await notification(sessionmaker, note.id)).last_error == "HTTP 400: bad"


async def test_a_loopback_target_is_refused_when_not_allowed(
    db_session: AsyncSession, sessionmaker: async_sessionmaker[AsyncSession], receiver: Receiver
) -> None:
    owner = await make.user(db_session)
    hook = await make.channel(db_session, owner, "webhook", receiver.url)
    note = await pending(db_session, hook, owner)
    closed, client = make_notifier(sessionmaker, notifier_settings(fetch_allowed_hosts=[]))
    try:
        assert (await closed.deliver(note.id)).outcome == "failed"
    finally:
        await client.aclose()
    assert receiver.received == []
    assert (await notification(sessionmaker, note.id)).last_error.startswith("blocked_address")  # type: ignore[union-attr]


async def test_a_notification_held_by_a_live_worker_is_not_delivered_twice(
    db_session: AsyncSession,
    sessionmaker: async_sessionmaker[AsyncSession],
    notifier: Notifier,
    receiver: Receiver,
) -> None:
    owner = await make.user(db_session)
    hook = await make.channel(db_session, owner, "webhook", receiver.url)
    now = datetime.now(UTC)
    held = await pending(
        db_session, hook, owner, attempts=1, lease_expires_at=now + timedelta(minutes=1)
    )
    killed = await pending(
        db_session, hook, owner, attempts=1, lease_expires_at=now - timedelta(seconds=1)
    )

    assert (await notifier.deliver(held.id)).outcome == "skipped"
    assert (await notifier.deliver(killed.id)).outcome == "sent"  # its worker died mid-delivery

    assert [r.headers["webhook-id"] for r in receiver.received] == [str(killed.id)]
    assert (await notification(sessionmaker, killed.id)).attempts == 2


async def test_after_the_retry_window_a_transient_failure_fails_with_the_reason(
    db_session: AsyncSession, sessionmaker: async_sessionmaker[AsyncSession], receiver: Receiver
) -> None:
    owner = await make.user(db_session)
    hook = await make.channel(db_session, owner, "webhook", receiver.url)
    receiver.answer(Page(status=503))
    note = await pending(
        db_session, hook, owner, created_at=datetime.now(UTC) - timedelta(hours=25)
    )
    tired, client = make_notifier(sessionmaker, notifier_settings())
    try:
        assert (await tired.deliver(note.id)).outcome == "failed"
    finally:
        await client.aclose()
    assert (
        await notification(sessionmaker, note.id)
    ).last_error == "gave up after 1 attempts: HTTP 503"


async def test_a_deleted_channel_fails_the_notification(
    db_session: AsyncSession, sessionmaker: async_sessionmaker[AsyncSession], notifier: Notifier
) -> None:
    owner = await make.user(db_session)
    hook = await make.channel(db_session, owner, "webhook")
    note = await pending(db_session, hook, owner)
    await db_session.delete(hook)
    await db_session.flush()

    assert (await notifier.deliver(note.id)).outcome == "failed"
    assert (await notification(sessionmaker, note.id)).last_error == "channel deleted"


async def test_the_sweeper_re_enqueues_a_pending_notification_whose_job_vanished(
    db_session: AsyncSession, sessionmaker: async_sessionmaker[AsyncSession], redis: ArqRedis
) -> None:
    owner = await make.user(db_session)
    hook = await make.channel(db_session, owner, "webhook")
    past = datetime.now(UTC) - timedelta(minutes=5)
    lost = await pending(db_session, hook, owner, next_attempt_at=past)
    await pending(
        db_session,
        hook,
        owner,
        next_attempt_at=past,
        lease_expires_at=datetime.now(UTC) + timedelta(minutes=1),
    )
    await pending(db_session, hook, owner, next_attempt_at=datetime.now(UTC) + timedelta(hours=1))
    await pending(db_session, hook, owner, next_attempt_at=past, status="sent")
    await redis.flushdb()  # Redis lost every job
    ctx = {"sessionmaker": sessionmaker, "redis": redis, "settings": notifier_settings()}

    assert await sweep_pending(ctx) == 1

    assert [m.decode() for m in await redis.zrange(NOTIFY_QUEUE, 0, -1)] == [f"deliver:{lost.id}"]
    assert await sweep_pending(ctx) == 0  # still queued: the deterministic job id collapses it


async def test_deliver_many_claims_sends_and_records_each_as_deliver_would(
    db_session: AsyncSession,
    sessionmaker: async_sessionmaker[AsyncSession],
    notifier: Notifier,
    receiver: Receiver,
) -> None:
    owner = await make.user(db_session)
    hook = await make.channel(db_session, owner, "webhook", receiver.url)
    failing = await make.channel(db_session, owner, "webhook", f"{receiver.url}?fail=1")
    off = await make.channel(db_session, owner, "webhook", receiver.url, enabled=False,
                             disabled_reason="gone")  # fmt: skip
    assert hook.secret is not None
    receiver.secret = hook.secret
    receiver.respond(lambda r: Page(status=500 if r.target.endswith("fail=1") else 204))
    ok = await pending(db_session, hook, owner)
    retried = await pending(db_session, failing, owner)
    disabled = await pending(db_session, off, owner)
    done = await pending(db_session, hook, owner, status="sent")
    unknown = uuid.uuid4()

    attempts = await notifier.deliver_many(
        [ok.id, retried.id, disabled.id, done.id, unknown], asyncio.Semaphore(1)
    )

    assert {k: a.outcome for k, a in attempts.items()} == {
        ok.id: "sent", retried.id: "retry", disabled.id: "failed", done.id: "skipped",
        unknown: "skipped",
    }  # fmt: skip
    # Sent once each (the failing one answered 500); nothing to the disabled or done ones.
    assert sorted(r.headers["webhook-id"] for r in receiver.valid) == sorted(
        [str(ok.id), str(retried.id)]
    )
    stored = {n: await notification(sessionmaker, n) for n in (ok.id, retried.id, disabled.id)}
    assert (stored[ok.id].status, stored[ok.id].attempts) == ("sent", 1)
    assert stored[ok.id].sent_at is not None
    assert (stored[retried.id].status, stored[retried.id].attempts) == ("pending", 1)
    assert stored[retried.id].next_attempt_at > datetime.now(UTC) - timedelta(seconds=1)
    assert (stored[disabled.id].status, stored[disabled.id].last_error) == (
        "failed", "channel disabled: gone",
    )  # fmt: skip
