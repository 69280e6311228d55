"""The evaluator against real PostgreSQL and Redis: notifications, idempotence, withholding."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from arq.connections import ArqRedis
from prometheus_client import REGISTRY
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from pricealert.availability import Availability
from pricealert.models import AlertRule, Notification, PriceHistory, Product
from pricealert.queues import EVALUATE_QUEUE, NOTIFY_QUEUE, EvaluateChange
from pricealert.worker import JobContext
from services.evaluator.settings import EvaluatorSettings
from services.evaluator.tasks import evaluate_change
from tests import factories as make
from tests.factories import T0


def context(sm: async_sessionmaker[AsyncSession], redis: ArqRedis, **settings: Any) -> JobContext:
    return {"sessionmaker": sm, "redis": redis, "settings": EvaluatorSettings(**settings)}


async def run(ctx: JobContext, row: PriceHistory) -> int:
    return await evaluate_change(ctx, EvaluateChange(product_id=row.product_id, history_id=row.id))


async def notifications_of(
    sm: async_sessionmaker[AsyncSession], item: Product
) -> list[Notification]:
    async with sm() as session:
        query = select(Notification).where(Notification.product_id == item.id)
        return list(
            await session.scalars(
                query.order_by(Notification.channel_kind, Notification.created_at)
            )
        )


async def queued(redis: ArqRedis, queue: str) -> set[str]:
    return {member.decode() for member in await redis.zrange(queue, 0, -1)}


def evaluations(kind: str, result: str) -> float:
    return (
        REGISTRY.get_sample_value(
            "pricealert_rule_evaluations_total", {"kind": kind, "result": result}
        )
        or 0.0
    )


async def test_a_price_crossing_below_the_threshold_creates_one_notification_per_channel(
    db_session: AsyncSession, sessionmaker: async_sessionmaker[AsyncSession], redis: ArqRedis
) -> None:
    owner = await make.user(db_session)
    item = await make.product(db_session, "100")
    hook, mail = (
        await make.channel(db_session, owner, "webhook"),
        await make.channel(db_session, owner, "email"),
    )
    alert = await make.rule(db_session, owner, item, "below", "90", [hook, mail])
    fired_before = evaluations("below", "fired")
    row = await make.observe(db_session, item, "89.50", at=T0 + timedelta(hours=1))

    assert await run(context(sessionmaker, redis), row) == 2

    sent = await notifications_of(sessionmaker, item)
    assert [(n.channel_kind, n.status) for n in sent] == [
        ("email", "pending"),
        ("webhook", "pending"),
    ]
    data = sent[1].payload["data"]
    assert sent[1].payload["type"] == "price.alert"
    assert data["price"] == {
        "old": {"amount": "100", "currency": "USD"},
        "new": {"amount": "89.50", "currency": "USD"},
    }
    assert data["product"] == {"id": str(alert.watch_id), "url": item.url, "title": item.title}
    assert data["alert"]["kind"] == "below"
    assert data["alert"]["threshold"] == "90"
    assert data["notification_id"] == str(sent[1].id)
    assert sent[1].detected_at == row.first_seen_at
    assert await make.queued_deliveries(redis) == {str(n.id) for n in sent}
    assert evaluations("below", "fired") == fired_before + 1
    async with sessionmaker() as session:
        stored = await session.get(AlertRule, alert.id)
        evaluated = await session.get(PriceHistory, row.id)
    assert stored is not None
    assert stored.last_fired_at == row.first_seen_at
    assert stored.state["armed"] is False
    assert stored.state["history_id"] == row.id
    assert evaluated is not None
    assert evaluated.evaluated_at is not None


async def test_evaluating_the_same_change_twice_still_gives_one_notification_per_channel(
    db_session: AsyncSession, sessionmaker: async_sessionmaker[AsyncSession], redis: ArqRedis
) -> None:
    owner = await make.user(db_session)
    item = await make.product(db_session, "100")
    hook = await make.channel(db_session, owner, "webhook")
    await make.rule(db_session, owner, item, "change", None, [hook])
    row = await make.observe(db_session, item, "95", at=T0 + timedelta(hours=1))
    ctx = context(sessionmaker, redis)

    assert await run(ctx, row) == 1
    assert await run(ctx, row) == 0
    # Even with the evaluation marks wiped (a restore, a bug), the unique key holds.
    await db_session.execute(
        update(PriceHistory).where(PriceHistory.id == row.id).values(evaluated_at=None)
    )
    await db_session.execute(update(AlertRule).values(state={}))
    assert await run(ctx, row) == 0

    assert len(await notifications_of(sessionmaker, item)) == 1


async def test_a_currency_change_is_recorded_as_suppressed_and_not_delivered(
    db_session: AsyncSession, sessionmaker: async_sessionmaker[AsyncSession], redis: ArqRedis
) -> None:
    owner = await make.user(db_session)
    item = await make.product(db_session, "100", "USD")
    hook = await make.channel(db_session, owner, "webhook")
    await make.rule(db_session, owner, item, "below", "90", [hook])
    suppressed_before = evaluations("below", "suppressed")
    row = await make.observe(db_session, item, "80", "EUR", at=T0 + timedelta(hours=1))

    assert await run(context(sessionmaker, redis), row) == 0

    [record] = await notifications_of(sessionmaker, item)
    assert record.status == "suppressed"
    assert record.last_error is not None
    assert "currency changed from USD to EUR" in record.last_error
    assert record.payload["data"]["price"]["new"] == {"amount": "80", "currency": "EUR"}
    assert evaluations("below", "suppressed") == suppressed_before + 1
    assert await queued(redis, NOTIFY_QUEUE) == set()


async def test_a_suspicious_drop_is_suppressed_and_does_not_fire_later(
    db_session: AsyncSession, sessionmaker: async_sessionmaker[AsyncSession], redis: ArqRedis
) -> None:
    owner = await make.user(db_session)
    item = await make.product(db_session, "100")
    hook = await make.channel(db_session, owner, "webhook")
    await make.rule(db_session, owner, item, "below", "90", [hook])
    ctx = context(sessionmaker, redis)

    await run(
        ctx, await make.observe(db_session, item, "1", at=T0 + timedelta(hours=1), suspicious=True)
    )
    await run(ctx, await make.observe(db_session, item, "2", at=T0 + timedelta(hours=2)))

    assert [n.status for n in await notifications_of(sessionmaker, item)] == ["suppressed"]


async def test_a_firing_within_the_cooldown_is_recorded_not_sent(
    db_session: AsyncSession, sessionmaker: async_sessionmaker[AsyncSession], redis: ArqRedis
) -> None:
    owner = await make.user(db_session)
    item = await make.product(db_session, "100")
    hook = await make.channel(db_session, owner, "webhook")
    await make.rule(db_session, owner, item, "change", None, [hook], cooldown_seconds=3600)
    ctx = context(sessionmaker, redis)
    cooldown_before = evaluations("change", "cooldown")

    for minutes, price in ((10, "99"), (20, "98"), (75, "97")):
        await run(
            ctx, await make.observe(db_session, item, price, at=T0 + timedelta(minutes=minutes))
        )

    statuses = [n.status for n in await notifications_of(sessionmaker, item)]
    assert sorted(statuses) == ["cooldown", "pending", "pending"]
    assert evaluations("change", "cooldown") == cooldown_before + 1


async def test_the_daily_sms_cap_withholds_sms_but_not_email(
    db_session: AsyncSession, sessionmaker: async_sessionmaker[AsyncSession], redis: ArqRedis
) -> None:
    owner = await make.user(db_session, daily_sms_cap=1)
    item = await make.product(db_session, "100")
    sms, mail = (
        await make.channel(db_session, owner, "sms"),
        await make.channel(db_session, owner, "email"),
    )
    await make.rule(db_session, owner, item, "change", None, [sms, mail])
    ctx = context(sessionmaker, redis)

    await run(ctx, await make.observe(db_session, item, "99", at=T0 + timedelta(minutes=1)))
    await run(ctx, await make.observe(db_session, item, "98", at=T0 + timedelta(minutes=2)))

    got = [(n.channel_kind, n.status) for n in await notifications_of(sessionmaker, item)]
    assert sorted(got) == [
        ("email", "pending"),
        ("email", "pending"),
        ("sms", "capped"),
        ("sms", "pending"),
    ]


async def test_the_daily_notification_cap_covers_every_channel_and_counts_as_capped(
    db_session: AsyncSession, sessionmaker: async_sessionmaker[AsyncSession], redis: ArqRedis
) -> None:
    owner = await make.user(db_session, daily_notification_cap=1)
    item = await make.product(db_session, "100")
    hook = await make.channel(db_session, owner, "webhook")
    await make.rule(db_session, owner, item, "change", None, [hook])
    ctx = context(sessionmaker, redis)
    capped_before = evaluations("change", "capped")

    await run(ctx, await make.observe(db_session, item, "99", at=T0 + timedelta(minutes=1)))
    await run(ctx, await make.observe(db_session, item, "98", at=T0 + timedelta(minutes=2)))

    [first, second] = await notifications_of(sessionmaker, item)
    assert (first.status, second.status) == ("pending", "capped")
    assert second.last_error == "daily notification cap reached"
    assert evaluations("change", "capped") == capped_before + 1


async def test_a_disabled_channel_gets_a_failed_record_with_the_reason(
    db_session: AsyncSession, sessionmaker: async_sessionmaker[AsyncSession], redis: ArqRedis
) -> None:
    owner = await make.user(db_session)
    item = await make.product(db_session, "100")
    hook = await make.channel(
        db_session, owner, "webhook", enabled=False, disabled_reason="410 Gone"
    )
    await make.rule(db_session, owner, item, "change", None, [hook])

    assert (
        await run(
            context(sessionmaker, redis),
            await make.observe(db_session, item, "99", at=T0 + timedelta(minutes=1)),
        )
        == 0
    )

    [record] = await notifications_of(sessionmaker, item)
    assert (record.status, record.last_error) == ("failed", "channel disabled: 410 Gone")


async def test_a_lost_earlier_change_is_evaluated_first_and_in_order(
    db_session: AsyncSession, sessionmaker: async_sessionmaker[AsyncSession], redis: ArqRedis
) -> None:
    owner = await make.user(db_session)
    item = await make.product(db_session, "100")
    hook = await make.channel(db_session, owner, "webhook")
    await make.rule(db_session, owner, item, "below", "90", [hook])
    dip = await make.observe(db_session, item, "80", at=T0 + timedelta(hours=1))  # its job was lost
    back = await make.observe(db_session, item, "100", at=T0 + timedelta(hours=2))

    assert await run(context(sessionmaker, redis), back) == 1

    [record] = await notifications_of(sessionmaker, item)
    assert record.history_id == dip.id
    assert await run(context(sessionmaker, redis), dip) == 0


async def test_a_rule_ignores_changes_detected_before_it_was_made(
    db_session: AsyncSession, sessionmaker: async_sessionmaker[AsyncSession], redis: ArqRedis
) -> None:
    owner = await make.user(db_session)
    item = await make.product(db_session, "100")
    hook = await make.channel(db_session, owner, "webhook")
    row = await make.observe(db_session, item, "80", at=T0 + timedelta(hours=1))
    await make.rule(
        db_session, owner, item, "change", None, [hook], created_at=T0 + timedelta(hours=2)
    )

    assert await run(context(sessionmaker, redis), row) == 0
    assert await notifications_of(sessionmaker, item) == []


async def test_back_in_stock_and_lowest_ever_fire_on_the_change_they_describe(
    db_session: AsyncSession, sessionmaker: async_sessionmaker[AsyncSession], redis: ArqRedis
) -> None:
    owner = await make.user(db_session)
    item = await make.product(db_session, "100", availability=Availability.OUT_OF_STOCK)
    hook = await make.channel(db_session, owner, "webhook")
    await make.rule(db_session, owner, item, "back_in_stock", None, [hook])
    await make.rule(db_session, owner, item, "lowest_ever", None, [hook])
    ctx = context(sessionmaker, redis)

    await run(ctx, await make.observe(db_session, item, "100", at=T0 + timedelta(hours=1)))
    await run(ctx, await make.observe(db_session, item, "95", at=T0 + timedelta(hours=2)))

    kinds = [
        (n.rule_kind, n.payload["data"]["price"]["new"]["amount"])
        for n in await notifications_of(sessionmaker, item)
    ]
    assert sorted(kinds) == [("back_in_stock", "100"), ("lowest_ever", "95")]


async def test_a_product_without_rules_has_its_changes_marked_evaluated(
    db_session: AsyncSession, sessionmaker: async_sessionmaker[AsyncSession], redis: ArqRedis
) -> None:
    item = await make.product(db_session, "100")
    row = await make.observe(db_session, item, "50", at=T0 + timedelta(hours=1))

    assert await run(context(sessionmaker, redis), row) == 0

    async with sessionmaker() as session:
        stored = await session.get(PriceHistory, row.id)
    assert stored is not None
    assert stored.evaluated_at is not None
    assert await queued(redis, EVALUATE_QUEUE) == set()
    assert Decimal(str(stored.price)) == Decimal("50")
