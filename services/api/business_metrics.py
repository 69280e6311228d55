"""Business gauges (plan 2.3's business dashboard), refreshed from PostgreSQL."""

from __future__ import annotations

import asyncio

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from pricealert import metrics
from pricealert.logging import get_logger
from pricealert.models import PRODUCT_STATUSES
from pricealert.repositories.business import business_counts

_log = get_logger(__name__)


async def refresh_business_metrics(session: AsyncSession) -> None:
    """Set the gauges from PostgreSQL's counts."""
    counts = await business_counts(session)
    metrics.ACTIVE_USERS.set(counts.active_users)
    metrics.WATCHED_PRODUCTS.set(counts.watched_products)
    for status in PRODUCT_STATUSES:
        metrics.PRODUCTS_BY_STATUS.labels(status).set(counts.products_by_status.get(status, 0))
    metrics.NOTIFICATIONS_PENDING.set(counts.notifications_pending)


async def business_metrics_loop(
    sessionmaker: async_sessionmaker[AsyncSession], interval_seconds: float
) -> None:
    """Refresh forever; a failed refresh is logged and retried at the next tick."""
    while True:
        try:
            async with sessionmaker() as session:
                await refresh_business_metrics(session)
        except Exception:
            _log.warning("business_metrics.refresh_failed", exc_info=True)
        await asyncio.sleep(interval_seconds)
