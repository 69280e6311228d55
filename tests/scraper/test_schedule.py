"""The claim tick on the real database and Redis: what is claimed, by whom, and when again."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from arq.connections import ArqRedis
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from pricealert import metrics, queues
from pricealert.models import Product
from pricealert.queues import SCRAPE_QUEUE, CheckBatch, enqueue
from pricealert.repositories.scraping import Claim, ScrapingRepository
from services.scraper.schedule import claim_and_queue
from services.scraper.settings import ScraperSettings
from tests.scraper.conftest import add_product

LEASE_SECONDS = 60.0


@pytest.fixture
def settings(database_url: str, redis_url: str) -> ScraperSettings:
    return ScraperSettings(
        environment="test",
        database_url=database_url,
        redis_url=redis_url,
        lease_seconds=LEASE_SECONDS,
        check_timeout_seconds=LEASE_SECONDS - 10,
        claim_batch_size=500,
        max_queued_checks=2000,
    )


async def _queued_batches(redis: ArqRedis) -> list[CheckBatch]:
    """The check batches in the queue, in queue order, from their stored job bodies."""
    batches = []
    for member in await redis.zrange(SCRAPE_QUEUE, 0, -1):
        body = await redis.get(f"arq:job:{member.decode()}")
        if body is not None and queues.deserializer(body)["f"] == CheckBatch.function:
            batches.append(CheckBatch.model_validate(queues.deserializer(body)["a"][0]))
    return batches


async def _queued_product_ids(redis: ArqRedis) -> set[int]:
    return {pid for batch in await _queued_batches(redis) for pid in batch.product_ids}


async def _claim(session: AsyncSession, now: datetime, limit: int = 100) -> list[Claim]:
    return await ScrapingRepository(session).claim_due_products(now, limit, LEASE_SECONDS)


async def test_only_due_unpaused_unleased_products_are_claimed_oldest_due_first(
    db_session: AsyncSession,
) -> None:
    now = datetime.now(UTC)
    recent = await add_product(db_session, "http://shop/recent", due_in=-10)
    oldest = await add_product(db_session, "http://shop/oldest", due_in=-300)
    middle = await add_product(db_session, "http://shop/middle", due_in=-60)
    await add_product(db_session, "http://shop/later", due_in=600)
    await add_product(db_session, "http://shop/paused", due_in=-900, status="paused")
    failing = await add_product(db_session, "http://shop/failing", due_in=-30, status="failing")
    leased = await add_product(db_session, "http://shop/leased", due_in=-900)
    leased.lease_token, leased.lease_expires_at = "other", now + timedelta(seconds=30)
    await db_session.flush()

    claims = await _claim(db_session, now)

    assert [c.product_id for c in claims] == [oldest.id, middle.id, failing.id, recent.id]
    assert len({c.lease_token for c in claims}) == 1
    stored = await db_session.scalars(
        select(Product).where(Product.id.in_([c.product_id for c in claims]))
    )
    for product in stored:
        await db_session.refresh(product)
        assert product.lease_token == claims[0].lease_token
        assert product.lease_expires_at == now + timedelta(seconds=LEASE_SECONDS)
    assert await _claim(db_session, now) == []  # all leased now


async def test_a_claim_takes_at_most_the_batch_size_and_the_rest_on_the_next_tick(
    db_session: AsyncSession,
) -> None:
    products = [
        await add_product(db_session, f"http://shop/{i}", due_in=-100 + i) for i in range(7)
    ]
    now = datetime.now(UTC)
    first = await _claim(db_session, now, limit=5)
    second = await _claim(db_session, now, limit=5)
    assert [c.product_id for c in first] == [p.id for p in products[:5]]
    assert [c.product_id for c in second] == [p.id for p in products[5:]]


async def test_an_expired_lease_is_claimed_again_with_a_new_token(
    db_session: AsyncSession,
) -> None:
    product = await add_product(db_session, "http://shop/kettle", due_in=-5)
    now = datetime.now(UTC)
    [first] = await _claim(db_session, now)
    assert await _claim(db_session, now + timedelta(seconds=LEASE_SECONDS - 1)) == []
    [again] = await _claim(db_session, now + timedelta(seconds=LEASE_SECONDS + 1))
    assert again.product_id == product.id
    assert again.lease_token != first.lease_token


async def test_the_tick_queues_each_claim_in_batches_of_check_batch_size(
    sessionmaker: async_sessionmaker[AsyncSession],
    db_session: AsyncSession,
    redis: ArqRedis,
    settings: ScraperSettings,
) -> None:
    settings.check_batch_size = 2
    due = [await add_product(db_session, f"http://shop/{i}", due_in=-10 + i) for i in range(5)]
    await add_product(db_session, "http://shop/later", due_in=600)
    assert await claim_and_queue(sessionmaker, redis, settings) == 5
    batches = await _queued_batches(redis)
    # Oldest due first, two per job, every batch under the claim's one lease token.
    assert [b.product_ids for b in batches] == [
        (due[0].id, due[1].id),
        (due[2].id, due[3].id),
        (due[4].id,),
    ]
    token = await db_session.scalar(select(Product.lease_token).where(Product.id == due[0].id))
    assert {b.lease_token for b in batches} == {token}
    assert await claim_and_queue(sessionmaker, redis, settings) == 0


async def test_the_tick_queues_each_batch_as_the_one_enqueue_helper_would(
    sessionmaker: async_sessionmaker[AsyncSession],
    db_session: AsyncSession,
    redis: ArqRedis,
    settings: ScraperSettings,
) -> None:
    claimed = await add_product(db_session, "http://shop/claimed", due_in=-1)
    assert await claim_and_queue(sessionmaker, redis, settings) == 1
    token = await db_session.scalar(select(Product.lease_token).where(Product.id == claimed.id))
    assert token is not None
    by_tick_batch = CheckBatch(lease_token=token, product_ids=(claimed.id,))
    helper_batch = CheckBatch(lease_token="other", product_ids=(10**9,))
    assert await enqueue(redis, helper_batch)

    def job(raw: bytes) -> dict[str, object]:
        body = queues.deserializer(raw)
        body.pop("et")  # enqueue time
        return body

    by_tick = await redis.get(f"arq:job:{by_tick_batch.job_id()}")
    by_helper = await redis.get(f"arq:job:{helper_batch.job_id()}")
    assert by_tick is not None
    assert by_helper is not None
    assert job(by_tick)["a"] == [{"lease_token": token, "product_ids": [claimed.id]}]
    assert {**job(by_tick), "a": None} == {**job(by_helper), "a": None}
    ttl_tick = await redis.pttl(f"arq:job:{by_tick_batch.job_id()}")
    ttl_helper = await redis.pttl(f"arq:job:{helper_batch.job_id()}")
    assert abs(ttl_tick - ttl_helper) < 60_000


async def test_a_batch_queued_again_collapses_into_the_one_queued(redis: ArqRedis) -> None:
    batch = CheckBatch(lease_token="t", product_ids=(1, 2))
    assert await queues.enqueue_many(redis, [batch]) == 1
    assert (
        await queues.enqueue_many(redis, [batch, CheckBatch(lease_token="t", product_ids=(3,))])
        == 1
    )
    assert await redis.zcard(SCRAPE_QUEUE) == 2


async def test_no_claims_while_the_queue_holds_max_queued_checks(
    sessionmaker: async_sessionmaker[AsyncSession],
    db_session: AsyncSession,
    redis: ArqRedis,
    settings: ScraperSettings,
) -> None:
    settings.max_queued_checks = 4
    settings.check_batch_size = 1
    products = [await add_product(db_session, f"http://shop/{i}", due_in=-60 + i) for i in range(5)]
    await redis.zadd(SCRAPE_QUEUE, {f"other-{i}": 0 for i in range(4)})

    assert await claim_and_queue(sessionmaker, redis, settings) == 0
    unleased = await db_session.scalars(
        select(Product.lease_token).where(Product.id.in_([p.id for p in products]))
    )
    assert set(unleased) == {None}  # nothing leased that was not queued

    # Room for one more: the queue is topped up to the limit, oldest due first.
    await redis.zrem(SCRAPE_QUEUE, "other-0")
    assert await claim_and_queue(sessionmaker, redis, settings) == 1
    assert await _queued_product_ids(redis) == {products[0].id}
    assert await redis.zcard(SCRAPE_QUEUE) == 4


async def test_max_queued_checks_counts_the_checks_of_the_queued_batches(
    sessionmaker: async_sessionmaker[AsyncSession],
    db_session: AsyncSession,
    redis: ArqRedis,
    settings: ScraperSettings,
) -> None:
    settings.max_queued_checks = 50
    await add_product(db_session, "http://shop/due", due_in=-1)
    full = CheckBatch(lease_token="other", product_ids=tuple(range(10**6, 10**6 + 50)))
    await enqueue(redis, full)
    assert await claim_and_queue(sessionmaker, redis, settings) == 0
    await redis.zrem(SCRAPE_QUEUE, full.job_id())
    await enqueue(
        redis, CheckBatch(lease_token="other", product_ids=tuple(range(10**6, 10**6 + 49)))
    )
    assert await claim_and_queue(sessionmaker, redis, settings) == 1


async def test_a_product_whose_job_was_lost_is_queued_again_once_its_lease_expires(
    sessionmaker: async_sessionmaker[AsyncSession],
    db_session: AsyncSession,
    redis: ArqRedis,
    settings: ScraperSettings,
) -> None:
    product = await add_product(db_session, "http://shop/kettle", due_in=-1)
    assert await claim_and_queue(sessionmaker, redis, settings) == 1
    await redis.flushdb()  # the job is lost with Redis

    # While the lease holds, the product is not claimed twice.
    assert await claim_and_queue(sessionmaker, redis, settings) == 0
    assert await redis.zcard(SCRAPE_QUEUE) == 0

    await db_session.execute(
        update(Product)
        .where(Product.id == product.id)
        .values(lease_expires_at=datetime.now(UTC) - timedelta(seconds=1))
    )
    assert await claim_and_queue(sessionmaker, redis, settings) == 1
    assert await _queued_product_ids(redis) == {product.id}


async def test_the_tick_observes_how_late_each_claim_is(
    sessionmaker: async_sessionmaker[AsyncSession],
    db_session: AsyncSession,
    redis: ArqRedis,
    settings: ScraperSettings,
) -> None:
    def observed() -> tuple[float, float]:
        count = metrics.registry.get_sample_value("pricealert_claim_lag_seconds_count")
        total = metrics.registry.get_sample_value("pricealert_claim_lag_seconds_sum")
        return count or 0.0, total or 0.0

    await add_product(db_session, "http://shop/late", due_in=-120)
    await add_product(db_session, "http://shop/later", due_in=-30)
    count, total = observed()
    assert await claim_and_queue(sessionmaker, redis, settings) == 2
    new_count, new_total = observed()
    assert new_count == count + 2
    assert 150 <= new_total - total < 160  # 120 s + 30 s late, plus the test's own run time
    late_buckets = metrics.registry.get_sample_value(
        "pricealert_claim_lag_seconds_bucket", {"le": "60.0"}
    )
    assert late_buckets is not None


# --- two scheduler instances at once: a database of their own, committed for real ---


@pytest.fixture
async def two_sessionmakers(
    fresh_database_url: str,
) -> AsyncIterator[tuple[async_sessionmaker[AsyncSession], async_sessionmaker[AsyncSession]]]:
    engines = [create_async_engine(fresh_database_url, pool_size=2) for _ in range(2)]
    makers = [async_sessionmaker(e, expire_on_commit=False) for e in engines]
    yield makers[0], makers[1]
    for engine in engines:
        await engine.dispose()


async def _add_due_products(maker: async_sessionmaker[AsyncSession], count: int) -> list[int]:
    async with maker() as session, session.begin():
        products = [
            await add_product(session, f"http://shop/{i}", due_in=-1000 + i) for i in range(count)
        ]
        return [p.id for p in products]


async def test_a_second_claimer_skips_products_the_first_holds_without_waiting(
    two_sessionmakers: tuple[async_sessionmaker[AsyncSession], async_sessionmaker[AsyncSession]],
) -> None:
    first_maker, second_maker = two_sessionmakers
    ids = await _add_due_products(first_maker, 10)
    now = datetime.now(UTC)
    async with first_maker() as first, first.begin():
        held = await _claim(first, now, limit=4)  # locked until this transaction ends
        async with second_maker() as second, second.begin():
            # A plain FOR UPDATE would block here until `first` commits.
            other = await asyncio.wait_for(_claim(second, now, limit=100), timeout=10)
    assert [c.product_id for c in held] == ids[:4]
    assert [c.product_id for c in other] == ids[4:]


async def test_two_claimers_at_once_never_claim_the_same_product(
    two_sessionmakers: tuple[async_sessionmaker[AsyncSession], async_sessionmaker[AsyncSession]],
) -> None:
    ids = await _add_due_products(two_sessionmakers[0], 300)
    now = datetime.now(UTC)

    async def claimer(maker: async_sessionmaker[AsyncSession]) -> list[int]:
        taken: list[int] = []
        while True:
            async with maker() as session, session.begin():
                claims = await _claim(session, now, limit=7)
            if not claims:
                return taken
            taken += [c.product_id for c in claims]
            await asyncio.sleep(0)  # let the other claimer interleave

    first, second = await asyncio.gather(*(claimer(m) for m in two_sessionmakers))
    assert first, "the first claimer took part"
    assert second, "the second claimer took part"
    assert set(first).isdisjoint(second)
    assert sorted(first + second) == ids


async def test_jobs_of_different_queues_are_not_queued_together(redis: ArqRedis) -> None:
    mixed = [
        CheckBatch(lease_token="t", product_ids=(1,)),
        queues.EvaluateChange(product_id=1, history_id=2),
    ]
    with pytest.raises(ValueError, match="one queue"):
        await queues.enqueue_many(redis, mixed)
    assert await redis.zcard(SCRAPE_QUEUE) == 0
