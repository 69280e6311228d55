"""The counts behind the business gauges (plan 2.3's business dashboard)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from pricealert.models import Notification, Product, Watch


@dataclass(frozen=True)
class BusinessCounts:
    active_users: int
    watched_products: int
    products_by_status: dict[str, int]
    notifications_pending: int


async def business_counts(session: AsyncSession) -> BusinessCounts:
    """Users watching something, products watched, products by status, pending notifications."""
    rows = await session.execute(select(Product.status, func.count()).group_by(Product.status))
    return BusinessCounts(
        active_users=await session.scalar(select(func.count(func.distinct(Watch.user_id)))) or 0,
        watched_products=await session.scalar(select(func.count(func.distinct(Watch.product_id))))
        or 0,
        products_by_status={status: count for status, count in rows},
        notifications_pending=await session.scalar(
            select(func.count()).select_from(Notification).where(Notification.status == "pending")
        )
        or 0,
    )
