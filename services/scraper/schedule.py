"""The scheduler tick: claim due products from PostgreSQL and queue their checks.

Every scraper instance ticks; `FOR UPDATE SKIP LOCKED` hands each due product to
one of them. Products are leased before their job is queued, so a job lost in
Redis costs at most one lease: the product is then due and unleased again. A
claim is queued as `CheckBatch` jobs of `check_batch_size` products, which any
scraper instance may run.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime

from arq.connections import ArqRedis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from pricealert import metrics, queues
from pricealert.db import session_scope
from pricealert.logging import get_logger
from pricealert.queues import SCRAPE_QUEUE, CheckBatch
from pricealert.repositories.scraping import ScrapingRepository
from services.scraper.settings import ScraperSettings

_log = get_logger(__name__)


async def claim_and_queue(
    sessionmaker: async_sessionmaker[AsyncSession], redis: ArqRedis, settings: ScraperSettings
) -> int:
    """One tick: lease what is due (unless the queue is already full) and queue it."""
    room = settings.max_queued_checks - await queues.queue_length(redis, SCRAPE_QUEUE)
    if room <= 0:
        return 0
    now = datetime.now(UTC)
    async with session_scope(sessionmaker) as session:
        claims = await ScrapingRepository(session).claim_due_products(
            now, min(room, settings.claim_batch_size), settings.lease_seconds
        )
    for claim in claims:
        metrics.CLAIM_LAG.observe(max((now - claim.due_at).total_seconds(), 0.0))
    if claims:
        size = settings.check_batch_size
        await queues.enqueue_many(
            redis,
            [
                CheckBatch(
                    lease_token=claims[0].lease_token,
                    product_ids=tuple(c.product_id for c in claims[start : start + size]),
                )
                for start in range(0, len(claims), size)
            ],
        )
    return len(claims)


async def run_scheduler(
    sessionmaker: async_sessionmaker[AsyncSession], redis: ArqRedis, settings: ScraperSettings
) -> None:
    """Tick until cancelled; a failed tick (database or Redis away) is logged and retried."""
    while True:
        claimed = 0
        try:
            claimed = await claim_and_queue(sessionmaker, redis, settings)
        except Exception:
            _log.warning("schedule.tick_failed", exc_info=True)
        # A full batch means more is due: go again at once.
        if claimed < settings.claim_batch_size:
            await asyncio.sleep(settings.claim_interval_seconds)


def start_scheduler(
    sessionmaker: async_sessionmaker[AsyncSession], redis: ArqRedis, settings: ScraperSettings
) -> asyncio.Task[None]:
    return asyncio.create_task(run_scheduler(sessionmaker, redis, settings))


async def stop_scheduler(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
