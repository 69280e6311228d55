"""The scraper's SQL: claiming due products under a lease, and recording what a check saw.

Claims use `FOR UPDATE SKIP LOCKED`, so every scraper instance can tick at once and
each product is still claimed by one. A claim sets a lease; a job lost with Redis
or a worker killed mid-check leaves a lease that simply expires, and the product
is claimed again. Every write a check makes is guarded by its lease token, so a
job that lost its lease (ran late, ran twice) changes nothing.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import Row, Table, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from pricealert.models import PriceHistory, Product

_CLAIM = text(
    """
    WITH due AS (
        SELECT id FROM product
        WHERE status <> 'paused'
          AND next_check_at <= :now
          AND (lease_expires_at IS NULL OR lease_expires_at < :now)
        ORDER BY next_check_at
        LIMIT :limit
        FOR UPDATE SKIP LOCKED
    )
    UPDATE product AS p
       SET lease_token = :token, lease_expires_at = :lease_until
      FROM due
     WHERE p.id = due.id
    RETURNING p.id, p.next_check_at
    """
)


#: The common check, in one round trip: nothing changed and the lease still holds. The
#: product is written only if the check still holds the lease and saw the stored state,
#: and the current history row is extended; the caller commits only when both matched.
_UNCHANGED = text(
    """
    WITH p AS (
        UPDATE product
           SET status = 'active', consecutive_failures = 0, last_error = NULL,
               last_result = 'unchanged', last_checked_at = CAST(:now AS timestamptz),
               next_check_at = CAST(:now AS timestamptz)
                   + make_interval(secs => check_interval_seconds * CAST(:factor AS float8)),
               lease_token = NULL, lease_expires_at = NULL,
               title = coalesce(NULLIF(CAST(:title AS text), ''), title),
               etag = CAST(:etag AS text), last_modified = CAST(:last_modified AS text),
               updated_at = now()
         WHERE id = :id AND lease_token = CAST(:token AS text)
           AND price IS NOT DISTINCT FROM CAST(:price AS numeric)
           AND currency IS NOT DISTINCT FROM CAST(:currency AS text)
           AND in_stock IS NOT DISTINCT FROM CAST(:in_stock AS boolean)
        RETURNING id
    ), h AS (
        UPDATE price_history SET last_seen_at = CAST(:now AS timestamptz), checks = checks + 1
         WHERE id = (SELECT id FROM price_history WHERE product_id = :id
                      ORDER BY first_seen_at DESC, id DESC LIMIT 1)
           AND EXISTS (SELECT 1 FROM p)
        RETURNING id
    )
    SELECT (SELECT count(*) FROM p) AS products, (SELECT count(*) FROM h) AS rows
    """
)


#: A batch's start: the batch's products whose lease its claim still holds, leased anew
#: from now, with what their checks need. Products whose lease another check took (a
#: "check now", a re-claim after expiry) are not returned, so not checked twice.
_RENEW = text(
    """
    UPDATE product
       SET lease_expires_at = :lease_until
     WHERE id = ANY(CAST(:ids AS bigint[])) AND lease_token = CAST(:token AS text)
    RETURNING id, url, selector, stock_selector, etag, last_modified, price, currency, in_stock
    """
)

#: The arrays every batch statement unnests (one element per check, see `_seen_arrays`),
#: and the names of their columns; constant SQL, composed here once.
_SEEN_ARRAYS = """
            CAST(:ids AS bigint[]), CAST(:checked_at AS timestamptz[]),
            CAST(:factors AS float8[]), CAST(:titles AS text[]), CAST(:etags AS text[]),
            CAST(:last_modifieds AS text[]), CAST(:prices AS numeric[]),
            CAST(:currencies AS text[]), CAST(:in_stocks AS boolean[])"""
_SEEN_NAMES = "id, checked_at, factor, title, etag, last_modified, price, currency, in_stock"

#: `_UNCHANGED` (or a 304's write) for many checks of one claim in one statement. A product
#: is written only if the claim still holds its lease, it has a current history row and its
#: stored state is what the check saw; both updates then match the same products, and the
#: caller takes the general path for the others (nothing was written for them).
_UNCHANGED_MANY = text(
    f"""
    WITH seen AS (
        SELECT * FROM unnest({_SEEN_ARRAYS}, CAST(:results AS text[]))
            AS s({_SEEN_NAMES}, result)
    ), current_row AS (
        SELECT DISTINCT ON (h.product_id) h.product_id, h.id
          FROM price_history AS h JOIN seen ON seen.id = h.product_id
         ORDER BY h.product_id, h.first_seen_at DESC, h.id DESC
    ), p AS (
        UPDATE product
           SET status = 'active', consecutive_failures = 0, last_error = NULL,
               last_result = seen.result, last_checked_at = seen.checked_at,
               next_check_at = seen.checked_at
                   + make_interval(secs => product.check_interval_seconds * seen.factor),
               lease_token = NULL, lease_expires_at = NULL,
               title = coalesce(NULLIF(seen.title, ''), product.title),
               etag = seen.etag, last_modified = seen.last_modified,
               updated_at = now()
          FROM seen JOIN current_row ON current_row.product_id = seen.id
         WHERE product.id = seen.id AND product.lease_token = CAST(:token AS text)
           AND product.price IS NOT DISTINCT FROM seen.price
           AND product.currency IS NOT DISTINCT FROM seen.currency
           AND product.in_stock IS NOT DISTINCT FROM seen.in_stock
        RETURNING product.id, current_row.id AS row_id, seen.checked_at
    )
    UPDATE price_history AS h
       SET last_seen_at = p.checked_at, checks = h.checks + 1
      FROM p
     WHERE h.id = p.row_id
    RETURNING p.id
    """  # noqa: S608 - composed of constant fragments, no input
)


#: The changed checks of one claim in one statement: the product takes the new state (if
#: the claim still holds its lease and its state is the one the check started from) and
#: opens a history row; returns each new row.
_CHANGED_MANY = text(
    f"""
    WITH seen AS (
        SELECT * FROM unnest(
            {_SEEN_ARRAYS}, CAST(:suspicious AS boolean[]), CAST(:was_prices AS numeric[]),
            CAST(:was_currencies AS text[]), CAST(:was_in_stocks AS boolean[])
        ) AS s({_SEEN_NAMES}, suspicious, was_price, was_currency, was_in_stock)
    ), p AS (
        UPDATE product
           SET price = seen.price, currency = seen.currency, in_stock = seen.in_stock,
               last_changed_at = seen.checked_at,
               status = 'active', consecutive_failures = 0, last_error = NULL,
               last_result = 'changed', last_checked_at = seen.checked_at,
               next_check_at = seen.checked_at
                   + make_interval(secs => product.check_interval_seconds * seen.factor),
               lease_token = NULL, lease_expires_at = NULL,
               title = coalesce(NULLIF(seen.title, ''), product.title),
               etag = seen.etag, last_modified = seen.last_modified,
               updated_at = now()
          FROM seen
         WHERE product.id = seen.id AND product.lease_token = CAST(:token AS text)
           AND product.price IS NOT DISTINCT FROM seen.was_price
           AND product.currency IS NOT DISTINCT FROM seen.was_currency
           AND product.in_stock IS NOT DISTINCT FROM seen.was_in_stock
        RETURNING seen.*
    )
    INSERT INTO price_history
        (product_id, price, currency, in_stock, first_seen_at, last_seen_at, checks, suspicious)
    SELECT id, price, currency, in_stock, checked_at, checked_at, 1, suspicious FROM p
    RETURNING id, product_id
    """  # noqa: S608 - composed of constant fragments, no input
)


@dataclass(frozen=True)
class Claim:
    product_id: int
    lease_token: str
    due_at: datetime


@dataclass(frozen=True)
class Leased:
    """A product leased to the check now running, and what that check needs to know of it."""

    token: str
    url: str
    selector: str | None
    stock_selector: str | None
    etag: str | None
    last_modified: str | None
    price: Decimal | None
    currency: str | None
    in_stock: bool | None


@dataclass(frozen=True)
class UnchangedCheck:
    """One check of a batch that saw the state stored for its product (or got a 304)."""

    product_id: int
    seen: Observation
    checked_at: datetime
    interval_factor: float  #: next check at checked_at + interval × this
    etag: str | None
    last_modified: str | None
    result: str = "unchanged"  #: or "not_modified"


@dataclass(frozen=True)
class ChangedCheck:
    """One check of a batch that saw a new state: `previous` is the state it started from."""

    product_id: int
    seen: Observation
    previous: Observation
    checked_at: datetime
    interval_factor: float
    etag: str | None
    last_modified: str | None


@dataclass(frozen=True)
class Observation:
    """What one check established about a product."""

    price: Decimal | None
    currency: str | None
    in_stock: bool | None
    title: str | None
    suspicious: bool = False

    def same_state(self, product: Product) -> bool:
        return (self.price, self.currency, self.in_stock) == (
            product.price,
            product.currency,
            product.in_stock,
        )


class ScrapingRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def claim_due_products(
        self, now: datetime, limit: int, lease_seconds: float
    ) -> list[Claim]:
        """Lease up to `limit` due products (oldest due first) for one batch of checks."""
        token = secrets.token_hex(8)
        rows = await self.session.execute(
            _CLAIM,
            {
                "now": now,
                "limit": limit,
                "token": token,
                "lease_until": now + timedelta(seconds=lease_seconds),
            },
        )
        claims = [Claim(row.id, token, row.next_check_at) for row in rows]
        # UPDATE ... RETURNING comes back in the join's order, not the CTE's: sort, so the
        # tick queues the oldest due first (arq runs a queue in enqueue order).
        return sorted(claims, key=lambda c: (c.due_at, c.product_id))

    async def take_lease(
        self, product_id: int, now: datetime, lease_seconds: float
    ) -> Leased | None:
        """Lease the product for the check job now running (None: no such product).

        arq admits one `check:<id>` job at a time, so the running job may always take the
        lease, also from a claim whose own job collapsed into this one.
        """
        token = secrets.token_hex(8)
        # Core, not the ORM entity: only the recipe is needed, and this runs for every check.
        table = cast(Table, Product.__table__)
        row = (
            await self.session.execute(
                update(table)
                .where(table.c.id == product_id)
                .values(lease_token=token, lease_expires_at=now + timedelta(seconds=lease_seconds))
                .returning(
                    table.c.url,
                    table.c.selector,
                    table.c.stock_selector,
                    table.c.etag,
                    table.c.last_modified,
                    table.c.price,
                    table.c.currency,
                    table.c.in_stock,
                )
            )
        ).one_or_none()
        return None if row is None else _leased(token, row)

    async def renew_leases(
        self, product_ids: Sequence[int], token: str, now: datetime, lease_seconds: float
    ) -> dict[int, Leased]:
        """Lease anew, from `now`, the products `token` still holds; what each check needs."""
        rows = await self.session.execute(
            _RENEW,
            {
                "ids": list(product_ids),
                "token": token,
                "lease_until": now + timedelta(seconds=lease_seconds),
            },
        )
        return {row.id: _leased(token, row) for row in rows}

    async def record_unchanged_many(self, token: str, checks: Sequence[UnchangedCheck]) -> set[int]:
        """Many unchanged checks of one claim in one statement; returns the products recorded.

        Each is written as `record_unchanged` would write it; a product not returned (lease
        gone, state differs, no history row yet) was not written at all.
        """
        if not checks:
            return set()
        rows = await self.session.execute(
            _UNCHANGED_MANY,
            {**_seen_arrays(token, checks), "results": [c.result for c in checks]},
        )
        return {row.id for row in rows}

    async def record_changes_many(
        self, token: str, checks: Sequence[ChangedCheck]
    ) -> dict[int, int]:
        """Many changed checks of one claim in one statement: each product takes its new
        state and opens a history row, as `record_observation` does for a change. Returns
        product id → new history row id; a product not returned (lease gone, or its stored
        state is no longer the one the check started from) was not written at all.
        """
        if not checks:
            return {}
        rows = await self.session.execute(
            _CHANGED_MANY,
            {
                **_seen_arrays(token, checks),
                "suspicious": [c.seen.suspicious for c in checks],
                "was_prices": [c.previous.price for c in checks],
                "was_currencies": [c.previous.currency for c in checks],
                "was_in_stocks": [c.previous.in_stock for c in checks],
            },
        )
        return {row.product_id: row.id for row in rows}

    async def leased_product(self, product_id: int, token: str) -> Product | None:
        """The product if `token` still holds its lease (locked for this unit of work)."""
        product: Product | None = await self.session.scalar(
            select(Product)
            .where(Product.id == product_id, Product.lease_token == token)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        return product

    async def record_observation(
        self, product: Product, seen: Observation, now: datetime, next_check_at: datetime
    ) -> PriceHistory | None:
        """Extend the current history row, or open a new one when the state changed.

        Returns the new row (a change to evaluate) or None (unchanged).
        """
        changed = not seen.same_state(product)
        new_row: PriceHistory | None = None
        if not changed:
            extended = await self.session.execute(
                update(PriceHistory)
                .where(PriceHistory.id == self._current_row_id(product.id))
                .values(last_seen_at=now, checks=PriceHistory.checks + 1)
            )
            changed = extended.rowcount == 0  # type: ignore[attr-defined]  # first observation
        if changed:
            new_row = PriceHistory(
                product_id=product.id,
                price=seen.price,
                currency=seen.currency,
                in_stock=seen.in_stock,
                first_seen_at=now,
                last_seen_at=now,
                suspicious=seen.suspicious,
            )
            self.session.add(new_row)
            product.price, product.currency, product.in_stock = (
                seen.price,
                seen.currency,
                seen.in_stock,
            )
            product.last_changed_at = now
        if seen.title:
            product.title = seen.title
        self._succeeded(product, now, next_check_at, "changed" if new_row else "unchanged")
        await self.session.flush()
        return new_row

    async def record_unchanged(
        self,
        product_id: int,
        token: str,
        seen: Observation,
        *,
        now: datetime,
        interval_factor: float,
        etag: str | None,
        last_modified: str | None,
    ) -> bool:
        """The unchanged check without loading the product: True when recorded.

        Writes exactly what `remember_validators` + `record_observation` write for an
        unchanged state (next check at now + interval × `interval_factor`). False, with
        nothing written, when the lease is gone, the state differs or there is no
        history row yet: the caller then takes the general path.
        """
        row = (
            await self.session.execute(
                _UNCHANGED,
                {
                    "id": product_id,
                    "token": token,
                    "now": now,
                    "factor": interval_factor,
                    "title": seen.title,
                    "etag": etag,
                    "last_modified": last_modified,
                    "price": seen.price,
                    "currency": seen.currency,
                    "in_stock": seen.in_stock,
                },
            )
        ).one()
        if (row.products, row.rows) == (1, 1):
            return True
        await self.session.rollback()  # the product row, if written, must not stay so
        return False

    async def record_not_modified(
        self, product: Product, now: datetime, next_check_at: datetime
    ) -> None:
        """A 304: the page, and so the state, is as last seen."""
        await self.session.execute(
            update(PriceHistory)
            .where(PriceHistory.id == self._current_row_id(product.id))
            .values(last_seen_at=now, checks=PriceHistory.checks + 1)
        )
        self._succeeded(product, now, next_check_at, "not_modified")
        await self.session.flush()

    async def record_failure(
        self,
        product: Product,
        *,
        result: str,
        error: str,
        now: datetime,
        next_check_at: datetime,
        pause: bool,
    ) -> None:
        """A failed check: count it, say why, back off; pause a product failing for too long."""
        product.consecutive_failures += 1
        product.status = "paused" if pause else "failing"
        product.last_result = result
        product.last_error = error
        product.last_error_at = now
        product.last_checked_at = now
        product.next_check_at = next_check_at
        product.lease_token = None
        product.lease_expires_at = None
        await self.session.flush()

    async def defer(self, product: Product, until: datetime) -> None:
        """Not checked now (the shop asked for a pause): due again at `until`, no failure."""
        product.next_check_at = until
        product.lease_token = None
        product.lease_expires_at = None
        await self.session.flush()

    async def remember_validators(
        self, product: Product, etag: str | None, last_modified: str | None
    ) -> None:
        """Keep the page's validators for the next conditional request."""
        product.etag = etag
        product.last_modified = last_modified

    def _succeeded(
        self, product: Product, now: datetime, next_check_at: datetime, result: str
    ) -> None:
        product.status = "active"
        product.consecutive_failures = 0
        product.last_error = None
        product.last_result = result
        product.last_checked_at = now
        product.next_check_at = next_check_at
        product.lease_token = None
        product.lease_expires_at = None

    @staticmethod
    def _current_row_id(product_id: int) -> object:
        return (
            select(PriceHistory.id)
            .where(PriceHistory.product_id == product_id)
            .order_by(PriceHistory.first_seen_at.desc(), PriceHistory.id.desc())
            .limit(1)
            .scalar_subquery()
        )


def _leased(token: str, row: Row[Any]) -> Leased:
    return Leased(
        token, row.url, row.selector or None, row.stock_selector or None, row.etag,
        row.last_modified, row.price, row.currency, row.in_stock,
    )  # fmt: skip


def _seen_arrays(token: str, checks: Sequence[UnchangedCheck | ChangedCheck]) -> dict[str, Any]:
    """The parameters the batch statements share: one array per field, in check order."""
    return {
        "token": token,
        "ids": [c.product_id for c in checks],
        "checked_at": [c.checked_at for c in checks],
        "factors": [c.interval_factor for c in checks],
        "titles": [c.seen.title for c in checks],
        "etags": [c.etag for c in checks],
        "last_modifieds": [c.last_modified for c in checks],
        "prices": [c.seen.price for c in checks],
        "currencies": [c.seen.currency for c in checks],
        "in_stocks": [c.seen.in_stock for c in checks],
    }
