"""Nothing is lost, nothing doubles: the sweeper re-issues lost jobs; concurrent runs collapse."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from arq.connections import ArqRedis
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from pricealert.db import create_sessionmaker, session_scope
from pricealert.models import Notification, PriceHistory
from pricealert.queues import (
    EVALUATE_QUEUE,
    NOTIFY_QUEUE,
    EvaluateChange,
    EvaluateChanges,
    enqueue,
    queue_length,
)
from services.evaluator.settings import EvaluatorSettings
from services.evaluator.tasks import evaluate_change, evaluate_changes, sweep_unevaluated
from tests import factories as make
from tests.factories import T0


async def test_the_sweeper_re_enqueues_changes_whose_evaluation_job_was_lost(
    db_session: AsyncSession, sessionmaker: async_sessionmaker[AsyncSession], redis: ArqRedis
) -> None:
    item = await make.product(db_session, "100")
    lost = await make.observe(db_session, item, "90", at=datetime.now(UTC) - timedelta(minutes=5))
    other = await make.product(db_session, "10")
    fresh = await make.observe(db_session, other, "9", at=datetime.now(UTC))
    ctx = {
        "sessionmaker": sessionmaker,
        "redis": redis,
        "settings": EvaluatorSettings(sweep_after_seconds=120),
    }

    assert await sweep_unevaluated(ctx) == 1

    [(job_id, _score)] = await redis.zrange(EVALUATE_QUEUE, 0, -1, withscores=True)
    assert job_id.decode() == EvaluateChange(product_id=item.id, history_id=lost.id).job_id()
    assert fresh.evaluated_at is None  # too recent: its own job is presumably on its way
    assert await sweep_unevaluated(ctx) == 0  # already queued: the deterministic id collapses it


def test_the_sweep_interval_must_fit_a_cron() -> None:
    assert EvaluatorSettings(sweep_interval_seconds=120).sweep_interval_seconds == 120
    with pytest.raises(ValueError, match="divide 60"):
        EvaluatorSettings(sweep_interval_seconds=45)


@pytest.fixture
async def committed(fresh_database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_async_engine(fresh_database_url, pool_size=4)
    yield create_sessionmaker(engine)
    await engine.dispose()


async def test_two_evaluations_racing_on_one_product_create_each_notification_once(
    committed: async_sessionmaker[AsyncSession], redis: ArqRedis
) -> None:
    async with session_scope(committed) as session:
        owner = await make.user(session)
        item = await make.product(session, "100")
        hook = await make.channel(session, owner, "webhook")
        mail = await make.channel(session, owner, "email")
        await make.rule(session, owner, item, "change", None, [hook, mail])
        first = await make.observe(session, item, "90", at=T0 + timedelta(hours=1))
        second = await make.observe(session, item, "80", at=T0 + timedelta(hours=2))
    ctx = {"sessionmaker": committed, "redis": redis, "settings": EvaluatorSettings()}
    jobs = [
        EvaluateChange(product_id=item.id, history_id=row.id)
        for row in (first, second, second, first)
    ]

    created = await asyncio.gather(*(evaluate_change(ctx, job) for job in jobs))

    assert sum(created) == 4  # two changes x two channels
    async with committed() as session:
        count = await session.scalar(select(func.count()).select_from(Notification))
    assert count == 4


async def test_two_products_firing_at_once_spend_a_users_last_notification_of_the_day_once(
    committed: async_sessionmaker[AsyncSession], redis: ArqRedis
) -> None:
    async with session_scope(committed) as session:
        owner = await make.user(session, daily_notification_cap=1)
        hook = await make.channel(session, owner, "webhook")
        changes = []
        for _ in range(2):
            item = await make.product(session, "100")
            await make.rule(session, owner, item, "change", None, [hook])
            changes.append(await make.observe(session, item, "90", at=T0 + timedelta(hours=1)))
    ctx = {"sessionmaker": committed, "redis": redis, "settings": EvaluatorSettings()}

    created = await asyncio.gather(
        *(
            evaluate_change(ctx, EvaluateChange(product_id=row.product_id, history_id=row.id))
            for row in changes
        )
    )

    assert sorted(created) == [0, 1]
    async with committed() as session:
        statuses = sorted(await session.scalars(select(Notification.status)))
    assert statuses == ["capped", "pending"]


async def test_a_batch_evaluates_each_change_and_queues_all_their_deliveries_at_once(
    committed: async_sessionmaker[AsyncSession], redis: ArqRedis
) -> None:
    async with session_scope(committed) as session:
        changes = []
        for price in ("90", "80"):
            owner = await make.user(session)
            hook = await make.channel(session, owner, "webhook")
            item = await make.product(session, "100")
            await make.rule(session, owner, item, "change", None, [hook])
            changes.append(await make.observe(session, item, price, at=T0 + timedelta(hours=1)))
        quiet = await make.product(session, "100")  # nobody's rule: evaluated, nothing fires
        changes.append(await make.observe(session, quiet, "70", at=T0 + timedelta(hours=1)))
    ctx = {"sessionmaker": committed, "redis": redis, "settings": EvaluatorSettings()}
    batch = EvaluateChanges(
        changes=tuple(EvaluateChange(product_id=r.product_id, history_id=r.id) for r in changes)
    )

    assert await evaluate_changes(ctx, batch) == 2
    assert await evaluate_changes(ctx, batch) == 0  # run twice: nothing more

    async with committed() as session:
        notifications = list(await session.scalars(select(Notification)))
        unevaluated = await session.scalar(
            select(func.count())
            .select_from(PriceHistory)
            .where(PriceHistory.evaluated_at.is_(None))
        )
    assert {n.product_id for n in notifications} == {r.product_id for r in changes[:2]}
    assert unevaluated == 0
    assert await make.queued_deliveries(redis) == {str(n.id) for n in notifications}
    assert await redis.zcard(NOTIFY_QUEUE) == 1  # one job for the batch's deliveries
    assert await queue_length(redis, NOTIFY_QUEUE) == 2
    assert await queue_length(redis, EVALUATE_QUEUE) == 0


async def test_the_evaluate_queue_counts_the_changes_of_its_batches(redis: ArqRedis) -> None:
    batch = EvaluateChanges(
        changes=(
            EvaluateChange(product_id=1, history_id=10),
            EvaluateChange(product_id=2, history_id=11),
        )
    )
    await enqueue(redis, batch)
    await enqueue(redis, EvaluateChange(product_id=3, history_id=12))
    assert await redis.zcard(EVALUATE_QUEUE) == 2
    assert await queue_length(redis, EVALUATE_QUEUE) == 3
