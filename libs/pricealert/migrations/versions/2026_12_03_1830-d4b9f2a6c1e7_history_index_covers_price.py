"""a product's history index carries its prices: stats read the index alone

Revision ID: d4b9f2a6c1e7
Revises: c3a8e5f1b7d2
Create Date: 2026-12-03 18:30:00.000000

`ix_price_history_product_seen` (product_id, first_seen_at) becomes
`ix_price_history_product_seen_price`, the same keys INCLUDE (price, currency). A
product's statistics read every row of its history (price, currency, first_seen_at) in
order; its rows lie scattered over the table (they are written between every other
product's), so the old index cost one heap page per row: 170 rows, 170 pages, ~2 ms of
PostgreSQL per request at 100 rows per product. With the prices in the index it is an
index-only scan, already in order. Only columns a row never changes are included:
`last_seen_at` changes on every unchanged check, and an indexed column would take those
updates off PostgreSQL's HOT path (a new index entry per check).

Built CONCURRENTLY, outside the run's transaction (see c3a8e5f1b7d2): the new index is
built beside the old, which is then dropped, so reads keep an index throughout and no
write waits for the build. A build that failed half-way leaves an INVALID index of the
new name: the upgrade drops it first.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

from pricealert.migrations._ddl import drop_index_concurrently, index

revision: str = "d4b9f2a6c1e7"
down_revision: str | None = "c3a8e5f1b7d2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


OLD = "ix_price_history_product_seen"
NEW = "ix_price_history_product_seen_price"


def _replace(drop: str, create: str, include: tuple[str, ...]) -> None:
    with op.get_context().autocommit_block():
        index(
            create,
            "price_history",
            ["product_id", "first_seen_at"],
            include=include,
            concurrently=True,
        )
        drop_index_concurrently(drop, "price_history")


def upgrade() -> None:
    _replace(OLD, NEW, ("price", "currency"))


def downgrade() -> None:
    _replace(NEW, OLD, ())
