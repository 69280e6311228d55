"""Products (shared, one per URL and recipe) and watches (a user's view of one)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, bindparam, delete, func, select, update
from sqlalchemy.dialects.postgresql import insert

from pricealert.errors import NotFound
from pricealert.kinds import CheckResult
from pricealert.models import Product, Watch
from pricealert.repositories.base import Repository
from pricealert.repositories.driver import Readable, fetch
from pricealert.repositories.pagination import Page, decode_cursor, page_of
from pricealert.urls import url_domain

# The lookup every product endpoint starts with, built once (its cache key is memoized).
_WATCHED = (
    select(Watch, Product)
    .join(Product, Product.id == Watch.product_id)
    .where(Watch.user_id == bindparam("user_id"), Watch.id == bindparam("watch_id"))
)


# A page of the user's watched products (ProductOut's fields, in its order, empty selectors
# as null; the id as its text, which JSON-encodes faster than asyncpg's UUID subclass and is
# the same string), oldest first, keyset-paged on (created_at, id) as `keyset` does (the row
# comparison is the same order: both columns are NOT NULL); ix_watch_user_created serves it.
_PAGE_COLUMNS = """
SELECT w.id::text AS id, p.url, NULLIF(p.selector, '') AS selector,
       NULLIF(p.stock_selector, '') AS stock_selector, w.check_interval_seconds, p.title,
       p.price, p.currency, p.availability, p.in_stock, p.status, p.last_checked_at,
       p.last_changed_at, p.last_error, w.created_at
FROM watch AS w JOIN product AS p ON p.id = w.product_id
"""
_FIRST_PAGE = _PAGE_COLUMNS + "WHERE w.user_id = $1 ORDER BY w.created_at, w.id LIMIT $2"
_NEXT_PAGE = (
    _PAGE_COLUMNS + "WHERE w.user_id = $1 AND (w.created_at, w.id) > ($3, $4) "
    "ORDER BY w.created_at, w.id LIMIT $2"
)


_ONE = _PAGE_COLUMNS + "WHERE w.user_id = $1 AND w.id = $2"


async def watched_row(
    connection: Readable, user_id: uuid.UUID, watch_id: uuid.UUID
) -> dict[str, Any]:
    """One of the user's watched products as a dict of its response's fields (to show, not
    to change), one statement on the bare connection; `NotFound` for anyone else's."""
    records = await fetch(connection, _ONE, user_id, watch_id)
    if not records:
        raise NotFound("product not found")
    return dict(records[0])


async def watched_products_page(
    connection: Readable, user_id: uuid.UUID, cursor: str | None, limit: int
) -> Page[dict[str, Any]]:
    """A page of the user's watched products (oldest first) as plain dicts of the response's
    fields (to show, not to change), one statement on the bare connection; `InvalidInput`
    for a bad cursor."""
    if cursor:
        after_at, after_id = decode_cursor(cursor)
        records = await fetch(connection, _NEXT_PAGE, user_id, limit + 1, after_at, after_id)
    else:
        records = await fetch(connection, _FIRST_PAGE, user_id, limit + 1)
    return page_of(
        [dict(record) for record in records],
        limit,
        lambda row: (row["created_at"], uuid.UUID(row["id"])),
    )


@dataclass(frozen=True)
class WatchedProduct:
    watch: Watch
    product: Product


class ProductRepository(Repository):
    async def watch(
        self,
        user_id: uuid.UUID,
        url: str,
        *,
        selector: str = "",
        stock_selector: str = "",
        check_interval_seconds: int,
    ) -> tuple[WatchedProduct, bool]:
        """Watch a normalised URL, sharing or creating its product. Returns (it, created)."""
        product_id = await self.session.scalar(
            insert(Product)
            .values(
                url=url,
                domain=url_domain(url),
                selector=selector,
                stock_selector=stock_selector,
                check_interval_seconds=check_interval_seconds,
            )
            .on_conflict_do_update(
                constraint="uq_product_recipe",
                # A watcher asking for more frequent checks speeds the shared product up.
                set_={
                    "check_interval_seconds": func.least(
                        Product.check_interval_seconds, check_interval_seconds
                    )
                },
            )
            .returning(Product.id)
        )
        assert product_id is not None
        existing = await self.session.scalar(
            select(Watch).where(Watch.user_id == user_id, Watch.product_id == product_id)
        )
        created = existing is None
        if existing is None:
            existing = await self._inserted(
                Watch(
                    user_id=user_id,
                    product_id=product_id,
                    check_interval_seconds=check_interval_seconds,
                )
            )
            await self._resume_if_unwatched(product_id)
        product = await self._load_product(product_id)
        return WatchedProduct(existing, product), created

    async def get(self, user_id: uuid.UUID, watch_id: uuid.UUID) -> WatchedProduct:
        """One of the user's watched products; `NotFound` for anyone else's."""
        row = (
            await self.session.execute(_WATCHED, {"user_id": user_id, "watch_id": watch_id})
        ).first()
        if row is None:
            raise NotFound("product not found")
        return WatchedProduct(row.Watch, row.Product)

    async def set_interval(self, watched: WatchedProduct, check_interval_seconds: int) -> None:
        """Change the user's interval; the product checks as often as its most eager watcher."""
        watched.watch.check_interval_seconds = check_interval_seconds
        await self.session.flush()
        await self._recompute_interval(watched.product.id)
        await self.session.refresh(watched.product)

    async def unwatch(self, user_id: uuid.UUID, watch_id: uuid.UUID) -> None:
        """Stop watching one of the user's products (`NotFound` for anyone else's); a
        product nobody watches is paused, its history kept."""
        watched = await self.get(user_id, watch_id)
        await self.session.execute(delete(Watch).where(Watch.id == watched.watch.id))
        remaining = await self.session.scalar(
            select(func.count()).select_from(Watch).where(Watch.product_id == watched.product.id)
        )
        if remaining:
            await self._recompute_interval(watched.product.id)
        else:
            await self.session.execute(
                update(Product)
                .where(Product.id == watched.product.id)
                .values(status="paused", last_result=CheckResult.UNWATCHED, lease_token=None)
            )

    async def request_check(self, product_id: int) -> None:
        """Make the product due now (the enqueued check claims it like any due product)."""
        await self.session.execute(
            update(Product).where(Product.id == product_id).values(next_check_at=datetime.now(UTC))
        )

    def _joined(self, user_id: uuid.UUID) -> Select[Watch, Product]:
        return (
            select(Watch, Product)
            .join(Product, Product.id == Watch.product_id)
            .where(Watch.user_id == user_id)
        )

    async def _load_product(self, product_id: int) -> Product:
        product = await self.session.get(Product, product_id, populate_existing=True)
        assert product is not None
        return product

    async def _recompute_interval(self, product_id: int) -> None:
        eager = (
            select(func.min(Watch.check_interval_seconds))
            .where(Watch.product_id == product_id)
            .scalar_subquery()
        )
        await self.session.execute(
            update(Product)
            .where(Product.id == product_id)
            .values(check_interval_seconds=func.coalesce(eager, Product.check_interval_seconds))
        )

    async def _resume_if_unwatched(self, product_id: int) -> None:
        await self.session.execute(
            update(Product)
            .where(Product.id == product_id, Product.last_result == CheckResult.UNWATCHED)
            .values(status="active", last_result=None, next_check_at=func.now())
        )
