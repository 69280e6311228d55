"""Business gauges (plan 2.3's business dashboard), refreshed from PostgreSQL."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from pricealert import metrics
from pricealert.logging import get_logger
from pricealert.models import PRODUCT_STATUSES, Notification, Product, Watch

_log = get_logger(__name__)


async def refresh_business_metrics(session: AsyncSession) -> None:
    """Set the gauges from one consistent read."""
    metrics.ACTIVE_USERS.set(
        await session.scalar(select(func.count(func.distinct(Watch.user_id)))) or 0
    )
    metrics.WATCHED_PRODUCTS.set(
        await session.scalar(select(func.count(func.distinct(Watch.product_id)))) or 0
    )
    rows = await session.execute(select(Product.status, func.count()).group_by(Product.status))
    by_status = {status: count for status, count in rows}
    for status in PRODUCT_STATUSES:
        metrics.PRODUCTS_BY_STATUS.labels(status).set(by_status.get(status, 0))
    metrics.NOTIFICATIONS_PENDING.set(
        await session.scalar(
            select(func.count()).select_from(Notification).where(Notification.status == "pending")
        )
        or 0
    )


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
