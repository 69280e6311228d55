"""Price history (change-only) and the statistics users see."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Numeric, and_, case, cast, func, literal, select

from pricealert.errors import NotFound
from pricealert.models import PriceHistory, Product
from pricealert.repositories.base import Repository
from pricealert.repositories.driver import Readable, fetch

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


class PriceRepository(Repository):
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


# --- the API's reads: the ownership check and the read in one statement, plain rows ------

_HISTORY_COLUMNS = "price, currency, availability, in_stock, first_seen_at, last_seen_at"


def _history_sql(since: bool, until: bool) -> str:
    # The watch (absent: not the user's) beside its product's newest rows, none when it has
    # none (LEFT JOIN LATERAL: one row of NULLs). Newest first, as `history` reads them.
    # Parameters: user, watch, limit, then since and until when given.
    where = ""
    if since:
        where += "AND last_seen_at >= $4 "
    if until:
        where += f"AND first_seen_at <= ${5 if since else 4} "
    return (
        f"SELECT h.* FROM watch AS w LEFT JOIN LATERAL ("  # noqa: S608 - constant text only
        f"SELECT {_HISTORY_COLUMNS} FROM price_history "
        f"WHERE product_id = w.product_id {where}"
        f"ORDER BY first_seen_at DESC, id DESC LIMIT $3) AS h ON true "
        f"WHERE w.user_id = $1 AND w.id = $2"
    )


_HISTORY_SQL = {
    (since, until): _history_sql(since, until) for since in (False, True) for until in (False, True)
}


async def watched_history(
    connection: Readable,
    user_id: uuid.UUID,
    watch_id: uuid.UUID,
    since: datetime | None,
    until: datetime | None,
    limit: int = MAX_HISTORY_ROWS,
) -> list[dict[str, Any]]:
    """`PriceRepository.history` of one of the user's watched products, as dicts of
    PricePointOut's fields (oldest first), in one statement on the bare connection;
    `NotFound` for anyone else's product."""
    window = [bound for bound in (since, until) if bound is not None]
    args = (user_id, watch_id, min(limit, MAX_HISTORY_ROWS), *window)
    records = await fetch(connection, _HISTORY_SQL[since is not None, until is not None], *args)
    if not records:
        raise NotFound("product not found")
    if records[0]["first_seen_at"] is None:  # NOT NULL in the table: the no-rows row
        return []
    return [dict(record) for record in reversed(records)]


def _window_sql(start: str, days: int) -> str:
    # `stats`'s window low and time-weighted mean, the same expressions.
    seconds = f"EXTRACT(epoch FROM ends_at - greatest(starts_at, {start}))"
    weight = f"CASE WHEN ends_at > {start} THEN {seconds} ELSE 0 END"
    return (
        f"min(CASE WHEN ends_at > {start} THEN price END) AS low_{days}d, "
        f"CAST(sum(price * {weight}) / nullif(sum({weight}), 0) AS numeric) AS mean_{days}d"
    )


# `stats` of one of the user's watched products, with the product's current state, in one
# statement: nothing (no row) when the watch is not the user's. Each history row holds its
# price until the next one starts (the newest until $3, now); rows in another currency than
# the product's current one (none when it has none) are left out. Parameters: user, watch,
# now, now - 30 days, now - 90 days.
_STATS_SQL = f"""
SELECT p.currency, p.price AS current, s.lowest, s.highest, s.low_30d, s.mean_30d, s.low_90d,
       s.mean_90d, p.availability, p.in_stock
FROM watch AS w
JOIN product AS p ON p.id = w.product_id
CROSS JOIN LATERAL (
    SELECT min(price) AS lowest, max(price) AS highest,
           {_window_sql("$4::timestamptz", 30)},
           {_window_sql("$5::timestamptz", 90)}
    FROM (
        SELECT price, currency, first_seen_at AS starts_at,
               coalesce(lead(first_seen_at) OVER (ORDER BY first_seen_at), $3::timestamptz)
                   AS ends_at
        FROM price_history
        WHERE product_id = p.id AND p.currency IS NOT NULL
    ) AS spans
    WHERE price IS NOT NULL AND currency = p.currency
) AS s
WHERE w.user_id = $1 AND w.id = $2
"""  # noqa: S608 - only the constant window expressions are interpolated


async def watched_stats(
    connection: Readable, user_id: uuid.UUID, watch_id: uuid.UUID, now: datetime
) -> dict[str, Any]:
    """`PriceRepository.stats` of one of the user's watched products and its current
    availability, as a dict of PriceStatsOut's fields, in one statement on the bare
    connection; `NotFound` for anyone else's product."""
    records = await fetch(
        connection, _STATS_SQL, user_id, watch_id, now, now - _30_DAYS, now - _90_DAYS
    )
    if not records:
        raise NotFound("product not found")
    row = dict(records[0])
    current = row["current"]
    exponent = current.as_tuple().exponent if current is not None else -2
    places = Decimal(1).scaleb(exponent if isinstance(exponent, int) else -2)
    row["mean_30d"] = _quantize(row["mean_30d"], places)
    row["mean_90d"] = _quantize(row["mean_90d"], places)
    return row


_30_DAYS = timedelta(days=30)
_90_DAYS = timedelta(days=90)
