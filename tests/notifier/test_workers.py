"""The real arq workers, in this process: a price drop becomes exactly one signed webhook."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from arq.connections import ArqRedis
from arq.worker import Worker
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from pricealert.db import create_sessionmaker, session_scope
from pricealert.models import Notification
from pricealert.queues import NOTIFY_QUEUE, EvaluateChange, EvaluateChanges, enqueue
from pricealert_ops.devtools.receiver import Receiver
from pricealert_ops.devtools.shop import Page
from services.evaluator.settings import EvaluatorSettings
from services.evaluator.worker import worker_settings as evaluator_worker
from services.notifier.worker import worker_settings as notifier_worker
from tests import factories as make
from tests.notifier.conftest import notifier_settings


@pytest.fixture
async def committed(fresh_database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_async_engine(fresh_database_url, pool_size=2)
    yield create_sessionmaker(engine)
    await engine.dispose()


async def run_burst(settings: dict[str, Any]) -> None:
    """Run a worker until its queue (deferred retries included) is empty."""
    worker = Worker(**{**settings, "burst": True, "poll_delay": 0.02})
    try:
        await worker.main()
    finally:
        await worker.close()


# arq 0.28's Worker.close() still calls redis-py's deprecated close().
@pytest.mark.filterwarnings("ignore:Call to deprecated close:DeprecationWarning")
async def test_a_drop_below_the_threshold_reaches_the_webhook_once_through_both_workers(
    fresh_database_url: str,
    committed: async_sessionmaker[AsyncSession],
    redis: ArqRedis,
    redis_url: str,
    receiver: Receiver,
) -> None:
    async with session_scope(committed) as session:
        owner = await make.user(session)
        item = await make.product(session, "100.00", "EUR")
        hook = await make.channel(session, owner, "webhook", receiver.url)
        alert = await make.rule(session, owner, item, "below", "90", [hook])
        detected = datetime.now(UTC) - timedelta(seconds=1)
        change = await make.observe(session, item, "84.90", "EUR", at=detected)
    receiver.secret = hook.secret
    receiver.answer(Page(status=500), Page(status=204))  # the first attempt fails
    common: dict[str, Any] = {"database_url": fresh_database_url, "redis_url": redis_url}
    await enqueue(redis, EvaluateChange(product_id=item.id, history_id=change.id))
    await enqueue(redis, EvaluateChange(product_id=item.id, history_id=change.id))  # a duplicate

    await run_burst(evaluator_worker(EvaluatorSettings(**common)))
    await run_burst(notifier_worker(notifier_settings(**common)))

    assert len(receiver.received) == 2
    assert len(receiver.valid) == 2  # both attempts signed, with one webhook-id
    body = receiver.valid[-1].json
    assert body["type"] == "price.alert"
    assert body["data"]["product"]["id"] == str(alert.watch_id)
    assert body["data"]["price"] == {
        "old": {"amount": "100.00", "currency": "EUR"},
        "new": {"amount": "84.90", "currency": "EUR"},
    }
    async with committed() as session:
        [record] = list(await session.scalars(select(Notification)))
    assert (record.status, record.attempts) == ("sent", 2)
    assert {r.headers["webhook-id"] for r in receiver.received} == {str(record.id)}


@pytest.mark.filterwarnings("ignore:Call to deprecated close:DeprecationWarning")
async def test_a_batch_of_changes_becomes_one_delivery_job_and_each_webhook_arrives_once(
    fresh_database_url: str,
    committed: async_sessionmaker[AsyncSession],
    redis: ArqRedis,
    redis_url: str,
    receiver: Receiver,
) -> None:
    changes = []
    async with session_scope(committed) as session:
        for number in range(3):
            owner = await make.user(session)
            target = f"{receiver.url}?user={number}"
            hook = await make.channel(session, owner, "webhook", target)
            assert hook.secret is not None
            receiver.secrets_by_target[f"{receiver.path}?user={number}"] = hook.secret
            item = await make.product(session, "100.00", "EUR")
            await make.rule(session, owner, item, "change", None, [hook])
            detected = datetime.now(UTC) - timedelta(seconds=1)
            changes.append(await make.observe(session, item, "84.90", "EUR", at=detected))
    receiver.answer(Page(status=500), Page(status=204))  # one attempt of the three fails once
    common: dict[str, Any] = {"database_url": fresh_database_url, "redis_url": redis_url}
    await enqueue(
        redis,
        EvaluateChanges(
            changes=tuple(EvaluateChange(product_id=c.product_id, history_id=c.id) for c in changes)
        ),
    )

    await run_burst(evaluator_worker(EvaluatorSettings(**common)))
    [job_id] = [member.decode() for member in await redis.zrange(NOTIFY_QUEUE, 0, -1)]
    assert job_id.startswith("deliveries:")
    assert job_id.endswith(":3")
    await run_burst(notifier_worker(notifier_settings(**common)))

    async with committed() as session:
        records = list(await session.scalars(select(Notification)))
    assert sorted((r.status, r.attempts) for r in records) == [
        ("sent", 1),
        ("sent", 1),
        ("sent", 2),
    ]
    assert len(receiver.received) == 4
    assert len(receiver.valid) == 4
    per_id = Counter(r.headers["webhook-id"] for r in receiver.received)
    assert set(per_id) == {str(r.id) for r in records}
    assert sorted(per_id.values()) == [1, 1, 2]  # the retried one kept its webhook-id
