"""Price history (change-only) and the statistics users see."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import ColumnElement, Numeric, and_, case, cast, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from pricealert.models import PriceHistory, Product

MAX_HISTORY_ROWS = 5000


@dataclass(frozen=True)
class PriceStats:
    currency: str | None
    current: Decimal | None
    lowest: Decimal | None
    highest: Decimal | None
    low_30d: Decimal | None
    mean_30d: Decimal | None
    low_90d: Decimal | None
    mean_90d: Decimal | None


class PriceRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def history(
        self,
        product_id: int,
        since: datetime | None,
        until: datetime | None,
        limit: int = MAX_HISTORY_ROWS,
    ) -> list[PriceHistory]:
        """The newest `limit` history rows overlapping [since, until] (at most
        MAX_HISTORY_ROWS), oldest first."""
        query = select(PriceHistory).where(PriceHistory.product_id == product_id)
        if since is not None:
            query = query.where(PriceHistory.last_seen_at >= since)
        if until is not None:
            query = query.where(PriceHistory.first_seen_at <= until)
        query = query.order_by(PriceHistory.first_seen_at.desc(), PriceHistory.id.desc())
        rows = list(await self.session.scalars(query.limit(min(limit, MAX_HISTORY_ROWS))))
        rows.reverse()
        return rows

    async def stats(self, product: Product, now: datetime) -> PriceStats:
        """Lowest/highest ever and 30/90-day low and time-weighted mean, in the current currency."""
        currency = product.currency
        if currency is None:
            return PriceStats(None, product.price, None, None, None, None, None, None)
        # Each row holds its price until the next row starts (the newest until now).
        ends_at = func.coalesce(
            func.lead(PriceHistory.first_seen_at).over(
                partition_by=PriceHistory.product_id, order_by=PriceHistory.first_seen_at
            ),
            literal(now),
        )
        spans = (
            select(
                PriceHistory.price.label("price"),
                PriceHistory.currency.label("currency"),
                PriceHistory.first_seen_at.label("starts_at"),
                ends_at.label("ends_at"),
            )
            .where(PriceHistory.product_id == product.id)
            .subquery()
        )
        priced = and_(spans.c.price.is_not(None), spans.c.currency == currency)

        def window_low(days: int) -> ColumnElement[Decimal]:
            return func.min(case((spans.c.ends_at > now - timedelta(days=days), spans.c.price)))

        def window_mean(days: int) -> ColumnElement[Decimal]:
            start = now - timedelta(days=days)
            seconds = func.extract(
                "epoch", spans.c.ends_at - func.greatest(spans.c.starts_at, literal(start))
            )
            weight = case((spans.c.ends_at > start, seconds), else_=0)
            return cast(
                func.sum(spans.c.price * weight) / func.nullif(func.sum(weight), 0), Numeric
            )

        row = (
            await self.session.execute(
                select(
                    func.min(spans.c.price),
                    func.max(spans.c.price),
                    window_low(30),
                    window_mean(30),
                    window_low(90),
                    window_mean(90),
                ).where(priced)
            )
        ).one()
        exponent = product.price.as_tuple().exponent if product.price is not None else -2
        places = Decimal(1).scaleb(exponent if isinstance(exponent, int) else -2)
        return PriceStats(
            currency=currency,
            current=product.price,
            lowest=row[0],
            highest=row[1],
            low_30d=row[2],
            mean_30d=_quantize(row[3], places),
            low_90d=row[4],
            mean_90d=_quantize(row[5], places),
        )


def _quantize(value: Decimal | None, places: Decimal) -> Decimal | None:
    return None if value is None else value.quantize(places)
