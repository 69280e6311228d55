"""The scraper's SQL: claiming due products under a lease, and recording what a check saw.

Claims use `FOR UPDATE SKIP LOCKED`, so every scraper instance can tick at once and
each product is still claimed by one. A claim sets a lease; a job lost with Redis
or a worker killed mid-check leaves a lease that simply expires, and the product
is claimed again. Every write a check makes is guarded by its lease token, so a
job that lost its lease (ran late, ran twice) changes nothing.

A successful check — the same state seen again, a 304, or a change — is written
in one place, `record_successes` (one statement for a whole batch, or for the
batch of one that "check now" is). Failures and deferrals are written one by one.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Row, Table, select, text, update

from pricealert.availability import Availability
from pricealert.kinds import CheckResult
from pricealert.models import Product
from pricealert.observed import ObservedState
from pricealert.repositories.base import Repository

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


#: A batch's start: the batch's products whose lease its claim still holds, leased anew
#: from now, with what their checks need. Products whose lease another check took (a
#: "check now", a re-claim after expiry) are not returned, so not checked twice.
_RENEW = text(
    """
    UPDATE product
       SET lease_expires_at = :lease_until
     WHERE id = ANY(CAST(:ids AS bigint[])) AND lease_token = CAST(:token AS text)
    RETURNING id, url, selector, stock_selector, etag, last_modified, price, currency,
              availability
    """
)

#: Every successful check (a page read, or a 304) of one claim, in one statement: the one
#: place a success is written. A product is written only if the claim still holds its lease
#: and its stored state is the one the check started from (`was_*`). Then it takes the
#: state seen, is due again at checked_at + interval × factor, and either its current
#: history row is extended (the state did not change and there is such a row) or a row is
#: opened (a change, a confirmed implausible change, or the first row of a known state).
#: Returns each product written, with the row it opened (NULL: extended). `in_stock` is
#: not written: PostgreSQL derives it from `availability`.
_RECORD_SUCCESSES = text(
    """
    WITH seen AS (
        SELECT * FROM unnest(
            CAST(:ids AS bigint[]), CAST(:checked_at AS timestamptz[]),
            CAST(:factors AS float8[]), CAST(:titles AS text[]), CAST(:etags AS text[]),
            CAST(:last_modifieds AS text[]), CAST(:prices AS numeric[]),
            CAST(:currencies AS text[]), CAST(:availabilities AS text[]),
            CAST(:was_prices AS numeric[]), CAST(:was_currencies AS text[]),
            CAST(:was_availabilities AS text[]), CAST(:changed AS boolean[]),
            CAST(:suspicious AS boolean[]), CAST(:same_results AS text[])
        ) AS s(id, checked_at, factor, title, etag, last_modified, price, currency,
               availability, was_price, was_currency, was_availability, changed, suspicious,
               same_result)
    ), current_row AS (
        SELECT DISTINCT ON (h.product_id) h.product_id, h.id
          FROM price_history AS h JOIN seen ON seen.id = h.product_id
         WHERE NOT seen.changed
         ORDER BY h.product_id, h.first_seen_at DESC, h.id DESC
    ), p AS (
        UPDATE product
           SET price = seen.price, currency = seen.currency, availability = seen.availability,
               last_changed_at = CASE WHEN current_row.id IS NULL THEN seen.checked_at
                                      ELSE product.last_changed_at END,
               status = 'active', consecutive_failures = 0, last_error = NULL,
               last_result = CASE WHEN current_row.id IS NULL THEN 'changed'
                                  ELSE seen.same_result END,
               last_checked_at = seen.checked_at,
               next_check_at = seen.checked_at
                   + make_interval(secs => product.check_interval_seconds * seen.factor),
               lease_token = NULL, lease_expires_at = NULL,
               title = coalesce(NULLIF(seen.title, ''), product.title),
               etag = seen.etag, last_modified = seen.last_modified,
               updated_at = now()
          FROM seen LEFT JOIN current_row ON current_row.product_id = seen.id
         WHERE product.id = seen.id AND product.lease_token = CAST(:token AS text)
           AND product.price IS NOT DISTINCT FROM seen.was_price
           AND product.currency IS NOT DISTINCT FROM seen.was_currency
           AND product.availability IS NOT DISTINCT FROM seen.was_availability
        RETURNING seen.*, current_row.id AS row_id
    ), extended AS (
        UPDATE price_history AS h
           SET last_seen_at = p.checked_at, checks = h.checks + 1
          FROM p
         WHERE h.id = p.row_id
    ), opened AS (
        INSERT INTO price_history (product_id, price, currency, availability, first_seen_at,
                                   last_seen_at, checks, suspicious)
        SELECT id, price, currency, availability, checked_at, checked_at, 1, suspicious
          FROM p WHERE row_id IS NULL
        RETURNING id, product_id
    )
    SELECT p.id, opened.id AS history_id FROM p LEFT JOIN opened ON opened.product_id = p.id
    """
)

#: The stored state of those products whose lease `token` still holds.
_LEASED_STATES = text(
    """
    SELECT id, price, currency, availability FROM product
     WHERE id = ANY(CAST(:ids AS bigint[])) AND lease_token = CAST(:token AS text)
    """
)


@dataclass(frozen=True)
class Claim:
    product_id: int
    lease_token: str
    due_at: datetime


@dataclass(frozen=True, slots=True)
class Leased:
    """A product leased to the check now running, and what that check needs to know of it."""

    token: str
    url: str
    selector: str | None
    stock_selector: str | None
    etag: str | None
    last_modified: str | None
    #: The stored state the check starts from.
    state: ObservedState


@dataclass(frozen=True, slots=True)
class Observation:
    """What one check established about a product: its state, and the page's title."""

    state: ObservedState
    title: str | None
    #: An implausible change that a second fetch confirmed (recorded, never alerted).
    suspicious: bool = False


@dataclass(frozen=True, slots=True)
class SuccessfulCheck:
    """A check that established the product's state: a page read, or a 304 (the state the
    check started from, seen again)."""

    product_id: int
    seen: Observation
    #: The stored state the check started from.
    previous: ObservedState
    checked_at: datetime
    interval_factor: float  #: next check at checked_at + interval × this
    etag: str | None
    last_modified: str | None
    not_modified: bool = False

    @property
    def changed(self) -> bool:
        """Whether the check saw a new state (it opens a history row)."""
        return self.seen.suspicious or self.seen.state != self.previous

    def result(self, opened_row: bool) -> CheckResult:
        """The scrape result this check was recorded as."""
        if opened_row:
            return CheckResult.CHANGED
        return CheckResult.NOT_MODIFIED if self.not_modified else CheckResult.UNCHANGED


class ScrapingRepository(Repository):
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
        # Core, not the ORM entity: only the recipe is needed.
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
                    table.c.availability,
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

    async def record_successes(
        self, token: str, checks: Sequence[SuccessfulCheck]
    ) -> dict[int, int | None]:
        """Record successful checks of one claim in one statement (see `_RECORD_SUCCESSES`).

        Returns product id → the history row opened (a change to evaluate), or None when the
        current row was extended. A product not returned (lease gone, or its stored state is
        no longer the one its check started from) was not written at all.
        """
        if not checks:
            return {}
        rows = await self.session.execute(
            _RECORD_SUCCESSES,
            {
                "token": token,
                "ids": [c.product_id for c in checks],
                "checked_at": [c.checked_at for c in checks],
                "factors": [c.interval_factor for c in checks],
                "titles": [c.seen.title for c in checks],
                "etags": [c.etag for c in checks],
                "last_modifieds": [c.last_modified for c in checks],
                "prices": [c.seen.state.price for c in checks],
                "currencies": [c.seen.state.currency for c in checks],
                "availabilities": [_name(c.seen.state.availability) for c in checks],
                "was_prices": [c.previous.price for c in checks],
                "was_currencies": [c.previous.currency for c in checks],
                "was_availabilities": [_name(c.previous.availability) for c in checks],
                "changed": [c.changed for c in checks],
                "suspicious": [c.seen.suspicious for c in checks],
                "same_results": [c.result(opened_row=False) for c in checks],
            },
        )
        return {row.id: row.history_id for row in rows}

    async def leased_states(
        self, product_ids: Sequence[int], token: str
    ) -> dict[int, ObservedState]:
        """The stored state of those products whose lease `token` still holds."""
        rows = await self.session.execute(
            _LEASED_STATES, {"ids": list(product_ids), "token": token}
        )
        return {
            row.id: ObservedState.stored(row.price, row.currency, row.availability) for row in rows
        }

    async def leased_product(self, product_id: int, token: str) -> Product | None:
        """The product if `token` still holds its lease (locked for this unit of work)."""
        product: Product | None = await self.session.scalar(
            select(Product)
            .where(Product.id == product_id, Product.lease_token == token)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        return product

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


def _leased(token: str, row: Row[Any]) -> Leased:
    return Leased(
        token, row.url, row.selector or None, row.stock_selector or None, row.etag,
        row.last_modified, ObservedState.stored(row.price, row.currency, row.availability),
    )  # fmt: skip


def _name(availability: Availability | None) -> str | None:
    return None if availability is None else availability.value
