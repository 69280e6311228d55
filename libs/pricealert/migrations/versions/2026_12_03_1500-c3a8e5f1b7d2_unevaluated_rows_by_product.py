"""the evaluator finds a product's unevaluated rows by product

Revision ID: c3a8e5f1b7d2
Revises: 9e4b7c21d5a8
Create Date: 2026-12-03 15:00:00.000000

- `ix_price_history_unevaluated_product` on (product_id, first_seen_at, id), partial on
  `evaluated_at IS NULL` (tiny, like the sweeper's: only rows in flight). The evaluator
  takes each product's unevaluated rows up to a change (`_CHANGES`, `_CHANGES_OF`); with
  only the sweeper's index (`first_seen_at`) it read every row in flight of every product
  and filtered by product, once per product of a batch: 25 × the backlog rows per batch
  (97 % of the read's time at 1000 changes in flight). Keyed by product it reads the
  product's own rows in order. The sweeper keeps its index (it walks all products by time).

Built CONCURRENTLY, outside the run's transaction (alembic's autocommit block commits
what came before): a plain CREATE INDEX would hold every write to price_history — the
scrapers' — for as long as it reads the whole table, at deploy. A build that failed
half-way leaves an INVALID index of this name behind; the upgrade drops it first (this
revision not being applied, no valid index of that name can exist).
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

from pricealert.migrations._ddl import drop_index_concurrently, index

revision: str = "c3a8e5f1b7d2"
down_revision: str | None = "9e4b7c21d5a8"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


INDEX = "ix_price_history_unevaluated_product"


def upgrade() -> None:
    with op.get_context().autocommit_block():
        index(
            INDEX,
            "price_history",
            ["product_id", "first_seen_at", "id"],
            where="evaluated_at IS NULL",
            concurrently=True,
        )


def downgrade() -> None:
    with op.get_context().autocommit_block():
        drop_index_concurrently(INDEX, "price_history")
