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
from collections.abc import Sequence
from datetime import UTC, datetime

from arq.connections import ArqRedis
from arq.constants import job_key_prefix, result_key_prefix
from arq.jobs import serialize_job
from arq.utils import timestamp_ms
from redis.typing import EncodableT
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from pricealert import metrics, queues
from pricealert.db import session_scope
from pricealert.logging import get_logger
from pricealert.queues import SCRAPE_QUEUE, CheckBatch, JobPayload
from pricealert.repositories.scraping import ScrapingRepository
from services.scraper.settings import ScraperSettings

_log = get_logger(__name__)


async def claim_and_queue(
    sessionmaker: async_sessionmaker[AsyncSession], redis: ArqRedis, settings: ScraperSettings
) -> int:
    """One tick: lease what is due (unless the queue is already full) and queue it."""
    # Each queued job counts as a full batch: an upper bound on the checks waiting.
    room = settings.max_queued_checks - await redis.zcard(SCRAPE_QUEUE) * settings.check_batch_size
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
        await enqueue_checks(
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


#: arq's enqueue (WATCH, EXISTS, MULTI, PSETEX, ZADD, EXEC: three round trips a job) for a
#: whole batch in one round trip, each job as atomic as arq makes it. KEYS: the queue, then
#: each job's job key and result key; ARGV: score, expiry (ms), then each job's id and body.
_ENQUEUE_BATCH = """
local queued = 0
for i = 1, (#KEYS - 1) / 2 do
    if redis.call('EXISTS', KEYS[2 * i], KEYS[2 * i + 1]) == 0 then
        redis.call('PSETEX', KEYS[2 * i], ARGV[2], ARGV[2 + 2 * i])
        redis.call('ZADD', KEYS[1], ARGV[1], ARGV[1 + 2 * i])
        queued = queued + 1
    end
end
return queued
"""


async def enqueue_checks(redis: ArqRedis, checks: Sequence[JobPayload]) -> int:
    """Queue many jobs at once, as `pricealert.queues.enqueue` would each (same job ids,
    bodies and expiry); a job already queued or running collapses. Returns how many were new.
    """
    enqueued_at = timestamp_ms()
    keys: list[str] = [SCRAPE_QUEUE]
    args: list[EncodableT] = [enqueued_at, redis.expires_extra_ms]
    for check in checks:
        job_id = check.job_id()
        keys += [job_key_prefix + job_id, result_key_prefix + job_id]
        body = serialize_job(
            check.function, (check.model_dump(mode="json"),), {}, None, enqueued_at,
            serializer=queues.serializer,
        )  # fmt: skip
        args += [job_id, body]
    # EVALSHA, loading the script on first use (and again after a Redis restart).
    queued = await redis.register_script(_ENQUEUE_BATCH)(keys=keys, args=args)
    return int(queued)


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
