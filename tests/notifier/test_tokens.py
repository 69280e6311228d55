"""One-time tokens leave through the notifier's senders, exactly once in the record and with
one secret however often they are sent; deliveries to unverified channels are held."""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from arq.connections import ArqRedis
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from pricealert.models import Channel, OneTimeToken
from pricealert.queues import NOTIFY_QUEUE
from pricealert.repositories.tokens import TokenRepository
from pricealert.repositories.verification import VerificationRepository
from pricealert.tokens import hash_secret
from services.notifier.delivery import Attempt, Notifier
from services.notifier.tasks import expire_held, purge_tokens, sweep_unsent_tokens
from services.notifier.tokens import TokenSender
from tests import factories as make
from tests.api.outbox import CODE, TOKEN, text_of
from tests.factories import pending
from tests.notifier.conftest import make_notifier, notifier_settings
from tests.support.smtp import SmtpServer


@pytest.fixture
async def sender(
    sessionmaker: async_sessionmaker[AsyncSession], smtp: SmtpServer
) -> AsyncIterator[TokenSender]:
    settings = notifier_settings(smtp_host=smtp.host, smtp_port=smtp.port)
    notifier, client = make_notifier(sessionmaker, settings)
    yield TokenSender(sessionmaker, settings, notifier.senders, random.Random(3))
    await client.aclose()


async def _token(
    session: AsyncSession, purpose: str = "email_verification", address: str = "ada@example.com"
) -> OneTimeToken:
    owner = await make.user(session, email=address)
    token = await TokenRepository(session).issue(
        purpose=purpose, user_id=owner.id, via="email", address=address, now=datetime.now(UTC)
    )
    await session.commit()
    return token


async def test_a_code_is_mailed_once_and_its_hash_stored(
    db_session: AsyncSession, sender: TokenSender, smtp: SmtpServer
) -> None:
    token = await _token(db_session)

    first = await sender.send(token.id)
    again = await sender.send(token.id)

    assert (first.outcome, again.outcome) == ("sent", "skipped")
    [email] = smtp.messages
    code = CODE.search(text_of(email))
    assert code is not None
    await db_session.refresh(token)
    assert token.send_status == "sent"
    assert token.secret_hash == hash_secret(token.id, code.group(1))
    assert email["Message-ID"].startswith(f"<{token.id}@")


async def test_sent_again_after_a_crash_it_is_the_same_message_with_the_same_code(
    db_session: AsyncSession, sender: TokenSender, smtp: SmtpServer
) -> None:
    token = await _token(db_session, purpose="key_recovery")
    await sender.send(token.id)
    # A worker that died after sending and before recording: the row is pending again
    # once its lease is over.
    await db_session.execute(
        update(OneTimeToken)
        .where(OneTimeToken.id == token.id)
        .values(send_status="pending", sent_at=None, send_lease_expires_at=None)
    )
    await db_session.commit()

    assert (await sender.send(token.id)).outcome == "sent"

    first, second = (TOKEN.search(text_of(m)) for m in smtp.messages)
    assert first is not None and second is not None  # noqa: PT018
    assert first.group(1) == second.group(1)
    assert smtp.messages[0]["Message-ID"] == smtp.messages[1]["Message-ID"]


async def test_a_token_used_replaced_or_expired_is_not_sent(
    db_session: AsyncSession, sender: TokenSender, smtp: SmtpServer
) -> None:
    old = await _token(db_session)
    newer = await TokenRepository(db_session).issue(
        purpose="email_verification", user_id=old.user_id, via="email",
        address=old.address, now=datetime.now(UTC),
    )  # fmt: skip
    await db_session.execute(
        update(OneTimeToken)
        .where(OneTimeToken.id == newer.id)
        .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
    )
    await db_session.commit()

    assert (await sender.send(old.id)).outcome == "skipped"
    assert (await sender.send(newer.id)).outcome == "skipped"
    assert smtp.messages == []


async def test_a_transient_smtp_failure_waits_for_its_retry_and_a_permanent_one_fails(
    db_session: AsyncSession, sessionmaker: async_sessionmaker[AsyncSession], smtp: SmtpServer
) -> None:
    settings = notifier_settings(smtp_host=smtp.host, smtp_port=smtp.port, retry_base_seconds=60.0)
    notifier, client = make_notifier(sessionmaker, settings)
    sender = TokenSender(sessionmaker, settings, notifier.senders, random.Random(3))
    token = await _token(db_session)
    smtp.reply = "451 4.3.0 try again later"

    retry = await sender.send(token.id)

    assert retry.outcome == "retry"
    await db_session.refresh(token)
    assert token.send_status == "pending"
    assert token.send_error is not None and "451" in token.send_error  # noqa: PT018
    assert token.send_lease_expires_at is not None
    assert token.send_lease_expires_at > datetime.now(UTC)  # not before the backoff
    assert (await sender.send(token.id)).outcome == "skipped"

    await db_session.execute(
        update(OneTimeToken).where(OneTimeToken.id == token.id).values(send_lease_expires_at=None)
    )
    await db_session.commit()
    smtp.reply = "550 5.1.1 no such user"
    failed = await sender.send(token.id)
    assert failed.outcome == "failed"
    await db_session.refresh(token)
    assert token.send_status == "failed"
    await client.aclose()


async def test_the_sweeper_re_issues_a_token_whose_job_was_lost(
    db_session: AsyncSession,
    sessionmaker: async_sessionmaker[AsyncSession],
    redis: ArqRedis,
) -> None:
    lost = await _token(db_session)
    sent = await _token(db_session, address="bo@example.com")
    await db_session.execute(
        update(OneTimeToken).where(OneTimeToken.id == sent.id).values(send_status="sent")
    )
    await db_session.commit()
    settings = notifier_settings(sweep_grace_seconds=0)
    ctx = {"settings": settings, "sessionmaker": sessionmaker, "redis": redis}

    assert await sweep_unsent_tokens(ctx) == 1
    assert await sweep_unsent_tokens(ctx) == 0  # the job is queued: it collapses
    assert await redis.zscore(NOTIFY_QUEUE, f"token:{lost.id}") is not None


async def test_a_delivery_to_an_unverified_channel_is_held_not_sent_nor_failed(
    db_session: AsyncSession, notifier: Notifier, smtp: SmtpServer
) -> None:
    owner = await make.user(db_session)
    channel = await make.channel(db_session, owner, "email", "alerts@example.com", verified_at=None)
    note = await pending(db_session, channel, owner)
    await db_session.commit()

    attempt = await notifier.deliver(note.id)

    assert attempt.outcome == "held"
    await db_session.refresh(note)
    assert (note.status, note.attempts) == ("held", 0)
    assert smtp.messages == []
    assert (await notifier.deliver(note.id)).outcome == "skipped"  # held is not pending

    now = datetime.now(UTC)
    verifications = VerificationRepository(db_session)
    verified = await verifications.verify_address(owner.id, "email", "alerts@example.com", now)
    released = await verifications.release_held(verified, now)
    await db_session.commit()
    assert released.pending == [note.id]
    assert (await notifier.deliver(note.id)).outcome == "sent"
    assert [m["To"] for m in smtp.messages] == ["alerts@example.com"]


async def test_a_channel_verified_between_claim_and_hold_is_not_held(
    db_session: AsyncSession, sessionmaker: async_sessionmaker[AsyncSession], smtp: SmtpServer
) -> None:
    owner = await make.user(db_session)
    channel = await make.channel(db_session, owner, "email", "alerts@example.com", verified_at=None)
    note = await pending(db_session, channel, owner)
    await db_session.commit()
    settings = notifier_settings(smtp_host=smtp.host, smtp_port=smtp.port)
    notifier, client = make_notifier(sessionmaker, settings)

    class VerifiedJustBeforeHolding(Notifier):
        async def _hold(
            self, notification_id: uuid.UUID, kind: str, channel_id: uuid.UUID
        ) -> Attempt:
            await db_session.execute(
                update(Channel)
                .where(Channel.id == channel_id)
                .values(verified_at=datetime.now(UTC))
            )
            await db_session.commit()
            return await super()._hold(notification_id, kind, channel_id)

    racing = VerifiedJustBeforeHolding(sessionmaker, settings, notifier.senders)
    attempt = await racing.deliver(note.id)

    assert attempt.outcome == "retry"
    await db_session.refresh(note)
    assert note.status == "pending"
    assert note.lease_expires_at is None
    assert (await notifier.deliver(note.id)).outcome == "sent"
    await client.aclose()


async def test_held_deliveries_expire_after_a_day_unverified(
    db_session: AsyncSession, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    owner = await make.user(db_session)
    channel = await make.channel(db_session, owner, "sms", verified_at=None)
    now = datetime.now(UTC)
    old = await pending(
        db_session, channel, owner, status="held", detected_at=now - timedelta(hours=25)
    )
    recent = await pending(
        db_session, channel, owner, status="held", detected_at=now - timedelta(hours=1)
    )
    await db_session.commit()
    ctx = {"settings": notifier_settings(), "sessionmaker": sessionmaker}

    assert await expire_held(ctx) == 1

    await db_session.refresh(old)
    await db_session.refresh(recent)
    assert (old.status, recent.status) == ("expired", "held")
    assert old.last_error == "expired: held more than 24 h waiting for the channel to be verified"


async def test_tokens_expired_a_week_ago_are_purged_and_younger_ones_kept(
    db_session: AsyncSession, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    old = await _token(db_session)
    young = await _token(db_session, address="bo@example.com")
    await db_session.execute(
        update(OneTimeToken)
        .where(OneTimeToken.id == old.id)
        .values(expires_at=datetime.now(UTC) - timedelta(days=8))
    )
    await db_session.commit()

    assert await purge_tokens({"settings": notifier_settings(), "sessionmaker": sessionmaker}) == 1

    old_id, young_id = old.id, young.id
    db_session.expire_all()
    assert await db_session.get(OneTimeToken, old_id) is None
    assert await db_session.get(OneTimeToken, young_id) is not None
