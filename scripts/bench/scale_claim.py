"""The scheduler's claim under load: 1 000 000 products due over one hour.

Time is simulated: the hour is walked in steps, and at each step concurrent
claimers call `ScrapingRepository.claim_due_products` with that step's `now`,
exactly as the scheduler does. Each claimed batch is then "checked": its rows
move an interval ahead and lose their lease, as a finished check leaves them,
so the partial index `ix_product_due` churns (dead entries at its head) the way
it does in production. The claim statement itself is also EXPLAINed (inside a
transaction that is rolled back) to show it walks that index.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from pricealert.db import create_sessionmaker, session_scope
from pricealert.repositories.scraping import ScrapingRepository
from scripts.bench.common import (
    async_url,
    explain_last_statement,
    load_average,
    log,
    percentile,
    plain_url,
    plan_scans,
)

LEASE_SECONDS = 300.0

_PRODUCTS = """
INSERT INTO product (url, domain, check_interval_seconds, status, next_check_at)
SELECT 'http://127.0.0.1:9/p/' || i, '127.0.0.1', 3600, 'active',
       $2::timestamptz + (i::float8 / $1) * interval '1 hour'
FROM generate_series(1, $1) AS i
ORDER BY random()
"""

_CHECKED = """
UPDATE product SET next_check_at = next_check_at + interval '1 hour',
                   lease_token = NULL, lease_expires_at = NULL, last_checked_at = $2
WHERE id = ANY($1::bigint[])
"""


async def load_products(database: str, count: int, start: datetime) -> None:
    """`count` products due evenly over the hour from `start`, inserted in random order."""
    connection = await asyncpg.connect(plain_url(database))
    try:
        await connection.execute(_PRODUCTS, count, start)
        await connection.execute("VACUUM (ANALYZE) product")
    finally:
        await connection.close()


async def claim_latency(
    database: str, start: datetime, steps: int, claimers: int, batches: int, sizes: list[int]
) -> dict[str, Any]:
    """p50/p99/max claim latency per batch size, per simulated step of the hour."""
    engine = create_async_engine(async_url(database), pool_size=claimers + 1)
    sessionmaker = create_sessionmaker(engine)
    checker = await asyncpg.create_pool(plain_url(database), min_size=1, max_size=claimers)
    by_size: dict[str, Any] = {}
    try:
        for size in sizes:
            per_step: list[dict[str, Any]] = []
            everything: list[float] = []
            for step in range(1, steps + 1):
                now = start + timedelta(hours=step / steps)
                latencies: list[float] = []
                claimed = await asyncio.gather(
                    *(
                        _claimer(sessionmaker, checker, now, size, batches, latencies)
                        for _ in range(claimers)
                    )
                )
                latencies.sort()
                everything += latencies
                per_step.append(
                    {
                        "simulated_minute": round(60 * step / steps),
                        "claimed": sum(claimed),
                        "p50_ms": round(percentile(latencies, 0.5) * 1000, 2),
                        "p99_ms": round(percentile(latencies, 0.99) * 1000, 2),
                        "load_average_1m": load_average()[0],
                    }
                )
                log(f"  claim batch {size}: {per_step[-1]}")
            everything.sort()
            by_size[str(size)] = {
                "p50_ms": round(percentile(everything, 0.5) * 1000, 2),
                "p99_ms": round(percentile(everything, 0.99) * 1000, 2),
                "max_ms": round(everything[-1] * 1000, 2) if everything else 0.0,
                "claims": len(everything),
                "steps": per_step,
            }
    finally:
        await checker.close()
        await engine.dispose()
    return {"claimers": claimers, "batches_per_claimer_per_step": batches, "by_batch": by_size}


async def _claimer(
    sessionmaker: Any,
    checker: asyncpg.Pool,
    now: datetime,
    size: int,
    batches: int,
    latencies: list[float],
) -> int:
    claimed = 0
    for _ in range(batches):
        started = time.perf_counter()
        async with session_scope(sessionmaker) as session:
            claims = await ScrapingRepository(session).claim_due_products(now, size, LEASE_SECONDS)
        latencies.append(time.perf_counter() - started)
        if not claims:
            break
        claimed += len(claims)
        await checker.execute(_CHECKED, [c.product_id for c in claims], now)
    return claimed


async def explain_claim(database: str, now: datetime, size: int) -> dict[str, Any]:
    """The claim's plan: the indexes it uses, any full scan, and its time (rolled back)."""

    async def claim(session: AsyncSession) -> object:
        return await ScrapingRepository(session).claim_due_products(now, size, LEASE_SECONDS)

    plan = await explain_last_statement(database, claim)
    indexes, scans = plan_scans(plan["Plan"])
    return {
        "batch": size,
        "indexes": sorted(indexes),
        "seq_scans": sorted(scans),
        "uses_ix_product_due": "ix_product_due" in indexes,
        "execution_ms": round(plan["Execution Time"], 2),
    }


def utcnow() -> datetime:
    return datetime.now(UTC)
